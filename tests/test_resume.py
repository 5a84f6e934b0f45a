"""Crash and resume: a search killed with SIGKILL mid-trial, then run again.

A throw-away ``stall`` model fits normally a set number of times, then hangs, so the
kill always lands while a trial is running. Every completed trial must survive, the
running one must end as FAIL and be retried with the same parameters, the budget must
count on, and a winner is only ever stored whole, after the refit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa
from optuna.trial import TrialState

import segframe
from segframe import storage as storage_module
from segframe.demo import make_demo
from segframe.registry import Registry
from segframe.storage import pipelines_table, stored_winner

pytestmark = pytest.mark.slow

STALL_PLUGIN = """
import os, time
from pathlib import Path
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from segframe import Component, hookimpl


class Stall(ClassifierMixin, BaseEstimator):
    def __init__(self, shift=0.0):
        self.shift = shift

    def fit(self, X, y):
        counter = os.environ.get("STALL_COUNTER")
        if counter:
            path = Path(counter)
            if path.exists() and path.stat().st_size >= int(os.environ["STALL_AFTER_FITS"]):
                time.sleep(3600)
            with path.open("ab") as handle:
                handle.write(b".")
        self.classes_ = np.unique(y)
        self.column_ = int(np.argmax(np.var(np.asarray(X, dtype=float), axis=0)))
        return self

    def predict_proba(self, X):
        value = np.asarray(X, dtype=float)[:, self.column_]
        p = 1 / (1 + np.exp(-(value - np.median(value)) - self.shift))
        return np.column_stack([1 - p, p])


@hookimpl
def segframe_components():
    space = lambda trial, context: {"shift": trial.suggest_float("shift", -1.0, 1.0)}
    return [Component("model", "stall", Stall, "matrix", "prediction", space=space)]
"""

BUDGET = 8
FOLDS = 2
FITS_BEFORE_STALL = 3 * FOLDS  # trials 0, 1, 2 complete; trial 3 hangs


@pytest.fixture
def shop(tmp_path: Path, install_plugin) -> tuple[Path, dict[str, str]]:
    site = install_plugin("stall-plugin", "stall_plugin", STALL_PLUGIN)
    customers, events = make_demo(n_customers=240, seed=5)
    customers.to_csv(tmp_path / "customers.csv", index=False)
    events.to_csv(tmp_path / "events.csv", index=False)
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return tmp_path, env


def search_args(url: str) -> list[str]:
    return [
        sys.executable, "-m", "segframe", "search", "--data", "customers.csv",
        "--target", "will_buy_again", "--events", "events.csv", "--models", "stall",
        "--storage", url, "--study", "shop", "--trials", str(BUDGET), "--cv", str(FOLDS),
    ]  # fmt: skip


def trials_of(url: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="shop", storage=url).get_trials()


def winner_rows(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(pipelines_table.name):
                return 0
            return connection.execute(
                sa.select(sa.func.count()).select_from(pipelines_table)
            ).scalar()
    finally:
        engine.dispose()


def start_and_kill(root: Path, env: dict[str, str], url: str) -> list[optuna.trial.FrozenTrial]:
    """Run the search until trial 3 hangs, then SIGKILL its whole process group."""
    stall_env = {
        **env,
        "STALL_COUNTER": str(root / "fits"),
        "STALL_AFTER_FITS": str(FITS_BEFORE_STALL),
    }
    process = subprocess.Popen(
        search_args(url), cwd=root, env=stall_env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read().decode()
            try:
                states = [t.state for t in trials_of(url)]
            except (KeyError, sa.exc.OperationalError):  # study not created yet
                states = []
            if states.count(TrialState.COMPLETE) == 3 and TrialState.RUNNING in states:
                time.sleep(1.5)  # heartbeats recorded
                break
            time.sleep(0.3)
        else:
            pytest.fail("the search never reached its stalling trial")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return trials_of(url)


def check_resumed(before: list, after: list) -> None:
    complete_before = {t.number: t.values for t in before if t.state == TrialState.COMPLETE}
    running_before = [t for t in before if t.state == TrialState.RUNNING]
    assert len(complete_before) == 3 and len(running_before) == 1
    killed = running_before[0]
    by_number = {t.number: t for t in after}
    # every trial completed before the kill is still there, unchanged
    assert {n: by_number[n].values for n in complete_before} == complete_before
    # the trial that was running is failed, and retried with the same parameters
    assert by_number[killed.number].state == TrialState.FAIL
    retries = [t for t in after if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1
    assert retries[0].state == TrialState.COMPLETE
    assert retries[0].params == killed.params
    # the budget counted on: trial numbers 0..BUDGET-1 exactly once
    assert sorted(by_number) == list(range(BUDGET))
    # all but the killed one finished (some may stop early after their first fold)
    finished = [t.state for t in after if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == BUDGET - 1


def test_kill_9_then_resume(shop):
    root, env = shop
    url = f"sqlite:///{root / 'study.db'}"
    before = start_and_kill(root, env, url)
    assert winner_rows(url) == 0  # killed before the winner: nothing half-written

    out = subprocess.run(
        [*search_args(url), "--resume"], cwd=root, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    after = trials_of(url)
    check_resumed(before, after)
    killed = next(t for t in before if t.state == TrialState.RUNNING)
    assert (
        next(t for t in after if t.number == killed.number)
        .user_attrs["error"]
        .startswith("interrupted")
    )
    assert winner_rows(url) == 1
    record = stored_winner("shop", url)
    segframe.load_pipeline("shop", url)  # verifies the hash: the row is whole
    assert record.holdout_auc is not None
    assert record.trial_number in {t.number for t in after if t.state == TrialState.COMPLETE}


def test_stale_heartbeat_is_failed_and_retried_without_resume(shop, monkeypatch):
    """The same command again, without --resume: the dead run's heartbeat gives it away."""
    root, env = shop
    url = f"sqlite:///{root / 'study.db'}"
    before = start_and_kill(root, env, url)
    monkeypatch.setattr(storage_module, "HEARTBEAT_GRACE_SECONDS", 2)
    time.sleep(3)
    monkeypatch.chdir(root)
    result = segframe.search(
        "customers.csv", "will_buy_again", events="events.csv", models=["stall"],
        storage=url, study="shop", trials=BUDGET, cv=FOLDS, registry=Registry.load(),
    )  # fmt: skip
    check_resumed(before, trials_of(url))
    assert stored_winner("shop", url).trial_number == result.best_trial
