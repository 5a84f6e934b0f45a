"""The command line, run as a user would: separate processes sharing one study database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from segframe.demo import make_demo


def segframe_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "segframe", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    """A small shop on disk: customers.csv with a label, events.csv, and new customers."""
    root = tmp_path_factory.mktemp("shop")
    customers, events = make_demo(n_customers=500, seed=11)
    customers.to_csv(root / "customers.csv", index=False)
    events.to_csv(root / "events.csv", index=False)
    new_customers, new_events = make_demo(n_customers=120, seed=12)
    new_customers.drop(columns="will_buy_again").to_parquet(root / "new.parquet")
    new_events.to_parquet(root / "new_events.parquet")
    return root


@pytest.fixture(scope="module")
def searched(shop: Path) -> Path:
    out = segframe_cli(
        "search", "--data", "customers.csv", "--target", "will_buy_again",
        "--events", "events.csv", "--trials", "4", "--models", "logreg,xgboost", cwd=shop,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "holdout" in out.stdout and "Stored as study 'customers'" in out.stdout
    return shop


def test_search_then_predict_in_a_new_process(searched: Path):
    out = segframe_cli(
        "predict", "--study", "customers", "--data", "new.parquet",
        "--events", "new_events.parquet", "--out", "predictions.csv", cwd=searched,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    predictions = pd.read_csv(searched / "predictions.csv", dtype={"customer_id": str})
    new = pd.read_parquet(searched / "new.parquet")
    assert list(predictions.customer_id) == list(new.customer_id)
    assert set(predictions.segment) <= {0, 1}
    probabilities = predictions[["probability_0", "probability_1"]].sum(axis=1)
    assert probabilities.round(6).eq(1).all()


def test_leaderboard_json(searched: Path):
    out = segframe_cli("leaderboard", "--study", "customers", "--json", cwd=searched)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == 4
    assert {"trial", "pipeline", "f1", "auc", "seconds", "state"} <= set(rows[0])


def test_predict_without_events_for_an_event_trained_winner(searched: Path):
    out = segframe_cli(
        "predict", "--study", "customers", "--data", "new.parquet", "--out", "p.csv", cwd=searched
    )
    assert out.returncode == 2
    assert "--events" in out.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--data", "missing.csv", "--target", "y"], "does not exist"),
        (["--data", "customers.csv", "--target", "nope"], "target column 'nope' is not in"),
        (["--data", "one_class.csv", "--target", "will_buy_again"], "only one class"),
        (
            ["--data", "customers.csv", "--target", "will_buy_again", "--models", "lgbm"],
            "No model component named 'lgbm'",
        ),
        ([], "Pass --data FILE --target COLUMN"),
    ],
    ids=["missing-file", "missing-target", "one-class", "unknown-model", "no-data"],
)
def test_bad_input_gives_a_clear_error_and_exit_2(shop: Path, args, expected):
    frame = pd.read_csv(shop / "customers.csv")
    frame.assign(will_buy_again=0).to_csv(shop / "one_class.csv", index=False)
    out = segframe_cli("search", *args, "--storage", "sqlite:///errors.db", cwd=shop)
    assert out.returncode == 2, out.stdout
    assert expected in " ".join(out.stderr.split())
    assert "Traceback" not in out.stderr


def test_debug_shows_the_traceback(shop: Path):
    out = segframe_cli("--debug", "search", "--data", "missing.csv", "--target", "y", cwd=shop)
    assert out.returncode != 0
    assert "Traceback" in out.stderr


def test_unknown_study(searched: Path):
    out = segframe_cli("leaderboard", "--study", "nope", cwd=searched)
    assert out.returncode == 2
    assert "There is no study 'nope'" in out.stderr and "customers" in out.stderr
