"""Reading customer tables and event logs into one frame.

The customer table becomes a frame indexed by customer id; the event log is joined
onto it as one Arrow list-of-struct column (``events``), sorted by time within each
customer. One frame then carries everything a pipeline needs, so a fitted pipeline
goes from raw customer data to a segment and can segment new raw data.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from segframe.errors import DataError, listing, shorten

EVENTS = "events"
EVENT_FIELDS = ("timestamp", "event", "amount", "item")
#: Accepted alternative names of event-log columns.
EVENT_ALIASES = {"event": ("event_type", "type"), "item": ("category", "item_category")}
ID_CANDIDATES = ("customer_id", "customerid", "id", "customer")
_TRUE_LIKE = {"1", "true", "yes", "y", "churn", "positive"}
#: A text column whose filled values are numbers at least this often is read as numbers;
#: the rest (``abc``, ``#VALUE!``) become missing, with a note naming the column. Below
#: it the column stays categorical. 0.8 rather than 0.9: a column with about 10 % junk
#: must not flip to categorical by chance (a categorical column read as numbers loses
#: only its rare non-numeric levels, and the note says so).
NUMERIC_SHARE = 0.8
#: A numeric target with more distinct values than this (integers), or this many
#: non-integer ones, is a measurement, not a class label.
MAX_INTEGER_CLASSES = 30
MAX_FRACTIONAL_CLASSES = 10
#: Notes of one kind (one per column) shown before they are summed up.
NOTE_LIMIT = 5


@dataclass
class CustomerData:
    """Customers (index = id) with nested events, and the target when there is one."""

    frame: pd.DataFrame
    target: pd.Series | None
    id_column: str
    target_column: str | None
    notes: list[str] = field(default_factory=list)

    @property
    def has_events(self) -> bool:
        return EVENTS in self.frame.columns


def read_table(
    source: str | Path | pd.DataFrame,
    what: str,
    id_column: str | None = None,
    text_columns: Collection[str] = (),
) -> pd.DataFrame:
    """Read a CSV or Parquet file; every failure becomes a :class:`DataError` naming the file.

    Id-like CSV columns (``id_column`` or one of :data:`ID_CANDIDATES`) and
    ``text_columns`` are read as text, so an id such as ``00042`` keeps its leading zeros.
    """
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.exists():
        raise DataError(f"The {what} file {str(path)!r} does not exist. Check the path.")
    if path.is_dir():
        raise DataError(f"The {what} path {str(path)!r} is a folder; pass a CSV or Parquet file.")
    if path.stat().st_size == 0:
        raise DataError(
            f"The {what} file {str(path)!r} is empty. Pass a file with a header row and data."
        )
    suffixes = [s.lower() for s in path.suffixes]
    try:
        if ".parquet" in suffixes or ".pq" in suffixes:
            frame = pd.read_parquet(path)
        else:
            sep = "\t" if ".tsv" in suffixes else ","
            header = pd.read_csv(path, sep=sep, encoding="utf-8", nrows=0).columns
            if sep == "," and len(header) == 1 and ";" in str(header[0]):
                raise DataError(
                    f"The {what} file {str(path)!r} looks semicolon-separated (its header is "
                    f"{shorten(header[0], 60)!r}). Save it comma-separated, or as Parquet."
                )
            wanted = {*ID_CANDIDATES, *([id_column.lower()] if id_column else [])}
            text = {c for c in header if str(c).lower() in wanted or c in text_columns}
            frame = pd.read_csv(
                path, sep=sep, encoding="utf-8", low_memory=False, dtype=dict.fromkeys(text, str)
            )
    except UnicodeDecodeError as exc:
        raise DataError(
            f"The {what} file {str(path)!r} is not UTF-8 text (byte {exc.start}); re-save it as "
            "UTF-8 CSV or as Parquet."
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"The {what} file {str(path)!r} holds no columns; is it empty?") from None
    except (pd.errors.ParserError, pa.ArrowInvalid, OSError, ValueError) as exc:
        kind = "Parquet" if ".parquet" in suffixes or ".pq" in suffixes else "CSV"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"The {what} file {str(path)!r} cannot be read as {kind} ({shorten(first, 200)}). "
            "Check that it "
            "is a comma-separated file with a header row, or a Parquet file."
        ) from None
    if frame.empty:
        raise DataError(f"The {what} file {str(path)!r} has a header but no rows.")
    return frame


def _find_column(frame: pd.DataFrame, wanted: str, aliases: tuple[str, ...] = ()) -> str | None:
    lower = {str(c).lower(): c for c in frame.columns}
    for name in (wanted, *aliases):
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def _resolve_id(frame: pd.DataFrame, id_column: str | None, what: str) -> str | None:
    if id_column is not None:
        if id_column not in frame.columns:
            raise DataError(
                f"The id column {shorten(id_column, 60)!r} is not in the {what} (columns: "
                f"{listing(frame.columns, 10)}). Pass the right name with --id."
            )
        return id_column
    for candidate in ID_CANDIDATES:
        found = _find_column(frame, candidate)
        if found is not None:
            return found
    return None


def _coerce_numeric_text(
    frame: pd.DataFrame, text_columns: Collection[str] = ()
) -> tuple[pd.DataFrame, list[str]]:
    """Read text columns that are mostly numbers as numbers; ±inf counts as missing.

    Blanks (``" "``) become missing silently; other values that are not numbers
    (``abc``, ``#VALUE!``) become missing with a note, when at least :data:`NUMERIC_SHARE`
    of the filled values are numbers (else the column stays categorical). Infinite
    values (``inf``, a division by zero in a spreadsheet) fail every model, so they are
    read as missing too, with a note naming the columns. ``text_columns`` stay as they
    are (a winner trained on them as categories). Returns the frame and the notes.
    """
    junk: list[str] = []
    infinite: list[tuple[str, int]] = []
    for column in frame.columns:
        values = frame[column]
        if column in text_columns:
            continue
        if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            stripped = values.astype("string").str.strip()
            given = stripped.notna() & (stripped != "")
            numbers = pd.to_numeric(stripped.where(given), errors="coerce")
            parsed = numbers[given].notna()
            if given.sum() and parsed.mean() >= NUMERIC_SHARE:
                frame[column] = numbers.astype(float)
                if not parsed.all():
                    bad = stripped[given][~parsed]
                    examples = listing(bad.unique(), 3, quote=True, width=20)
                    junk.append(
                        f"Column {shorten(column)!r} is numeric, but {len(bad)} of its "
                        f"{int(given.sum())} values are not numbers (e.g. {examples}); they were "
                        "read as missing."
                    )
        if pd.api.types.is_float_dtype(frame[column].dtype):
            inf = np.isinf(frame[column].to_numpy(dtype=float, na_value=np.nan))
            if inf.any():
                frame[column] = frame[column].mask(inf)
                infinite.append((column, int(inf.sum())))
    notes = junk[:NOTE_LIMIT]
    if len(junk) > NOTE_LIMIT:
        notes.append(
            f"{len(junk) - NOTE_LIMIT} more numeric columns held values that are not "
            "numbers; they were read as missing too."
        )
    if infinite:
        listed = listing((f"{shorten(c)!r} ({n})" for c, n in infinite), NOTE_LIMIT)
        notes.append(f"Infinite values (inf, -inf) were read as missing in {listed}.")
    return frame, notes


def _prepare_target(frame: pd.DataFrame, target: str) -> pd.Series:
    if target not in frame.columns:
        raise DataError(
            f"The target column {shorten(target, 60)!r} is not in the customer table (columns: "
            f"{listing(frame.columns, 10)}). Pass the right name with --target."
        )
    y = frame[target]
    missing = int(y.isna().sum())
    if missing:
        raise DataError(
            f"The target column {target!r} has {missing} missing values. Drop those customers "
            "or fill their label before searching."
        )
    if y.nunique() < 2:
        only = y.iloc[0]
        raise DataError(
            f"The target column {target!r} has only one class ({shorten(only)!r}) in {len(y)} "
            "rows. A segment model needs at least two classes; check the file or the target name."
        )
    _refuse_continuous(y, target)
    return y


def _refuse_continuous(y: pd.Series, target: str) -> None:
    """A measurement (spend, age) given as the target: say so instead of listing its values."""
    distinct = y.nunique()
    if pd.api.types.is_bool_dtype(y.dtype) or not pd.api.types.is_numeric_dtype(y.dtype):
        if distinct > MAX_INTEGER_CLASSES and distinct > len(y) / 2:
            raise DataError(
                f"The target column {target!r} looks like an identifier or free text: {distinct} "
                f"distinct values in {len(y)} rows (e.g. {listing(y.unique(), 3, quote=True)}); "
                "segframe needs class labels shared by many customers. Pick the label column "
                "with --target."
            )
        return
    values = y.to_numpy(dtype=float)
    fractional = not np.all(np.mod(values, 1) == 0)
    if distinct > (MAX_FRACTIONAL_CLASSES if fractional else MAX_INTEGER_CLASSES):
        low, high = np.min(values), np.max(values)
        raise DataError(
            f"The target column {target!r} looks continuous: {distinct} distinct numeric values "
            f"from {low:g} to {high:g}; segframe needs class labels. Bin it into a few classes "
            "(e.g. low/high spend) or pick the label column with --target."
        )


def _is_nested(column: pd.Series) -> bool:
    """Whether ``column`` already holds joined events (a frame from an earlier load)."""
    dtype = column.dtype
    return isinstance(dtype, pd.ArrowDtype) and pa.types.is_large_list(dtype.pyarrow_dtype)


def column_kinds(frame: pd.DataFrame) -> dict[str, str]:
    """Each feature column of a customer frame (all but ``events``), in order, with its kind
    for :class:`~segframe.components.SearchContext`: ``boolean``, ``datetime``, ``numeric``,
    else ``categorical``.

    The kind is what components receive: dates read from CSV are text (``categorical``)
    unless the table was loaded with parsed dates (a DataFrame, or Parquet). Text columns
    holding Python booleans or datetimes (a CSV's ``True``/``False`` with gaps) count as
    those.
    """
    kinds = {}
    for column in frame.columns:
        if column == EVENTS:
            continue
        dtype = frame[column].dtype
        if pd.api.types.is_bool_dtype(dtype):
            kind = "boolean"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            kind = "datetime"
        elif pd.api.types.is_numeric_dtype(dtype):
            kind = "numeric"
        else:
            inferred = pd.api.types.infer_dtype(frame[column], skipna=True)
            kind = {"boolean": "boolean", "datetime": "datetime", "datetime64": "datetime"}.get(
                inferred, "categorical"
            )
        kinds[str(column)] = kind
    return kinds


def positive_label(classes: list) -> object:
    """The class that counts as positive for binary F1 when one is 1/True/"yes"-like, else None."""
    for value in classes:
        if str(value).strip().lower() in _TRUE_LIKE:
            return value
    return None


def load_events(source: str | Path | pd.DataFrame, id_column: str) -> pd.DataFrame:
    """Read and validate an event log; returns columns id, timestamp, event, amount, item."""
    events = read_table(source, "event log", id_column)
    ev_id = _find_column(events, id_column, ID_CANDIDATES)
    if ev_id is None:
        raise DataError(
            f"The event log has no customer id column {shorten(id_column, 60)!r} (columns: "
            f"{listing(events.columns, 10)}). Rename it to match the customer table."
        )
    columns = {"id": ev_id}
    for name in EVENT_FIELDS:
        columns[name] = _find_column(events, name, EVENT_ALIASES.get(name, ()))
    for required in ("timestamp", "event"):
        if columns[required] is None:
            raise DataError(
                f"The event log has no {required!r} column (columns: "
                f"{listing(events.columns, 10)}). It needs customer id, 'timestamp' and "
                "'event', optionally 'amount' and 'item'."
            )
    out = pd.DataFrame({"id": events[ev_id].astype(str)})
    raw_ts = events[columns["timestamp"]]
    stamps = pd.to_datetime(raw_ts, errors="coerce", utc=True, format="mixed")
    bad = stamps.isna() & raw_ts.notna()
    if bad.any() or stamps.isna().all():
        examples = listing(raw_ts[bad | stamps.isna()].head(3), quote=True, width=30)
        raise DataError(
            f"The event log's {columns['timestamp']!r} column has {int(bad.sum() or len(bad))} "
            f"values that are not dates or times (e.g. {examples}). Use ISO dates such as "
            "2024-05-31 or 2024-05-31T14:00:00."
        )
    out["timestamp"] = stamps.dt.tz_localize(None).astype("datetime64[ns]")
    event = events[columns["event"]].astype("category")  # codes: millions of strings are slow
    if event.isna().any():
        event = event.cat.add_categories(["unknown"]).fillna("unknown")
    out["event"] = event
    if columns["amount"] is not None:
        raw_amount = events[columns["amount"]]
        amount = pd.to_numeric(raw_amount, errors="coerce")
        bad = amount.isna() & raw_amount.notna()
        if bad.any():
            examples = listing(raw_amount[bad].head(3), quote=True, width=30)
            raise DataError(
                f"The event log's {columns['amount']!r} column has {int(bad.sum())} non-numeric "
                f"values (e.g. {examples}). Amounts must be numbers; leave them empty when unknown."
            )
        out["amount"] = amount.astype(float)
    else:
        out["amount"] = np.nan
    item = columns["item"]
    out["item"] = (
        events[item].astype("category")
        if item is not None
        else pd.Series(pd.NA, index=events.index, dtype="string").astype("category")
    )
    return out


def _dictionary(values: pd.Series, rows: np.ndarray) -> pa.DictionaryArray:
    """``values`` at ``rows`` as an Arrow dictionary array, moving codes, not strings."""
    category = values.astype("category")
    codes = category.cat.codes.to_numpy()[rows].astype(np.int32)
    names = pa.array(category.cat.categories.astype(str), type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), names)


def nest_events(customer_ids: pd.Index, events: pd.DataFrame) -> tuple[pd.Series, int]:
    """Group the event log into one time-sorted list per customer (vectorised over offsets).

    Returns the nested column aligned to ``customer_ids`` and the number of events whose
    customer is not in the table (they are dropped).
    """
    codes = customer_ids.get_indexer(events["id"])
    known = codes >= 0
    unknown = int((~known).sum())
    codes = codes[known]
    stamps = events["timestamp"].to_numpy()[known]
    order = np.lexsort((stamps.astype("int64"), codes))
    counts = np.bincount(codes, minlength=len(customer_ids))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rows = np.flatnonzero(known)[order]
    struct = pa.StructArray.from_arrays(
        [
            pa.array(stamps[order], type=pa.timestamp("ns")),
            _dictionary(events["event"], rows),
            pa.array(events["amount"].to_numpy()[rows], type=pa.float64()),
            _dictionary(events["item"], rows),
        ],
        names=list(EVENT_FIELDS),
    )
    nested = pa.LargeListArray.from_arrays(pa.array(offsets), struct)
    return pd.Series(
        pd.arrays.ArrowExtensionArray(nested), index=customer_ids, name=EVENTS
    ), unknown


def load_customers(
    data: str | Path | pd.DataFrame,
    *,
    target: str | None = None,
    id_column: str | None = None,
    events: str | Path | pd.DataFrame | None = None,
    text_columns: Collection[str] = (),
) -> CustomerData:
    """Load the customer table (and event log) into a :class:`CustomerData`.

    ``text_columns`` are kept as text (see :func:`_coerce_numeric_text`).
    """
    table = read_table(data, "customer table", id_column, text_columns)
    table.columns = [str(c) for c in table.columns]
    id_col = _resolve_id(table, id_column, "customer table")
    if id_col is None and events is not None:
        raise DataError(
            "An event log was given but the customer table has no id column (looked for "
            f"{', '.join(ID_CANDIDATES)}). Name it with --id."
        )
    y = _prepare_target(table, target) if target is not None else None
    if id_col is not None:
        ids = table[id_col]
        if ids.isna().any():
            raise DataError(
                f"The id column {id_col!r} has {int(ids.isna().sum())} empty values. Every "
                "customer needs an id; fill them in or drop those rows."
            )
        ids = ids.astype(str)
        dupes = ids[ids.duplicated()]
        if len(dupes):
            raise DataError(
                f"The id column {id_col!r} has {len(dupes)} duplicate ids (e.g. "
                f"{listing(dupes.unique(), 3, quote=True)}). Each customer must appear once."
            )
        index = pd.Index(ids, name=id_col)
    else:
        id_col = "row"
        index = pd.RangeIndex(len(table), name=id_col).astype(str)
    drop = [c for c in (id_col, target) if c in table.columns]
    frame, notes = _coerce_numeric_text(table.drop(columns=drop), text_columns)
    frame.index = index
    if EVENTS in frame.columns and (events is not None or not _is_nested(frame[EVENTS])):
        raise DataError(
            f"The customer table has a column named {EVENTS!r}; that name is reserved for the "
            "joined event log. Rename the column."
        )
    if events is not None:
        log = load_events(events, id_col)
        frame[EVENTS], unknown = nest_events(frame.index, log)
        if unknown:
            notes.append(f"{unknown} events belong to customers not in the table and were ignored.")
    if y is not None:
        y = pd.Series(y.to_numpy(), index=index, name=target)
    return CustomerData(frame, y, id_col, target, notes)


@dataclass(frozen=True)
class EventArrays:
    """Flat numpy views of nested events; customer i owns offsets[i]:offsets[i+1].

    Event types and items are kept as integer codes into small name arrays (-1 = missing):
    comparing millions of Python strings is what made event features slow.
    """

    offsets: np.ndarray
    timestamp: np.ndarray  # datetime64[ns]
    amount: np.ndarray  # float, NaN where unknown
    event_codes: np.ndarray  # int32 index into event_names, -1 where missing
    event_names: np.ndarray  # object array of str
    item_codes: np.ndarray
    item_names: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def owner(self) -> np.ndarray:
        """Row position of the customer each event belongs to."""
        return np.repeat(np.arange(len(self.offsets) - 1), self.counts)

    @property
    def event(self) -> np.ndarray:
        """Event types as strings (None where missing); prefer :meth:`lookup` on large data."""
        return _decode(self.event_codes, self.event_names)

    @property
    def item(self) -> np.ndarray:
        return _decode(self.item_codes, self.item_names)

    def lookup(self, field: str, vocabulary: list[str]) -> np.ndarray:
        """Per event, the position of its ``field`` ("event" or "item") in ``vocabulary``, or -1."""
        codes, names = getattr(self, f"{field}_codes"), getattr(self, f"{field}_names")
        positions = np.append(pd.Index(vocabulary).get_indexer(names), -1)
        return positions[codes]


def _decode(codes: np.ndarray, names: np.ndarray) -> np.ndarray:
    return np.append(names, None).astype(object)[codes]


def _codes(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    encoded = column if pa.types.is_dictionary(column.type) else column.dictionary_encode()
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    return codes, encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)


def event_arrays(frame: pd.DataFrame) -> EventArrays:
    """Flatten the ``events`` column of ``frame`` (any row subset) into numpy arrays."""
    if EVENTS not in frame.columns:
        raise DataError(
            "This step needs an event log, but the data has none. Pass --events FILE "
            "(customer id, timestamp, event, amount, item)."
        )
    chunked = frame[EVENTS].array.__arrow_array__()
    lists = chunked.combine_chunks() if isinstance(chunked, pa.ChunkedArray) else chunked
    offsets = np.asarray(lists.offsets, dtype=np.int64)
    values = lists.flatten()
    event_codes, event_names = _codes(values.field("event"))
    item_codes, item_names = _codes(values.field("item"))
    return EventArrays(
        offsets=offsets - offsets[0],
        timestamp=values.field("timestamp").to_numpy(zero_copy_only=False),
        amount=values.field("amount").fill_null(np.nan).to_numpy(zero_copy_only=False),
        event_codes=event_codes,
        event_names=event_names,
        item_codes=item_codes,
        item_names=item_names,
    )
