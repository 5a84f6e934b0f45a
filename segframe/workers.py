"""Several workers on one study: the budget lock, heartbeats, and local worker processes.

Workers coordinate only through the study database, so the same code serves
``--n-jobs N`` on one machine and ``segframe search`` started on several machines.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import multiprocessing
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import optuna
import sqlalchemy as sa

from segframe import optuna_internals
from segframe import storage as storage_module
from segframe.errors import SegframeError
from segframe.registry import Registry, default_registry
from segframe.storage import engine_for

IN_CODE = "(registered in code)"  # Registry's distribution name for plugins passed as extra=


class StudyLock:
    """Serialises "is there budget left? then create the trial" across workers.

    PostgreSQL: a session advisory lock keyed by the study name. SQLite: ``flock`` on a
    file beside the database (``<database>.lock``), never on the database file itself:
    closing any descriptor of a file drops every POSIX lock the process holds on it, so a
    lock opened and closed on the database file released SQLite's own locks and let
    another process reset the WAL under a live connection (a corrupt database after
    ``--n-jobs 2``). Other databases run without it and may overshoot the budget by a
    trial per worker.
    """

    def __init__(self, url: str, study_name: str) -> None:
        self._engine = engine_for(url)
        self._dialect = self._engine.dialect.name
        digest = hashlib.sha256(study_name.encode()).digest()
        self._key = int.from_bytes(digest[:8], "big", signed=True)
        database = _sqlite_file(self._engine)
        self._path = None if database is None else f"{database}.lock"

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        if self._dialect == "postgresql":
            with self._engine.connect() as connection:
                connection.execute(sa.select(sa.func.pg_advisory_lock(self._key)))
                try:
                    yield
                finally:
                    connection.execute(sa.select(sa.func.pg_advisory_unlock(self._key)))
                    connection.commit()
        elif self._path is not None:
            with open(self._path, "ab") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        else:
            yield

    def close(self) -> None:
        self._engine.dispose()


def _sqlite_file(engine: sa.Engine) -> str | None:
    """The file of a file-based SQLite database, else None."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return database


#: The end of a failed trial's error when a retry was queued; the leaderboard names the
#: retry's number (known only once it exists, when the failed trial can no longer change).
RETRIED = "retried as a new trial"


def _fail_and_retry(study: optuna.Study, trial_id: int, reason: str) -> None:
    """Fail a running trial with ``reason`` as its error, then queue its retry.

    The error is written while the trial still runs (a finished trial's attributes are
    frozen); the state change decides between workers racing to fail the same trial, and
    only the winner queues the retry.
    """
    storage = optuna_internals.storage_of(study)
    before = storage.get_trial(trial_id)  # the retry copies attrs: take them clean
    history = before.system_attrs.get("retry_history", [])
    retry = storage.get_heartbeat_stale_trial_callback()
    retried = retry is not None and len(history) < storage_module.MAX_RETRIES
    why = RETRIED if retried else f"not retried (tried {len(history) + 1} times)"
    try:
        storage.set_trial_user_attr(trial_id, "error", f"{reason}; {why}")
        if not storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL):
            return
    except optuna.exceptions.UpdateFinishedTrialError:
        return  # it finished (or another worker failed it) meanwhile
    if retry is not None:
        retry(study, before)


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail the trials of dead workers (no heartbeat for the grace period) with that reason
    as their error; the storage's callback queues their retry."""
    reason = f"worker died (no heartbeat for {storage_module.HEARTBEAT_GRACE_SECONDS} s)"
    for trial_id in optuna_internals.stale_trial_ids(study):
        _fail_and_retry(study, trial_id, reason)


def registry_recipe(registry: Registry) -> tuple[bool, list[Any]] | None:
    """What rebuilds ``registry`` in a spawned process: None for the default registry."""
    if registry is default_registry():
        return None
    pm = registry._pm
    extra = [
        p for p in pm.get_plugins() if registry.plugins[pm.get_name(p)].distribution == IN_CODE
    ]
    entry_points = any(p.distribution != IN_CODE for p in registry.plugins.values())
    try:
        pickle.dumps(extra)
    except Exception as exc:
        raise SegframeError(
            f"The plugins registered in code cannot be sent to a worker process ({exc}). "
            "Install them as a package with an entry point, or search with n_jobs=1 and no "
            "trial_timeout/trial_memory_mb."
        ) from None
    return entry_points, extra


def rebuild_registry(recipe: tuple[bool, list[Any]] | None) -> Registry:
    if recipe is None:
        return default_registry()
    entry_points, extra = recipe
    return Registry.load(entry_point_plugins=entry_points, extra=extra)


def run_workers(
    n_jobs: int,
    target: Callable[..., None],
    args: tuple[Any, ...],
    on_progress: Callable[[], None] | None,
) -> list[str]:
    """Run ``target(*args)`` in ``n_jobs`` spawned worker processes on the study; notes
    about workers that died. ``target`` is a module-level function (the runner's), passed
    in so that this module does not import the runner that imports it."""
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=target, args=args, name=f"segframe-worker-{i}")
        for i in range(n_jobs)
    ]
    for process in processes:
        process.start()
    try:
        while any(p.is_alive() for p in processes):
            for process in processes:
                process.join(timeout=1.0 / n_jobs)
            if on_progress is not None:
                on_progress()
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
    return [
        f"Worker process {i} stopped with exit code {p.exitcode}; the others went on."
        for i, p in enumerate(processes)
        if p.exitcode != 0
    ]


def fail_running_trials(study: optuna.Study) -> None:
    """``--resume``: the last run is known dead, so its running trials fail and retry now."""
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        _fail_and_retry(study, optuna_internals.trial_id(trial), "interrupted: its run stopped")
