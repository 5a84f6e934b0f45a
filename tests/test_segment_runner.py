"""The segmentation search runs on the shared runner: crash-safe, resumable, parallel.

A throw-away ``stall`` feature builder fits normally a set number of times, then hangs, so
a SIGKILL always lands while a segmentation trial is running (as tests/test_resume.py does
for a classification search). It also notes the process that fitted it, to show that
``--n-jobs 2`` trials run in worker processes.
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
from segframe.demo import make_demo
from segframe.registry import Registry
from segframe.storage import stored_winner

STALL_FEATURES = """
import os, time
from pathlib import Path
from sklearn.base import BaseEstimator, TransformerMixin
from segframe.plugin import FRAME, RAW, Component, hookimpl


class StallFeatures(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        if os.environ.get("STALL_PIDS"):
            with open(os.environ["STALL_PIDS"], "a") as handle:
                handle.write(f"{os.getpid()}\\n")
        counter = os.environ.get("STALL_COUNTER")
        if counter:
            path = Path(counter)
            if path.exists() and path.stat().st_size >= int(os.environ["STALL_AFTER_FITS"]):
                time.sleep(3600)
            with path.open("ab") as handle:
                handle.write(b".")
        return self

    def transform(self, X):
        return X[["age", "newsletter"]].astype(float)


@hookimpl
def segframe_components():
    return [Component("features", "stall", StallFeatures, RAW, FRAME)]
"""

BUDGET = 6
FITS_BEFORE_STALL = 3  # one feature fit per segmentation trial: trials 0-2 complete, 3 hangs


@pytest.fixture
def shop(tmp_path: Path, install_plugin) -> tuple[Path, dict[str, str]]:
    site = install_plugin("stall-features", "stall_features", STALL_FEATURES)
    customers, events = make_demo(n_customers=240, seed=5)
    customers.drop(columns="will_buy_again").to_csv(tmp_path / "customers.csv", index=False)
    events.to_csv(tmp_path / "events.csv", index=False)
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return tmp_path, env


def segment_args(url: str, *extra: str, trials: int = BUDGET) -> list[str]:
    return [
        sys.executable, "-m", "segframe", "segment", "--data", "customers.csv",
        "--events", "events.csv", "--include", "stall", "--k", "2-4",
        "--storage", url, "--study", "shop", "--trials", str(trials), "--json", *extra,
    ]  # fmt: skip


def trials_of(url: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="shop", storage=url).get_trials()


def has_winner(url: str) -> bool:
    try:
        stored_winner("shop", url)
    except segframe.StorageError:
        return False
    return True


def kill_while_trial_runs(root: Path, env: dict[str, str], url: str) -> list:
    stall_env = {
        **env,
        "STALL_COUNTER": str(root / "fits"),
        "STALL_AFTER_FITS": str(FITS_BEFORE_STALL),
    }
    process = subprocess.Popen(
        segment_args(url), cwd=root, env=stall_env, start_new_session=True,
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
            pytest.fail("the segmentation never reached its stalling trial")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return trials_of(url)


@pytest.mark.slow
def test_kill_9_a_segmentation_then_resume(shop) -> None:
    root, env = shop
    url = f"sqlite:///{root / 'study.db'}"
    before = kill_while_trial_runs(root, env, url)
    assert not has_winner(url)  # killed before the winner: nothing half-written
    complete_before = {t.number: t.values for t in before if t.state == TrialState.COMPLETE}
    killed = next(t for t in before if t.state == TrialState.RUNNING)

    out = subprocess.run(
        segment_args(url, "--resume"), cwd=root, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    after = {t.number: t for t in trials_of(url)}
    assert {n: after[n].values for n in complete_before} == complete_before  # none lost
    assert after[killed.number].state == TrialState.FAIL
    assert after[killed.number].user_attrs["error"].startswith("interrupted")
    retries = [t for t in after.values() if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == killed.params
    assert sorted(after) == list(range(BUDGET))  # the budget counted on
    record = stored_winner("shop", url)
    assert record.task == "segmentation" and record.trial_number in after
    segframe.load_pipeline("shop", url)  # verifies the hash: the row is whole


def test_segment_with_two_worker_processes(shop) -> None:
    root, env = shop
    url = f"sqlite:///{root / 'study.db'}"
    pids = root / "pids"
    out = subprocess.run(
        segment_args(url, "--n-jobs", "2", trials=4),
        cwd=root, env={**env, "STALL_PIDS": str(pids)}, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    trials = trials_of(url)
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    fitted_in = {int(line) for line in pids.read_text().split()}
    # trials ran in worker processes, the winner's refit in the command's own process
    assert len(fitted_in) >= 2
    assert stored_winner("shop", url).task == "segmentation"


def test_segment_trials_run_in_the_guarded_process(shop, monkeypatch) -> None:
    root, _ = shop
    pids = root / "pids"
    monkeypatch.setenv("STALL_PIDS", str(pids))
    result = segframe.segment(
        str(root / "customers.csv"), events=str(root / "events.csv"), trials=2, k=(2, 3),
        storage=f"sqlite:///{root / 's.db'}", include=["stall"], trial_timeout=120,
        registry=Registry.load(),  # sees the stall plugin installed for this test
    )  # fmt: skip
    fitted_in = [int(line) for line in pids.read_text().split()]
    assert fitted_in[-1] == os.getpid()  # the winner's refit, here
    assert set(fitted_in[:-1]) - {os.getpid()}  # the trials, in the guarded child
    assert result.best_trial in (0, 1)
