"""The study database: Optuna's tables for trials, segframe's table for winners.

Any SQLAlchemy URL works; the embedded default is SQLite in the working directory.
A winner row is written in one transaction after the winner was refitted and scored
on the holdout, so a database never holds a half-written winner. Loading verifies the
artifact's SHA-256 (and, with ``SEGFRAME_SIGNING_KEY`` set, its HMAC signature, see
:mod:`segframe.signing`) before anything is deserialised.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import pickle
import re
import sqlite3
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import numpy as np
import optuna
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from segframe.errors import IntegrityError, StorageError
from segframe.signing import check_signature, signature

DEFAULT_STORAGE = "sqlite:///segframe.db"
SQLITE_TIMEOUT_SECONDS = 60
#: A running trial records a heartbeat this often; one silent for the grace period
#: belongs to a dead process and is marked failed, then retried (up to MAX_RETRIES).
HEARTBEAT_SECONDS = 5
HEARTBEAT_GRACE_SECONDS = 30
MAX_RETRIES = 2
SCHEMA_ATTEMPTS = 3
#: Faults of the study database itself (disk full, a read-only file, a lost server), as
#: SQLAlchemy and Optuna raise them; a search ends on them with :func:`storage_failure`.
STORAGE_FAULTS = (SQLAlchemyError, optuna.exceptions.StorageInternalError)

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
    # HMAC-SHA256 (hex) when SEGFRAME_SIGNING_KEY was set; tables older than this column
    # get it added when a winner is next saved (see _ensure_table).
    sa.Column("signature", sa.String(64), nullable=True),
)

#: Each completed trial's out-of-fold class probabilities, for ensemble selection at the
#: end of a search (workers on other machines write theirs here too). ``fingerprint``
#: names the training rows and folds they belong to, so a study continued on other rows
#: never mixes them.
predictions_table = sa.Table(
    "segframe_oof_predictions",
    _metadata,
    sa.Column("study_name", sa.String(512), primary_key=True),
    sa.Column("trial_number", sa.Integer, primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("predictions", sa.LargeBinary, nullable=False),  # zlib-compressed .npy
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


def _sqlite_connect(database: str) -> sqlite3.Connection:
    """A SQLite connection in WAL mode with normal sync.

    A commit then costs about a millisecond instead of an fsync (about 20 ms; a trial
    makes a few dozen), and readers never block the writer. A killed process loses
    nothing committed; only a power cut can undo the last commits.
    """
    connection = sqlite3.connect(database, timeout=SQLITE_TIMEOUT_SECONDS, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            return {"creator": partial(_sqlite_connect, database)}
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


def storage_failure(url: str, exc: BaseException) -> StorageError:
    """A fault of the study database during a run (disk full, a read-only file, a lost
    connection) as one paragraph, the password hidden. Optuna wraps SQLAlchemy's error in
    StorageInternalError, so the cause is named when there is one."""
    cause = exc.__cause__ if isinstance(exc.__cause__, SQLAlchemyError) else exc
    text = str(cause).strip()
    first = text.splitlines()[0][:300] if text else type(cause).__name__
    return StorageError(
        _scrub(
            f"The study database {redact(url)} failed during the run ({type(cause).__name__}: "
            f"{first}). Trials that finished before the failure and any winner stored earlier "
            "are kept. Free disk space or fix the database's permissions or connection, then "
            "run the same command again to continue the study.",
            url,
        )
    )


def engine_for(url: str) -> sa.Engine:
    """A SQLAlchemy engine for ``url`` (errors name the redacted URL)."""
    try:
        return sa.create_engine(url, **_engine_kwargs(url))
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        raise _storage_error(url, exc) from None


def _rdb_storage(url: str) -> optuna.storages.RDBStorage:
    """Heartbeats let a restarted or parallel worker find trials of a killed process:
    they are marked failed and retried."""
    return optuna.storages.RDBStorage(
        url,
        engine_kwargs=_engine_kwargs(url),
        heartbeat_interval=HEARTBEAT_SECONDS,
        grace_period=HEARTBEAT_GRACE_SECONDS,
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
            max_retry=MAX_RETRIES
        ),
    )


def optuna_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's storage on ``url``; its schema is created here, once, before any worker runs."""
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = _racing_for_schema(_rdb_storage, url)
        return storage
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
    signature: str | None = None


def _racing_for_schema(create: Callable[..., Any], *args: Any) -> Any:
    """Run ``create``; when workers started together race to create the same tables and
    this one loses (duplicate table, type or key), the tables now exist: try again."""
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            return create(*args)
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
            if attempt == SCHEMA_ATTEMPTS - 1:
                raise
            time.sleep(0.5 + attempt)


def _ensure_table(engine: sa.Engine) -> None:
    """Create the winners table, or add the signature column a pre-signing table lacks."""
    _racing_for_schema(_add_table, engine)


def _add_table(engine: sa.Engine) -> None:
    _metadata.create_all(engine)
    columns = {c["name"] for c in sa.inspect(engine).get_columns(pipelines_table.name)}
    if "signature" not in columns:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                f"ALTER TABLE {pipelines_table.name} ADD COLUMN signature VARCHAR(64)"
            )


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
    record = dataclasses.replace(record, signature=signature(record))
    row = {
        **record.__dict__,
        "spec": json.dumps(record.spec),
        "plugin_versions": json.dumps(record.plugin_versions),
        "details": json.dumps(record.details, default=str),
    }
    engine = engine_for(url)
    try:
        _ensure_table(engine)
        with engine.begin() as connection:
            connection.execute(pipelines_table.insert().values(**row))
    except SQLAlchemyError as exc:
        raise _storage_error(url, exc) from None
    finally:
        engine.dispose()
    return record


@functools.cache
def _shared_engine(url: str) -> sa.Engine:
    """One engine per URL and process for the many small writes of a search."""
    engine = engine_for(url)
    _ensure_table(engine)
    return engine


def save_predictions(
    url: str, study_name: str, trial_number: int, fingerprint: str, predictions: np.ndarray
) -> None:
    """Keep one trial's out-of-fold probabilities (float32, compressed)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(predictions, dtype=np.float32), allow_pickle=False)
    row = {
        "study_name": study_name,
        "trial_number": trial_number,
        "fingerprint": fingerprint,
        "predictions": zlib.compress(buffer.getvalue(), 1),
    }
    try:
        with _shared_engine(url).begin() as connection:
            connection.execute(
                predictions_table.delete()
                .where(predictions_table.c.study_name == study_name)
                .where(predictions_table.c.trial_number == trial_number)
            )
            connection.execute(predictions_table.insert().values(**row))
    except SQLAlchemyError as exc:
        raise _storage_error(url, exc) from None


def load_predictions(
    url: str, study_name: str, trial_numbers: list[int], fingerprint: str
) -> dict[int, np.ndarray]:
    """Out-of-fold probabilities of those trials that have them for ``fingerprint``."""
    query = (
        sa.select(predictions_table.c.trial_number, predictions_table.c.predictions)
        .where(predictions_table.c.study_name == study_name)
        .where(predictions_table.c.fingerprint == fingerprint)
        .where(predictions_table.c.trial_number.in_(trial_numbers))
    )
    try:
        with _shared_engine(url).connect() as connection:
            rows = connection.execute(query).all()
    except SQLAlchemyError as exc:
        raise _storage_error(url, exc) from None
    return {
        number: np.load(io.BytesIO(zlib.decompress(blob)), allow_pickle=False)
        for number, blob in rows
    }


def stored_winner(study_name: str, url: str = DEFAULT_STORAGE) -> StoredPipeline:
    """The latest winner row of ``study_name``; a clear error when there is none."""
    engine = engine_for(url)
    try:
        _metadata.create_all(engine)
        with engine.connect() as connection:
            present = {c["name"] for c in sa.inspect(connection).get_columns(pipelines_table.name)}
            row = (
                connection.execute(
                    sa.select(*(c for c in pipelines_table.c if c.name in present))
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


def update_details(study_name: str, url: str, sha256: str, details: dict[str, Any]) -> None:
    """Replace the ``details`` of the winner row whose artifact hashes to ``sha256``.

    Only the descriptive JSON changes (e.g. renamed segments); the artifact and its hash
    stay as stored, so verification is unaffected.
    """
    engine = engine_for(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                pipelines_table.update()
                .where(pipelines_table.c.study_name == study_name)
                .where(pipelines_table.c.sha256 == sha256)
                .values(details=json.dumps(details, default=str))
            )
    except SQLAlchemyError as exc:
        raise _storage_error(url, exc) from None
    finally:
        engine.dispose()


def verify(record: StoredPipeline) -> None:
    """Refuse an artifact whose bytes do not match its hash, or whose signature is wrong."""
    actual = hashlib.sha256(record.artifact).hexdigest()
    if actual != record.sha256:
        raise IntegrityError(
            f"The stored pipeline of study {record.study_name!r} failed verification: its "
            f"artifact hashes to {actual[:12]}… but {record.sha256[:12]}… was recorded. It was "
            "changed or corrupted after it was stored, so it was not loaded. Re-run the search "
            "to store a fresh winner."
        )
    check_signature(record)


def load_pipeline(study: str, storage: str = DEFAULT_STORAGE) -> Any:
    """Load the fitted winner of ``study``: verified first, then deserialised.

    The result is a scikit-learn-compatible estimator (``predict``, ``predict_proba``)
    that takes raw customer data loaded by :func:`segframe.data.load_customers`.
    """
    return deserialise(stored_winner(study, storage))


#: Classes that moved to a plugin since winners were stored with them: (module, name) then
#: → module now. The bytes (and their hash) stay as stored; only the lookup is redirected.
MOVED_CLASSES = {("segframe.segmentation", "KMeansSegments"): "segframe_kmeans"}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(MOVED_CLASSES.get((module, name), module), name)


def deserialise(record: StoredPipeline) -> Any:
    """The fitted pipeline of ``record``, after :func:`verify` passed."""
    verify(record)
    return _Unpickler(io.BytesIO(record.artifact)).load()
