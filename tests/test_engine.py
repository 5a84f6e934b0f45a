"""The search engine end to end on small data with real Optuna studies in SQLite.

Tests of the engine alone search with the fake plugin's components (``fake_registry``, or
the module's ``registry``: the fake plugin plus a spy and an exploding model); the one test
that needs first-party components (SMOTE, RFM) loads the installed plugins."""

from __future__ import annotations

import dataclasses
import functools
import time

import fake_plugin
import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import make_fake_registry
from sklearn.base import BaseEstimator, ClassifierMixin

import segframe
from segframe import Component, hookimpl
from segframe.data import CustomerData
from segframe.engine import EARLY_STOP_AFTER, _Evaluator, early_stop_bar, final_fit_reserve
from segframe.errors import DataError, SegframeError, StorageError
from segframe.guard import GuardedEvaluator
from segframe.metrics import objective_key
from segframe.pipeline import PipelineSpec, StepSpec
from segframe.plan import SearchPlan
from segframe.plugin import MATRIX, PREDICTION, Start, report_epoch
from segframe.progress import OutOfTime, trial_deadline
from segframe.registry import Registry
from segframe.runner import OUT_OF_TIME
from segframe.storage import stored_winner

SEEN: dict[str, list[np.ndarray]] = {"fit": [], "predict": []}


class SpyModel(ClassifierMixin, BaseEstimator):
    """Records every matrix it is fitted on and asked to predict."""

    def fit(self, X, y):
        SEEN["fit"].append(np.asarray(X))
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        SEEN["predict"].append(np.asarray(X))
        return np.tile([0.5, 0.5], (len(X), 1))


class ExplodingModel(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise RuntimeError("explodes on purpose")


class TestPlugin:
    @hookimpl
    def segframe_components(self):
        return [
            Component("model", "spy", SpyModel, "matrix", "prediction"),
            Component("model", "explodes", ExplodingModel, "matrix", "prediction"),
        ]


@pytest.fixture
def registry() -> Registry:
    return make_fake_registry(TestPlugin())


@pytest.fixture(scope="module")
def installed_registry() -> Registry:
    return Registry.load(extra=[TestPlugin()])


def test_sampler_never_touches_validation_folds(small_demo, installed_registry):
    """SMOTE adds rows when fitting; validation folds must reach the model untouched."""
    SEEN["fit"].clear()
    SEEN["predict"].clear()
    spec = PipelineSpec(
        features=(StepSpec("features", "rfm"),),
        steps=(
            StepSpec("preprocessor", "impute"),
            StepSpec("preprocessor", "ordinal"),
            StepSpec("sampler", "smote", {"k_neighbors": 3, "ratio": 1.0}),
            StepSpec("model", "spy"),
        ),
    )
    registry = installed_registry
    X, y = small_demo.frame, small_demo.target
    evaluate = _Evaluator(X, y, folds=3, seed=0, registry=registry, positive=1)
    evaluate(spec, pruning=None)
    train_sizes = [len(train) for train, _ in evaluate.folds]
    valid_sizes = [len(valid) for _, valid in evaluate.folds]
    assert [len(m) for m in SEEN["fit"]] != train_sizes  # SMOTE really ran on training folds
    assert all(len(m) > n for m, n in zip(SEEN["fit"], train_sizes, strict=True))
    assert [len(m) for m in SEEN["predict"]] == valid_sizes
    rfm = registry.get("features", "rfm").factory().fit(X).transform(X).to_numpy()
    for (_, valid), matrix in zip(evaluate.folds, SEEN["predict"], strict=True):
        real = np.nan_to_num(rfm[valid])
        assert matrix.shape[0] == real.shape[0]
        # every validation row is a real customer's features (no synthetic rows)
        assert np.allclose(np.sort(matrix[:, 1]), np.sort(real[:, 1]), equal_nan=True)


def test_search_is_reproducible_under_a_seed(small_demo, tmp_path, fake_registry):
    def run(name: str, seed: int):
        result = segframe.search(
            small_demo,
            storage=f"sqlite:///{tmp_path / name}",
            trials=5,
            seed=seed,
            models=["logreg", "tree"],
            registry=fake_registry,
        )
        board = result.leaderboard().sort_values("trial")
        study = optuna.load_study(
            study_name=result.study_name, storage=f"sqlite:///{tmp_path / name}"
        )
        return [t.params for t in study.trials], board[["f1", "auc"]], result.holdout_scores

    params_a, scores_a, holdout_a = run("a.db", seed=7)
    params_b, scores_b, holdout_b = run("b.db", seed=7)
    params_c, _, _ = run("c.db", seed=8)
    assert params_a == params_b
    pd.testing.assert_frame_equal(scores_a, scores_b)
    assert holdout_a == holdout_b
    assert params_a != params_c


def test_failing_candidates_become_failed_trials_and_the_search_goes_on(
    small_demo, storage, registry
):
    result = segframe.search(
        small_demo,
        storage=storage,
        trials=6,
        models=["explodes", "logreg"],
        registry=registry,
        seed=1,
        ensemble=False,
    )
    board = result.leaderboard()
    failed = board[board.state == "FAIL"]
    assert len(failed) >= 1
    assert failed.error.str.contains("explodes on purpose").all()
    assert (board.state == "COMPLETE").any()
    assert result.best_spec.model.name == "logreg"


def test_no_completed_trial_stores_nothing(small_demo, storage, registry):
    with pytest.raises(SegframeError, match=r"Every trial of this run failed.*explodes on purpose"):
        segframe.search(
            small_demo,
            storage=storage,
            trials=2,
            models=["explodes"],
            registry=registry,
            study="doomed",
        )
    with pytest.raises(StorageError, match="no stored pipeline for study 'doomed'"):
        stored_winner("doomed", storage)


def test_budget_is_the_study_total_and_a_rerun_continues(small_demo, storage, fake_registry):
    for trials in (3, 5):
        segframe.search(small_demo, storage=storage, trials=trials, study="s", models=["logreg"],
                        registry=fake_registry)  # fmt: skip
    study = optuna.load_study(study_name="s", storage=storage)
    assert len(study.trials) == 5


def test_timeout_budget(small_demo, storage, fake_registry):
    result = segframe.search(
        small_demo, storage=storage, trials=None, timeout=1.0, models=["logreg"],
        registry=fake_registry,
    )  # fmt: skip
    assert len(result.leaderboard()) >= 1


def test_trials_below_the_median_first_fold_stop_early_in_a_two_objective_search(
    small_demo, storage, registry
):
    """Optuna cannot prune two-objective trials; segframe's own first-fold rule does."""
    # seed 3: the sampler tries 'spy' after enough trials for the rule to apply (with seed 0
    # the fake registry's sampler spends 'spy' among the first trials, which nothing can stop)
    result = segframe.search(
        small_demo, storage=storage, trials=14, models=["logreg", "spy"], registry=registry, seed=3
    )
    study = optuna.load_study(study_name=result.study_name, storage=storage)
    assert len(study.directions) == 2
    trials = study.trials
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned, "the constant 'spy' model should fall below the median after one fold"
    for t in pruned:
        earlier = [
            objective_key(o.user_attrs["first_fold"], "both")
            for o in trials[: t.number]
            if o.state.name in ("COMPLETE", "PRUNED") and "first_fold" in o.user_attrs
        ]
        assert len(earlier) >= EARLY_STOP_AFTER
        assert objective_key(t.user_attrs["first_fold"], "both") < np.median(earlier)
        assert "f1" not in t.user_attrs  # stopped before the other folds were scored
    assert all("first_fold" in t.user_attrs for t in trials if t.state.name == "COMPLETE")


def test_early_stop_bar_needs_enough_trials_and_is_their_median_first_fold():
    def trial(state, f1, auc):
        return optuna.trial.create_trial(
            state=state,
            values=[f1, auc] if state == optuna.trial.TrialState.COMPLETE else None,
            user_attrs={"first_fold": {"f1": f1, "auc": auc}},
        )

    done = optuna.trial.TrialState.COMPLETE
    trials = [trial(done, 0.1 * i, 0.5 + 0.05 * i) for i in range(4)]
    assert early_stop_bar(trials, "both") is None
    trials.append(trial(optuna.trial.TrialState.PRUNED, 0.0, 0.5))
    assert early_stop_bar(trials, "auc") == pytest.approx(np.median([0.5, 0.55, 0.6, 0.65, 0.5]))
    assert early_stop_bar(trials, "f1") == pytest.approx(0.1)


def test_both_objective_winner_is_on_the_pareto_front(small_demo, storage, fake_registry):
    result = segframe.search(small_demo, storage=storage, trials=6, models=["logreg", "tree"],
                             registry=fake_registry)  # fmt: skip
    study = optuna.load_study(study_name=result.study_name, storage=storage)
    front = {t.number for t in study.best_trials}
    assert result.best_trial in front
    best = max((t for t in study.best_trials), key=lambda t: (sum(t.values) / 2, t.values[1]))
    assert result.best_trial == best.number


def test_multiclass_target(small_demo, storage, fake_registry):
    frame = small_demo.frame.copy()
    tiers = pd.qcut(
        frame["age"].fillna(frame["age"].median()).rank(method="first"),
        3,
        labels=["young", "middle", "senior"],
    ).astype(str)
    data = CustomerData(frame, pd.Series(tiers, index=frame.index), "customer_id", "tier")
    result = segframe.search(data, storage=storage, trials=3, models=["logreg", "tree"],
                             registry=fake_registry)  # fmt: skip
    assert set(result.best_pipeline.classes_) == {"young", "middle", "senior"}
    assert np.isfinite(result.holdout_scores["f1"]) and np.isfinite(result.holdout_scores["auc"])
    assert result.holdout_scores["auc"] > 0.7  # age is among the features


def test_a_study_keeps_its_target(small_demo, storage, fake_registry):
    segframe.search(small_demo, storage=storage, trials=1, study="x", models=["logreg"],
                    registry=fake_registry)  # fmt: skip
    other = CustomerData(small_demo.frame, small_demo.target[::-1], "customer_id", "other")
    with pytest.raises(SegframeError, match="started with target 'will_buy_again'"):
        segframe.search(other, storage=storage, trials=2, study="x", registry=fake_registry)


def test_too_few_customers_in_a_class(small_demo, storage, fake_registry):
    label = pd.Series(0, index=small_demo.frame.index, name="label")
    label.iloc[:3] = 1
    data = CustomerData(small_demo.frame, label, "customer_id", "label")
    with pytest.raises(DataError, match=r"too few customers.*1: 3"):
        segframe.search(data, storage=storage, trials=1, registry=fake_registry)


def test_final_fit_reserve_follows_the_best_trials_seconds_within_bounds():
    def trial(seconds, f1):
        return optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE,
            values=[f1, 0.8],
            user_attrs={"seconds": seconds, "f1": f1, "auc": 0.8},
        )

    plan = SearchPlan(study="s", timeout=60.0, objective="both", cv=3, holdout=0.2)
    single = dataclasses.replace(plan, ensemble=False)
    trials = [trial(2.0, 0.5 + i / 100) for i in range(6)] + [trial(50.0, 0.1)]
    # five best trials of 2 s: each fitted on 80 % and on 100 % after the search
    assert final_fit_reserve(trials, plan) == pytest.approx(10 * 2.25 / 2)
    assert final_fit_reserve(trials, single) == pytest.approx(6.0)  # 10 %
    slow = [trial(100.0, 0.9)]
    assert final_fit_reserve(slow, single) == pytest.approx(30.0)  # half
    assert final_fit_reserve([], plan) == pytest.approx(6.0)


def test_continuing_a_study_with_other_models_is_refused_before_any_trial(
    small_demo, storage, fake_registry
):
    segframe.search(small_demo, storage=storage, trials=2, study="s", models=["logreg"],
                    registry=fake_registry)  # fmt: skip
    before = len(optuna.load_study(study_name="s", storage=storage).trials)
    with pytest.raises(SegframeError, match=r"model in .*logreg.*--study NEW_NAME"):
        segframe.search(small_demo, storage=storage, trials=4, study="s", models=["tree"],
                        registry=fake_registry)  # fmt: skip
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == before


def test_a_run_whose_every_trial_fails_ends_with_the_reason(small_demo, storage, registry):
    segframe.search(small_demo, storage=storage, trials=2, study="s", models=["explodes", "logreg"],
                    registry=registry, seed=1, ensemble=False)  # fmt: skip
    study = optuna.load_study(study_name="s", storage=storage)
    # the same choices, but every new trial is forced onto the exploding model
    for _ in range(2):
        study.enqueue_trial({"model": "explodes"})
    with pytest.raises(SegframeError, match=r"Every trial of this run failed.*explodes on purpose"):
        segframe.search(small_demo, storage=storage, trials=4, study="s",
                        models=["explodes", "logreg"], registry=registry, seed=1)  # fmt: skip


class Sluggish(ClassifierMixin, BaseEstimator):
    """A model that fits for 30 s unless stopped: 600 epochs of 50 ms, each reported like a
    net's (``epochs``), or else a 1.5 s fit that reports nothing (a trial: 4.5 s)."""

    def __init__(self, epochs: bool = True) -> None:
        self.epochs = epochs

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        if not self.epochs:
            time.sleep(1.5)
        for epoch in range(600 if self.epochs else 0):
            time.sleep(0.05)
            report_epoch(0.5, epoch)
        return self

    def predict_proba(self, X):
        return np.tile([0.5, 0.5], (len(X), 1))


class SluggishPlugin:
    """The fake plugin's components, a quick logistic regression that runs first (a
    known-good start) and the slow models; an instance, so a guarded child can rebuild it."""

    @hookimpl
    def segframe_components(self):
        return [
            *fake_plugin.segframe_components(),
            Component("model", "quick", fake_plugin.make_logreg, MATRIX, PREDICTION,
                      starts=lambda context: [Start()]),
            Component("model", "sluggish", Sluggish, MATRIX, PREDICTION),
            Component("model", "sluggish_folds", functools.partial(Sluggish, epochs=False),
                      MATRIX, PREDICTION),
        ]  # fmt: skip


SLUGGISH = Registry.load(entry_point_plugins=False, extra=[SluggishPlugin()])


@pytest.mark.parametrize("model", ["sluggish", "sluggish_folds"], ids=["epochs", "folds"])
def test_a_trial_running_when_the_time_is_up_stops_at_its_next_epoch_or_fold(
    small_demo, storage, model
):
    result = segframe.search(
        small_demo, storage=storage, study="s", trials=None, timeout=3.0, seed=0,
        models=["quick", model], registry=SLUGGISH, ensemble=False,
    )  # fmt: skip
    trials = optuna.load_study(study_name="s", storage=storage).trials
    slow = [t for t in trials if t.params.get("model") == model]
    assert slow, "the search never tried the slow model; pick another seed"
    # unstopped, a slow trial completes after 4.5 s (folds) or 90 s (epochs)
    assert all(t.state == optuna.trial.TrialState.PRUNED for t in slow)
    assert slow[-1].user_attrs["error"] == OUT_OF_TIME
    assert trials[0].params["model"] == "quick"
    assert result.best_trial != slow[-1].number


def test_the_first_trial_has_no_deadline_so_that_there_is_a_winner(small_demo, storage):
    result = segframe.search(
        small_demo, storage=storage, study="s", trials=None, timeout=0.5, seed=0,
        models=["sluggish_folds"], registry=SLUGGISH, ensemble=False,
    )  # fmt: skip
    first = optuna.load_study(study_name="s", storage=storage).trials[0]
    assert first.state == optuna.trial.TrialState.COMPLETE  # 4.5 s, past the 0.5 s timeout
    assert result.best_trial == 0


def _epochs_until_stopped():
    """A guarded child's evaluator: reports epochs of 50 ms for up to 30 s."""

    def evaluate(spec, pruning):
        Sluggish().fit(None, [0, 1])
        return {"finished": True}

    return evaluate


def test_a_guarded_trial_gets_the_deadline_and_stops_out_of_time():
    evaluate = GuardedEvaluator(_epochs_until_stopped, timeout=120.0, memory_mb=None)
    try:
        with trial_deadline(time.monotonic() + 1.0), pytest.raises(OutOfTime):
            evaluate("spec", None)  # 30 s unless the child sees the deadline
    finally:
        evaluate.close()
