"""The only Optuna internals segframe touches, in one place.

Optuna's ask-and-tell API has no public call for what ``study.optimize`` does for
heartbeats: record them while a trial runs, find the trials of dead processes, and fail
one by its storage id. segframe runs its own trial loop (budget lock, guard, workers), so
it borrows these few. And it writes a trial's parameters and attributes in one commit
(:func:`one_commit`) where Optuna would commit each on its own: a few dozen
single-row transactions were most of a trial's bookkeeping. ``tests/test_optuna_internals.py``
pins each of them: an Optuna upgrade that moves one fails there, by name, instead of
mid-search.
"""

from __future__ import annotations

import contextlib
import json
import weakref
from collections.abc import Iterator
from typing import Any

import optuna
import sqlalchemy as sa
from optuna import distributions
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._cached_storage import _CachedStorage
from optuna.storages._heartbeat import (  # what study.optimize uses
    get_heartbeat_thread,
    is_heartbeat_enabled,
)
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session

__all__ = ["heartbeat", "one_commit", "stale_trial_ids", "storage_of", "trial_id"]


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


#: Per storage and study, the parameter distributions this process has written or read.
_seen_distributions: weakref.WeakKeyDictionary[BaseStorage, dict[int, dict[str, BaseDistribution]]]
_seen_distributions = weakref.WeakKeyDictionary()


class _Deferred:
    """A trial's storage that keeps the trial's parameter and user-attribute writes for one
    commit; every other call goes to the storage itself."""

    def __init__(self, storage: BaseStorage, trial_id: int) -> None:
        self.storage, self.trial_id = storage, trial_id
        self.params: dict[str, tuple[float, BaseDistribution]] = {}
        self.attrs: dict[str, Any] = {}

    def set_trial_param(
        self, trial_id: int, name: str, value: float, distribution: BaseDistribution
    ) -> None:
        assert trial_id == self.trial_id, "one_commit keeps one trial's writes"
        self.params[name] = (value, distribution)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        assert trial_id == self.trial_id, "one_commit keeps one trial's writes"
        self.attrs[key] = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)

    def commit(self) -> None:
        """Write what was kept in one transaction of a few statements, as Optuna's own
        writes would (the trial must still be running; each parameter's distribution must
        agree with the one the study already has for it)."""
        if not self.params and not self.attrs:
            return
        backend = self.storage._backend if isinstance(self.storage, _CachedStorage) else None
        if not isinstance(backend, RDBStorage):  # in-memory or journal: write one by one
            for name, (value, distribution) in self.params.items():
                self.storage.set_trial_param(self.trial_id, name, value, distribution)
            for key, value in self.attrs.items():
                self.storage.set_trial_user_attr(self.trial_id, key, value)
            return
        with _create_scoped_session(backend.scoped_session) as session:
            trial = models.TrialModel.find_or_raise_by_id(self.trial_id, session)
            backend.check_trial_is_updatable(self.trial_id, trial.state)
            if self.params:
                self._check_distributions(session, trial.study_id)
                rows = [
                    {"trial_id": self.trial_id, "param_name": name, "param_value": value,
                     "distribution_json": distributions.distribution_to_json(distribution)}
                    for name, (value, distribution) in self.params.items()
                ]  # fmt: skip
                session.execute(sa.insert(models.TrialParamModel), rows)
            if self.attrs:
                table = models.TrialUserAttributeModel
                session.execute(
                    sa.delete(table)
                    .where(table.trial_id == self.trial_id)
                    .where(table.key.in_(list(self.attrs)))
                )
                rows = [
                    {"trial_id": self.trial_id, "key": key, "value_json": json.dumps(value)}
                    for key, value in self.attrs.items()
                ]
                session.execute(sa.insert(table), rows)

    def _check_distributions(self, session: Any, study_id: int) -> None:
        """Optuna's check that a parameter keeps a compatible distribution across a study.

        Like Optuna's cached storage, a distribution this process has seen for the study
        is checked in memory; only parameters new to it are looked up, all in one query.
        """
        known = _seen_distributions.setdefault(self.storage, {}).setdefault(study_id, {})
        new = [name for name in self.params if name not in known]
        if new:
            param, trial = models.TrialParamModel, models.TrialModel
            stored = session.execute(
                sa.select(param.param_name, sa.func.min(param.distribution_json))
                .join(trial, param.trial_id == trial.trial_id)
                .where(trial.study_id == study_id)
                .where(param.param_name.in_(new))
                .group_by(param.param_name)
            )
            known.update((name, distributions.json_to_distribution(text)) for name, text in stored)
        for name, (_, distribution) in self.params.items():
            if name in known:
                distributions.check_distribution_compatibility(known[name], distribution)
            else:
                known[name] = distribution


@contextlib.contextmanager
def one_commit(trial: optuna.Trial) -> Iterator[None]:
    """Within the block, the trial's suggested parameters and ``set_user_attr`` calls are
    written in one commit when the block ends (also when it raises: the parameters drawn
    so far stay on record beside the failure)."""
    storage = trial.storage
    deferred = _Deferred(storage, trial_id(trial))
    trial.storage = deferred
    try:
        yield
    finally:
        trial.storage = storage
        deferred.commit()
