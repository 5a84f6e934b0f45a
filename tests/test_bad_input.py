"""Bad input through the command line: one clear paragraph, exit 2, nothing stored changed.

tests/test_data.py covers the loader in Python; here every case goes through the CLI
(in-process, typer's runner) against a database that already holds a study and a
winner, whose logical content is compared before and after.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import copy_sqlite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import segframe
from segframe.cli import app
from segframe.demo import make_demo
from segframe.storage import pipelines_table

TARGET = "will_buy_again"


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    """Good and malformed files, and a study database with one searched study ('good')."""
    root = tmp_path_factory.mktemp("bad")
    c, e = make_demo(n_customers=200, seed=4)
    c.to_csv(root / "c.csv", index=False)
    e.to_csv(root / "e.csv", index=False)
    c.drop(columns="customer_id").to_csv(root / "noid.csv", index=False)
    pd.concat([c, c.head(3)]).to_csv(root / "dupid.csv", index=False)
    c.assign(**{TARGET: 0}).to_csv(root / "oneclass.csv", index=False)
    nan_target = np.where(np.arange(len(c)) < 5, np.nan, c[TARGET])
    c.assign(**{TARGET: nan_target}).to_csv(root / "nantarget.csv", index=False)
    c.assign(**{TARGET: (np.arange(len(c)) < 3).astype(int)}).to_csv(root / "few.csv", index=False)
    (root / "empty.csv").touch()
    c.head(0).to_csv(root / "header_only.csv", index=False)
    c.to_csv(root / "semicolon.csv", index=False, sep=";")
    (root / "latin1.csv").write_bytes("customer_id,city\n1,Z\xfcrich\n".encode("latin-1"))
    (root / "junk.csv").write_bytes(bytes(range(256)) * 40)
    (root / "folder.csv").mkdir()
    e.assign(timestamp="not a time").to_csv(root / "bad_ts.csv", index=False)
    e.assign(amount="lots").to_csv(root / "text_amount.csv", index=False)
    new = c.head(30).drop(columns=TARGET).rename(columns={"age": "years"})
    new.to_csv(root / "renamed.csv", index=False)
    data = segframe.search(
        root / "c.csv", TARGET, events=root / "e.csv", storage=f"sqlite:///{root / 's.db'}",
        study="good", trials=2, models=["logreg"], cv=2,
    )  # fmt: skip
    assert data.best_trial in (0, 1)
    copy_sqlite(root / "s.db", root / "tampered.db")
    engine = sa.create_engine(f"sqlite:///{root / 'tampered.db'}")
    with engine.begin() as connection:
        connection.execute(pipelines_table.update().values(artifact=b"\x80\x05junk"))
    engine.dispose()
    return root


def fingerprint(db: Path) -> str:
    """The database's logical content (every row of every table)."""
    with sqlite3.connect(db) as connection:
        return hashlib.sha256("\n".join(connection.iterdump()).encode()).hexdigest()


S = "--storage=sqlite:///{root}/s.db"
SEARCH = ["search", "--trials=1", "--cv=2", S, "--study=x"]
CASES = {
    "missing-file": (["--data={root}/nope.csv", f"--target={TARGET}"], "does not exist"),
    "folder": (["--data={root}/folder.csv", f"--target={TARGET}"], "is a folder"),
    "empty-file": (["--data={root}/empty.csv", f"--target={TARGET}"], "is empty"),
    "header-only": (["--data={root}/header_only.csv", f"--target={TARGET}"], "but no rows"),
    "semicolon": (["--data={root}/semicolon.csv", f"--target={TARGET}"], "semicolon-separated"),
    "not-utf8": (["--data={root}/latin1.csv", f"--target={TARGET}"], "is not UTF-8 text"),
    "binary-junk": (["--data={root}/junk.csv", f"--target={TARGET}"], "cannot be read as CSV"),
    "missing-id": (
        ["--data={root}/noid.csv", f"--target={TARGET}", "--id=customer_id"],
        "id column 'customer_id' is not in the customer table",
    ),
    "duplicate-id": (["--data={root}/dupid.csv", f"--target={TARGET}"], "3 duplicate ids"),
    "target-absent": (["--data={root}/c.csv", "--target=nope"], "target column 'nope' is not"),
    "one-class": (["--data={root}/oneclass.csv", f"--target={TARGET}"], "only one class"),
    "nan-target": (["--data={root}/nantarget.csv", f"--target={TARGET}"], "5 missing values"),
    "too-few-of-a-class": (["--data={root}/few.csv", f"--target={TARGET}"], "too few customers"),
    "bad-timestamps": (
        ["--data={root}/c.csv", f"--target={TARGET}", "--events={root}/bad_ts.csv"],
        "not dates or times",
    ),
    "text-amounts": (
        ["--data={root}/c.csv", f"--target={TARGET}", "--events={root}/text_amount.csv"],
        "non-numeric values",
    ),
    "events-not-a-log": (
        ["--data={root}/c.csv", f"--target={TARGET}", "--events={root}/c.csv"],
        "event log has no 'timestamp' column",
    ),
    "zero-trials": (["--demo", "--trials=0"], "--trials must be at least 1"),
    "one-fold": (["--demo", "--cv=1"], "2 to 20 cross-validation folds"),
    "zero-jobs": (["--demo", "--n-jobs=0"], "--n-jobs must be at least 1"),
    "tiny-memory-cap": (["--demo", "--trial-memory-mb=10"], "at least 64"),
    "unknown-model": (["--demo", "--models=lgbm"], "No model component named 'lgbm'"),
    "study-with-other-target": (
        ["--data={root}/c.csv", "--target=newsletter", "--study=good"],
        "was started with target 'will_buy_again'",
    ),
    "unreachable-database": (
        ["--demo", "--storage=postgresql+psycopg://u:pw@127.0.0.1:1/db"],
        "Cannot open the study database postgresql+psycopg://u:***@127.0.0.1:1/db",
    ),
    "not-a-url": (["--demo", "--storage=not a url"], "Cannot open the study database"),
    "predict-unknown-study": (
        ["predict", "--study=nope", "--data={root}/c.csv", "--out={root}/p.csv", S],
        "no stored pipeline for study 'nope' (studies with a stored winner: good)",
    ),
    "predict-other-columns": (
        [
            "predict",
            "--study=good",
            "--data={root}/renamed.csv",
            "--events={root}/e.csv",
            "--out={root}/p.csv",
            S,
        ],
        "lack columns the winner of study 'good' was trained on: 'age'",
    ),
    "predict-tampered-artifact": (
        [
            "predict",
            "--study=good",
            "--data={root}/c.csv",
            "--events={root}/e.csv",
            "--out={root}/p.csv",
            "--storage=sqlite:///{root}/tampered.db",
        ],
        "failed verification",
    ),
    "predict-unwritable-output": (
        [
            "predict",
            "--study=good",
            "--data={root}/c.csv",
            "--events={root}/e.csv",
            "--out={root}/missing/dir/p.csv",
            S,
        ],
        "Cannot write predictions to",
    ),
    "leaderboard-unknown-study": (["leaderboard", "--study=nope", S], "There is no study 'nope'"),
}


def run(root: Path, args: list[str]):
    if args[0] not in {"predict", "leaderboard"}:
        args = [*SEARCH, *args]
    return CliRunner().invoke(app, [a.format(root=root) for a in args])


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_clearly_and_changes_nothing(shop, case):
    args, expected = CASES[case]
    before = {db: fingerprint(shop / db) for db in ("s.db", "tampered.db")}
    result = run(shop, args)
    message = " ".join(result.stderr.split())
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert message.startswith("Error: ") and expected in message
    assert "Traceback" not in result.stderr
    assert {db: fingerprint(shop / db) for db in before} == before


def test_a_few_dozen_cases_are_covered():
    assert len(CASES) >= 25


columns = st.lists(
    st.sampled_from(["customer_id", TARGET, "age", "", "Unnamed: 0", "x;y", "ünï", "id"]),
    min_size=1,
    max_size=5,
)
cells = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.sampled_from(["", "NaN", "1", "0", "2024-13-45", "C001"]),
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=columns, rows=st.lists(st.lists(cells, min_size=5, max_size=5), max_size=12))
def test_random_malformed_tables_get_a_clear_error(shop, names, rows):
    path = shop / "random.csv"
    table = pd.DataFrame([row[: len(names)] for row in rows], columns=range(len(names)))
    table.columns = names[: table.shape[1]]
    table.to_csv(path, index=False)
    result = run(shop, ["--data={root}/random.csv", f"--target={TARGET}"])
    assert result.exit_code in (0, 2), result.stderr  # 1 would be an unexpected error
    assert "Traceback" not in result.stderr and "Unexpected error" not in result.stderr
    if result.exit_code == 2:
        assert result.stderr.startswith("Error: ")
