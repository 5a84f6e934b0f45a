"""scikit-learn preprocessing (impute, encode, scale) and models: the logistic-regression
baseline, random forest, extra trees, histogram gradient boosting and a small neural net."""

from __future__ import annotations

import copy
import importlib.util
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, QuantileTransformer, RobustScaler, StandardScaler

from segframe.plugin import (
    EARLY_STOPPING_ROUNDS,
    FRAME,
    LARGE_TABLE_ROWS,
    MATRIX,
    PREDICTION,
    TREE_CHAIN,
    Component,
    EarlyStoppedBooster,
    FrameOrdinalEncoder,
    SearchContext,
    Start,
    hookimpl,
    make_imputer,
    make_onehot,
    report_epoch,
    roc_auc,
    slowest_learning_rate,
)

#: The segframe plugin contract this plugin is written for.
SEGFRAME_CONTRACT = 1

SCALERS = {"standard": StandardScaler, "robust": RobustScaler, "minmax": MinMaxScaler}


def make_ordinal() -> FrameOrdinalEncoder:
    """Integer-code categoricals (unknown levels become -1); suits tree models."""
    return FrameOrdinalEncoder()


def make_scaler(method: str = "standard") -> Any:
    return SCALERS[method]()


def make_logreg(C: float = 1.0, class_weight: str | None = None) -> Pipeline:
    """Standardised logistic regression: unscaled inputs make lbfgs crawl and C meaningless."""
    return make_pipeline(
        StandardScaler(), LogisticRegression(C=C, class_weight=class_weight, max_iter=500)
    )


#: Rows each random-forest tree draws on large tables (bootstrap), which bounds a tree's cost.
FOREST_ROWS = 10_000
#: Below this minority/majority ratio the starts of multi-class targets weight classes.
IMBALANCED = 0.5


def make_random_forest(**params: Any) -> RandomForestClassifier:
    return RandomForestClassifier(n_jobs=1, random_state=0, **params)


def make_extra_trees(**params: Any) -> ExtraTreesClassifier:
    return ExtraTreesClassifier(n_jobs=1, random_state=0, **params)


class HistGradientBoosting(EarlyStoppedBooster):
    """HistGradientBoostingClassifier that finds its iterations by early stopping (see the
    base class) on one thread."""

    def __init__(
        self,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        max_features: float = 1.0,
        class_weight: str | None = None,
        max_trees: int = 1000,
        fallback_trees: int = 100,
        random_state: int = 0,
    ) -> None:
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_features = max_features
        self.class_weight = class_weight
        self.max_trees = max_trees
        self.fallback_trees = fallback_trees
        self.random_state = random_state

    def _model(self, codes: np.ndarray, trees: int) -> Any:
        params = {k: v for k, v in self.get_params().items() if k not in _OWN}
        return HistGradientBoostingClassifier(**params, max_iter=trees, early_stopping=False)

    def _fit_stopping(self, model: Any, X_fit: Any, y_fit: Any, X_valid: Any, y_valid: Any) -> int:
        model.set_params(early_stopping=True, n_iter_no_change=EARLY_STOPPING_ROUNDS)
        model.fit(X_fit, y_fit, X_val=X_valid, y_val=y_valid)
        return int(model.n_iter_)


#: Parameters of the wrapper that HistGradientBoostingClassifier does not take.
_OWN = {"max_trees", "fallback_trees"}

#: Epochs without progress (see NET_TOLERANCE) on the held-back rows before the net stops.
NET_PATIENCE = 10
#: How much lower than the best so far the log loss must get to count as progress
#: (scikit-learn's MLP ``tol``): a big, strongly regularised net with a slow learning rate
#: gained a hair every epoch and ran all its epochs, a 60 s CDNOW search for over 5 minutes.
NET_TOLERANCE = 1e-4


class ContinuousQuantiles(TransformerMixin, BaseEstimator):
    """Quantile-normalise the columns that hold more than two distinct values; indicator
    columns (one-hot levels, flags) pass through as 0/1.

    Why: a quantile transform sends the rare level of an indicator to the far tail of the
    normal (about ±5), so one-hot columns drowned the spend and count columns the net
    should learn from. Leaving them as they are raised the net's test ROC-AUC by 0.02–0.035
    on iFood, Telco and telecom (five seeds each; CDNOW −0.003).
    """

    def __init__(self, max_quantiles: int = 1000, random_state: int = 0) -> None:
        self.max_quantiles = max_quantiles
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> ContinuousQuantiles:
        X = np.asarray(X, dtype=float)
        at_ends = np.equal(X, X.min(axis=0)) | np.equal(X, X.max(axis=0))
        self.continuous_ = ~at_ends.all(axis=0)
        self.quantiles_ = None
        if self.continuous_.any():
            self.quantiles_ = QuantileTransformer(
                n_quantiles=min(self.max_quantiles, len(X)),
                output_distribution="normal",
                random_state=self.random_state,
            ).fit(X[:, self.continuous_])
        return self

    def transform(self, X: Any) -> np.ndarray:
        X = np.array(X, dtype=float)
        if self.quantiles_ is not None:
            X[:, self.continuous_] = self.quantiles_.transform(X[:, self.continuous_])
        return X


class NeuralNet(EarlyStoppedBooster):
    """A multi-layer perceptron on quantile-normalised inputs (:class:`ContinuousQuantiles`)
    that finds its number of epochs by early stopping on log loss (the base class's
    held-back rows; ``max_trees`` and ``fallback_trees`` count epochs here) and keeps the
    weights of its best epoch. Each epoch's ROC-AUC on those rows goes to
    :func:`~segframe.plugin.report_epoch`, like the Keras models'.

    A model family that errs unlike trees, for the ensemble: AutoGluon fits one in its
    default portfolio. Quantile normalisation makes heavy-tailed spend and count columns
    usable by gradient descent; scikit-learn's own early stopping would watch accuracy,
    which stays flat on skewed targets.
    """

    def __init__(
        self,
        hidden: int = 128,
        layers: int = 2,
        alpha: float = 1e-3,
        learning_rate: float = 1e-3,
        batch_size: int = 128,
        max_trees: int = 200,
        fallback_trees: int = 50,
        random_state: int = 0,
    ) -> None:
        self.hidden = hidden
        self.layers = layers
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_trees = max_trees
        self.fallback_trees = fallback_trees
        self.random_state = random_state

    def _model(self, codes: np.ndarray, trees: int) -> Pipeline:
        net = MLPClassifier(
            hidden_layer_sizes=(self.hidden,) * self.layers,
            alpha=self.alpha,
            learning_rate_init=self.learning_rate,
            batch_size=min(self.batch_size, len(codes)),
            max_iter=trees,
            random_state=self.random_state,
        )
        quantiles = ContinuousQuantiles(random_state=self.random_state)
        return _QuietPipeline([("quantiles", quantiles), ("net", net)])

    def _fit_stopping(self, model: Any, X_fit: Any, y_fit: Any, X_valid: Any, y_valid: Any) -> int:
        quantiles, net = model.named_steps["quantiles"], model.named_steps["net"]
        net.set_params(batch_size=min(net.batch_size, len(X_fit)))
        Z_fit, Z_valid = quantiles.fit_transform(X_fit), quantiles.transform(X_valid)
        labels = np.arange(len(self.classes_))
        best_loss, best_epoch, best_weights = np.inf, 0, None
        for epoch in range(1, self.max_trees + 1):
            net.partial_fit(Z_fit, y_fit, classes=labels)
            proba = net.predict_proba(Z_valid)
            loss = log_loss(y_valid, proba, labels=labels)
            auc = roc_auc(y_valid, proba)
            if np.isfinite(auc):  # lets the search prune the net, or stop it when time is up
                report_epoch(auc, epoch - 1)
            if loss < best_loss - NET_TOLERANCE:
                best_loss, best_epoch = loss, epoch
                best_weights = copy.deepcopy((net.coefs_, net.intercepts_))
            elif epoch - best_epoch >= NET_PATIENCE:
                break
        net.coefs_, net.intercepts_ = best_weights
        return best_epoch

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False  # unlike trees; the pipeline imputes before it
        return tags


class _QuietPipeline(Pipeline):
    """A pipeline whose fit does not warn that a fixed epoch count ended before convergence
    (the small-data fallback fits that many epochs on purpose)."""

    def fit(self, X: Any, y: Any = None, **params: Any) -> _QuietPipeline:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return super().fit(X, y, **params)


def _imputer_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {"numeric_strategy": trial.suggest_categorical("numeric_strategy", ["median", "mean"])}


def _onehot_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {"min_frequency": trial.suggest_float("min_frequency", 0.001, 0.05, log=True)}


def _scaler_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {"method": trial.suggest_categorical("method", list(SCALERS))}


def _logreg_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {
        "C": trial.suggest_float("C", 1e-3, 1e2, log=True),
        "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
    }


def _forest_space(trial: Any, context: SearchContext, bootstrap: bool) -> dict[str, Any]:
    most = 300 if context.n_rows <= LARGE_TABLE_ROWS else 100
    params = {
        "n_estimators": trial.suggest_int("n_estimators", 50, most, log=True),
        "max_features": trial.suggest_float("max_features", 0.1, 0.6),  # cost grows with it
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 32, log=True),
        "criterion": trial.suggest_categorical("criterion", ["gini", "entropy"]),
        "class_weight": trial.suggest_categorical(
            "class_weight", [None, "balanced", "balanced_subsample"]
        ),
    }
    if bootstrap and context.n_rows > LARGE_TABLE_ROWS:
        params["max_samples"] = FOREST_ROWS / context.n_rows
    return params


def _random_forest_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return _forest_space(trial, context, bootstrap=True)


def _extra_trees_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return _forest_space(trial, context, bootstrap=False)


def _hist_gb_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    slowest = slowest_learning_rate(context)
    return {
        "learning_rate": trial.suggest_float("learning_rate", slowest, 0.3, log=True),
        "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 4, 256, log=True),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 2, 128, log=True),
        "l2_regularization": trial.suggest_float("l2_regularization", 1e-3, 100.0, log=True),
        "max_features": trial.suggest_float("max_features", 0.3, 1.0),
        "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
    }


def _net_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {
        "hidden": trial.suggest_int("hidden", 32, 256, log=True),
        "layers": trial.suggest_int("layers", 1, 3),
        "alpha": trial.suggest_float("alpha", 1e-5, 1e-1, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
        "batch_size": trial.suggest_categorical("batch_size", [64, 128, 256]),
    }


def _net_starts(context: SearchContext) -> list[Start]:
    chain = {"frame_to_matrix": "onehot", "matrix_to_matrix": "none"}
    params = {"hidden": 128, "layers": 2, "alpha": 1e-3, "learning_rate": 1e-3, "batch_size": 128}
    return [Start(params, chain=chain, rank=45)]


def _balanced(context: SearchContext) -> str | None:
    """Class weights for the starts: only for skewed multi-class targets, whose macro F1 is
    taken at the argmax; binary F1 is taken at a tuned threshold, where weights gain nothing."""
    return "balanced" if context.n_classes > 2 and context.minority_ratio < IMBALANCED else None


def _logreg_starts(context: SearchContext) -> list[Start]:
    # no scaler: the logreg pipeline standardises inside
    chain = {"frame_to_matrix": "onehot", "matrix_to_matrix": "none"}
    return [Start({"C": 1.0, "class_weight": _balanced(context)}, chain=chain, rank=30)]


def _forest_starts(context: SearchContext, rank: int) -> list[Start]:
    """~300 trees (100 on large tables) on integer-coded categoricals, leaves of 5 rows: on the
    noisy telco and cdnow tables the mean of F1 and AUC is 0.015-0.045 higher than with
    leaves of 1 row (0.006-0.012 lower on clean synthetic data)."""
    params = {
        "n_estimators": 300 if context.n_rows <= LARGE_TABLE_ROWS else 100,
        "max_features": 0.25,  # about sqrt(n) of 16 columns
        "min_samples_leaf": 5,
        "criterion": "gini",
        "class_weight": "balanced_subsample" if _balanced(context) else None,
    }
    return [Start(params, chain=TREE_CHAIN, rank=rank)]


def _random_forest_starts(context: SearchContext) -> list[Start]:
    return _forest_starts(context, rank=40)


def _extra_trees_starts(context: SearchContext) -> list[Start]:
    return _forest_starts(context, rank=50)


def _hist_gb_starts(context: SearchContext) -> list[Start]:
    """LightGBM's two starts, as it stands in for it: small regularised trees first (mean of F1
    and AUC +0.012 on telco and cdnow, -0.024 on synthetic data), then the defaults."""
    small = {
        "learning_rate": 0.05,
        "max_leaf_nodes": 8,
        "min_samples_leaf": 50,
        "l2_regularization": 1e-3,
        "max_features": 0.7,
        "class_weight": _balanced(context),
    }
    defaults = {**small, "learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20}
    return [
        Start(small, chain=TREE_CHAIN, rank=15),
        Start({**defaults, "max_features": 1.0}, chain=TREE_CHAIN, rank=65),
    ]


def _only_when_named(context: SearchContext) -> bool:
    """Random forests join a search only when named: extra trees scored as well or better on
    every table measured (telco, cdnow, synthetic) at a third of the fitting time."""
    return False


def _below_large_tables(context: SearchContext) -> bool:
    """The neural net joins unasked up to ``LARGE_TABLE_ROWS`` rows. There it is the model
    family unlike trees that the ensemble's share of known-good starts gains from (60 s
    searches on the benchmark's splits, test ROC-AUC: telecom +0.0035, online retail
    +0.0022, insurance +0.0022, iFood +0.0005, Telco +0.0005, CDNOW ±0; measured before
    :class:`ContinuousQuantiles` and one BLAS thread, at 120 s now −0.001 on average, so
    worth re-measuring); on the 33,000-row bank table its slow epochs cost a third of the
    trials for no gain."""
    return context.n_rows <= LARGE_TABLE_ROWS


def _without_lightgbm(context: SearchContext) -> bool:
    """The same family as LightGBM, and slower: it joins unasked only when LightGBM is missing."""
    return importlib.util.find_spec("lightgbm") is None


@hookimpl
def segframe_components() -> list[Component]:
    return [
        Component(
            "preprocessor",
            "impute",
            make_imputer,
            FRAME,
            FRAME,
            space=_imputer_space,
            optional=False,
            description="fill missing values (numeric by median/mean)",
        ),
        Component(
            "preprocessor",
            "onehot",
            make_onehot,
            FRAME,
            MATRIX,
            space=_onehot_space,
            description="one-hot encode categorical columns",
        ),
        Component(
            "preprocessor",
            "ordinal",
            make_ordinal,
            FRAME,
            MATRIX,
            description="integer-code categorical columns",
        ),
        Component(
            "preprocessor",
            "scale",
            make_scaler,
            MATRIX,
            MATRIX,
            space=_scaler_space,
            description="standard, robust or min-max scaling",
        ),
        Component(
            "model",
            "logreg",
            make_logreg,
            MATRIX,
            PREDICTION,
            space=_logreg_space,
            starts=_logreg_starts,
            description="logistic regression, the plain baseline",
        ),
        Component(
            "model",
            "random_forest",
            make_random_forest,
            MATRIX,
            PREDICTION,
            space=_random_forest_space,
            starts=_random_forest_starts,
            in_default_search=_only_when_named,
            description="random forest (bagged trees; fewer trees and rows per tree on large data)",
        ),
        Component(
            "model",
            "extra_trees",
            make_extra_trees,
            MATRIX,
            PREDICTION,
            space=_extra_trees_space,
            starts=_extra_trees_starts,
            description="extremely randomised trees, cheaper than a random forest",
        ),
        Component(
            "model",
            "hist_gradient_boosting",
            HistGradientBoosting,
            MATRIX,
            PREDICTION,
            space=_hist_gb_space,
            starts=_hist_gb_starts,
            in_default_search=_without_lightgbm,
            description="scikit-learn histogram boosting, iteration count by early stopping",
        ),
        Component(
            "model",
            "neural_net",
            NeuralNet,
            MATRIX,
            PREDICTION,
            space=_net_space,
            starts=_net_starts,
            in_default_search=_below_large_tables,
            description="small neural net on quantile-normalised inputs, epochs by early stopping",
        ),
    ]
