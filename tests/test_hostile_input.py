"""Hostile input and faults through the command line (issue 12), one test per case.

Each class of defect has its own cases: text from data printed as rich markup, errors
too long or too late, silent damage to data, storage faults mid-search, small CLI
defects. Every case asserts the exit code and the message, that no traceback was
printed, and (where the command must not store anything) that the database's logical
content is unchanged. Tables are tiny and searches run 2 trials of logistic regression.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import copy_sqlite
from optuna.exceptions import StorageInternalError
from optuna.trial import TrialState
from typer.testing import CliRunner

import segframe
from segframe import optuna_internals, workers
from segframe import storage as storage_module
from segframe.cli import app
from segframe.data import load_customers
from segframe.errors import DataError, listing
from segframe.leaderboard import leaderboard
from segframe.predict import DataWarning, predict_customers
from segframe.storage import load_pipeline, storage_failure, stored_winner

N = 120
#: The longest error (or note) a case may print: a short paragraph.
PARAGRAPH = 900


def customers(seed: int = 0, n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(n)],
            "spend": (x * 10 + 50).round(2),
            "age": rng.integers(18, 80, n),
            "plan": rng.choice(["basic", "pro"], n),
            "tier": rng.choice(["1", "2", "3", "x"], n),
            "churn": (x + rng.normal(scale=0.5, size=n) > 0).astype(int),
        }
    )


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    """Hostile files, and a database holding one searched study ('good')."""
    root = tmp_path_factory.mktemp("hostile")
    c = customers()
    c.to_csv(root / "c.csv", index=False)
    c.rename(columns={"churn": "churn[red]"}).to_csv(root / "markup_target.csv", index=False)
    c.rename(columns={"age": "age[/b]"}).to_csv(root / "markup_column.csv", index=False)
    (root / "in[").mkdir()  # a folder "in[" holding "b]put.csv": the path has a "[/b]"
    c.to_csv(root / "in[" / "b]put.csv", index=False)
    (root / "[red]p[").mkdir()
    c.head(0).to_csv(root / "[bold]header_only.csv", index=False)
    rng = np.random.default_rng(1)
    c.assign(churn=rng.normal(size=N).round(3)).to_csv(root / "continuous.csv", index=False)
    c.assign(churn=rng.integers(0, 400, N)).to_csv(root / "counts.csv", index=False)
    c.assign(churn=[f"user{i}@example.com" for i in range(N)]).to_csv(
        root / "emails.csv", index=False
    )
    c.assign(churn=[f"class {i % 40}" for i in range(N)]).to_csv(root / "many.csv", index=False)
    c.rename(columns={"age": "a" * 3000}).to_csv(root / "long_name.csv", index=False)
    inf = c.astype({"spend": object, "age": object})
    inf.loc[::9, "spend"], inf.loc[3::11, "age"] = "inf", "-inf"
    inf.to_csv(root / "inf.csv", index=False)
    junk = c.astype({"spend": object})
    junk.loc[::10, "spend"], junk.loc[5::20, "spend"] = "abc", "#VALUE!"
    junk.to_csv(root / "junk.csv", index=False)
    junk.rename(columns={"spend": "sp[/i]end"}).to_csv(root / "junk_markup.csv", index=False)
    half = c.astype({"spend": object})
    half.loc[::2, "spend"] = "n/a?"
    half.to_csv(root / "half_text.csv", index=False)
    new = customers(seed=2, n=30).drop(columns="churn")
    new.to_csv(root / "new.csv", index=False)
    new.rename(columns={"customer_id": "cust"}).to_csv(root / "new_cust.csv", index=False)
    new.assign(spend=[f"{v} USD" for v in new.spend]).to_csv(root / "new_usd.csv", index=False)
    few_bad = new.astype({"spend": object})
    few_bad.loc[:2, "spend"] = "#N/A!"
    few_bad.to_csv(root / "new_few_bad.csv", index=False)
    new.assign(tier=np.arange(30) % 3 + 1).to_csv(root / "new_numeric_tier.csv", index=False)
    url = f"sqlite:///{root / 's.db'}"
    segframe.search(root / "c.csv", "churn", storage=url, study="good", trials=2,
                    models=["logreg"], cv=2)  # fmt: skip
    return root


def fingerprint(db: Path) -> str:
    """The database's logical content (every row of every table)."""
    with sqlite3.connect(db) as connection:
        return hashlib.sha256("\n".join(connection.iterdump()).encode()).hexdigest()


def run(root: Path, *args: str):
    return CliRunner().invoke(app, [a.format(root=root) for a in args])


def flat(text: str) -> str:
    return " ".join(text.split())


def refused(root: Path, expected: str, *args: str, db: str = "s.db", early: bool = False):
    """Run; assert exit 2, one short paragraph holding ``expected``, the database unchanged;
    ``early``: nothing on stdout (refused before any progress display started)."""
    before = fingerprint(root / db)
    result = run(root, *args)
    message = flat(result.stderr)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert message.startswith("Error: ") and expected in message, message
    assert "Traceback" not in result.stderr + result.stdout
    assert len(message) < PARAGRAPH, message
    assert not early or result.stdout == "", result.stdout
    assert fingerprint(root / db) == before
    return message


def search(*args: str) -> list[str]:
    return ["search", "--storage=sqlite:///{root}/s.db", "--study=new", "--trials=2",
            "--cv=2", "--models=logreg", *args]  # fmt: skip


def succeeded(result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    return flat(result.stdout)


# ------------------------------------------------------- 1. text printed as rich markup


def test_markup_in_a_target_name_is_found_and_printed(shop, tmp_path):
    db = f"--storage=sqlite:///{tmp_path / 'm.db'}"
    result = run(shop, *search("--data={root}/markup_target.csv", "--target=churn[red]", db))
    assert "Stored as study 'new'" in succeeded(result)


def test_markup_in_a_column_name_is_listed_literally(shop):
    message = refused(shop, "'churn' is not in", *search("--data={root}/markup_target.csv",
                                                         "--target=churn"))  # fmt: skip
    assert "churn[red]" in message


def test_closing_tag_in_a_column_name_does_not_crash(shop):
    message = refused(shop, "'nope' is not in", *search("--data={root}/markup_column.csv",
                                                        "--target=nope"))  # fmt: skip
    assert "age[/b]" in message


def test_closing_tag_in_a_missing_file_name(shop):
    refused(shop, "nope[/b].csv' does not exist", *search("--data={root}/nope[/b].csv",
                                                          "--target=churn"))  # fmt: skip


def test_style_tag_in_a_file_name_is_kept(shop):
    refused(shop, "[bold]header_only.csv' has a header but no rows",
            *search("--data={root}/[bold]header_only.csv", "--target=churn"))  # fmt: skip


def test_markup_in_a_model_name(shop):
    refused(shop, "'[/b]'", *search("--data={root}/c.csv", "--target=churn", "--models=[/b]"))


def test_markup_in_a_study_name_of_the_leaderboard(shop):
    refused(shop, "There is no study 's[/b]'", "leaderboard", "--study=s[/b]",
            "--storage=sqlite:///{root}/s.db")  # fmt: skip


def test_markup_in_study_file_and_column_names_of_a_search(shop, tmp_path):
    db = f"--storage=sqlite:///{tmp_path / 'm.db'}"
    args = search("--data={root}/in[/b]put.csv", "--target=churn", db)
    result = run(shop, *[a for a in args if a != "--study=new"], "--study=[red]x[/b]")
    out = succeeded(result)
    assert "Leaderboard of study '[red]x[/b]'" in out
    assert "Stored as study '[red]x[/b]'" in out


def test_markup_in_a_note(shop, tmp_path):
    db = f"--storage=sqlite:///{tmp_path / 'm.db'}"
    out = succeeded(run(shop, *search("--data={root}/junk_markup.csv", "--target=churn", db)))
    assert "Note: Column 'sp[/i]end' is numeric" in out


def test_markup_in_a_predictions_file_name(shop):
    result = run(shop, "predict", "--study=good", "--data={root}/c.csv",
                 "--out={root}/[red]p[/b].csv", "--storage=sqlite:///{root}/s.db")  # fmt: skip
    assert f"to {shop}/[red]p[/b].csv" in succeeded(result)
    assert (shop / "[red]p[/b].csv").exists()


def test_markup_in_segment_names(shop, tmp_path):
    db = f"--storage=sqlite:///{tmp_path / 'seg.db'}"
    result = run(shop, "segment", "--data={root}/new.csv", db, "--trials=2", "--k=2-3",
                 "--names=0=[/b]A,1=[i]B")  # fmt: skip
    out = succeeded(result)
    assert "[/b]A" in out and "[i]B" in out


# ---------------------------------------------------------- 2. errors too long or late


def test_continuous_target_is_named_as_such(shop):
    message = refused(shop, "looks continuous: ", *search("--data={root}/continuous.csv",
                                                          "--target=churn"))  # fmt: skip
    assert "distinct numeric values" in message and "segframe needs class labels" in message


def test_integer_measurement_as_target(shop):
    refused(shop, "looks continuous: ", *search("--data={root}/counts.csv", "--target=churn"))


def test_identifier_as_target(shop):
    refused(shop, f"looks like an identifier or free text: {N} distinct values",
            *search("--data={root}/emails.csv", "--target=churn"))  # fmt: skip


def test_many_tiny_classes_are_listed_briefly(shop):
    message = refused(shop, "too few customers", *search("--data={root}/many.csv",
                                                         "--target=churn"))  # fmt: skip
    assert "and 35 more" in message


def test_kilobyte_column_names_are_shortened(shop):
    message = refused(shop, "'nope' is not in", *search("--data={root}/long_name.csv",
                                                        "--target=nope"))  # fmt: skip
    assert "a" * 39 + "…" in message


def test_kilobyte_target_name_is_shortened(shop):
    refused(shop, "The target column '" + "t" * 59 + "…' is not in",
            *search("--data={root}/c.csv", "--target=" + "t" * 5000))  # fmt: skip


def test_any_overlong_error_is_cut_to_a_paragraph(shop):
    refused(shop, "(cut; `segframe --debug ...` shows it whole)",
            *search("--data={root}/c.csv", "--target=churn", "--models=" + "m" * 5000))  # fmt: skip


def test_infinite_values_are_read_as_missing_with_a_note(shop, tmp_path):
    db = f"--storage=sqlite:///{tmp_path / 'i.db'}"
    out = succeeded(run(shop, *search("--data={root}/inf.csv", "--target=churn", db)))
    assert "Note: Infinite values (inf, -inf) were read as missing in 'spend' (14), 'age'" in out
    assert "Stored as study 'new'" in out


SEARCH_OPTIONS = {
    "negative-timeout": (["--timeout=-5"], "--timeout must be a positive number"),
    "zero-timeout": (["--timeout=0"], "--timeout must be a positive number"),
    "nan-timeout": (["--timeout=nan"], "--timeout must be a positive number"),
    "infinite-timeout": (["--timeout=inf"], "--timeout must be a positive number"),
    "negative-trials": (["--trials=-3"], "--trials must be at least 1"),
    "too-many-folds": (["--cv=21"], "Use 2 to 20 cross-validation folds"),
    "negative-jobs": (["--n-jobs=-2"], "--n-jobs must be at least 1"),
    "absurd-jobs": (["--n-jobs=100000"], "--n-jobs must be at least 1 and at most"),
    "zero-trial-timeout": (["--trial-timeout=0"], "--trial-timeout must be above 0"),
    "nan-trial-timeout": (["--trial-timeout=nan"], "--trial-timeout must be above 0"),
    "huge-trial-timeout": (["--trial-timeout=1e9"], "at most 604800 seconds"),
    "tiny-memory": (["--trial-memory-mb=1"], "--trial-memory-mb must be at least 64"),
    "huge-memory": (["--trial-memory-mb=99999999999999"], "--trial-memory-mb must be"),
    "negative-seed": (["--seed=-1"], "--seed must be a whole number from 0"),
    "huge-seed": (["--seed=4294967296"], "--seed must be a whole number from 0"),
    "unknown-device": (["--device=tpu"], "--device must be one of auto, cpu, gpu"),
    "no-models": (["--models=,"], "--models names no model"),
}


@pytest.mark.parametrize("case", list(SEARCH_OPTIONS))
def test_search_options_are_checked_before_anything_is_stored(shop, case):
    args, expected = SEARCH_OPTIONS[case]
    refused(shop, expected, *search("--data={root}/c.csv", "--target=churn", *args), early=True)


SEGMENT_OPTIONS = {
    "negative-timeout": (["--timeout=-5"], "--timeout must be a positive number"),
    "zero-trials": (["--trials=0"], "--trials must be at least 1"),
    "negative-seed": (["--seed=-7"], "--seed must be a whole number from 0"),
    "one-segment": (["--k=1-3"], "--k needs 2 <= low <= high"),
    "reversed-k": (["--k=5-2"], "--k needs 2 <= low <= high"),
    "word-k": (["--k=many"], "--k must be a number or a range"),
    "names-beyond-k": (["--k=2-4", "--names=7=VIP"], "--names renames segment 7"),
    "unreadable-names": (["--names=VIP"], "Cannot read the segment name 'VIP'"),
}


@pytest.mark.parametrize("case", list(SEGMENT_OPTIONS))
def test_segment_options_are_checked_before_anything_is_stored(shop, case):
    args, expected = SEGMENT_OPTIONS[case]
    refused(shop, expected, "segment", "--data={root}/new.csv", "--study=seg",
            "--storage=sqlite:///{root}/s.db", *args, early=True)  # fmt: skip


def test_leaderboard_top_must_be_positive(shop):
    refused(shop, "--top must be at least 1", "leaderboard", "--study=good", "--top=-1",
            "--storage=sqlite:///{root}/s.db")  # fmt: skip


def test_listing_caps_items_and_their_length():
    assert listing(range(8), 3) == "0, 1, 2 and 5 more"
    assert listing(["x" * 100], quote=True) == repr("x" * 39 + "…")


# ---------------------------------------------------------------- 3. silent damage


def test_mostly_numeric_column_with_junk_stays_numeric(shop):
    data = load_customers(shop / "junk.csv", target="churn")
    assert data.frame["spend"].dtype == np.float64
    assert data.frame["spend"].isna().sum() == 18
    assert data.notes == [
        "Column 'spend' is numeric, but 18 of its 120 values are not numbers (e.g. 'abc', "
        "'#VALUE!'); they were read as missing."
    ]


def test_junk_in_a_numeric_column_is_noted_by_the_cli(shop, tmp_path):
    db = f"--storage=sqlite:///{tmp_path / 'j.db'}"
    out = succeeded(run(shop, *search("--data={root}/junk.csv", "--target=churn", db)))
    assert "Note: Column 'spend' is numeric, but 18 of its 120 values are not numbers" in out


def test_half_text_column_stays_categorical_without_a_note(shop):
    data = load_customers(shop / "half_text.csv", target="churn")
    assert not pd.api.types.is_numeric_dtype(data.frame["spend"].dtype)
    assert data.notes == []


def test_mixed_codes_stay_categorical(shop):
    data = load_customers(shop / "c.csv", target="churn")
    assert not pd.api.types.is_numeric_dtype(data.frame["tier"].dtype)


def predict(root: Path, data: str, *more: str):
    return run(root, "predict", "--study=good", f"--data={{root}}/{data}",
               "--out={root}/p.csv", "--storage=sqlite:///{root}/s.db", *more)  # fmt: skip


def test_predict_warns_when_a_numeric_column_arrives_as_text(shop):
    out = succeeded(predict(shop, "new_usd.csv"))
    assert (
        "Note: Column 'spend' held numbers when the winner was trained, but 30 of its 30 "
        "values here are not numbers (e.g. '" in out
    )


def test_predict_notes_a_few_unreadable_numbers(shop):
    out = succeeded(predict(shop, "new_few_bad.csv"))
    assert "Note: Column 'spend' is numeric, but 3 of its 30 values are not numbers" in out


def test_predict_reads_numeric_codes_of_a_text_column_as_text(shop):
    out = succeeded(predict(shop, "new_numeric_tier.csv"))  # "1", "2", "3" in the file
    assert "Note:" not in out
    written = pd.read_csv(shop / "p.csv")
    frame = pd.read_csv(shop / "new.csv", dtype={"customer_id": str})
    as_text = frame.assign(tier=(np.arange(30) % 3 + 1).astype(str))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # text as trained: nothing to note
        expected = predict_customers("good", as_text, storage=f"sqlite:///{shop / 's.db'}")
    np.testing.assert_allclose(written["probability_1"], expected["probability_1"])


def test_predict_matches_numbers_to_text_categories_with_a_note(shop):
    frame = pd.read_csv(shop / "new.csv", dtype={"customer_id": str})
    url = f"sqlite:///{shop / 's.db'}"
    as_text = predict_customers(
        "good", frame.assign(tier=np.arange(30) % 3 + 1).astype({"tier": str}), storage=url
    )
    with pytest.warns(DataWarning, match="Column 'tier' held text when the winner was trained"):
        as_numbers = predict_customers(
            "good", frame.assign(tier=np.arange(30) % 3 + 1), storage=url
        )
    np.testing.assert_allclose(as_numbers["probability_1"], as_text["probability_1"])


def test_python_api_warns_with_the_same_notes(shop):
    new = pd.read_csv(shop / "new_usd.csv")
    with pytest.warns(DataWarning, match="Column 'spend' held numbers when the winner"):
        predict_customers("good", new, storage=f"sqlite:///{shop / 's.db'}")


def test_predict_refuses_an_excel_output_before_any_work(shop):
    refused(shop, "Cannot write predictions as '.xlsx'", "predict", "--study=nope",
            "--data={root}/c.csv", "--out={root}/p.xlsx",
            "--storage=sqlite:///{root}/s.db")  # fmt: skip
    assert not (shop / "p.xlsx").exists()


def test_predict_refuses_an_output_without_suffix(shop):
    refused(shop, "name the --out file .csv or .parquet", "predict", "--study=good",
            "--data={root}/c.csv", "--out={root}/predictions",
            "--storage=sqlite:///{root}/s.db")  # fmt: skip


def test_predict_writes_parquet(shop):
    result = run(shop, "predict", "--study=good", "--data={root}/new.csv",
                 "--out={root}/p.parquet", "--storage=sqlite:///{root}/s.db")  # fmt: skip
    succeeded(result)
    assert len(pd.read_parquet(shop / "p.parquet")) == 30


# --------------------------------------------------------------- 4. storage faults


def disk_full(*args, **kwargs):
    try:
        raise sa.exc.OperationalError(
            "INSERT INTO trial_user_attributes", {}, sqlite3.OperationalError("disk is full")
        )
    except sa.exc.OperationalError as exc:
        raise StorageInternalError("An exception is raised during the commit.") from exc


def fail_after(monkeypatch, method: str, calls: int) -> None:
    """Make ``RDBStorage.<method>`` (or, for ``commit``, segframe's one commit of a trial's
    parameters and attributes) fail like a full disk after ``calls`` calls."""
    owner = optuna_internals._Deferred if method == "commit" else optuna.storages.RDBStorage
    original = getattr(owner, method)
    count = {"n": 0}

    def patched(self, *args, **kwargs):
        count["n"] += 1
        if count["n"] > calls:
            disk_full()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, method, patched)


@pytest.mark.parametrize(
    "method, calls",
    [("commit", 3), ("set_trial_state_values", 2), ("record_heartbeat", 0)],
    ids=["attribute-write", "tell", "heartbeat"],
)
def test_a_storage_fault_mid_search_ends_in_one_paragraph(shop, tmp_path, monkeypatch, method,
                                                          calls):  # fmt: skip
    copy_sqlite(shop / "s.db", tmp_path / "s.db")
    before = leaderboard("good", f"sqlite:///{tmp_path / 's.db'}")
    winner = stored_winner("good", f"sqlite:///{tmp_path / 's.db'}")
    fail_after(monkeypatch, method, calls)
    result = run(tmp_path, "search", "--data=" + str(shop / "c.csv"), "--target=churn",
                 "--storage=sqlite:///{root}/s.db", "--study=good", "--trials=5", "--cv=2",
                 "--models=logreg")  # fmt: skip
    monkeypatch.undo()
    message = flat(result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    url = f"sqlite:///{tmp_path / 's.db'}"
    if method == "record_heartbeat":  # the thread's fault is left to the main thread
        assert result.exit_code == 0, message
    else:
        assert result.exit_code == 2, (result.stdout, result.stderr)
        assert message.startswith(f"Error: The study database {url} failed during the run "
                                  "(OperationalError: ")  # fmt: skip
        assert "disk is full" in message and len(message) < PARAGRAPH
    after = leaderboard("good", url)  # readable, the finished trials unchanged
    done = before[before.state == "COMPLETE"].set_index("trial")[["f1", "auc"]]
    pd.testing.assert_frame_equal(after.set_index("trial").loc[done.index, ["f1", "auc"]], done)
    if method != "record_heartbeat":
        assert stored_winner("good", url) == winner
    load_pipeline("good", url)  # the stored winner still verifies and loads


def test_a_storage_fault_hides_the_password():
    url = "postgresql+psycopg://shop:s3cret@db.example:5432/studies"
    try:
        disk_full()
    except StorageInternalError as exc:
        error = storage_failure(url, exc)
    assert "s3cret" not in str(error) and "shop:***@db.example" in str(error)


def test_a_fault_of_the_database_in_other_commands(shop, monkeypatch):
    monkeypatch.setattr(optuna.storages.RDBStorage, "get_study_user_attrs", disk_full)
    refused(shop, "failed during the run", "leaderboard", "--study=good",
            "--storage=sqlite:///{root}/s.db")  # fmt: skip


# ------------------------------------------------------------- 7. small CLI defects


@pytest.fixture
def failed_study(shop, tmp_path) -> str:
    """A copy of the 'good' study with one failed trial whose error is long and odd."""
    copy_sqlite(shop / "s.db", tmp_path / "s.db")
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.load_study(study_name="good", storage=url)
    error = "ValueError: [/b] " + "x" * 200 + " the end"
    study.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs={"error": error}))
    return url


def test_leaderboard_shows_no_nan_state(failed_study):
    out = succeeded(run(Path(), "leaderboard", "--study=good", f"--storage={failed_study}"))
    assert "nan" not in out.lower() and "COMPLETE" in out


def test_leaderboard_shortens_errors_and_says_how_to_see_them(failed_study):
    out = succeeded(run(Path(), "leaderboard", "--study=good", f"--storage={failed_study}"))
    assert "FAIL:" in out and "[/b]" in out and "the end" not in out
    assert "Errors are shortened; --errors shows them whole." in out


@pytest.mark.parametrize("flag", ["--errors", "--full"])
def test_leaderboard_errors_shows_them_whole(failed_study, flag):
    result = run(Path(), "leaderboard", "--study=good", f"--storage={failed_study}", flag)
    out = succeeded(result)
    assert "Trial 2: ValueError: [/b] " + "x" * 200 + " the end" in out


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_a_dead_workers_trial_says_why_and_names_its_retry(tmp_path, monkeypatch):
    monkeypatch.setattr(storage_module, "HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(storage_module, "HEARTBEAT_GRACE_SECONDS", 1)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    study = optuna.create_study(study_name="w", storage=storage_module.optuna_storage(url))
    trial = study.ask()
    optuna_internals.storage_of(study).record_heartbeat(optuna_internals.trial_id(trial))
    time.sleep(2.2)
    workers.fail_stale_trials(study)
    dead = study.trials[0]
    assert dead.state == TrialState.FAIL
    assert dead.user_attrs["error"] == "worker died (no heartbeat for 1 s); retried as a new trial"
    assert study.trials[1].state == TrialState.WAITING and "error" not in study.trials[1].user_attrs
    board = leaderboard("w", url).set_index("trial")
    assert board.loc[0, "error"] == "worker died (no heartbeat for 1 s); retried as trial 1"
    out = succeeded(run(Path(), "leaderboard", "--study=w", f"--storage={url}", "--errors"))
    assert "Trial 0: worker died (no heartbeat for 1 s); retried as trial 1" in out


def test_predict_takes_the_id_column_it_asks_for(shop):
    message = refused(shop, "Pass the right name with --id", "predict", "--study=good",
                      "--data={root}/new_cust.csv", "--out={root}/p.csv",
                      "--storage=sqlite:///{root}/s.db")  # fmt: skip
    assert "'customer_id' is not in the customer table" in message
    out = succeeded(predict(shop, "new_cust.csv", "--id=cust"))
    assert "Wrote 30 predictions" in out
    written = pd.read_csv(shop / "p.csv", dtype={"cust": str})
    assert written.columns[0] == "cust" and written.cust.tolist()[:2] == ["C0000", "C0001"]


def test_predict_id_that_is_absent(shop):
    refused(shop, "The id column 'nope' is not in the customer table", "predict",
            "--study=good", "--data={root}/new.csv", "--out={root}/p.csv", "--id=nope",
            "--storage=sqlite:///{root}/s.db")  # fmt: skip


def test_python_api_refuses_a_continuous_target():
    frame = customers().assign(churn=np.linspace(0, 1, N))
    with pytest.raises(DataError, match="looks continuous: 120 distinct numeric values"):
        load_customers(frame, target="churn")
