"""What gets stored as the winner: refit on every row, the F1 threshold, ensembles, the
portfolio of known-good starts, and the per-fold feature cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import optuna
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

import segframe
from segframe.data import CustomerData
from segframe.engine import _affordable_starts, _context, _Evaluator
from segframe.ensemble import STARTS_SHARE, EnsembleSpec, select, with_starts
from segframe.errors import IntegrityError
from segframe.metrics import binary_f1, f1_threshold, score
from segframe.pipeline import PipelineSpec, StepSpec, build_pipeline
from segframe.registry import Registry
from segframe.report import render_report
from segframe.space import PipelineSpace
from segframe.storage import load_pipeline, pipelines_table, stored_winner

#: Models that each see one column, so that only their blend sees the whole signal.
HALF_MODELS = """
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from segframe.plugin import Component, hookimpl

class OneColumn(ClassifierMixin, BaseEstimator):
    def __init__(self, column=0):
        self.column = column

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        self.rows_ = len(X)
        self.model_ = LogisticRegression().fit(X[:, [self.column]], y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(np.asarray(X, dtype=float)[:, [self.column]])

def first():
    return OneColumn(0)

def second():
    return OneColumn(1)

@hookimpl
def segframe_components():
    return [
        Component("model", "first", first, "matrix", "prediction"),
        Component("model", "second", second, "matrix", "prediction"),
    ]
"""


def two_signal_customers(n: int = 600, seed: int = 0) -> CustomerData:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = (a + b + 0.5 * rng.normal(size=n) > 0.8).astype(int)
    frame = pd.DataFrame({"a": a, "b": b}, index=pd.Index(range(n), name="customer_id"))
    return CustomerData(frame, pd.Series(y, index=frame.index, name="y"), "customer_id", "y")


@pytest.fixture
def halves(install_plugin, monkeypatch):
    """A plugin with the two one-column models; samplers off so row counts are exact."""
    root = install_plugin("segframe-halves", "segframe_halves", HALF_MODELS)
    monkeypatch.setenv("SEGFRAME_DISABLE_PLUGINS", "imblearn")
    return root, Registry.load()


@pytest.mark.parametrize("refit, rows", [("all", 600), ("train", 480)])
def test_the_winner_is_refitted_on_every_labelled_row(halves, storage, refit, rows):
    result = segframe.search(
        two_signal_customers(),
        storage=storage,
        trials=3,
        models=["first"],
        refit=refit,
        ensemble=False,
        registry=halves[1],
    )
    stored = load_pipeline(result.study_name, storage)
    assert stored.pipeline_.steps[-1][1].rows_ == rows
    assert stored_winner(result.study_name, storage).details["n_fit"] == rows


def test_an_ensemble_winner_round_trips_verified_and_predicts_in_a_new_process(
    halves, storage, tmp_path
):
    data = two_signal_customers()
    result = segframe.search(
        data, storage=storage, trials=6, models=["first", "second"], registry=halves[1]
    )
    assert isinstance(result.best_spec, EnsembleSpec), result.best_spec
    models = {spec.model.name for _, _, spec in result.best_spec.members}
    assert models == {"first", "second"}
    assert result.cv_scores["auc"] > max(
        t.user_attrs["auc"]
        for t in optuna.load_study(study_name=result.study_name, storage=storage).trials
    )
    record = stored_winner(result.study_name, storage)
    assert record.spec == result.best_spec.to_dict() and record.details["ensemble"]
    expected = result.best_pipeline.predict_proba(data.frame)[:, 1]
    data.frame.to_csv(tmp_path / "customers.csv")
    script = (
        "import sys, segframe, pandas as pd\n"
        f"p = segframe.load_pipeline({result.study_name!r}, {storage!r})\n"
        f"X = pd.read_csv({str(tmp_path / 'customers.csv')!r}, index_col=0)\n"
        "print(p.predict_proba(X)[:, 1].tolist())\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{halves[0]}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert np.allclose(json.loads(out.stdout.strip().splitlines()[-1]), expected)

    import sqlalchemy as sa

    engine = sa.create_engine(storage)
    with engine.begin() as connection:
        connection.execute(pipelines_table.update().values(artifact=record.artifact[:-1] + b"x"))
    engine.dispose()
    with pytest.raises(IntegrityError):
        load_pipeline(result.study_name, storage)


def test_the_threshold_is_used_by_predict_after_a_reload_in_a_new_process(
    small_demo, storage, tmp_path
):
    result = segframe.search(small_demo, storage=storage, trials=4, models=["logreg"])
    record = stored_winner(result.study_name, storage)
    threshold = record.details["threshold"]
    assert threshold == pytest.approx(result.threshold) and 0 < threshold < 1
    assert result.best_pipeline.threshold == pytest.approx(threshold)
    customers = tmp_path / "customers.parquet"
    events = tmp_path / "events.parquet"
    from segframe.demo import make_demo

    table, log = make_demo(n_customers=400, seed=3)
    table.to_parquet(customers)
    log.to_parquet(events)
    out = tmp_path / "segments.csv"
    cli = [sys.executable, "-m", "segframe", "predict", "--study", result.study_name]
    paths = ["--data", str(customers), "--events", str(events), "--out", str(out)]
    done = subprocess.run([*cli, "--storage", storage, *paths], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + done.stdout
    predicted = pd.read_csv(out)
    positive = record.details["positive"]
    column = f"probability_{positive}"
    called = predicted["segment"].astype(str) == positive
    assert (called == (predicted[column] >= threshold)).all()
    assert called.any() and (~called).any()
    page = render_report(result.study_name, storage)
    assert f"<dt>decision threshold</dt><dd>{threshold:.3f} " in page


def test_portfolio_starts_run_first_with_no_resampling(small_demo, storage):
    registry = Registry.load()
    space = PipelineSpace(registry, _context(small_demo.frame, small_demo.target, 3, True, "cpu"))
    plans = space.portfolio(3)
    assert len(plans) >= 2, "the first-party models offer known-good starts"
    result = segframe.search(small_demo, storage=storage, trials=9, registry=registry)
    trials = optuna.load_study(study_name=result.study_name, storage=storage).trials
    first = trials[: len(plans)]
    assert all(t.user_attrs.get("portfolio") for t in first)
    assert not any(t.user_attrs.get("portfolio") for t in trials[len(plans) :])
    for trial, plan in zip(first, plans, strict=True):
        assert {k: trial.params[k] for k in plan} == plan
        assert trial.params["matrix_sampler"] == "none"
    finished = {t.number for t in first if t.state == optuna.trial.TrialState.COMPLETE}
    assert isinstance(result.best_spec, EnsembleSpec), result.best_spec
    weights = {number: weight for weight, number, _ in result.best_spec.members}
    assert finished and finished <= set(weights), "every start that finished is a member"
    assert all(weights[n] >= STARTS_SHARE / len(finished) - 1e-9 for n in finished)
    assert sum(weights.values()) == pytest.approx(1.0)


def test_cached_features_give_the_same_scores_as_fitting_each_fold_whole(small_demo):
    registry = Registry.load()
    spec = PipelineSpec(
        features=(StepSpec("features", "rfm"), StepSpec("features", "event_aggregates")),
        steps=(
            StepSpec("preprocessor", "impute"),
            StepSpec("preprocessor", "onehot"),
            StepSpec("sampler", "smote", {"k_neighbors": 3}),
            StepSpec("model", "logreg", {"C": 0.5}),
        ),
    )
    X, y = small_demo.frame, small_demo.target
    evaluate = _Evaluator(X, y, folds=3, seed=0, registry=registry, positive=1)
    cached, again = evaluate(spec, None), evaluate(spec, None)
    assert len(evaluate._cache) == 3  # one entry per fold, reused by the second call
    oof = np.zeros((len(y), 2))
    for train, valid in evaluate.folds:
        whole = build_pipeline(spec, registry, positive=1).fit(X.iloc[train], y.iloc[train])
        oof[valid] = whole.predict_proba(X.iloc[valid])
    assert np.allclose(cached["oof"], oof, atol=1e-6)
    assert np.array_equal(cached["oof"], again["oof"])
    assert cached["auc"] == again["auc"] and cached["f1"] == again["f1"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.floats(0, 1, allow_nan=False)), min_size=2, max_size=60
    ).filter(lambda rows: any(t for t, _ in rows))
)
def test_the_f1_threshold_is_the_best_cut_and_reproduces_its_f1(rows):
    truth = np.array([t for t, _ in rows])
    scores = np.array([s for _, s in rows])
    threshold, best = f1_threshold(truth, scores)
    assert f1_score(truth, scores >= threshold) == pytest.approx(best)
    for cut in np.unique(scores):
        assert f1_score(truth, scores >= cut) <= best + 1e-12


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60))
def test_binary_f1_is_scikit_learns_f1(rows):
    truth = np.array([t for t, _ in rows], dtype=bool)
    predicted = np.array([p for _, p in rows], dtype=bool)
    assert binary_f1(truth, predicted) == pytest.approx(
        f1_score(truth, predicted, zero_division=0.0)
    )


def test_selection_blends_complementary_predictions_and_keeps_a_lone_best_alone():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=2000), rng.normal(size=2000)
    codes = (a + b > 0).astype(int)

    def proba(signal):
        p = 1 / (1 + np.exp(-signal))
        return np.column_stack([1 - p, p])

    chosen = select([proba(a), proba(b), proba(rng.normal(size=2000))], codes, 1, "both")
    assert set(chosen.positions) >= {0, 1} and 2 not in chosen.positions
    assert chosen.scores["auc"] > score(codes, proba(a), 1)["auc"] + 0.05
    alone = select([proba(a + b), proba(rng.normal(size=2000))], codes, 1, "both")
    assert alone.positions == (0,)
    pair = [proba(a), proba(b)]
    affordable = select(pair, codes, 1, "both", costs=[3.0, 4.0], budget=8.0)
    assert affordable.positions == (0, 1)
    too_dear = select(pair, codes, 1, "both", costs=[3.0, 6.0], budget=8.0)
    assert too_dear.positions == (0,)  # the second member's final fits would overrun


@given(
    weights=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=6),
    starts=st.sets(st.integers(0, 9), max_size=6),
)
def test_starts_share_the_ensemble_weight_evenly(weights, starts):
    greedy = {i: w / sum(weights) for i, w in enumerate(weights)}
    blended = with_starts(greedy, sorted(starts))
    assert sum(blended.values()) == pytest.approx(1.0)
    assert set(blended) == set(greedy) | starts
    for i, weight in blended.items():
        own = greedy.get(i, 0.0) * (1 - STARTS_SHARE if starts else 1.0)
        even = STARTS_SHARE / len(starts) if i in starts else 0.0
        assert weight == pytest.approx(own + even)


def test_starts_join_the_ensemble_cheapest_first_while_their_final_fits_fit_in():
    def trial(start: bool) -> optuna.trial.FrozenTrial:
        return optuna.trial.create_trial(value=0.5, user_attrs={"portfolio": start})

    pool = [trial(False), trial(True), trial(True), trial(True)]
    costs = [1.0, 5.0, 2.0, 3.0]
    assert _affordable_starts(pool, costs, {0: 1.0}, None) == [2, 3, 1]
    assert _affordable_starts(pool, costs, {0: 1.0}, 4.0) == [2]  # 1 + 2; a third would overrun
    assert _affordable_starts(pool, costs, {0: 0.5, 1: 0.5}, 6.0) == [1]  # a member is paid for
    assert _affordable_starts(pool, costs, {0: 1.0}, 0.5) == []


def test_refit_option_is_checked_before_anything_is_stored(small_demo, storage, fake_registry):
    with pytest.raises(segframe.SegframeError, match="--refit"):
        segframe.search(small_demo, storage=storage, trials=2, refit="everything",
                        registry=fake_registry)  # fmt: skip
    with pytest.raises(segframe.SegframeError, match="--timeout"):
        segframe.search(small_demo, storage=storage, trials=None, timeout=-5,
                        registry=fake_registry)  # fmt: skip
