"""The study database: Optuna's tables for trials, segframe's table for winners.

Any SQLAlchemy URL works; the embedded default is SQLite in the working directory.
A winner row is written in one transaction after the winner was refitted and scored
on the holdout, so a database never holds a half-written winner. Loading verifies the
artifact's SHA-256 before anything is deserialised.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import optuna
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from segframe.errors import IntegrityError, StorageError

DEFAULT_STORAGE = "sqlite:///segframe.db"
SQLITE_TIMEOUT_SECONDS = 60

_metadata = sa.MetaData()
pipelines_table = sa.Table(
    "segframe_pipelines",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("study_name", sa.String(512), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("trial_number", sa.Integer, nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("artifact", sa.LargeBinary, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("segframe_version", sa.String(64), nullable=False),
    sa.Column("plugin_versions", sa.Text, nullable=False),
    sa.Column("task", sa.String(32), nullable=False),  # "classification" or "segmentation"
    sa.Column("holdout_f1", sa.Float, nullable=True),  # None for unsupervised segmentations
    sa.Column("holdout_auc", sa.Float, nullable=True),
    sa.Column("details", sa.Text, nullable=False),
)


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``, safe to print."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", str(url))


def _scrub(text: str, url: str) -> str:
    """Remove the URL's password from any message that may quote it."""
    try:
        password = make_url(url).password
    except Exception:
        password = None
    text = text.replace(url, redact(url))
    return text.replace(str(password), "***") if password else text


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_TIMEOUT_SECONDS}}
    return {"pool_pre_ping": True}


def _storage_error(url: str, exc: BaseException) -> StorageError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    hint = ""
    if isinstance(exc, NoSuchModuleError | ImportError):
        hint = " For PostgreSQL install the driver: pip install 'segframe[postgres]'."
    return StorageError(
        _scrub(
            f"Cannot open the study database {redact(url)} ({type(exc).__name__}: {first}). "
            f"Check the --storage URL, that the server is reachable and the folder writable.{hint}",
            url,
        )
    )


def engine_for(url: str) -> sa.Engine:
    """A SQLAlchemy engine for ``url`` (errors name the redacted URL)."""
    try:
        return sa.create_engine(url, **_engine_kwargs(url))
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        raise _storage_error(url, exc) from None


def optuna_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's storage on ``url``; its schema is created here, once, before any worker runs."""
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(url))
    except (SQLAlchemyError, ArgumentError, ImportError, ValueError, OSError) as exc:
        raise _storage_error(url, exc) from None


@dataclass(frozen=True)
class StoredPipeline:
    """One winner row, as read back from the database (artifact not yet deserialised)."""

    study_name: str
    created_at: datetime
    trial_number: int
    spec: dict[str, Any]
    artifact: bytes
    sha256: str
    segframe_version: str
    plugin_versions: dict[str, str]
    task: str
    holdout_f1: float | None
    holdout_auc: float | None
    details: dict[str, Any]


def save_winner(url: str, study_name: str, winner: Any, **fields: Any) -> StoredPipeline:
    """Serialise ``winner`` and insert its row in one transaction."""
    artifact = pickle.dumps(winner, protocol=pickle.HIGHEST_PROTOCOL)
    record = StoredPipeline(
        study_name=study_name,
        created_at=datetime.now(UTC).replace(tzinfo=None),
        artifact=artifact,
        sha256=hashlib.sha256(artifact).hexdigest(),
        **fields,
    )
    row = {
        **record.__dict__,
        "spec": json.dumps(record.spec),
        "plugin_versions": json.dumps(record.plugin_versions),
        "details": json.dumps(record.details, default=str),
    }
    engine = engine_for(url)
    try:
        _metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(pipelines_table.insert().values(**row))
    except SQLAlchemyError as exc:
        raise _storage_error(url, exc) from None
    finally:
        engine.dispose()
    return record


def stored_winner(study_name: str, url: str = DEFAULT_STORAGE) -> StoredPipeline:
    """The latest winner row of ``study_name``; a clear error when there is none."""
    engine = engine_for(url)
    try:
        _metadata.create_all(engine)
        with engine.connect() as connection:
            row = (
                connection.execute(
                    sa.select(pipelines_table)
                    .where(pipelines_table.c.study_name == study_name)
                    .order_by(pipelines_table.c.id.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
            known = connection.execute(sa.select(pipelines_table.c.study_name).distinct()).scalars()
            known = sorted(known)
    except SQLAlchemyError as exc:
        raise _storage_error(url, exc) from None
    finally:
        engine.dispose()
    if row is None:
        listed = ", ".join(known) if known else "none"
        raise StorageError(
            f"The study database {redact(url)} holds no stored pipeline for study "
            f"{study_name!r} (studies with a stored winner: {listed}). Run `segframe search` "
            "for it first, or pass the right --study and --storage."
        )
    data = dict(row)
    data.pop("id")
    for key in ("spec", "plugin_versions", "details"):
        data[key] = json.loads(data[key])
    return StoredPipeline(**data)


def verify(record: StoredPipeline) -> None:
    """Refuse an artifact whose bytes do not match the hash stored beside it."""
    actual = hashlib.sha256(record.artifact).hexdigest()
    if actual != record.sha256:
        raise IntegrityError(
            f"The stored pipeline of study {record.study_name!r} failed verification: its "
            f"artifact hashes to {actual[:12]}… but {record.sha256[:12]}… was recorded. It was "
            "changed or corrupted after it was stored, so it was not loaded. Re-run the search "
            "to store a fresh winner."
        )


def load_pipeline(study: str, storage: str = DEFAULT_STORAGE) -> Any:
    """Load the fitted winner of ``study``: verified first, then deserialised.

    The result is a scikit-learn-compatible estimator (``predict``, ``predict_proba``)
    that takes raw customer data loaded by :func:`segframe.data.load_customers`.
    """
    return deserialise(stored_winner(study, storage))


def deserialise(record: StoredPipeline) -> Any:
    """The fitted pipeline of ``record``, after :func:`verify` passed."""
    verify(record)
    return pickle.loads(record.artifact)
