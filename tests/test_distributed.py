"""Several workers on one study: separate `segframe search` processes on PostgreSQL, and
``n_jobs`` local worker processes on SQLite. No trial may be lost or run twice.

The PostgreSQL test needs a server: .ci/run starts one and exports
``SEGFRAME_TEST_POSTGRES_URL``; without it the test is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa
from optuna.trial import TrialState

import segframe
from segframe.demo import make_demo
from segframe.leaderboard import pick_winner
from segframe.storage import pipelines_table

POSTGRES_ENV = "SEGFRAME_TEST_POSTGRES_URL"


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shop")
    customers, events = make_demo(n_customers=240, seed=8)
    customers.to_csv(root / "customers.csv", index=False)
    events.to_csv(root / "events.csv", index=False)
    return root


def winners(url: str, study: str) -> list[int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            query = sa.select(pipelines_table.c.trial_number).where(
                pipelines_table.c.study_name == study
            )
            return list(connection.execute(query.order_by(pipelines_table.c.id)).scalars())
    finally:
        engine.dispose()


def check_study(url: str, study: str, budget: int) -> list[optuna.trial.FrozenTrial]:
    trials = optuna.load_study(study_name=study, storage=url).get_trials()
    assert sorted(t.number for t in trials) == list(range(budget))  # none lost, none twice
    # every trial finished: complete, or stopped after its first fold by the early-stop rule
    # (which of them depends on how the workers interleave), never failed or left running
    finished = (TrialState.COMPLETE, TrialState.PRUNED)
    assert all(t.state in finished for t in trials), [(t.state, t.user_attrs) for t in trials]
    assert all("first_fold" in t.user_attrs for t in trials if t.state == TrialState.PRUNED)
    assert any(t.state == TrialState.COMPLETE for t in trials)
    stored = winners(url, study)
    assert stored and set(stored) == {pick_winner(trials, "both").number}
    return trials


@pytest.mark.slow
def test_three_cli_workers_share_one_postgres_study(shop):
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set (.ci/run starts PostgreSQL and sets it)")
    study, budget = f"workers-{uuid.uuid4().hex[:8]}", 9
    args = [
        sys.executable, "-m", "segframe", "search", "--data", "customers.csv",
        "--target", "will_buy_again", "--events", "events.csv", "--models", "logreg",
        "--storage", url, "--study", study, "--trials", str(budget), "--cv", "2",
    ]  # fmt: skip
    # started together: they race to create the schema and the study, then share it
    processes = [
        subprocess.Popen(args, cwd=shop, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    outputs = [(p.wait(timeout=500), *p.communicate()) for p in processes]
    for code, stdout, stderr in outputs:
        assert code == 0, stderr.decode()
        assert b"Stored as study" in stdout
        password = sa.make_url(url).password
        assert not password or password.encode() not in stdout + stderr
    trials = check_study(url, study, budget)
    assert len(winners(url, study)) == 3  # each worker stored the same winner, whole
    assert len(trials) == budget


@pytest.mark.slow
def test_n_jobs_local_workers_on_sqlite(small_demo, tmp_path):
    url, budget = f"sqlite:///{tmp_path / 'study.db'}", 8
    events = []
    result = segframe.search(
        small_demo,
        storage=url,
        study="local",
        trials=budget,
        models=["logreg"],
        cv=2,
        n_jobs=3,
        on_trial=events.append,
    )
    trials = check_study(url, "local", budget)
    assert winners(url, "local") == [result.best_trial]
    assert sorted(e.number for e in events) == [t.number for t in trials]
    assert not result.notes  # no worker died (e.g. of "database is locked")
