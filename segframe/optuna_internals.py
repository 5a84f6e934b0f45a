"""The only Optuna internals segframe touches, in one place.

Optuna's ask-and-tell API has no public call for what ``study.optimize`` does for
heartbeats: record them while a trial runs, find the trials of dead processes, and fail
one by its storage id. segframe runs its own trial loop (budget lock, guard, workers), so
it borrows these few. ``tests/test_optuna_internals.py`` pins each of them: an Optuna
upgrade that moves one fails there, by name, instead of mid-search.
"""

from __future__ import annotations

import contextlib

import optuna
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import (  # what study.optimize uses
    get_heartbeat_thread,
    is_heartbeat_enabled,
)

__all__ = ["heartbeat", "stale_trial_ids", "storage_of", "trial_id"]


def storage_of(study: optuna.Study) -> BaseStorage:
    """The study's storage object (``study._storage``)."""
    return study._storage


def trial_id(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """The trial's storage id, which storage calls take (its ``number`` is per study)."""
    return trial._trial_id


def heartbeat(study: optuna.Study, trial: optuna.Trial) -> contextlib.AbstractContextManager:
    """Record the trial's heartbeat in a thread while it runs (ask/tell gets none otherwise)."""
    return get_heartbeat_thread(trial_id(trial), storage_of(study))


def stale_trial_ids(study: optuna.Study) -> list[int]:
    """Storage ids of the study's running trials whose heartbeat is past the grace period;
    none when the storage records no heartbeats."""
    storage = storage_of(study)
    if not is_heartbeat_enabled(storage):
        return []
    return list(storage._get_stale_trial_ids(study._study_id))  # as Optuna's own does
