"""Hostile plugins: each ends as an unavailable plugin or a failed trial with its reason,
and the search goes on to store a winner from the well-behaved candidates.

Trials run in the guarded child process (``trial_timeout``), as the CLI always does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from functools import partial

import numpy as np
import optuna
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

import segframe
from segframe import Component, hookimpl
from segframe.registry import Registry

pytestmark = pytest.mark.slow


class Hostile(ClassifierMixin, BaseEstimator):
    """Misbehaves in one way, chosen by ``how``."""

    def __init__(self, how: str = "fit"):
        if how == "build":
            raise RuntimeError("refuses to be built")
        self.how = how

    def fit(self, X, y):
        if self.how == "fit":
            raise ValueError("cannot fit on purpose")
        if self.how == "hang":
            time.sleep(3600)
        if self.how == "memory":
            hoard = [np.ones(50_000_000) for _ in range(15)]  # 6 GB at most, then stops
            del hoard
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        if self.how == "predict":
            raise ArithmeticError("cannot predict on purpose")
        return np.tile([0.5, 0.5], (len(X), 1))


def bad_space(trial, context):
    return {"how": trial.suggest_float("how", 1.0, 0.0)}  # low above high: invalid


class HostilePlugin:
    @hookimpl
    def segframe_components(self):
        return [
            *(
                Component("model", how, partial(Hostile, how=how), "matrix", "prediction")
                for how in ("build", "fit", "predict", "hang", "memory")
            ),
            Component("model", "bad_space", Hostile, "matrix", "prediction", space=bad_space),
        ]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load(extra=[HostilePlugin()])


@pytest.mark.parametrize(
    ("model", "reason", "limits"),
    [
        ("build", "RuntimeError: refuses to be built", {}),
        ("fit", "ValueError: cannot fit on purpose", {}),
        ("predict", "ArithmeticError: cannot predict on purpose", {}),
        ("bad_space", "ValueError", {}),
        ("hang", "TrialTimeout: the trial ran longer than 4 s", {"trial_timeout": 4}),
        # the cap gives a MemoryError in the child, or kills it outright: both are reported
        ("memory", "MemoryError|WorkerDied: .* ran out of memory", {"trial_memory_mb": 2000}),
    ],
)
def test_hostile_component_fails_its_trials_and_the_search_goes_on(
    small_demo, storage, registry, model, reason, limits
):
    started = time.monotonic()
    result = segframe.search(
        small_demo, storage=storage, trials=5, models=[model, "logreg"], registry=registry,
        cv=2, seed=2, **{"trial_timeout": 120, **limits},
    )  # fmt: skip
    board = result.leaderboard()
    study = optuna.load_study(study_name=result.study_name, storage=storage)
    hostile = [t for t in study.trials if t.params.get("model") == model]
    assert hostile, "the seed should make the search try the hostile model"
    assert all(t.state.name == "FAIL" for t in hostile)
    assert all(re.search(reason, t.user_attrs["error"]) for t in hostile), [
        t.user_attrs["error"] for t in hostile
    ]
    assert (board.state == "COMPLETE").any()
    # a single pipeline or an ensemble: every model in the winner is logreg
    assert {s.name for s in result.best_spec.all_steps() if s.kind == "model"} == {"logreg"}
    if model == "hang":  # each hanging trial was stopped at the limit, not left to run
        assert time.monotonic() - started < 60 + 4 * len(hostile)


def test_plugin_that_raises_at_import_is_unavailable_and_search_runs(install_plugin, tmp_path):
    site = install_plugin("broken-plugin", "broken_plugin", "raise ImportError('no luck')")
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "segframe", *args], capture_output=True, text=True,
            env=env, cwd=tmp_path,
        )  # fmt: skip

    listed = json.loads(cli("plugins", "--json").stdout)
    broken = {p["plugin"]: p["reason"] for p in listed["broken_plugins"]}
    assert broken["broken_plugin"] == "ImportError: no luck"
    out = cli("search", "--demo", "--trials", "2", "--models", "logreg", "--cv", "2")
    assert out.returncode == 0, out.stderr
    assert "Stored as study 'demo'" in out.stdout
