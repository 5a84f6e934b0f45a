"""Reading a study back: the leaderboard of trials and the choice of the winner."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from segframe.errors import SegframeError, StorageError, shorten
from segframe.storage import DEFAULT_STORAGE, optuna_storage, redact
from segframe.workers import RETRIED


def _pareto_front(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    def dominated(t: FrozenTrial) -> bool:
        f1, auc = t.user_attrs["f1"], t.user_attrs["auc"]
        return any(
            o.user_attrs["f1"] >= f1
            and o.user_attrs["auc"] >= auc
            and (o.user_attrs["f1"] > f1 or o.user_attrs["auc"] > auc)
            for o in trials
        )

    return [t for t in trials if not dominated(t)]


def no_winner(trials: Sequence[FrozenTrial], what: str) -> SegframeError:
    """The error of a study with no completed ``what`` (pipeline, segmentation): its errors."""
    errors = sorted(set(trial_errors(trials).values()))
    detail = "; ".join(shorten(e, 300) for e in errors[:3]) or "no trial finished"
    if len(errors) > 3:
        detail += f"; and {len(errors) - 3} other errors"
    return SegframeError(
        f"No candidate {what} completed, so there is no winner to store ({detail}). "
        "Raise the budget (--trials/--timeout) or check the errors with `segframe leaderboard`."
    )


def best_trial(
    trials: Sequence[FrozenTrial],
    key: Callable[[FrozenTrial], tuple],
    *,
    scored: str,
    what: str,
    among: Callable[[list[FrozenTrial]], list[FrozenTrial]] | None = None,
) -> FrozenTrial:
    """The winning trial of any task, deterministically: the highest ``key`` among the
    completed trials that recorded ``scored`` (narrowed by ``among`` when it keeps any),
    ties broken by the earlier trial; the :func:`no_winner` error when none completed."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and scored in t.user_attrs]
    if not complete:
        raise no_winner(trials, what)
    candidates = (among(complete) if among else complete) or complete
    return max(candidates, key=lambda t: (*key(t), -t.number))


def pick_winner(trials: Sequence[FrozenTrial], objective: str) -> FrozenTrial:
    """The winning trial of a classification study, deterministically.

    ``f1`` / ``auc``: the highest cross-validated score, ties broken by the other metric,
    then by the earlier trial. ``both``: among the F1–AUC Pareto front, the trial with
    the highest mean of F1 and AUC, ties broken by AUC, then by the earlier trial.
    """

    def key(t: FrozenTrial) -> tuple:
        f1, auc = t.user_attrs["f1"], t.user_attrs["auc"]
        if objective == "f1":
            return (f1, auc)
        if objective == "auc":
            return (auc, f1)
        return ((f1 + auc) / 2, auc)

    front = _pareto_front if objective == "both" else None
    return best_trial(trials, key, scored="f1", what="pipeline", among=front)


def load_study(study: str, storage: str = DEFAULT_STORAGE) -> optuna.Study:
    """An existing study; a clear error listing the known ones when it does not exist."""
    backend = optuna_storage(storage)
    try:
        return optuna.load_study(study_name=study, storage=backend)
    except KeyError:
        names = sorted(s.study_name for s in backend.get_all_studies())
        raise StorageError(
            f"There is no study {study!r} in {redact(storage)} (studies there: "
            f"{', '.join(names) or 'none'}). Check --study and --storage."
        ) from None


def trial_errors(trials: Sequence[FrozenTrial]) -> dict[int, str]:
    """Each failed or stopped trial's error; a retried one names the trial that retried it."""
    retries = {
        t.system_attrs["retry_history"][-1]: t.number
        for t in trials
        if t.system_attrs.get("retry_history")
    }
    errors = {}
    for t in trials:
        error = t.user_attrs.get("error")
        if t.state == TrialState.COMPLETE or not isinstance(error, str):
            continue  # a worker thought dead that finished after all: its result stands
        if error.endswith(RETRIED) and t.number in retries:
            error = f"{error.removesuffix(RETRIED)}retried as trial {retries[t.number]}"
        errors[t.number] = error
    return errors


def trial_table(
    study: str,
    storage: str,
    scores: Sequence[str],
    rank: Callable[[pd.DataFrame], pd.Series],
) -> pd.DataFrame:
    """One row per trial of any task, best first: pipeline, ``scores`` (of completed trials),
    seconds, state and error (a retried trial names its retry). ``rank`` gives each row's
    standing from the scores (higher first; ties and unscored rows by trial number)."""
    trials = load_study(study, storage).get_trials(deepcopy=False)
    errors = trial_errors(trials)
    columns = ["trial", "pipeline", *scores, "seconds", "state", "error"]
    rows = [
        {
            "trial": t.number,
            "pipeline": t.user_attrs.get("pipeline_text", ""),
            **{k: t.user_attrs.get(k) if t.state == TrialState.COMPLETE else None for k in scores},
            "seconds": t.user_attrs.get("seconds"),
            "state": t.state.name,
            "error": errors.get(t.number),
        }
        for t in trials
    ]
    table = pd.DataFrame(rows, columns=columns)
    if table.empty:
        return table
    table["_rank"] = rank(table)
    table = table.sort_values(["_rank", "trial"], ascending=[False, True], na_position="last")
    return table.drop(columns="_rank").reset_index(drop=True)


def leaderboard(study: str, storage: str = DEFAULT_STORAGE) -> pd.DataFrame:
    """One row per trial, best first: pipeline, CV F1 (at the trial's F1 threshold, binary
    targets) and AUC, that threshold, seconds, state and error."""
    return trial_table(
        study,
        storage,
        ["f1", "auc", "threshold"],
        lambda table: table[["f1", "auc"]].astype(float).mean(axis=1, skipna=False),
    )
