"""Pins the Optuna internals segframe borrows (segframe/optuna_internals.py).

An Optuna upgrade that renames or drops one of them fails here, naming it, instead of a
search failing mid-run or silently losing its heartbeats and retries.
"""

from __future__ import annotations

import time

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

from segframe import optuna_internals
from segframe import storage as storage_module
from segframe.optuna_internals import one_commit


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


def _commits(study: optuna.Study) -> list[int]:
    """The study database's commits that wrote something, as their number of statements
    (reads commit too, so those without an INSERT, UPDATE or DELETE are left out)."""
    engine = optuna_internals.storage_of(study)._backend.engine
    writes, pending = [], [0]

    def statement(connection, cursor, sql, *args) -> None:
        pending[0] += sql.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE")

    def commit(connection) -> None:
        if pending[0]:
            writes.append(pending[0])
        pending[0] = 0

    sqlalchemy.event.listen(engine, "before_cursor_execute", statement)
    sqlalchemy.event.listen(engine, "commit", commit)
    return writes


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_one_commit_writes_a_trials_parameters_and_attributes_at_once(study) -> None:
    trial = study.ask()
    commits = _commits(study)
    with optuna_internals.one_commit(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        choice = trial.suggest_categorical("model", ["a", "b"])
        trial.set_user_attr("pipeline", {"model": choice})
        trial.set_user_attr("pipeline_text", choice)
        assert commits == []  # kept until the block ends
    assert len(commits) == 1  # two parameters and two attributes, one transaction
    study.tell(trial, x)
    frozen = study.get_trials(deepcopy=False)[0]
    assert frozen.params == {"x": x, "model": choice}
    assert frozen.user_attrs == {"pipeline": {"model": choice}, "pipeline_text": choice}


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_one_commit_overwrites_an_attribute_and_writes_on_failure(study) -> None:
    trial = study.ask()
    trial.set_user_attr("seconds", 1.0)
    with pytest.raises(RuntimeError), optuna_internals.one_commit(trial):
        trial.suggest_int("k", 2, 8)
        trial.set_user_attr("seconds", 2.0)
        raise RuntimeError("the candidate failed")
    stored = study.get_trials(deepcopy=False)[0]
    assert stored.user_attrs == {"seconds": 2.0} and "k" in stored.params


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_one_commit_keeps_optunas_checks(study) -> None:
    first = study.ask()
    first.suggest_categorical("model", ["a", "b"])  # written by Optuna itself
    study.tell(first, 1.0)
    second = study.ask()
    with one_commit(second):
        second.suggest_categorical("model", ["a", "b"])
        second.suggest_categorical("depth", [2, 4])  # new: known to this process from here
    study.tell(second, 1.0)
    for name, choices in (("model", ["a", "c"]), ("depth", [2, 8])):  # read, then remembered
        clash = study.ask()
        with pytest.raises(ValueError, match="dynamic value space"), one_commit(clash):
            clash.suggest_categorical(name, choices)  # Optuna refuses other choices
        assert name not in study.get_trials(deepcopy=False)[clash.number].params
        study.tell(clash, 1.0)
    with pytest.raises(RuntimeError, match="finished"), one_commit(clash):
        clash.set_user_attr("late", True)  # a finished trial cannot be written


def test_one_commit_on_in_memory_storage_writes_one_by_one() -> None:
    study = optuna.create_study()
    trial = study.ask()
    with optuna_internals.one_commit(trial):
        trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr("note", "kept")
    assert study.trials[0].user_attrs == {"note": "kept"} and "x" in study.trials[0].params
