"""The study database: winner round trip, verification, redaction of secrets."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import optuna
import pytest
import sqlalchemy as sa
from conftest import copy_sqlite, make_fake_registry

import segframe
from segframe.errors import IntegrityError, StorageError
from segframe.storage import pipelines_table, redact, stored_winner


@pytest.fixture(scope="module")
def searched(small_demo, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'study.db'}"
    result = segframe.search(
        small_demo, storage=url, trials=4, study="shop", models=["logreg", "tree"],
        registry=make_fake_registry(),
    )  # fmt: skip
    return url, result


def test_round_trip_gives_the_same_predictions(searched, small_demo):
    url, result = searched
    loaded = segframe.load_pipeline("shop", url)
    np.testing.assert_allclose(
        loaded.predict_proba(small_demo.frame), result.best_pipeline.predict_proba(small_demo.frame)
    )
    assert list(loaded.classes_) == [0, 1]


def test_stored_row_has_spec_versions_hash_and_holdout_scores(searched):
    url, result = searched
    record = stored_winner("shop", url)
    assert record.sha256 == hashlib.sha256(record.artifact).hexdigest()
    assert record.spec == result.best_spec.to_dict()
    assert record.trial_number == result.best_trial
    assert record.holdout_f1 == pytest.approx(result.holdout_scores["f1"])
    assert record.holdout_auc == pytest.approx(result.holdout_scores["auc"])
    assert record.segframe_version == segframe.__version__
    steps = [s for s in result.best_spec.all_steps() if s.name != "none"]
    assert steps and all(f"{s.kind}:{s.name}" in record.plugin_versions for s in steps)
    assert record.details["target"] == "will_buy_again"


def test_the_database_is_a_plain_optuna_storage(searched):
    url, _ = searched
    study = optuna.load_study(study_name="shop", storage=url)
    assert len(study.trials) == 4
    assert study.metric_names == ["f1", "auc"]
    assert all("pipeline_text" in t.user_attrs for t in study.trials)


def test_tampered_artifact_is_refused(searched, tmp_path):
    url, _ = searched
    copy = tmp_path / "tampered.db"
    copy_sqlite(sa.make_url(url).database, copy)
    tampered = f"sqlite:///{copy}"
    engine = sa.create_engine(tampered)
    with engine.begin() as connection:
        row = connection.execute(
            sa.select(pipelines_table.c.id, pipelines_table.c.artifact)
        ).first()
        evil = row.artifact[:-8] + b"tampered"
        connection.execute(
            pipelines_table.update().where(pipelines_table.c.id == row.id).values(artifact=evil)
        )
    engine.dispose()
    with pytest.raises(IntegrityError, match="failed verification"):
        segframe.load_pipeline("shop", tampered)


def test_unknown_study_lists_the_known_ones(searched):
    url, _ = searched
    with pytest.raises(StorageError, match=r"no stored pipeline for study 'nope'.*shop"):
        segframe.load_pipeline("nope", url)


def test_passwords_never_appear_in_errors():
    url = "postgresql+psycopg://segframe:s3cr3t-pw@127.0.0.1:1/segframe"
    assert "s3cr3t-pw" not in redact(url)
    with pytest.raises(StorageError) as caught:
        segframe.search(demo=True, storage=url, trials=1)
    assert "s3cr3t-pw" not in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


def test_passwords_never_appear_in_cli_output():
    url = "postgresql+psycopg://segframe:s3cr3t-pw@127.0.0.1:1/segframe"
    out = subprocess.run(
        [sys.executable, "-m", "segframe", "leaderboard", "--study", "x", "--storage", url],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "s3cr3t-pw" not in out.stdout + out.stderr
    assert "Traceback" not in out.stderr


def test_the_database_opens_in_optuna_dashboard(searched):
    """optuna-dashboard reads the study database as it is, segframe's table beside Optuna's."""
    import io
    import json

    from optuna_dashboard import wsgi

    url, result = searched
    app = wsgi(url)

    def get(path: str) -> dict:
        status: list[str] = []
        environ = {
            "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "x",
            "SERVER_PORT": "80", "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "http",
            "wsgi.errors": io.StringIO(),
        }  # fmt: skip
        body = b"".join(app(environ, lambda s, h, *a: status.append(s)))
        assert status[0].startswith("200"), status
        return json.loads(body)

    summaries = get("/api/studies")["study_summaries"]
    study = next(s for s in summaries if s["study_name"] == "shop")
    detail = get(f"/api/studies/{study['study_id']}")
    assert len(detail["trials"]) == 4
    assert detail["objective_names"] == ["f1", "auc"]
    assert result.best_trial in {t["number"] for t in detail["best_trials"]}
