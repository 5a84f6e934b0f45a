"""Tests for loading customer tables and event logs (segframe.data)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segframe.data import EVENTS, CustomerData, event_arrays, load_customers
from segframe.errors import DataError

BASE = pd.Timestamp("2024-01-01")
KNOWN = [f"c{i}" for i in range(6)]
UNKNOWN = ["x1", "x2"]
EVENT_TYPES = ["view", "cart", "purchase", "refund"]


def customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["00001", "00002", "00003", "00004"],
            "age": [31, 45, 27, 60],
            "plan": ["basic", "pro", "basic", "pro"],
            "churn": ["yes", "no", "no", "yes"],
        }
    )


def event_log() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["00001", "00001", "00002", "00003", "00001"],
            "timestamp": ["2024-03-02", "2024-03-01", "2024-03-05", "2024-02-01", "2024-03-03"],
            "event": ["purchase", "view", "view", "purchase", "cart"],
            "amount": [20.0, np.nan, np.nan, 5.5, np.nan],
            "item": ["shoes", None, "hats", "shoes", "shoes"],
        }
    )


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- clear errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=r"nope\.csv.*does not exist"):
        load_customers(path)


def test_missing_event_file_names_the_event_log(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"event log file .*ev\.csv.*does not exist"):
        load_customers(customers(), events=tmp_path / "ev.csv")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape(repr(str(tmp_path))) + ".*folder"):
        load_customers(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.csv.*is empty"):
        load_customers(path)


def test_header_only_csv(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("customer_id,age\n")
    with pytest.raises(DataError, match=r"header\.csv.*header but no rows"):
        load_customers(path)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("customer_id,name\n1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv.*not UTF-8.*re-save"):
        load_customers(path)


@pytest.mark.parametrize("seed", range(5))
def test_binary_junk_as_csv(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "junk.csv"
    path.write_bytes(random.Random(seed).randbytes(4096))
    with pytest.raises(DataError, match=r"junk\.csv"):
        load_customers(path)


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "table.parquet"
    path.write_text("customer_id,age\n1,2\n")
    with pytest.raises(DataError, match=r"table\.parquet.*cannot be read as Parquet"):
        load_customers(path)


def test_missing_target_column() -> None:
    with pytest.raises(DataError, match=r"target column 'segment' is not in.*--target"):
        load_customers(customers(), target="segment")


def test_one_class_target() -> None:
    with pytest.raises(DataError, match=r"target column 'churn' has only one class \('no'\)"):
        load_customers(customers().assign(churn="no"), target="churn")


def test_target_with_nan() -> None:
    table = customers().assign(churn=["yes", None, "no", np.nan])
    with pytest.raises(DataError, match=r"target column 'churn' has 2 missing values"):
        load_customers(table, target="churn")


def test_duplicate_ids() -> None:
    table = customers().assign(customer_id=["00001", "00002", "00002", "00003"])
    with pytest.raises(DataError, match=r"id column 'customer_id' has 1 duplicate ids.*'00002'"):
        load_customers(table)


def test_duplicate_ids_differing_only_in_leading_zeros_are_distinct(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("customer_id,age\n1,20\n01,30\n")
    assert load_customers(path).frame.index.tolist() == ["1", "01"]


def test_missing_ids(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("customer_id,age\n00001,20\n,30\n00003,40\n")
    with pytest.raises(DataError, match=r"id column 'customer_id' has 1 empty values"):
        load_customers(path)


def test_id_column_given_but_absent() -> None:
    with pytest.raises(DataError, match=r"id column 'cust_no' is not in the customer table.*--id"):
        load_customers(customers(), id_column="cust_no")


def test_event_log_without_timestamp() -> None:
    events = event_log().drop(columns="timestamp")
    with pytest.raises(DataError, match=r"event log has no 'timestamp' column"):
        load_customers(customers(), events=events)


def test_event_log_without_customer_id() -> None:
    events = event_log().rename(columns={"customer_id": "who"})
    with pytest.raises(DataError, match=r"event log has no customer id column 'customer_id'"):
        load_customers(customers(), events=events)


def test_unparseable_timestamps(tmp_path: Path) -> None:
    events = event_log()
    events.loc[2, "timestamp"] = "next tuesday"
    path = write_csv(tmp_path / "ev.csv", events)
    with pytest.raises(DataError, match=r"'timestamp' column has 1 values.*'next tuesday'"):
        load_customers(customers(), events=path)


def test_non_numeric_amounts(tmp_path: Path) -> None:
    events = event_log().astype({"amount": object})
    events.loc[0, "amount"] = "twenty"
    path = write_csv(tmp_path / "ev.csv", events)
    with pytest.raises(DataError, match=r"'amount' column has 1 non-numeric values.*'twenty'"):
        load_customers(customers(), events=path)


def test_event_log_without_customer_id_in_table() -> None:
    table = customers().drop(columns="customer_id")
    with pytest.raises(DataError, match=r"event log was given but the customer table has no id"):
        load_customers(table, events=event_log())


def test_reserved_events_column() -> None:
    table = customers().assign(events=[1, 2, 3, 4])
    with pytest.raises(DataError, match=r"column named 'events'.*reserved"):
        load_customers(table)


def test_event_arrays_without_events() -> None:
    frame = load_customers(customers()).frame
    with pytest.raises(DataError, match=r"--events"):
        event_arrays(frame)


# --------------------------------------------------------------------------- behaviour


def test_csv_and_parquet_give_the_same_frame(tmp_path: Path) -> None:
    table, events = customers(), event_log()
    table.to_parquet(tmp_path / "c.parquet", index=False)
    events.to_parquet(tmp_path / "e.parquet", index=False)
    from_csv = load_customers(
        write_csv(tmp_path / "c.csv", table),
        target="churn",
        events=write_csv(tmp_path / "e.csv", events),
    )
    from_parquet = load_customers(
        tmp_path / "c.parquet", target="churn", events=tmp_path / "e.parquet"
    )
    pd.testing.assert_frame_equal(from_csv.frame, from_parquet.frame)
    pd.testing.assert_series_equal(from_csv.target, from_parquet.target)
    assert from_csv.id_column == from_parquet.id_column == "customer_id"
    assert from_csv.target_column == "churn"


def test_loaded_frame_shape() -> None:
    data = load_customers(customers(), target="churn", events=event_log())
    assert isinstance(data, CustomerData)
    assert data.has_events
    assert list(data.frame.columns) == ["age", "plan", EVENTS]
    assert data.frame.index.name == "customer_id"
    assert data.target.tolist() == ["yes", "no", "no", "yes"]
    assert data.target.index.equals(data.frame.index)
    assert data.notes == []


def test_events_are_sorted_within_customer() -> None:
    ev = event_arrays(load_customers(customers(), events=event_log()).frame)
    assert ev.counts.tolist() == [3, 1, 1, 0]
    assert ev.event[:3].tolist() == ["view", "purchase", "cart"]
    assert ev.item[:3].tolist() == [None, "shoes", "shoes"]
    np.testing.assert_array_equal(ev.amount[:3], [np.nan, 20.0, np.nan])
    assert ev.timestamp.dtype == np.dtype("datetime64[ns]")


def test_event_and_item_aliases(tmp_path: Path) -> None:
    aliased = event_log().rename(columns={"event": "event_type", "item": "category"})
    path = write_csv(tmp_path / "ev.csv", aliased)
    plain = event_arrays(load_customers(customers(), events=event_log()).frame)
    renamed = event_arrays(load_customers(customers(), events=path).frame)
    assert renamed.event.tolist() == plain.event.tolist()
    assert renamed.item.tolist() == plain.item.tolist()


def test_event_log_without_amount_or_item() -> None:
    events = event_log().drop(columns=["amount", "item"])
    ev = event_arrays(load_customers(customers(), events=events).frame)
    assert np.isnan(ev.amount).all()
    assert all(item is None for item in ev.item)


def test_unknown_customers_dropped_with_note() -> None:
    extra = pd.DataFrame(
        {
            "customer_id": ["99999", "99999"],
            "timestamp": ["2024-01-01", "2024-01-02"],
            "event": ["view", "view"],
            "amount": [np.nan, np.nan],
            "item": [None, None],
        }
    )
    data = load_customers(customers(), events=pd.concat([event_log(), extra]))
    assert event_arrays(data.frame).counts.sum() == len(event_log())
    assert len(data.notes) == 1
    assert "2 events" in data.notes[0]
    assert "not in the table" in data.notes[0]


def test_numeric_text_with_blanks_becomes_float(tmp_path: Path) -> None:
    path = tmp_path / "telco.csv"
    path.write_text(
        "customerID,TotalCharges,Contract\n"
        "7590-VHVEG,29.85,Month-to-month\n"
        "5575-GNVDE, ,One year\n"
        "3668-QPYBK,108.15,Month-to-month\n"
    )
    frame = load_customers(path).frame
    assert frame["TotalCharges"].dtype == np.float64
    np.testing.assert_array_equal(frame["TotalCharges"].to_numpy(), [29.85, np.nan, 108.15])
    assert not pd.api.types.is_numeric_dtype(frame["Contract"].dtype)
    assert frame.index.tolist() == ["7590-VHVEG", "5575-GNVDE", "3668-QPYBK"]


def test_customers_without_events_get_empty_lists() -> None:
    frame = load_customers(customers(), events=event_log()).frame
    assert len(frame.loc["00004", EVENTS]) == 0
    assert len(frame.loc["00001", EVENTS]) == 3
    assert event_arrays(frame.loc[["00004"]]).counts.tolist() == [0]


def test_ids_stay_strings_with_leading_zeros(tmp_path: Path) -> None:
    data = load_customers(
        write_csv(tmp_path / "c.csv", customers()),
        events=write_csv(tmp_path / "e.csv", event_log()),
    )
    assert data.frame.index.tolist() == ["00001", "00002", "00003", "00004"]
    assert all(isinstance(i, str) for i in data.frame.index)
    assert event_arrays(data.frame).counts.tolist() == [3, 1, 1, 0]
    assert data.notes == []


def test_explicit_id_column_keeps_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("acct,age\n007,20\n042,30\n")
    data = load_customers(path, id_column="acct")
    assert data.frame.index.tolist() == ["007", "042"]
    assert data.id_column == "acct"


def test_integer_ids_in_dataframes_become_strings() -> None:
    data = load_customers(pd.DataFrame({"id": [3, 1, 2], "x": [0.1, 0.2, 0.3]}))
    assert data.frame.index.tolist() == ["3", "1", "2"]
    assert data.id_column == "id"


def test_table_without_id_is_indexed_by_row() -> None:
    data = load_customers(customers().drop(columns="customer_id"))
    assert data.id_column == "row"
    assert data.frame.index.tolist() == ["0", "1", "2", "3"]


# --------------------------------------------------------------------------- properties

event_rows = st.lists(
    st.tuples(
        st.sampled_from(KNOWN + UNKNOWN),
        st.integers(min_value=0, max_value=400 * 86_400),
        st.one_of(st.just(float("nan")), st.floats(-100, 1000, allow_nan=False)),
        st.sampled_from(EVENT_TYPES),
    ),
    min_size=1,
    max_size=60,
)


def make_log(rows: list[tuple[str, int, float, str]]) -> pd.DataFrame:
    ids, seconds, amounts, kinds = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "customer_id": list(ids),
            "timestamp": BASE + pd.to_timedelta(list(seconds), unit="s"),
            "event": list(kinds),
            "amount": list(amounts),
        }
    )


def load_known(log: pd.DataFrame) -> CustomerData:
    table = pd.DataFrame({"customer_id": KNOWN, "x": np.arange(len(KNOWN), dtype=float)})
    return load_customers(table, events=log)


def per_customer(frame: pd.DataFrame) -> list[tuple[str, list[tuple]]]:
    """(id, [(timestamp, event, amount or None, item), ...]) for each row, in row order."""
    ev = event_arrays(frame)
    out = []
    for i, cid in enumerate(frame.index):
        lo, hi = ev.offsets[i], ev.offsets[i + 1]
        events = [
            (t, e, None if np.isnan(a) else a, it)
            for t, e, a, it in zip(
                ev.timestamp[lo:hi],
                ev.event[lo:hi],
                ev.amount[lo:hi],
                ev.item[lo:hi],
                strict=True,
            )
        ]
        out.append((cid, events))
    return out


@settings(max_examples=50, deadline=None)
@given(event_rows)
def test_nested_events_match_groupby(rows: list[tuple[str, int, float, str]]) -> None:
    log = make_log(rows)
    data = load_known(log)
    ev = event_arrays(data.frame)
    known = log[log["customer_id"].isin(KNOWN)]
    counts = known.groupby("customer_id").size().reindex(KNOWN, fill_value=0)
    sums = known.groupby("customer_id")["amount"].sum().reindex(KNOWN, fill_value=0.0)
    assert ev.counts.tolist() == counts.tolist()
    assert len(ev.timestamp) == len(known)
    for i, cid in enumerate(KNOWN):
        lo, hi = ev.offsets[i], ev.offsets[i + 1]
        stamps = ev.timestamp[lo:hi]
        assert (np.diff(stamps.astype("int64")) >= 0).all()
        assert np.isclose(np.nansum(ev.amount[lo:hi]), sums[cid], rtol=1e-9, atol=1e-9)
        expected = known.loc[known["customer_id"] == cid, "timestamp"]
        assert sorted(stamps.astype("int64").tolist()) == sorted(
            expected.to_numpy().astype("datetime64[ns]").astype("int64").tolist()
        )
    unknown = int((~log["customer_id"].isin(KNOWN)).sum())
    if unknown:
        assert data.notes == [
            f"{unknown} events belong to customers not in the table and were ignored."
        ]
    else:
        assert data.notes == []


@settings(max_examples=50, deadline=None)
@given(
    event_rows,
    st.lists(st.integers(0, len(KNOWN) - 1), max_size=10),
    st.integers(0, len(KNOWN)),
    st.integers(0, len(KNOWN)),
)
def test_event_arrays_on_row_subsets(
    rows: list[tuple[str, int, float, str]], picks: list[int], start: int, stop: int
) -> None:
    frame = load_known(make_log(rows)).frame
    full = dict(per_customer(frame))
    for subset in (frame.iloc[picks], frame.iloc[start:stop], frame.iloc[start:stop][::-1]):
        got = per_customer(subset)
        assert [cid for cid, _ in got] == list(subset.index)
        for cid, events in got:
            assert events == full[cid]
        ev = event_arrays(subset)
        assert len(ev.offsets) == len(subset) + 1
        assert ev.offsets[0] == 0
        assert len(ev.timestamp) == len(ev.event) == len(ev.amount) == ev.offsets[-1]
