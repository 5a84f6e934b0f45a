"""The plugin API: the one segframe module a plugin imports.

Everything a component author needs is here: the component contract and its forms,
the search context, the hook marker, epoch reporting for pruning, and the helpers
first-party plugins share (so that plugins never import each other).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from segframe.components import (
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
from segframe.hookspecs import hookimpl
from segframe.progress import report_epoch

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


__all__ = [
    "CONTRACT_VERSION",
    "EARLY_STOPPING_ROUNDS",
    "EARLY_STOPPING_SHARE",
    "FRAME",
    "LARGE_TABLE_ROWS",
    "MATRIX",
    "MIN_ROWS_TO_SPLIT",
    "PREDICTION",
    "RAW",
    "SEQUENCES",
    "TREE_CHAIN",
    "Component",
    "EarlyStoppedBooster",
    "SearchContext",
    "SequenceBatch",
    "Start",
    "always",
    "early_stopping_rows",
    "hookimpl",
    "inner_split",
    "no_parameters",
    "no_starts",
    "report_epoch",
    "slowest_learning_rate",
]
