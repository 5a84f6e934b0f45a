"""Applying a stored winner to new raw customer data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from segframe.data import load_customers
from segframe.errors import DataError
from segframe.storage import DEFAULT_STORAGE, StoredPipeline, deserialise, stored_winner


def load_for_prediction(
    study: str,
    data: str | Path | pd.DataFrame,
    *,
    events: str | Path | pd.DataFrame | None = None,
    storage: str = DEFAULT_STORAGE,
) -> tuple[StoredPipeline, Any, pd.DataFrame]:
    """The verified winner of ``study`` and the customers, checked against its training."""
    record = stored_winner(study, storage)
    pipeline = deserialise(record)
    details = record.details
    if details.get("has_events") and events is None:
        raise DataError(
            f"The winner of study {study!r} was trained with an event log; pass the new "
            "customers' events with --events."
        )
    id_column = None if details["id_column"] == "row" else details["id_column"]
    customers = load_customers(data, id_column=id_column, events=events)
    frame = customers.frame.drop(columns=[details["target"]], errors="ignore")
    missing = [c for c in details.get("columns", []) if c not in frame.columns]
    if missing:
        raise DataError(
            f"The customers lack columns the winner of study {study!r} was trained on: "
            f"{', '.join(map(repr, missing))}. Pass a table with the training columns "
            f"({', '.join(details['columns'])})."
        )
    return record, pipeline, frame


def predictions(record: StoredPipeline, pipeline: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per customer: id, predicted segment, and the probability of each class.

    For an unsupervised segmentation: id, segment id and segment name.
    """
    details = record.details
    result = pd.DataFrame({details["id_column"]: frame.index.to_numpy()})
    if record.task == "segmentation":  # no classes: a segment id and its (renamable) name
        result["segment"] = pipeline.predict(frame)
        result["segment_name"] = result["segment"].astype(str).map(details["names"])
        return result
    proba = pipeline.predict_proba(frame)
    result["segment"] = pipeline.classes_[pipeline.decide(proba)]  # at the stored F1 threshold
    for j, label in enumerate(pipeline.classes_):
        result[f"probability_{label}"] = proba[:, j]
    return result


def predict_customers(
    study: str,
    data: str | Path | pd.DataFrame,
    *,
    events: str | Path | pd.DataFrame | None = None,
    storage: str = DEFAULT_STORAGE,
) -> pd.DataFrame:
    """Segment new raw customers with the stored winner of ``study`` (see :func:`predictions`)."""
    return predictions(*load_for_prediction(study, data, events=events, storage=storage))
