"""RFM: each customer's recency, frequency, monetary value and tenure, from the event log.

A core utility because two sides need the same numbers: the ``rfm`` feature builder
(registered by the tabular plugin, which takes :class:`RFMFeatures` from the plugin API)
and segment profiles, which describe every segment in RFM terms whatever features the
segmentation used. Computed over the flat event arrays and their offsets, never per
customer in Python, so millions of events take seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from segframe.data import EventArrays, event_arrays
from segframe.errors import DataError

#: Days since the customer's last event.
RECENCY = "recency_days"
#: Purchases (events with an amount, or of type ``purchase``; every event without amounts).
FREQUENCY = "frequency"
#: Sum of the amounts.
MONETARY = "monetary_total"
#: Days since the customer's first event.
TENURE = "tenure_days"
#: The columns of :func:`rfm_table`, in order.
RFM_COLUMNS = (RECENCY, FREQUENCY, MONETARY, "monetary_mean", TENURE, "n_events")

DAY = np.timedelta64(1, "D")


def rfm_table(
    events: EventArrays, reference_time: np.datetime64, has_amounts: bool, index: pd.Index
) -> pd.DataFrame:
    """One row of :data:`RFM_COLUMNS` per customer of ``events`` (rows labelled ``index``).

    Days count back from ``reference_time``. With ``has_amounts`` an event is a purchase
    when it has a positive amount or its type is ``purchase``; without, every event is.
    Customers without events get NaN recency, tenure and mean, and zero counts.
    """
    counts = events.counts
    has = counts > 0
    starts, ends = events.offsets[:-1], events.offsets[1:]
    recency = np.full(len(counts), np.nan)
    tenure = np.full(len(counts), np.nan)
    recency[has] = (reference_time - events.timestamp[ends[has] - 1]) / DAY
    tenure[has] = (reference_time - events.timestamp[starts[has]]) / DAY
    amount = np.nan_to_num(events.amount, nan=0.0)
    purchase = (amount > 0) | (events.lookup("event", ["purchase"]) == 0)
    if not has_amounts:
        purchase = np.ones_like(purchase)
    owner = events.owner
    frequency = np.bincount(owner, weights=purchase, minlength=len(counts))
    monetary = np.bincount(owner, weights=amount, minlength=len(counts))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(frequency > 0, monetary / frequency, np.nan)
    columns = (recency, frequency, monetary, mean, tenure, counts.astype(float))
    return pd.DataFrame(dict(zip(RFM_COLUMNS, columns, strict=True)), index=index)


class RFMFeatures(TransformerMixin, BaseEstimator):
    """Recency, frequency, monetary value and tenure from the event log (:func:`rfm_table`).

    Days are counted back from the latest event seen at fit time, so a stored pipeline
    scores new customers against the same clock it was trained on.
    """

    def fit(self, X: pd.DataFrame, y: Any = None) -> RFMFeatures:
        events = event_arrays(X)
        if len(events.timestamp) == 0:
            raise DataError("The event log has no events for these customers; RFM needs some.")
        self.reference_time_ = events.timestamp.max()
        # Learned here, not per batch: without amounts, every event counts as a purchase.
        self.has_amounts_ = bool(np.isfinite(events.amount).any())
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return rfm_table(event_arrays(X), self.reference_time_, self.has_amounts_, X.index)


def customer_rfm(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-customer RFM, days counted back from the latest event in ``frame``."""
    return RFMFeatures().fit(frame).transform(frame)
