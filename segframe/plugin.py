"""The plugin API: the one segframe module a plugin imports.

Everything a component author needs is here: the component contract and its forms,
the search context, the hook marker, epoch reporting for pruning, reading the event
log, RFM, and the helpers first-party plugins share (so that plugins never import each
other). Most names are re-exported from core modules; a plugin imports them from here
only, so that the core can move them without breaking plugins.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Number
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.compose import make_column_selector
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import FLOAT_DTYPES, check_array, check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from segframe import metrics
from segframe.components import (
    COLUMN_KINDS,
    CONTRACT_VERSION,
    FRAME,
    MATRIX,
    PREDICTION,
    RAW,
    SEGMENTS,
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
from segframe.progress import out_of_time, report_epoch
from segframe.progress import stop_if_out_of_time as _stop_if_out_of_time
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
    number of trees it predicts with. One thread in every pool (OpenMP, BLAS): threads
    that spin-wait for a busy core slow fitting many times, and parallel trials use several
    cores better. The neural net's matrix products run on BLAS; with BLAS's default threads
    a net's trial took 7× longer (9.5 s vs 1.3 s) beside a second search on two cores.

    A subclass stores its parameters in ``__init__`` (``max_trees``, ``fallback_trees``
    and ``random_state`` among them) and implements ``_model(codes, trees)``, the
    library's unfitted classifier for ``trees`` trees, and ``_fit_stopping(model, X_fit,
    y_fit, X_valid, y_valid)``, which fits with early stopping and returns the trees kept.
    Its training loop should also end once :func:`out_of_time` (a library callback): in a
    search whose ``--timeout`` is up, ``fit`` then raises instead of returning the model.

    A pipeline's sampler reaches a booster through :meth:`resampled`, so that it resamples
    only the rows the booster fits on, never those it stops on.
    """

    def _model(self, codes: np.ndarray, trees: int) -> Any:
        raise NotImplementedError

    def _fit_stopping(self, model: Any, X_fit: Any, y_fit: Any, X_valid: Any, y_valid: Any) -> int:
        raise NotImplementedError

    def fit(self, X: Any, y: Any, sampler: Any = None) -> EarlyStoppedBooster:
        """Fit with early stopping; a ``sampler`` (imbalanced-learn's ``fit_resample``)
        resamples the rows fitted on after the rows to stop on are held back."""
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan")
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs 2 classes or more; y has 1 class: {self.classes_}"
            )
        fit, valid = early_stopping_rows(codes, self.random_state)
        rows = np.arange(len(codes)) if fit is None else fit
        X_fit, y_fit = X[rows], codes[rows]
        if sampler is not None:
            X_fit, y_fit = sampler.fit_resample(X_fit, y_fit)
        with threadpool_limits(1):
            if fit is None:
                self.model_ = self._model(codes, self.fallback_trees).fit(X_fit, y_fit)
                self.best_iteration_ = self.fallback_trees
            else:
                self.model_ = self._model(codes, self.max_trees)
                self.best_iteration_ = self._fit_stopping(
                    self.model_, X_fit, y_fit, X[valid], codes[valid]
                )
        _stop_if_out_of_time()  # a loop ended by the deadline must not pass for a fitted model
        return self

    def resampled(self, sampler: Any) -> ResampledBooster:
        """This booster with ``sampler`` applied inside its fit (see :class:`ResampledBooster`);
        pipelines build a sampler followed by a booster this way."""
        return ResampledBooster(self, sampler)

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        with threadpool_limits(1):
            return self.model_.predict_proba(X)  # up to the best iteration

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)  # checks that it is fitted, before classes_ is read
        return self.classes_[proba.argmax(axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class ResampledBooster(ClassifierMixin, BaseEstimator):
    """A booster whose sampler resamples only the rows it fits on, not those it stops on.

    Over-sampled rows among the held-back ones (random copies, SMOTE's interpolations of
    training rows) let early stopping score trees on rows the trees were fitted on, so it
    keeps adding them: with random over-sampling ~1,000 trees instead of ~150 on Telco, and
    test ROC-AUC +0.031 online retail, +0.021 Telco, +0.010 CDNOW, +0.005 telecom, +0.004
    insurance but -0.020 iFood once the stopping rows are real (benchmark splits, default
    LightGBM and XGBoost). The pipeline's own sampler step is then a passthrough.
    """

    def __init__(self, booster: EarlyStoppedBooster, sampler: Any) -> None:
        self.booster = booster
        self.sampler = sampler

    def fit(self, X: Any, y: Any) -> ResampledBooster:
        self.booster_ = clone(self.booster).fit(X, y, sampler=clone(self.sampler))
        self.classes_ = self.booster_.classes_
        self.n_features_in_ = self.booster_.n_features_in_
        return self

    @property
    def model_(self) -> Any:
        """The library's fitted model, as on a plain booster (feature importance reads it)."""
        return self.booster_.model_

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return self.booster_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return self.booster_.predict(X)

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
        labels = X[self.categorical_]
        cells = labels.to_numpy(dtype=object)  # one block of objects, not one per column
        unread = np.flatnonzero([not _nan_strings(dtype) for dtype in labels.dtypes])
        part = cells[:, unread]
        gaps = pd.isna(part)
        if gaps.any():  # None, NA and NaT as NaN
            part[gaps] = np.nan
            cells = cells if cells.flags.writeable else cells.copy()
            cells[:, unread] = part
        labels = pd.DataFrame(cells, index=labels.index, columns=labels.columns, dtype=object)
        return pd.concat([numbers.astype(float), labels], axis=1)


def _nan_strings(dtype: Any) -> bool:
    """Whether a column type's missing values come out of it as NaN already (pandas'
    default text type): such columns need no per-cell search for other missing values."""
    return isinstance(dtype, pd.StringDtype) and dtype.na_value is np.nan


def _kinds(values: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions of a frame's numeric columns and of its other columns, as
    :data:`NUMERIC` and :data:`CATEGORICAL` pick them: one ``select_dtypes`` for the
    whole frame (on no rows), not a name lookup per column."""
    if not isinstance(values, pd.DataFrame):
        raise ValueError(f"A frame step needs a pandas DataFrame, not {type(values).__name__}.")
    probe = values.iloc[:0].set_axis(pd.RangeIndex(values.shape[1]), axis=1)
    numeric = probe.select_dtypes(include=np.number).columns.to_numpy(dtype=np.intp)
    mask = np.zeros(values.shape[1], dtype=bool)
    mask[numeric] = True
    return numeric, np.flatnonzero(~mask)


class _FrameStep(TransformerMixin, BaseEstimator):
    """Base of the frame steps: the numeric and categorical columns found at fit, picked
    again by name (in their fitted order) at transform, extra columns ignored, as
    scikit-learn's ColumnTransformer does."""

    def _fit_columns(self, X: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        numeric, categorical = _kinds(X)
        self.n_features_in_ = X.shape[1]
        if X.columns.inferred_type == "string":  # all names text: checked in C, not a loop
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.numeric_ = X.columns[numeric].to_numpy(dtype=object)
        self.categorical_ = X.columns[categorical].to_numpy(dtype=object)
        return X.iloc[:, numeric], X.iloc[:, categorical]

    def _columns(self, X: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        check_is_fitted(self, "numeric_")
        if not isinstance(X, pd.DataFrame):
            raise ValueError(f"A frame step needs a pandas DataFrame, not {type(X).__name__}.")
        wanted = np.concatenate([self.numeric_, self.categorical_])
        if len(X.columns) == len(wanted) and (X.columns == wanted).all():
            positions = np.arange(len(wanted))
        else:
            positions = X.columns.get_indexer_for(wanted)
            if len(positions) != len(wanted) or (positions < 0).any():
                lacking = set(wanted[positions < 0]) if len(positions) == len(wanted) else wanted
                raise ValueError(f"columns are missing: {set(lacking)}")
        split = len(self.numeric_)
        return X.iloc[:, positions[:split]], X.iloc[:, positions[split:]]


def _missing(values: np.ndarray) -> np.ndarray:
    """Where an object array holds NaN: ``x != x``, as scikit-learn's imputer reads gaps."""
    return values != values  # NaN is the one value unequal to itself


class FrameImputer(_FrameStep):
    """Fill numeric gaps by ``numeric_strategy`` (``"median"`` or ``"mean"``; 0 for a column
    with no values) and categorical gaps with ``"missing"`` (a categorical column with no
    values at fit is dropped, with a warning).

    The same output as scikit-learn's ``ColumnTransformer`` of two ``SimpleImputer`` s on
    :data:`NUMERIC` and :data:`CATEGORICAL` columns (pandas output, bare names): numeric
    columns first, as floats, then the categorical ones as objects. Each statistic and
    fill is one operation on a whole block, so 10,000 columns cost what one does.
    """

    def __init__(self, numeric_strategy: str = "median") -> None:
        self.numeric_strategy = numeric_strategy

    def fit(self, X: pd.DataFrame, y: Any = None) -> FrameImputer:
        self.fit_transform(X)
        return self

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        if self.numeric_strategy not in ("median", "mean"):
            raise ValueError(
                f"numeric_strategy must be 'median' or 'mean', not {self.numeric_strategy!r}"
            )
        numbers, labels = self._fit_columns(X)
        values = _numbers(numbers, self.numeric_strategy)
        self.statistics_ = _fill_values(values, self.numeric_strategy)
        text = labels.to_numpy(dtype=object)
        self.kept_ = ~_missing(text).all(axis=0)
        return self._fill(X.index, values, text)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        numbers, labels = self._columns(X)
        values = _numbers(numbers, self.numeric_strategy)
        return self._fill(X.index, values, labels.to_numpy(dtype=object))

    def _fill(self, index: pd.Index, values: np.ndarray, text: np.ndarray) -> pd.DataFrame:
        values = np.where(np.isnan(values), self.statistics_.astype(values.dtype), values)
        if not self.kept_.all():
            warnings.warn(
                "Skipping features without any observed values: "
                f"{self.categorical_[~self.kept_]}. At least one non-missing value is needed "
                "for imputation with strategy='constant'.",
                stacklevel=3,
            )
            text = text[:, self.kept_]
        text = np.where(_missing(text), "missing", text).astype(object, copy=False)
        parts = [
            pd.DataFrame(values, index=index, columns=self.numeric_),
            pd.DataFrame(text, index=index, columns=self.categorical_[self.kept_], dtype=object),
        ]
        return pd.concat([p for p in parts if p.shape[1]] or parts[:1], axis=1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "numeric_")
        return np.concatenate([self.numeric_, self.categorical_[self.kept_]]).astype(object)


def _numbers(numbers: pd.DataFrame, strategy: str) -> np.ndarray:
    """A numeric block as one float array, read as scikit-learn's imputer reads it."""
    if numbers.shape[1] == 0:
        return np.empty((len(numbers), 0))
    if (numbers.dtypes == np.float64).all():  # the usual case, without a check per column
        values = numbers.to_numpy()
        if not np.isinf(values).any():
            return values
    try:
        return check_array(numbers, dtype=FLOAT_DTYPES, ensure_all_finite="allow-nan")
    except ValueError as error:
        if "could not convert" in str(error):
            raise ValueError(
                f"Cannot use {strategy} strategy with non-numeric data:\n{error}"
            ) from None
        raise


def _fill_values(values: np.ndarray, strategy: str) -> np.ndarray:
    """Each column's median or mean over its values (0 where it has none), for the whole
    block at once: one sort, NaN last, then the middle of each column's values."""
    gaps = np.isnan(values)
    if strategy == "mean":  # the masked mean scikit-learn takes, for identical sums
        mean = np.ma.mean(np.ma.masked_array(values, mask=gaps), axis=0)
        filled = np.ma.getdata(mean)
        filled[np.ma.getmaskarray(mean)] = 0
        return filled
    counts = len(values) - gaps.sum(axis=0)
    ordered = np.sort(values, axis=0)  # NaN sorts last
    columns = np.arange(values.shape[1])
    low = ordered[np.maximum(counts - 1, 0) // 2, columns]
    high = ordered[np.minimum(counts // 2, len(values) - 1), columns]
    middle = (low + high) / 2  # as numpy's masked median takes it, odd counts too
    return np.where(counts == 0, 0, middle).astype(values.dtype, copy=False)


def _kind(level: Any) -> str:
    """What a level sorts among: numbers with numbers, text with text, others by type."""
    if isinstance(level, Number):
        return "number"
    return "str" if isinstance(level, str) else type(level).__qualname__


def _sorted_levels(
    found: np.ndarray, codes: np.ndarray, columns: np.ndarray, names: Any
) -> np.ndarray:
    """The distinct levels of all categorical columns, sorted as scikit-learn's encoders
    sort each column's own: one sort for the whole block.

    Levels of one kind sort among themselves (text by code point, numbers by value); a
    column holding two kinds cannot be sorted and raises as those encoders do. ``codes``
    and ``columns`` give each present cell's level and column, for that check.
    """
    try:
        return np.array(sorted(found), dtype=object)
    except TypeError:
        pass
    kinds, kind_of_level = np.unique(
        np.array([_kind(level) for level in found], dtype=str), return_inverse=True
    )
    pairs = np.unique(columns * len(kinds) + kind_of_level[codes])
    mixed = pairs[1:][pairs[1:] // len(kinds) == pairs[:-1] // len(kinds)] // len(kinds)
    if len(mixed):
        column = int(mixed[0])
        present = sorted(set(kinds[(pairs[pairs // len(kinds) == column] % len(kinds))]))
        raise TypeError(
            "Encoders require their input argument must be uniformly strings or numbers: "
            f"column {names[column]!r} holds {present}."
        )
    ordered = []
    for kind in range(len(kinds)):
        try:
            ordered.extend(sorted(found[kind_of_level == kind]))
        except TypeError:
            raise TypeError(f"Levels of type {kinds[kind]} cannot be sorted.") from None
    return np.array(ordered, dtype=object)


class _LevelsStep(_FrameStep):
    """Base of the encoders: every categorical column's sorted levels (missing values, if
    any, last), fitted and looked up for the whole block at once.

    All levels of all columns share one sorted array ``levels_``; a column's level is the
    pair (column, rank in ``levels_``), coded ``column * (len(levels_) + 1) + rank`` with
    rank ``len(levels_)`` for a missing value. ``keys_`` holds the sorted codes of the
    pairs seen at fit: a cell's position in it is its category over all columns, and the
    position minus ``starts_[column]`` its category within the column.
    """

    def _fit_levels(self, labels: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fit the levels of the categorical block; return what :meth:`_find_levels` does."""
        values = labels.to_numpy(dtype=object).ravel(order="F")  # column after column
        n_rows, n_columns = labels.shape
        columns = np.repeat(np.arange(n_columns), n_rows)
        codes, found = pd.factorize(values)  # missing values (None, NaN, NA) code -1
        gaps = codes < 0
        found = np.asarray(found, dtype=object)
        self.levels_ = _sorted_levels(found, codes[~gaps], columns[~gaps], self.categorical_)
        ranks = pd.Index(self.levels_, dtype=object).get_indexer(found)
        rank = np.append(ranks, len(self.levels_))[codes]  # code -1 (missing) takes the last
        pairs = columns * (len(self.levels_) + 1) + rank
        self.keys_ = np.sort(pd.unique(pairs))
        self.starts_ = np.searchsorted(
            self.keys_, np.arange(n_columns + 1) * (len(self.levels_) + 1)
        )
        return np.searchsorted(self.keys_, pairs), columns, gaps

    def _find_levels(self, labels: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each cell's category (-1: not seen at fit), column, and whether it is missing."""
        values = labels.to_numpy(dtype=object).ravel(order="F")
        n_rows, n_columns = labels.shape
        columns = np.repeat(np.arange(n_columns), n_rows)
        rank = pd.Index(self.levels_, dtype=object).get_indexer(pd.Index(values, dtype=object))
        rank = rank.astype(np.int64)
        gaps = np.zeros(len(values), dtype=bool)
        unseen = np.flatnonzero(rank < 0)  # missing values are among these: no level is NaN
        gaps[unseen] = pd.isna(values[unseen])
        rank[gaps] = len(self.levels_)
        pairs = columns * (len(self.levels_) + 1) + rank
        found = np.minimum(np.searchsorted(self.keys_, pairs), len(self.keys_) - 1)
        seen = (rank >= 0) & (self.keys_[found] == pairs) if len(self.keys_) else rank < -1
        return np.where(seen, found, -1), columns, gaps

    def _category_names(self) -> np.ndarray:
        """Each fitted category's level (NaN for missing values), over all columns."""
        rank = self.keys_ % (len(self.levels_) + 1)
        return np.append(self.levels_, np.nan).astype(object)[rank]


class FrameOrdinalEncoder(_LevelsStep):
    """Integer-code categorical columns (levels in sorted order; a level not seen at fit
    becomes -1, a missing value NaN, or -1 when fit saw none); numeric columns pass
    through first.

    The same float matrix as scikit-learn's ``ColumnTransformer`` of a passthrough on
    :data:`NUMERIC` and an ``OrdinalEncoder(handle_unknown="use_encoded_value",
    unknown_value=-1)`` on :data:`CATEGORICAL` columns, and the same feature names, with
    every column coded by whole-array operations.
    """

    def fit(self, X: pd.DataFrame, y: Any = None) -> FrameOrdinalEncoder:
        self.fit_transform(X)
        return self

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> np.ndarray:
        numbers, labels = self._fit_columns(X)
        return self._stack(numbers, labels, *self._fit_levels(labels))

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        numbers, labels = self._columns(X)
        category, columns, gaps = self._find_levels(labels)
        return self._stack(numbers, labels, category, columns, gaps)

    def _stack(
        self,
        numbers: pd.DataFrame,
        labels: pd.DataFrame,
        category: np.ndarray,
        columns: np.ndarray,
        gaps: np.ndarray,
    ) -> np.ndarray:
        codes = (category - self.starts_[columns]).astype(float)
        codes[gaps & (category >= 0)] = np.nan
        codes[category < 0] = -1
        out, encoded = _beside(numbers, labels.shape[1])
        encoded[:] = codes.reshape(labels.shape, order="F")
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "numeric_")
        return np.array(
            [f"numeric__{c}" for c in self.numeric_]
            + [f"categorical__{c}" for c in self.categorical_],
            dtype=object,
        )


class FrameOneHotEncoder(_LevelsStep):
    """One-hot encode categorical columns, numeric columns passing through first.

    A level seen in fewer than ``min_frequency`` of the rows (a share; a whole number is a
    count) is pooled with the column's other rare levels into one last column, which also
    takes levels not seen at fit; a column without rare levels encodes those as zeros.
    The same matrix and feature names as scikit-learn's ``ColumnTransformer`` of a
    passthrough and a dense ``OneHotEncoder(handle_unknown="infrequent_if_exist")``, with
    every column encoded by whole-array operations.
    """

    def __init__(self, min_frequency: float = 0.01) -> None:
        self.min_frequency = min_frequency

    def fit(self, X: pd.DataFrame, y: Any = None) -> FrameOneHotEncoder:
        self.fit_transform(X)
        return self

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> np.ndarray:
        numbers, labels = self._fit_columns(X)
        category, columns, _ = self._fit_levels(labels)
        counts = np.bincount(category, minlength=len(self.keys_))
        if isinstance(self.min_frequency, Integral):
            rare = counts < self.min_frequency
        else:
            rare = counts < self.min_frequency * len(labels)
        column_of = np.repeat(np.arange(labels.shape[1]), np.diff(self.starts_))
        frequent = np.cumsum(~rare)
        before = np.concatenate([[0], frequent])[self.starts_[:-1]]
        n_frequent = frequent[self.starts_[1:] - 1] - before if len(rare) else before
        n_rare = np.diff(self.starts_) - n_frequent
        widths = n_frequent + (n_rare > 0)
        first = np.concatenate([[0], np.cumsum(widths)])
        self.rare_slot_ = np.where(n_rare > 0, first[:-1] + n_frequent, -1)
        self.slot_ = np.where(
            rare,
            self.rare_slot_[column_of],
            first[:-1][column_of] + frequent - 1 - before[column_of],
        )
        self.n_encoded_ = int(first[-1])
        return self._stack(numbers, labels, category, columns)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        numbers, labels = self._columns(X)
        category, columns, _ = self._find_levels(labels)
        return self._stack(numbers, labels, category, columns)

    def _stack(
        self, numbers: pd.DataFrame, labels: pd.DataFrame, category: np.ndarray, columns: np.ndarray
    ) -> np.ndarray:
        slot = np.where(category >= 0, self.slot_[category], self.rare_slot_[columns])
        rows = np.tile(np.arange(len(labels)), labels.shape[1])
        out, encoded = _beside(numbers, self.n_encoded_)
        encoded[rows[slot >= 0], slot[slot >= 0]] = 1.0
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "slot_")
        names = np.empty(self.n_encoded_, dtype=object)
        column_of = np.repeat(np.arange(len(self.categorical_)), np.diff(self.starts_))
        levels = self._category_names()
        for slot, column, level in zip(self.slot_, column_of, levels, strict=True):
            names[slot] = f"categorical__{self.categorical_[column]}_{level}"
        for column, slot in enumerate(self.rare_slot_):
            if slot >= 0:
                names[slot] = f"categorical__{self.categorical_[column]}_infrequent_sklearn"
        return np.concatenate([[f"numeric__{c}" for c in self.numeric_], names]).astype(object)


def _beside(numbers: pd.DataFrame, width: int) -> tuple[np.ndarray, np.ndarray]:
    """An encoder's output, numeric columns first, and the zeroed view of its last ``width``
    columns to encode into: one allocation, where stacking the parts would copy both.

    The array is what ColumnTransformer stacks from a passthrough and an encoder: floats,
    or the numeric columns' own type when no column is encoded (a transformer that
    selected no columns is left out)."""
    values = numbers.to_numpy() if numbers.shape[1] else np.zeros((len(numbers), 0))
    if width == 0:
        return values, np.zeros((len(numbers), 0))
    out = np.zeros((len(numbers), values.shape[1] + width), np.result_type(values, np.float64))
    out[:, : values.shape[1]] = values
    return out, out[:, values.shape[1] :]


def make_imputer(numeric_strategy: str = "median") -> FrameImputer:
    """Fill numeric gaps by ``numeric_strategy`` and categorical gaps with ``"missing"``."""
    return FrameImputer(numeric_strategy)


def make_onehot(min_frequency: float = 0.01) -> FrameOneHotEncoder:
    """One-hot encode categoricals (rare levels pooled), numeric columns pass through."""
    return FrameOneHotEncoder(min_frequency)


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
    "SEGMENTS",
    "SEQUENCES",
    "TREE_CHAIN",
    "Component",
    "DataError",
    "EarlyStoppedBooster",
    "EventArrays",
    "FeatureConcat",
    "FrameImputer",
    "FrameOneHotEncoder",
    "FrameOrdinalEncoder",
    "RFMFeatures",
    "ResampledBooster",
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
    "out_of_time",
    "report_epoch",
    "rfm_table",
    "roc_auc",
    "slowest_learning_rate",
]
