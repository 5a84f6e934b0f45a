"""Event sequences: each customer's recent events as a fixed-length token sequence.

The ``event_sequence`` builder turns the nested event log into the ``sequences`` form
that sequence models (CNN, LSTM) take: an integer token per event (0 = padding,
1 = unknown), the last ``length`` events kept and left-padded so the most recent event
is always last, plus a complete, standardised float32 side-feature matrix (the
customer table's columns and RFM) for the models' second input.

Everything runs on Arrow arrays and numpy over the list offsets: strings are matched
against the learned vocabulary in Arrow, never turned into Python objects, and only
the kept events are looked at, so a million customers with 50 events each take seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from segframe.plugin import (
    EVENTS,
    RAW,
    SEQUENCES,
    Component,
    DataError,
    FeatureConcat,
    RFMFeatures,
    SearchContext,
    SequenceBatch,
    TabularColumns,
    hookimpl,
    make_imputer,
    make_onehot,
)

#: The segframe plugin contract this plugin is written for.
SEGFRAME_CONTRACT = 1

PADDING, UNKNOWN = 0, 1
#: What makes a token: the event type, optionally crossed with item category / amount bucket.
TOKENS = ("event", "event_item", "event_amount", "event_item_amount")
LENGTHS = (16, 32, 64, 128)


def _flat_events(frame: pd.DataFrame) -> tuple[pa.StructArray, np.ndarray]:
    """All events of ``frame`` as one flat Arrow struct array, and each customer's offsets."""
    if EVENTS not in frame.columns:
        raise DataError(
            "Event sequences need an event log, but the data has none. Pass --events FILE "
            "(customer id, timestamp, event, amount, item)."
        )
    chunked = frame[EVENTS].array.__arrow_array__()
    if isinstance(chunked, pa.ChunkedArray):  # one chunk is used as is: copying it costs seconds
        chunked = chunked.chunk(0) if chunked.num_chunks == 1 else pa.concat_arrays(chunked.chunks)
    offsets = np.asarray(chunked.offsets, dtype=np.int64)
    return chunked.flatten(), offsets - offsets[0]


def _recent(offsets: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Which cells of the ``(customers, length)`` token matrix hold an event, and which one.

    Row i ends with customer i's last event; earlier cells reach back in time until
    their events run out (left padding). Returns the mask and the flat event index of
    each masked cell, in row-major order.
    """
    source = offsets[1:, None] - length + np.arange(length)
    filled = source >= offsets[:-1, None]
    return filled, source[filled]


def _codes(values: pa.Array, levels: list[str]) -> np.ndarray:
    """Position of each value in ``levels``; missing or unseen values get ``len(levels)``."""
    found = pc.index_in(values, value_set=pa.array(levels, type=pa.string()))
    return found.fill_null(len(levels)).to_numpy(zero_copy_only=False).astype(np.int64)


def _levels(values: pa.Array) -> list[str]:
    return sorted(pc.unique(values.drop_null()).to_pylist())


def _amounts(events: pa.StructArray) -> np.ndarray:
    return events.field("amount").fill_null(np.nan).to_numpy(zero_copy_only=False)


class EventSequences(TransformerMixin, BaseEstimator):
    """Customers → :class:`~segframe.components.SequenceBatch` (tokens + side features).

    The vocabulary (event types, item categories, amount-bucket edges and the tokens
    seen at least ``min_count`` times) is learned at fit time from the kept events of
    the training customers only; anything else becomes the unknown token at transform.
    """

    def __init__(
        self,
        length: int = 32,
        token: str = "event",
        amount_buckets: int = 4,
        min_count: int = 2,
    ) -> None:
        self.length = length
        self.token = token
        self.amount_buckets = amount_buckets
        self.min_count = min_count

    def fit(self, X: pd.DataFrame, y: Any = None) -> EventSequences:
        if self.token not in TOKENS:
            raise DataError(f"token must be one of {', '.join(TOKENS)}, not {self.token!r}.")
        events, offsets = _flat_events(X)
        if len(events) == 0:
            raise DataError("The event log has no events for these customers; sequences need some.")
        _, kept = _recent(offsets, self.length)
        self.events_ = _levels(events.field("event"))
        self.items_ = _levels(events.field("item")) if "item" in self.token else []
        self.amount_edges_ = np.array([])
        if "amount" in self.token:
            amount = _amounts(events)[kept]
            amount = amount[np.isfinite(amount)]
            if len(amount):
                quantiles = np.linspace(0, 1, self.amount_buckets + 1)[1:-1]
                self.amount_edges_ = np.unique(np.quantile(amount, quantiles))
        keys, counts = np.unique(self._keys(events)[kept], return_counts=True)
        self.vocabulary_ = keys[counts >= self.min_count]
        self.n_tokens_ = len(self.vocabulary_) + 2
        side = [("rfm", RFMFeatures())]
        if any(c != EVENTS for c in X.columns):
            side.insert(0, ("tabular", TabularColumns()))
        self.side_ = Pipeline(
            [
                ("features", FeatureConcat(side)),
                ("impute", make_imputer()),
                ("encode", make_onehot()),
                ("scale", StandardScaler()),
            ]
        ).fit(X)
        return self

    def _keys(self, events: pa.StructArray) -> np.ndarray:
        """One integer per event combining its event type, item and amount-bucket codes."""
        key = _codes(events.field("event"), self.events_)
        if "item" in self.token:
            key = key * (len(self.items_) + 1) + _codes(events.field("item"), self.items_)
        if "amount" in self.token:
            amount = _amounts(events)
            bucket = np.searchsorted(self.amount_edges_, amount, side="right")
            bucket[~np.isfinite(amount)] = len(self.amount_edges_) + 1
            key = key * (len(self.amount_edges_) + 2) + bucket
        return key

    def transform(self, X: pd.DataFrame) -> SequenceBatch:
        events, offsets = _flat_events(X)
        filled, kept = _recent(offsets, self.length)
        keys = self._keys(events)[kept]
        position = np.searchsorted(self.vocabulary_, keys)
        known = position < len(self.vocabulary_)
        known[known] = self.vocabulary_[position[known]] == keys[known]
        tokens = np.full(filled.shape, PADDING, dtype=np.int32)
        tokens[filled] = np.where(known, position + 2, UNKNOWN)
        features = np.asarray(self.side_.transform(X), dtype=np.float32)
        return SequenceBatch(tokens, features)


def _has_events(context: SearchContext) -> bool:
    return context.has_events


def _space(trial: Any, context: SearchContext) -> dict[str, Any]:
    params = {
        "length": trial.suggest_categorical("length", list(LENGTHS)),
        "token": trial.suggest_categorical("token", list(TOKENS)),
    }
    if "amount" in params["token"]:
        params["amount_buckets"] = trial.suggest_int("amount_buckets", 2, 8)
    return params


@hookimpl
def segframe_components() -> list[Component]:
    return [
        Component(
            "features",
            "event_sequence",
            EventSequences,
            RAW,
            SEQUENCES,
            space=_space,
            applies=_has_events,
            description="last events as token sequences (+ table columns and RFM as side input)",
        )
    ]
