"""Pins the Optuna internals segframe borrows (segframe/optuna_internals.py).

An Optuna upgrade that renames or drops one of them fails here, naming it, instead of a
search failing mid-run or silently losing its heartbeats and retries.
"""

from __future__ import annotations

import time

import optuna
import pytest
from optuna.trial import TrialState

from segframe import optuna_internals
from segframe import storage as storage_module


@pytest.fixture
def study(tmp_path, monkeypatch) -> optuna.Study:
    monkeypatch.setattr(storage_module, "HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(storage_module, "HEARTBEAT_GRACE_SECONDS", 1)
    url = f"sqlite:///{tmp_path / 'pins.db'}"
    return optuna.create_study(study_name="pins", storage=storage_module.optuna_storage(url))


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_storage_and_trial_id_are_the_ones_storage_calls_take(study) -> None:
    storage = optuna_internals.storage_of(study)
    assert isinstance(storage, optuna.storages.BaseStorage)
    trial = study.ask()
    number = storage.get_trial_number_from_id(optuna_internals.trial_id(trial))
    assert number == trial.number
    frozen = study.get_trials(deepcopy=False)[0]
    assert optuna_internals.trial_id(frozen) == optuna_internals.trial_id(trial)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_a_trial_with_a_heartbeat_goes_stale_once_it_stops(study) -> None:
    trial = study.ask()
    with optuna_internals.heartbeat(study, trial):
        time.sleep(1.3)
        assert optuna_internals.stale_trial_ids(study) == []  # beating: not stale
    time.sleep(2.2)
    assert optuna_internals.stale_trial_ids(study) == [optuna_internals.trial_id(trial)]
    study.tell(trial, 1.0)
    assert optuna_internals.stale_trial_ids(study) == []  # finished: never stale


def test_without_heartbeats_nothing_is_stale(tmp_path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'plain.db'}")
    study.ask()
    assert optuna_internals.stale_trial_ids(study) == []
    assert study.get_trials(deepcopy=False)[0].state == TrialState.RUNNING
