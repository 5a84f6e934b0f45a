"""Verified artifacts (hash, HMAC signature) and passwords kept out of every output."""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import copy_sqlite

import segframe
from segframe.errors import IntegrityError, StorageError
from segframe.signing import KEY_ENV
from segframe.storage import pipelines_table, stored_winner

KEY = "test-signing-key-0123456789"
PASSWORD = "s3cr3t-pw-Zq9"


@pytest.fixture(scope="module")
def signed_db(small_demo, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("signed") / "study.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_ENV, KEY)
        segframe.search(small_demo, storage=f"sqlite:///{path}", trials=2, study="shop",
                        models=["logreg"])  # fmt: skip
    return path


@pytest.fixture
def copy_of(signed_db: Path, tmp_path: Path) -> str:
    copy = tmp_path / "copy.db"
    copy_sqlite(signed_db, copy)
    return f"sqlite:///{copy}"


def update_row(url: str, **values) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(pipelines_table.update().values(**values))
    engine.dispose()


class Payload:
    """A pickle that runs a command when loaded: what a tampered artifact can do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_signed_winner_round_trip(copy_of, small_demo, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    record = stored_winner("shop", copy_of)
    assert record.signature and len(record.signature) == 64
    assert len(segframe.load_pipeline("shop", copy_of).predict(small_demo.frame)) == 400


def test_signed_artifact_without_the_key_is_refused(copy_of, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(IntegrityError, match=f"is signed, but {KEY_ENV} is not set"):
        segframe.load_pipeline("shop", copy_of)


def test_wrong_key_is_refused(copy_of, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "another-key")
    with pytest.raises(IntegrityError, match="signature does not match"):
        segframe.load_pipeline("shop", copy_of)


def test_unsigned_artifact_with_the_key_set_is_refused(small_demo, storage, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    segframe.search(small_demo, storage=storage, trials=1, study="plain", models=["logreg"])
    assert stored_winner("plain", storage).signature is None
    segframe.load_pipeline("plain", storage)  # no key: unsigned loads
    monkeypatch.setenv(KEY_ENV, KEY)
    with pytest.raises(IntegrityError, match="is not signed, but"):
        segframe.load_pipeline("plain", storage)


def test_tampering_with_a_recomputed_hash_is_caught_before_unpickling(
    copy_of, tmp_path, monkeypatch
):
    """Someone who can write the database but lacks the key swaps in a hostile pickle."""
    marker = tmp_path / "pwned"
    evil = pickle.dumps(Payload(marker))
    update_row(copy_of, artifact=evil, sha256=hashlib.sha256(evil).hexdigest())
    monkeypatch.setenv(KEY_ENV, KEY)
    with pytest.raises(IntegrityError, match="signature does not match"):
        segframe.load_pipeline("shop", copy_of)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(IntegrityError, match="is signed"):
        segframe.load_pipeline("shop", copy_of)
    assert not marker.exists()


@pytest.mark.parametrize(
    "change", [{"trial_number": 999}, {"spec": '{"features": [], "steps": []}'}]
)
def test_signed_metadata_cannot_be_swapped(copy_of, monkeypatch, change):
    update_row(copy_of, **change)
    monkeypatch.setenv(KEY_ENV, KEY)
    with pytest.raises(IntegrityError, match="signature does not match"):
        segframe.load_pipeline("shop", copy_of)


def test_a_database_from_before_signatures_still_works(copy_of, small_demo, monkeypatch):
    engine = sa.create_engine(copy_of)
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE segframe_pipelines DROP COLUMN signature")
        connection.execute(pipelines_table.delete())
    engine.dispose()
    monkeypatch.delenv(KEY_ENV, raising=False)
    segframe.search(small_demo, storage=copy_of, trials=3, study="shop", models=["logreg"])
    assert stored_winner("shop", copy_of).signature is None  # the column was added, no key


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "segframe", *args], capture_output=True, text=True, cwd=cwd
    )


def postgres_url_with_password(password: str, port: int | None = None) -> str:
    url = os.environ.get("SEGFRAME_TEST_POSTGRES_URL")
    if not url and port is None:
        pytest.skip("SEGFRAME_TEST_POSTGRES_URL is not set (.ci/run sets it)")
    base = sa.make_url(url or "postgresql+psycopg://segframe@127.0.0.1/segframe")
    base = base.set(password=password)
    if port is not None:
        base = base.set(port=port, host="127.0.0.1")
    return base.render_as_string(hide_password=False)


@pytest.mark.parametrize("reachable", [False, True], ids=["unreachable", "wrong-password"])
@pytest.mark.parametrize(
    "command",
    [
        ["search", "--demo", "--trials", "1"],
        ["search", "--demo", "--trials", "1", "--n-jobs", "2"],
        ["leaderboard", "--study", "x"],
        ["predict", "--study", "x", "--data", "x.csv", "--out", "p.csv"],
        ["--debug", "leaderboard", "--study", "x"],
    ],
    ids=["search", "search-n-jobs", "leaderboard", "predict", "debug"],
)
def test_passwords_never_appear_in_cli_output(command, reachable, tmp_path):
    url = postgres_url_with_password(PASSWORD, port=None if reachable else 1)
    (tmp_path / "x.csv").write_text("customer_id,age\n1,30\n")
    out = cli(*command, "--storage", url, cwd=tmp_path)
    assert out.returncode != 0
    assert PASSWORD not in out.stdout + out.stderr
    assert "***" in out.stdout + out.stderr  # the URL is named, redacted
    if "--debug" not in command:
        assert "Traceback" not in out.stderr


def test_passwords_never_appear_in_python_errors_or_logs(caplog):
    url = postgres_url_with_password(PASSWORD, port=1)
    caplog.set_level("DEBUG")
    with pytest.raises(StorageError) as caught:
        segframe.load_pipeline("x", url)
    assert PASSWORD not in str(caught.value) + caplog.text
    assert "127.0.0.1" in str(caught.value)
