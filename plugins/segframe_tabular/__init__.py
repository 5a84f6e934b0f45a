"""Feature builders: the customer table's own columns, RFM and event aggregates.

Every builder turns the raw customer frame (nested ``events`` column included) into a
feature frame. Event features are computed over the flat event arrays and their
offsets, never per customer in Python, so millions of events take seconds.

``TabularColumns`` and ``RFMFeatures`` come from the plugin API (the sequence builder
and segment profiles use them too); they stay importable from here, so pipelines stored
under these names still load.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from segframe.plugin import (
    FRAME,
    RAW,
    Component,
    DataError,
    RFMFeatures,
    SearchContext,
    TabularColumns,
    event_arrays,
    hookimpl,
)

#: The segframe plugin contract this plugin is written for.
SEGFRAME_CONTRACT = 1

__all__ = ["EventAggregates", "RFMFeatures", "TabularColumns"]

NS_PER_DAY = 86_400 * 10**9


class EventAggregates(TransformerMixin, BaseEstimator):
    """Per event type: how often, and how many days since the last one.

    The event vocabulary (the ``top`` most frequent types) is learned at fit time only.
    """

    def __init__(self, top: int = 12) -> None:
        self.top = top

    def fit(self, X: pd.DataFrame, y: Any = None) -> EventAggregates:
        ev = event_arrays(X)
        if len(ev.event_codes) == 0:
            raise DataError("The event log has no events for these customers.")
        self.reference_time_ = ev.timestamp.max()
        seen = np.bincount(ev.event_codes[ev.event_codes >= 0], minlength=len(ev.event_names))
        order = np.argsort(-seen, kind="stable")[: self.top]
        self.vocabulary_ = [str(ev.event_names[j]) for j in order if seen[j] > 0]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        ev = event_arrays(X)
        n, size = len(ev.offsets) - 1, len(self.vocabulary_)
        code = ev.lookup("event", self.vocabulary_)
        keep = code >= 0
        cell = ev.owner[keep] * size + code[keep]
        counts = np.bincount(cell, minlength=n * size).reshape(n, size).astype(float)
        never = np.iinfo(np.int64).min
        last = np.full(n * size, never)
        np.maximum.at(last, cell, ev.timestamp[keep].astype("int64"))
        seen = last != never
        days = np.full(n * size, np.nan)
        days[seen] = (self.reference_time_.astype("int64") - last[seen]) / NS_PER_DAY
        days = days.reshape(n, size)
        totals = counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.where(totals > 0, counts / totals, 0.0)
        data = {}
        for j, name in enumerate(self.vocabulary_):
            data[f"count_{name}"] = counts[:, j]
            data[f"share_{name}"] = shares[:, j]
            data[f"days_since_{name}"] = days[:, j]
        return pd.DataFrame(data, index=X.index)


def _has_events(context: SearchContext) -> bool:
    return context.has_events


def _has_columns(context: SearchContext) -> bool:
    return context.n_tabular_columns > 0


def _aggregate_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {"top": trial.suggest_int("top", 4, 24, log=True)}


@hookimpl
def segframe_components() -> list[Component]:
    return [
        Component(
            "features",
            "tabular",
            TabularColumns,
            RAW,
            FRAME,
            applies=_has_columns,
            description="the customer table's own columns (numeric and categorical)",
        ),
        Component(
            "features",
            "rfm",
            RFMFeatures,
            RAW,
            FRAME,
            applies=_has_events,
            description="recency, frequency, monetary value and tenure from the event log",
        ),
        Component(
            "features",
            "event_aggregates",
            EventAggregates,
            RAW,
            FRAME,
            space=_aggregate_space,
            applies=_has_events,
            description="count, share and recency of each event type",
        ),
    ]
