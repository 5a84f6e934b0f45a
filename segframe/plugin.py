"""The plugin API: the one segframe module a plugin imports.

Everything a component author needs is here: the component contract and its forms,
the search context, the hook marker, epoch reporting for pruning, reading the event
log, RFM, and the helpers first-party plugins share (so that plugins never import each
other). Most names are re-exported from core modules; a plugin imports them from here
only, so that the core can move them without breaking plugins.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from segframe import metrics
from segframe.components import (
    COLUMN_KINDS,
    CONTRACT_VERSION,
    FRAME,
    MATRIX,
    PREDICTION,
    RAW,
    SEQUENCES,
    Component,
    SearchContext,
    SequenceBatch,
    Start,
    always,
    no_parameters,
    no_starts,
)
from segframe.data import EVENTS, EventArrays, event_arrays
from segframe.errors import DataError
from segframe.errors import listing as _listing
from segframe.hookspecs import hookimpl
from segframe.pipeline import FeatureConcat
from segframe.progress import report_epoch
from segframe.rfm import RFM_COLUMNS, RFMFeatures, rfm_table

#: Share of a booster's training rows held back to find its number of trees.
EARLY_STOPPING_SHARE = 0.1
#: Rounds without improvement on that share before a booster stops adding trees.
EARLY_STOPPING_ROUNDS = 50
#: Rows a booster needs (and two of each class) before early stopping can hold some back.
MIN_ROWS_TO_SPLIT = 50
#: Training sets above this many rows count as large: fewer trees, faster learning rates.
LARGE_TABLE_ROWS = 20_000
#: The preprocessing tree models do best with, for their starts: integer-coded
#: categoricals, no scaling.
TREE_CHAIN = {"frame_to_matrix": "ordinal", "matrix_to_matrix": "none"}
#: Column selectors of a frame's numeric and its other (categorical) columns.
NUMERIC = make_column_selector(dtype_include=np.number)
CATEGORICAL = make_column_selector(dtype_exclude=np.number)


def slowest_learning_rate(context: SearchContext) -> float:
    """A booster's lowest learning rate to search: on large tables slower rates cost many
    trees and gain little."""
    return 0.02 if context.n_rows <= LARGE_TABLE_ROWS else 0.04


def inner_split(
    X: Any, y: Any, share: float = EARLY_STOPPING_SHARE, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions to fit on and to validate on, stratified where every class allows.

    Boosters use it to find their number of trees by early stopping instead of having
    it searched blind; the held-back rows come from the training fold only, so
    cross-validation scores stay honest.
    """
    rows = np.arange(len(y))
    labels = np.asarray(y)
    _, counts = np.unique(labels, return_counts=True)
    stratify = labels if counts.min() >= 2 else None
    n_valid = max(round(share * len(rows)), len(counts))
    fit, valid = train_test_split(rows, test_size=n_valid, stratify=stratify, random_state=seed)
    return np.sort(fit), np.sort(valid)


def early_stopping_rows(
    codes: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """:func:`inner_split` rows to fit and to stop on, or ``(None, None)`` when the data is
    too small to hold rows back (or the fit rows would miss a class)."""
    codes = np.asarray(codes)
    if len(codes) < MIN_ROWS_TO_SPLIT or np.bincount(codes).min() < 2:
        return None, None
    fit, valid = inner_split(codes, codes, seed=seed)
    if len(np.unique(codes[fit])) < codes.max() + 1:
        return None, None
    return fit, valid


class EarlyStoppedBooster(ClassifierMixin, BaseEstimator):
    """Base of boosted-tree classifiers that find their number of trees by early stopping.

    ``fit`` holds back :data:`EARLY_STOPPING_SHARE` of the rows and adds trees until the
    loss on them has not improved for :data:`EARLY_STOPPING_ROUNDS` (at most
    ``max_trees``), and keeps that model: a refit on all rows would double the cost.
    Training sets too small to split get ``fallback_trees``; ``best_iteration_`` is the
    number of trees it predicts with. One OpenMP thread: threads that spin-wait for a
    busy core slow fitting many times, and parallel trials use several cores better.

    A subclass stores its parameters in ``__init__`` (``max_trees``, ``fallback_trees``
    and ``random_state`` among them) and implements ``_model(codes, trees)``, the
    library's unfitted classifier for ``trees`` trees, and ``_fit_stopping(model, X_fit,
    y_fit, X_valid, y_valid)``, which fits with early stopping and returns the trees kept.
    """

    def _model(self, codes: np.ndarray, trees: int) -> Any:
        raise NotImplementedError

    def _fit_stopping(self, model: Any, X_fit: Any, y_fit: Any, X_valid: Any, y_valid: Any) -> int:
        raise NotImplementedError

    def fit(self, X: Any, y: Any) -> EarlyStoppedBooster:
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan")
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs 2 classes or more; y has 1 class: {self.classes_}"
            )
        fit, valid = early_stopping_rows(codes, self.random_state)
        with threadpool_limits(1, user_api="openmp"):
            if fit is None:
                self.model_ = self._model(codes, self.fallback_trees).fit(X, codes)
                self.best_iteration_ = self.fallback_trees
            else:
                self.model_ = self._model(codes, self.max_trees)
                self.best_iteration_ = self._fit_stopping(
                    self.model_, X[fit], codes[fit], X[valid], codes[valid]
                )
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        with threadpool_limits(1, user_api="openmp"):
            return self.model_.predict_proba(X)  # up to the best iteration

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)  # checks that it is fitted, before classes_ is read
        return self.classes_[proba.argmax(axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def roc_auc(codes: np.ndarray, proba: np.ndarray) -> float:
    """ROC-AUC of class probabilities against label codes ``0..n_classes-1``, as a search
    scores it: binary AUC (the same whichever column is scored), macro one-vs-rest for
    more classes; NaN when the codes miss a class. For validation scores during training,
    e.g. those given to :func:`report_epoch`."""
    return metrics.score(codes, proba, proba.shape[1] - 1)["auc"]


class TabularColumns(TransformerMixin, BaseEstimator):
    """Pass the customer table's own columns through, typed as numeric or categorical."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> TabularColumns:
        dtypes = X.dtypes.drop(EVENTS, errors="ignore")
        if dtypes.empty:
            raise DataError("The customer table has no feature columns besides the id and target.")
        numeric = dtypes.map(pd.api.types.is_numeric_dtype).astype(bool)
        self.numeric_ = list(dtypes.index[numeric.to_numpy()])
        self.categorical_ = list(dtypes.index[~numeric.to_numpy()])
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Whole-frame operations, not per-column loops: 10,000 columns take what one does."""
        present = set(X.columns)
        missing = [c for c in (*self.numeric_, *self.categorical_) if c not in present]
        if missing:
            raise DataError(
                f"The data lacks columns the pipeline was trained with: {_listing(missing)}. "
                "Pass a customer table with the same columns as at training time."
            )
        numbers = X[self.numeric_]
        text = numbers.dtypes.map(lambda d: not pd.api.types.is_numeric_dtype(d)).astype(bool)
        if text.any():  # a numeric column arriving as text: read what can be read
            numbers = numbers.copy()
            columns = numbers.columns[text.to_numpy()]
            numbers[columns] = numbers[columns].apply(pd.to_numeric, errors="coerce")
        labels = X[self.categorical_].astype(object)
        labels = labels.where(labels.notna(), np.nan)
        return pd.concat([numbers.astype(float), labels], axis=1)


def make_imputer(numeric_strategy: str = "median") -> ColumnTransformer:
    """Fill numeric gaps by ``numeric_strategy`` and categorical gaps with ``"missing"``."""
    return ColumnTransformer(
        [
            (
                "numeric",
                SimpleImputer(strategy=numeric_strategy, keep_empty_features=True),
                NUMERIC,
            ),
            ("categorical", SimpleImputer(strategy="constant", fill_value="missing"), CATEGORICAL),
        ],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")


def make_onehot(min_frequency: float = 0.01) -> ColumnTransformer:
    """One-hot encode categoricals (rare levels pooled), numeric columns pass through."""
    encoder = OneHotEncoder(
        handle_unknown="infrequent_if_exist", min_frequency=min_frequency, sparse_output=False
    )
    return ColumnTransformer(
        [("numeric", "passthrough", NUMERIC), ("categorical", encoder, CATEGORICAL)],
        sparse_threshold=0.0,
    )


__all__ = [
    "CATEGORICAL",
    "COLUMN_KINDS",
    "CONTRACT_VERSION",
    "EARLY_STOPPING_ROUNDS",
    "EARLY_STOPPING_SHARE",
    "EVENTS",
    "FRAME",
    "LARGE_TABLE_ROWS",
    "MATRIX",
    "MIN_ROWS_TO_SPLIT",
    "NUMERIC",
    "PREDICTION",
    "RAW",
    "RFM_COLUMNS",
    "SEQUENCES",
    "TREE_CHAIN",
    "Component",
    "DataError",
    "EarlyStoppedBooster",
    "EventArrays",
    "FeatureConcat",
    "RFMFeatures",
    "SearchContext",
    "SequenceBatch",
    "Start",
    "TabularColumns",
    "always",
    "early_stopping_rows",
    "event_arrays",
    "hookimpl",
    "inner_split",
    "make_imputer",
    "make_onehot",
    "no_parameters",
    "no_starts",
    "report_epoch",
    "rfm_table",
    "roc_auc",
    "slowest_learning_rate",
]
