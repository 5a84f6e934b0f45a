"""segframe-rfm-plus: RFM ratios from the event log, and a histogram gradient-boosting model.

A third-party plugin written exactly like segframe's own: one module with a
``segframe_components()`` hook implementation, registered in ``pyproject.toml`` under the
``segframe`` entry-point group, declaring the plugin contract it was written for, and
importing from segframe only its plugin API, ``segframe.plugin``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from segframe.plugin import (
    FRAME,
    MATRIX,
    PREDICTION,
    RAW,
    Component,
    DataError,
    SearchContext,
    event_arrays,
    hookimpl,
)

#: The segframe plugin contract this plugin is written for.
SEGFRAME_CONTRACT = 1

NS_PER_DAY = 86_400 * 10**9


class RFMRatios(TransformerMixin, BaseEstimator):
    """Purchase rhythm and spend direction per customer, computed over flat event arrays.

    - ``interpurchase_mean_days`` / ``interpurchase_std_days``: gaps between purchases;
    - ``overdue_ratio``: days since the last purchase over the usual gap (> 1: late);
    - ``spend_trend``: spend in the last ``window_days`` against the window before, in
      [-1, 1] (0 when neither window has spend);
    - ``purchase_rate``: purchases per event.

    A purchase is an event with a positive amount or named ``purchase``. Days are
    counted back from the latest event seen at fit time, as segframe's own RFM does.
    """

    def __init__(self, window_days: int = 90) -> None:
        self.window_days = window_days

    def fit(self, X: pd.DataFrame, y: Any = None) -> RFMRatios:
        ev = event_arrays(X)
        if len(ev.timestamp) == 0:
            raise DataError("The event log has no events for these customers; rfm_plus needs some.")
        self.reference_day_ = ev.timestamp.max().astype("int64") / NS_PER_DAY
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        ev = event_arrays(X)
        n, owner = len(ev.offsets) - 1, ev.owner
        age = self.reference_day_ - ev.timestamp.astype("int64") / NS_PER_DAY
        amount = np.nan_to_num(ev.amount, nan=0.0)
        purchase = (amount > 0) | (ev.event == "purchase")
        buyer, bought = owner[purchase], age[purchase]  # time-sorted within each customer
        same = buyer[1:] == buyer[:-1]
        gaps, gap_owner = (bought[:-1] - bought[1:])[same], buyer[1:][same]
        n_gaps = np.bincount(gap_owner, minlength=n)
        total = np.bincount(gap_owner, weights=gaps, minlength=n)
        squares = np.bincount(gap_owner, weights=gaps**2, minlength=n)
        last = np.full(n, np.inf)
        np.minimum.at(last, buyer, bought)
        recent = np.bincount(owner, weights=amount * (age < self.window_days), minlength=n)
        before = (age >= self.window_days) & (age < 2 * self.window_days)
        previous = np.bincount(owner, weights=amount * before, minlength=n)
        purchases = np.bincount(buyer, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n_gaps > 0, total / n_gaps, np.nan)
            std = np.sqrt(np.maximum(squares / n_gaps - mean**2, 0.0))
            overdue = np.where(np.isfinite(last), last, np.nan) / mean
            spend = recent + previous
            trend = np.where(spend > 0, (recent - previous) / spend, 0.0)
            rate = np.where(ev.counts > 0, purchases / ev.counts, np.nan)
        return pd.DataFrame(
            {
                "interpurchase_mean_days": mean,
                "interpurchase_std_days": std,
                "overdue_ratio": overdue,
                "spend_trend": trend,
                "purchase_rate": rate,
            },
            index=X.index,
        )


class OneThreadHistGB(HistGradientBoostingClassifier):
    """Histogram gradient boosting on one OpenMP thread.

    segframe runs trials in parallel (one per core); OpenMP threads that spin-wait for a
    busy core make fitting many times slower, so each fit and prediction keeps to one.
    """

    def fit(self, X: Any, y: Any, **kwargs: Any) -> OneThreadHistGB:
        with threadpool_limits(1, user_api="openmp"):
            return super().fit(X, y, **kwargs)

    def predict_proba(self, X: Any) -> np.ndarray:
        with threadpool_limits(1, user_api="openmp"):
            return super().predict_proba(X)


def make_hist_gb(
    learning_rate: float = 0.1,
    max_leaf_nodes: int = 31,
    l2_regularization: float = 0.0,
    balanced: bool = False,
) -> OneThreadHistGB:
    """An unfitted model; segframe calls this with the parameters a trial sampled."""
    return OneThreadHistGB(
        learning_rate=learning_rate,
        max_leaf_nodes=max_leaf_nodes,
        l2_regularization=l2_regularization,
        class_weight="balanced" if balanced else None,
        random_state=0,
    )


def _has_events(context: SearchContext) -> bool:
    return context.has_events


def _ratios_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {"window_days": trial.suggest_int("window_days", 14, 180, log=True)}


def _hist_gb_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 7, 63, log=True),
        "l2_regularization": trial.suggest_float("l2_regularization", 1e-4, 10.0, log=True),
        "balanced": trial.suggest_categorical("balanced", [False, True]),
    }


@hookimpl
def segframe_components() -> list[Component]:
    return [
        Component(
            "features",
            "rfm_plus",
            RFMRatios,
            RAW,
            FRAME,
            space=_ratios_space,
            applies=_has_events,
            description="inter-purchase time, overdue ratio, spend trend, purchase rate",
        ),
        Component(
            "model",
            "hist_gb",
            make_hist_gb,
            MATRIX,
            PREDICTION,
            space=_hist_gb_space,
            description="scikit-learn histogram gradient boosting",
        ),
    ]
