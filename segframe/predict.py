"""Applying a stored winner to new raw customer data."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from segframe.data import load_customers
from segframe.errors import DataError, listing, shorten
from segframe.plugin import TabularColumns
from segframe.storage import DEFAULT_STORAGE, StoredPipeline, deserialise, stored_winner
from segframe.task import task_named


class DataWarning(UserWarning):
    """New customers' data differs from the training data in a way that changes results."""


@dataclass(frozen=True)
class Prepared:
    """A verified winner, the customers to apply it to, and notes about how they were read."""

    record: StoredPipeline
    pipeline: Any
    frame: pd.DataFrame
    notes: tuple[str, ...] = ()


def training_types(pipeline: Any) -> tuple[set[str], set[str]]:
    """The table columns the winner's tabular step read as numbers, and as categories.

    Found by walking the fitted estimators (pipelines, ensembles, feature builders), so
    winners stored before the types were recorded are covered too; empty when the winner
    has no tabular step.
    """
    numeric: set[str] = set()
    categorical: set[str] = set()
    seen: set[int] = set()
    stack = [pipeline]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, TabularColumns) and hasattr(item, "numeric_"):
            numeric.update(map(str, item.numeric_))
            categorical.update(map(str, item.categorical_))
        elif isinstance(item, BaseEstimator):
            stack.extend(vars(item).values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return numeric, categorical


def _as_text(values: pd.Series) -> pd.Series:
    """Numbers as the text a CSV reader would have kept: 3.0 -> "3", 2.5 -> "2.5"."""
    whole = values.dropna().mod(1).eq(0).all()
    text = values.astype("Int64" if whole else float).astype(str)
    return text.where(values.notna(), np.nan).astype(object)


def match_training_types(
    frame: pd.DataFrame, numeric: set[str], categorical: set[str]
) -> tuple[pd.DataFrame, list[str]]:
    """Notes on values that cannot be read as the type the winner was trained on.

    A column trained as numbers that arrives with text loses those values (they become
    missing, as the model step reads them); a column trained as categories that arrives
    as numbers is turned back into text, so ``1`` still matches the category ``"1"``.
    """
    frame = frame.copy()
    notes = []
    for column in frame.columns:
        values = frame[column]
        if column in numeric and not pd.api.types.is_numeric_dtype(values.dtype):
            text = values.astype("string").str.strip()
            given = text.notna() & (text != "")
            bad = text[given & pd.to_numeric(text.where(given), errors="coerce").isna()]
            if len(bad):
                notes.append(
                    f"Column {shorten(column)!r} held numbers when the winner was trained, but "
                    f"{len(bad)} of its {int(given.sum())} values here are not numbers (e.g. "
                    f"{listing(bad.unique(), 3, quote=True, width=20)}); they were read as "
                    "missing, which changes those customers' predictions."
                )
        elif (
            column in categorical
            and pd.api.types.is_numeric_dtype(values.dtype)
            and not pd.api.types.is_bool_dtype(values.dtype)
        ):
            frame[column] = _as_text(values)
            notes.append(
                f"Column {shorten(column)!r} held text when the winner was trained but only "
                "numbers here; they were matched to the training categories as text."
            )
    return frame, notes


def prepare(
    study: str,
    data: str | Path | pd.DataFrame,
    *,
    events: str | Path | pd.DataFrame | None = None,
    storage: str = DEFAULT_STORAGE,
    id_column: str | None = None,
) -> Prepared:
    """The verified winner of ``study`` and the customers, checked against its training.

    ``id_column`` names the customers' id column when it differs from the training one.
    """
    record = stored_winner(study, storage)
    pipeline = deserialise(record)
    details = record.details
    if details.get("has_events") and events is None:
        raise DataError(
            f"The winner of study {study!r} was trained with an event log; pass the new "
            "customers' events with --events."
        )
    if id_column is None and details["id_column"] != "row":
        id_column = details["id_column"]
    numeric, categorical = training_types(pipeline)
    customers = load_customers(data, id_column=id_column, events=events, text_columns=categorical)
    frame = customers.frame.drop(columns=[details["target"]], errors="ignore")
    trained = details.get("columns", [])
    missing = [c for c in trained if c not in frame.columns]
    if missing:
        raise DataError(
            f"The customers lack columns the winner of study {study!r} was trained on: "
            f"{listing(missing, quote=True)}. Pass a table with the training columns "
            f"({listing(trained, 10)})."
        )
    frame, notes = match_training_types(frame, numeric, categorical)
    return Prepared(record, pipeline, frame, (*customers.notes, *notes))


def load_for_prediction(
    study: str,
    data: str | Path | pd.DataFrame,
    *,
    events: str | Path | pd.DataFrame | None = None,
    storage: str = DEFAULT_STORAGE,
) -> tuple[StoredPipeline, Any, pd.DataFrame]:
    """The verified winner of ``study`` and the customers (see :func:`prepare`)."""
    prepared = prepare(study, data, events=events, storage=storage)
    return prepared.record, prepared.pipeline, prepared.frame


def predictions(record: StoredPipeline, pipeline: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per customer: id, predicted segment, and the probability of each class.

    For an unsupervised segmentation: id, segment id and segment name. The id column is
    named as in ``frame`` (the training name unless another was given).
    """
    details = record.details
    result = pd.DataFrame({frame.index.name or details["id_column"]: frame.index.to_numpy()})
    for column, values in task_named(record.task).predict_columns(pipeline, frame, details):
        result[column] = values
    return result


def predict_customers(
    study: str,
    data: str | Path | pd.DataFrame,
    *,
    events: str | Path | pd.DataFrame | None = None,
    storage: str = DEFAULT_STORAGE,
    id_column: str | None = None,
) -> pd.DataFrame:
    """Segment new raw customers with the stored winner of ``study`` (see :func:`predictions`).

    Notes on how the data was read (values that are not of the training type, infinite
    values) are issued as :class:`DataWarning`.
    """
    prepared = prepare(study, data, events=events, storage=storage, id_column=id_column)
    for note in prepared.notes:
        warnings.warn(note, DataWarning, stacklevel=2)
    return predictions(prepared.record, prepared.pipeline, prepared.frame)
