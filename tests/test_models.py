"""The model portfolio: spaces, starts, early stopping and the scikit-learn contract.

Every model is built the way a search builds it: from its component's factory, with
parameters its space drew or a start fixed. Data is small and synthetic, so the module
runs in seconds.
"""

from __future__ import annotations

import importlib.util
import pickle
import sys
import time
import warnings
from typing import Any

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from imblearn.over_sampling import RandomOverSampler
from segframe_catboost import CatBoostModel
from segframe_lightgbm import LightGBMClassifier
from segframe_sklearn import ContinuousQuantiles, HistGradientBoosting, NeuralNet
from segframe_xgboost import XGBoostClassifier
from sklearn.datasets import make_classification
from sklearn.metrics import log_loss
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_info

from segframe.pipeline import PipelineSpec, StepSpec, build_tail
from segframe.plugin import (
    EARLY_STOPPING_ROUNDS,
    LARGE_TABLE_ROWS,
    Component,
    ResampledBooster,
    SearchContext,
    Start,
    inner_split,
)
from segframe.progress import OutOfTime, epoch_reporting, trial_deadline
from segframe.registry import Registry
from segframe.space import PipelineSpace

MODELS = [
    "lightgbm",
    "catboost",
    "xgboost",
    "logreg",
    "random_forest",
    "extra_trees",
    "hist_gradient_boosting",
    "neural_net",
]
#: what joins a search unasked while LightGBM is installed
DEFAULT = {"lightgbm", "xgboost", "logreg", "extra_trees"}
BOOSTERS = {"lightgbm": LightGBMClassifier, "catboost": CatBoostModel, "xgboost": XGBoostClassifier}
HAS_LIGHTGBM = importlib.util.find_spec("lightgbm") is not None


def context(**changes: Any) -> SearchContext:
    base = dict(
        n_rows=400,
        n_classes=2,
        min_class_count=50,
        minority_ratio=0.25,
        has_events=False,
        n_tabular_columns=8,
    )
    return SearchContext(**{**base, **changes})


CONTEXTS = {
    "small-skewed": context(),
    "small-balanced": context(minority_ratio=0.9),
    "large-skewed": context(n_rows=40_000, min_class_count=5_000),
    "three-classes": context(n_classes=3, minority_ratio=0.6),
    "three-skewed": context(n_classes=3, minority_ratio=0.2),
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load()


def component(registry: Registry, name: str) -> Component:
    if name == "lightgbm":
        pytest.importorskip("lightgbm")
    return registry.get("model", name)


def data(n: int = 300, classes: int = 2, seed: int = 0, sep: float = 1.0):
    weights = [0.75, 0.25] if classes == 2 else None
    return make_classification(
        n, 8, n_informative=5, n_classes=classes, weights=weights, class_sep=sep, random_state=seed
    )


def start_params(model: Component, ctx: SearchContext, start: Start) -> dict[str, Any]:
    """What a trial enqueued with ``start`` hands the factory; fails if the start leaves
    the space (Optuna only warns about a fixed value out of range)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial(dict(start.params))
    trial = study.ask()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        params = model.space(trial, ctx)
    unknown = set(start.params) - set(trial.params)
    assert not unknown, f"{model.name}: start names parameters its space lacks: {unknown}"
    assert {k: trial.params[k] for k in start.params} == dict(start.params)
    return params


def assert_probabilities(proba: np.ndarray, n: int, classes: int) -> None:
    assert proba.shape == (n, classes)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_parameters_from_the_space_build_models_that_fit(registry, name) -> None:
    model = component(registry, name)
    X, y = data()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(3):
        trial = study.ask()
        params = model.space(trial, context())
        assert "n_estimators" not in params or name in {"random_forest", "extra_trees"}
        fitted = model.factory(**params).fit(X, y)
        assert_probabilities(fitted.predict_proba(X), len(y), 2)
        study.tell(trial, 0.0)


@pytest.mark.parametrize("where", list(CONTEXTS))
@pytest.mark.parametrize("name", MODELS)
def test_every_start_lies_in_the_space_and_fits(registry, name, where) -> None:
    model, ctx = component(registry, name), CONTEXTS[where]
    starts = model.starts(ctx)
    assert 1 <= len(starts) <= 3
    X, y = data(classes=ctx.n_classes)
    for start in starts:
        assert start.chain["frame_to_matrix"] in {"ordinal", "onehot"}
        assert start.chain["matrix_to_matrix"] in {"none", "scale"}
        params = start_params(model, ctx, start)
        if where in {"small-skewed", "three-skewed"}:  # the others fit the same way
            fitted = model.factory(**params).fit(X, y)
            assert_probabilities(fitted.predict_proba(X), len(y), ctx.n_classes)


def test_a_start_outside_the_space_is_caught(registry) -> None:
    forest = registry.get("model", "random_forest")
    with pytest.raises(UserWarning, match="out of range"):
        start_params(forest, context(), Start({"n_estimators": 5000}))
    with pytest.raises(AssertionError, match="lacks"):
        start_params(forest, context(), Start({"n_trees": 100}))


@pytest.mark.skipif(not HAS_LIGHTGBM, reason="the default portfolio leads with LightGBM")
@pytest.mark.parametrize("where", ["small-skewed", "small-balanced", "large-skewed"])
def test_the_default_portfolio_is_small_and_leads_with_boosters(registry, where) -> None:
    ctx = CONTEXTS[where]
    defaults = [c for c in registry.components("model") if c.in_default_search(ctx)]
    assert {c.name for c in defaults} >= DEFAULT
    assert not {"hist_gradient_boosting", "random_forest", "catboost"} & {c.name for c in defaults}
    small = ctx.n_rows <= LARGE_TABLE_ROWS
    assert ("neural_net" in {c.name for c in defaults}) == small  # its epochs are slow on many rows
    ranked = sorted((s.rank, c.name) for c in defaults for s in c.starts(ctx))
    assert len(ranked) == (7 if small else 6)
    assert [name for _, name in ranked[:3]] == ["lightgbm", "xgboost", "logreg"]


@pytest.mark.parametrize("name", ["random_forest", "hist_gradient_boosting", "catboost"])
def test_models_outside_the_default_search_join_when_named(registry, name) -> None:
    assert set(PipelineSpace(registry, context(), models=[name]).models) == {name}


def test_hist_gradient_boosting_stands_in_when_lightgbm_is_missing(registry, monkeypatch) -> None:
    hist = registry.get("model", "hist_gradient_boosting")
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # find_spec now says: not installed
    assert hist.in_default_search(context())


def test_the_starts_follow_the_data(registry) -> None:
    forest = registry.get("model", "random_forest")
    small, large = forest.starts(context())[0], forest.starts(CONTEXTS["large-skewed"])[0]
    assert small.params["n_estimators"] == 300 and large.params["n_estimators"] == 100
    assert small.params["class_weight"] is None  # binary F1 is taken at a tuned threshold
    skewed = forest.starts(CONTEXTS["three-skewed"])[0]
    assert skewed.params["class_weight"] == "balanced_subsample"  # macro F1 at the argmax
    assert forest.starts(CONTEXTS["three-classes"])[0].params["class_weight"] is None
    trial = optuna.create_study().ask()
    assert forest.space(trial, CONTEXTS["large-skewed"])["max_samples"] < 1.0
    xgb = registry.get("model", "xgboost")
    assert xgb.starts(context())[0].params["balance"] is False
    assert "balance" not in xgb.starts(CONTEXTS["three-classes"])[0].params
    assert xgb.space(optuna.create_study().ask(), context(device="gpu"))["device"] == "cuda"


def validation_losses(name: str, model: Any) -> list[float]:
    """The loss on the held-back rows after every tree, as the booster's library kept it."""
    if name == "catboost":
        history = model.model_.get_evals_result()["validation"]
    elif name == "lightgbm":
        history = model.model_.evals_result_
    else:
        history = model.model_.evals_result()
    if name != "catboost":
        history = next(iter(history.values()))
    (losses,) = history.values()
    return list(losses)


@pytest.mark.parametrize("name", list(BOOSTERS))
def test_boosters_stop_early_on_easy_data(name) -> None:
    if name == "lightgbm":
        pytest.importorskip("lightgbm")
    X, y = data(n=1000, sep=2.0)
    model = BOOSTERS[name](max_trees=1000).fit(X, y)
    losses = validation_losses(name, model)
    assert len(losses) < 1000  # it stopped, not hit the maximum
    assert 0 < model.best_iteration_ == len(losses) - EARLY_STOPPING_ROUNDS
    assert np.argmin(losses) + 1 == model.best_iteration_


@pytest.mark.parametrize("name", list(BOOSTERS))
def test_weighted_boosters_stop_on_the_weighted_loss(name) -> None:
    if name == "lightgbm":
        pytest.importorskip("lightgbm")
    X, y = data(n=1000)
    weighted = {"balance": True} if name == "xgboost" else {"class_weight": "balanced"}
    model = BOOSTERS[name](**weighted).fit(X, y)
    losses = validation_losses(name, model)
    fit, valid = inner_split(X, y)
    if name == "lightgbm":
        weights = compute_sample_weight("balanced", y[valid])
    elif name == "catboost":  # the held-back rows weighted by the fitted rows' class counts
        weights = np.where(y[valid] == 1, (y[fit] == 0).sum() / (y[fit] == 1).sum(), 1.0)
    else:
        weights = np.where(y[valid] == 1, (y == 0).sum() / (y == 1).sum(), 1.0)
    proba = model.predict_proba(X[valid])
    assert losses[model.best_iteration_ - 1] == pytest.approx(
        log_loss(y[valid], proba, sample_weight=weights), rel=1e-4
    )
    assert losses[model.best_iteration_ - 1] != pytest.approx(log_loss(y[valid], proba), rel=0.01)


class RecordingSampler(RandomOverSampler):
    """Random over-sampling that keeps the rows it was given, for the test below."""

    def fit_resample(self, X, y, **params):
        self.seen_ = np.array(X, copy=True)
        return super().fit_resample(X, y, **params)


@pytest.mark.parametrize("name", list(BOOSTERS))
def test_a_sampler_resamples_only_the_rows_a_booster_fits_on(name) -> None:
    if name == "lightgbm":
        pytest.importorskip("lightgbm")
    X, y = data(n=600)
    sampler = RecordingSampler(random_state=0)
    model = BOOSTERS[name](max_trees=50).resampled(sampler).fit(X, y)
    fit, valid = inner_split(X, y)
    assert isinstance(model, ResampledBooster) and model.booster_.best_iteration_ > 0
    assert not hasattr(sampler, "seen_")  # the wrapper fits a clone of it, as pipelines do
    recorded = RecordingSampler(random_state=0)
    BOOSTERS[name](max_trees=50).fit(X, y, sampler=recorded)
    np.testing.assert_array_equal(recorded.seen_, X[fit])  # the held-back rows stay real
    assert_probabilities(model.predict_proba(X[valid]), len(valid), 2)


@pytest.mark.parametrize(("model", "wrapped"), [("xgboost", True), ("logreg", False)])
def test_pipelines_hand_their_sampler_to_a_booster_only(registry, model, wrapped) -> None:
    spec = PipelineSpec(
        features=(StepSpec("features", "tabular"),),
        steps=(StepSpec("sampler", "random_over"), StepSpec("model", model)),
    )
    steps = dict(build_tail(spec, registry))
    assert isinstance(steps["model"], ResampledBooster) is wrapped
    assert (steps["sampler"] == "passthrough") is wrapped


def test_hist_gradient_boosting_stops_early_on_easy_data() -> None:
    X, y = data(n=1000, sep=2.0)
    model = HistGradientBoosting().fit(X, y)
    assert model.model_.do_early_stopping_ and model.best_iteration_ < 1000
    assert model.best_iteration_ == model.model_.n_iter_


@pytest.mark.parametrize("rows", [30, 60])
@pytest.mark.parametrize("name", list(BOOSTERS))
def test_boosters_fall_back_to_a_fixed_tree_count_on_tiny_data(name, rows) -> None:
    if name == "lightgbm":
        pytest.importorskip("lightgbm")
    X, y = data(n=rows)
    y[:] = 0
    y[: rows // 3] = 1
    y[-1] = 2  # a class of one row: nothing to stratify a split by
    model = BOOSTERS[name](fallback_trees=7).fit(X, y)
    assert model.best_iteration_ == 7
    assert_probabilities(model.predict_proba(X), rows, 3)


def test_the_neural_net_stops_early_and_keeps_its_best_epoch() -> None:
    X, y = data(n=600, sep=0.5)
    model = NeuralNet(hidden=32, max_trees=200).fit(X, y)
    assert model.best_iteration_ < 200
    # a net allowed exactly that many epochs ends where the kept weights were taken
    again = NeuralNet(hidden=32, max_trees=model.best_iteration_).fit(X, y)
    np.testing.assert_allclose(again.predict_proba(X), model.predict_proba(X))


#: Each booster's count of the trees its library has fitted so far.
TREES_FITTED = {
    "lightgbm": lambda model: model.booster_.current_iteration(),
    "catboost": lambda model: model.tree_count_,
    "xgboost": lambda model: model.get_booster().num_boosted_rounds(),
}


@pytest.mark.parametrize("name", sorted(BOOSTERS))
def test_a_boosters_loop_ends_when_the_searchs_time_is_up(name) -> None:
    """At a learning rate this slow, early stopping would let it fit all 100,000 trees."""
    pytest.importorskip(name)
    X, y = data(n=2000)
    booster = BOOSTERS[name](learning_rate=1e-6, max_trees=100_000)
    with trial_deadline(time.monotonic() + 0.5), pytest.raises(OutOfTime):
        booster.fit(X, y)
    assert 0 < TREES_FITTED[name](booster.model_) < 100_000
    assert BOOSTERS[name]().fit(X, y).best_iteration_ > 0  # no deadline: fits as before


def test_the_neural_net_reports_each_epochs_validation_auc_and_stops_when_time_is_up() -> None:
    X, y = data(n=600, sep=0.5)
    reported: list[tuple[float, int]] = []
    with epoch_reporting(lambda score, epoch: reported.append((score, epoch))):
        model = NeuralNet(hidden=32, max_trees=200).fit(X, y)
    epochs = [epoch for _, epoch in reported]
    assert epochs == list(range(len(epochs))) and len(epochs) >= model.best_iteration_
    assert all(0.5 < score <= 1 for score, _ in reported)  # separable data: better than chance
    with trial_deadline(time.monotonic()), pytest.raises(OutOfTime):
        NeuralNet(hidden=32, max_trees=200).fit(X, y)


@settings(max_examples=50, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=30),
        elements=st.floats(-1e6, 1e6, allow_nan=False),
    )
)
def test_the_nets_quantiles_leave_indicator_columns_as_they_are(X) -> None:
    quantiles = ContinuousQuantiles().fit(X)
    Z = quantiles.transform(X)
    distinct = np.array([len(np.unique(column)) for column in X.T])
    np.testing.assert_array_equal(quantiles.continuous_, distinct > 2)
    np.testing.assert_array_equal(Z[:, distinct <= 2], X[:, distinct <= 2])
    for j in np.flatnonzero(distinct > 2):  # normalised, in the same order
        assert np.abs(Z[:, j]).max() < 6
        order = np.argsort(X[:, j], kind="stable")
        assert (np.diff(Z[order, j]) >= 0).all()


def test_a_net_whose_loss_only_creeps_stops_after_its_patience() -> None:
    """A tiny learning rate lowers the loss a hair every epoch; without a tolerance each
    hair counted as progress and such a net ran all its epochs (minutes past a 60 s budget
    on CDNOW)."""
    X, y = data(n=600, sep=0.5)
    model = NeuralNet(hidden=32, learning_rate=1e-7, batch_size=10_000, max_trees=200).fit(X, y)
    assert model.best_iteration_ == 1  # the first epoch; the next NET_PATIENCE gained too little


class _PoolSpy(NeuralNet):
    """The net, noting the thread pools' sizes while it fits."""

    def _fit_stopping(self, model, X_fit, y_fit, X_valid, y_valid):
        self.pools_ = {pool["user_api"]: pool["num_threads"] for pool in threadpool_info()}
        return super()._fit_stopping(model, X_fit, y_fit, X_valid, y_valid)


def test_boosters_and_the_net_fit_on_one_thread_of_every_pool() -> None:
    """BLAS as well as OpenMP: the net's matrix products on every core slowed its trials
    many times beside a second search."""
    X, y = data(n=300)
    spy = _PoolSpy(hidden=8, max_trees=3).fit(X, y)
    assert "blas" in spy.pools_ and set(spy.pools_.values()) == {1}


def test_hist_gradient_boosting_falls_back_on_tiny_data() -> None:
    X, y = data(n=30)
    model = HistGradientBoosting(fallback_trees=7, min_samples_leaf=2).fit(X, y)
    assert not model.model_.do_early_stopping_ and model.model_.n_iter_ == 7


@pytest.mark.parametrize("name", MODELS)
def test_a_pickled_model_predicts_the_same(registry, name) -> None:
    model = component(registry, name)
    X, y = data()
    params = start_params(model, context(), model.starts(context())[0])
    fitted = model.factory(**params).fit(X, y)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))


@parametrize_with_checks(
    [
        XGBoostClassifier(max_trees=20, fallback_trees=10),
        LightGBMClassifier(max_trees=20, fallback_trees=10),
        CatBoostModel(max_trees=20, fallback_trees=10),
        HistGradientBoosting(max_trees=20, fallback_trees=10),
        NeuralNet(hidden=32, max_trees=100, fallback_trees=100),
        ResampledBooster(XGBoostClassifier(max_trees=20), RandomOverSampler(random_state=0)),
    ]
)
def test_wrappers_follow_the_scikit_learn_contract(estimator, check) -> None:
    if isinstance(estimator, LightGBMClassifier):
        pytest.importorskip("lightgbm")
    check(estimator)
