"""The one runner: an Optuna study of any task's candidates, crash-safe and parallel.

It opens the study, refuses a continued study whose choices changed, queues the task's
portfolio, then runs the trial loop in this process or in ``n_jobs`` worker processes:
ask under the budget lock, evaluate (in-process or in the guarded child), record, tell,
with a heartbeat per trial so that the trials of a killed process are failed and retried.
Then the task picks and stores its winner. What differs between tasks is asked of the
:class:`~segframe.task.Task`.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from segframe import optuna_internals, progress, workers
from segframe import storage as storage_module
from segframe.errors import SegframeError, StorageError, listing
from segframe.guard import GuardedEvaluator, TrialError
from segframe.plan import DEFAULTS, SearchPlan, Workload
from segframe.registry import Registry, default_registry
from segframe.storage import (
    STORAGE_FAULTS,
    optuna_storage,
    redact,
    save_winner,
    storage_failure,
)
from segframe.task import Source, Task
from segframe.version import __version__

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
#: How often a worker with no budget left checks whether the other workers are done.
POLL_SECONDS = 1.0
#: What a trial stopped by the run's deadline (:func:`trial_stop_time`) records.
OUT_OF_TIME = (
    "OutOfTime: still running when the run's --timeout was up, so it stopped at its next "
    "fold or epoch (raise --timeout to let such pipelines finish)"
)


@dataclass(kw_only=True)
class StoredResult:
    """What every search returns: the winning trial and where its pipeline is stored."""

    study_name: str
    best_spec: Any
    best_trial: int
    notes: list[str] = field(default_factory=list)
    storage_url: str = field(default=DEFAULTS.storage, repr=False)

    @property
    def storage(self) -> str:
        """The study database's URL with any password hidden."""
        return redact(self.storage_url)


def run(
    task: Task,
    plan: SearchPlan,
    source: Source,
    *,
    registry: Registry | None = None,
    on_trial: Callable[[Any], None] | None = None,
) -> Any:
    """Search ``plan`` for ``task`` on the customers of ``source`` and store the winner."""
    check_plan(plan)
    task.check(plan)
    optuna.logging.set_verbosity(logging.WARNING)
    registry = registry or default_registry()
    work, prepared = task.prepare(plan, source, registry)
    if plan.guarded or plan.n_jobs > 1:  # other processes rebuild the registry from a recipe
        work = _with_recipe(work, registry)
    space = task.space(plan, work, registry)
    study = open_study(task, plan, work.meta)
    if plan.resume:
        workers.fail_running_trials(study)
    check_same_choices(study, space, plan.storage)
    _enqueue_portfolio(study, plan, space)
    done_before = {t.number for t in study.get_trials(deepcopy=False) if t.state in FINISHED}
    worker_notes: list[str] = []
    began = time.monotonic()
    if plan.n_jobs == 1:
        _work(task, study, plan, work, registry, space, on_trial)
    else:
        progress = None if on_trial is None else _progress(task, study, plan.trials, on_trial)
        worker_notes = workers.run_workers(plan.n_jobs, run_worker, (task, plan, work), progress)
    spent = time.monotonic() - began
    time_left = None if plan.timeout is None else max(plan.timeout - spent, 0.0)
    this_run = [t for t in study.get_trials(deepcopy=False) if t.number not in done_before]
    check_run_not_all_failed(this_run)
    result = task.store(study, plan, work, registry, prepared, time_left)
    result.notes.extend(worker_notes)
    return result


def check_plan(plan: SearchPlan) -> None:
    """Refuse run settings no task can run with (budget, workers, limits), before any data
    is read; the task checks its own."""
    if plan.trials is None and plan.timeout is None:
        raise SegframeError("Give a budget: a number of trials, a timeout in seconds, or both.")
    if plan.trials is not None and plan.trials < 1:
        raise SegframeError(f"--trials must be at least 1, not {plan.trials}.")
    if plan.timeout is not None and not plan.timeout > 0:
        raise SegframeError(f"--timeout must be a positive number of seconds, not {plan.timeout}.")
    if plan.n_jobs < 1 or (plan.trial_timeout is not None and plan.trial_timeout <= 0):
        raise SegframeError("--n-jobs must be at least 1 and --trial-timeout above 0 seconds.")
    if plan.trial_memory_mb is not None and plan.trial_memory_mb < 64:
        raise SegframeError("--trial-memory-mb must be at least 64 (a pipeline needs room).")


def store(
    task: Task,
    plan: SearchPlan,
    registry: Registry,
    fitted: Any,
    spec: Any,
    trial_number: int,
    details: dict[str, Any],
    holdout: dict[str, float] | None = None,
) -> None:
    """Store a task's fitted winner in one transaction, with what every winner carries:
    its spec, the versions of segframe and of its components' plugins, its task and its
    holdout scores (None for a task without a holdout)."""
    save_winner(
        plan.storage,
        plan.study,
        fitted,
        trial_number=trial_number,
        spec=spec.to_dict(),
        segframe_version=__version__,
        plugin_versions=registry.plugin_versions(spec.all_steps()),
        task=task.name,
        holdout_f1=None if holdout is None else holdout["f1"],
        holdout_auc=None if holdout is None else holdout["auc"],
        details=details,
    )


def _with_recipe(work: Workload, registry: Registry) -> Workload:
    return replace(work, registry=workers.registry_recipe(registry))


def _sampler(seed: int, trial_number: int) -> optuna.samplers.BaseSampler:
    """TPE seeded by the search seed and the trial number.

    Reseeding per trial keeps one process reproducible and keeps processes that share a
    study (``--n-jobs``, several machines, the same ``--seed``) from drawing the same
    candidates in lockstep.
    """
    return optuna.samplers.TPESampler(seed=(seed * 100_003 + trial_number) % 2**32)


def open_study(task: Task, plan: SearchPlan, meta: dict[str, Any]) -> optuna.Study:
    """Create the study or continue it; refuse one started for another task, target or
    objective."""
    metrics = task.metrics(plan)
    study = optuna.create_study(
        storage=optuna_storage(plan.storage),
        study_name=plan.study,
        directions=["maximize"] * len(metrics),
        sampler=_sampler(plan.seed, 0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
        load_if_exists=True,
    )
    stored = study.user_attrs.get("segframe")
    if stored is None:
        study.set_user_attr("segframe", meta)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(metrics)
    else:
        keys = ("task", "target", "objective")
        task_of = {**stored, "task": stored.get("task", "classification")}
        clashes = [k for k in keys if task_of.get(k) != meta.get(k)]
        if clashes:
            what = ", ".join(f"{k} {task_of.get(k)!r} (now {meta.get(k)!r})" for k in clashes)
            raise SegframeError(
                f"Study {plan.study!r} in {redact(plan.storage)} was started with {what}. "
                "Continue it with the same settings, or start a new study with --study NEW_NAME."
            )
    return study


def check_same_choices(study: optuna.Study, space: Any, storage: str) -> None:
    """Refuse, before any trial runs, to continue a study whose choices have changed.

    Optuna keeps one set of choices per categorical parameter for a whole study; other
    ``--models``, ``--include`` or ``--exclude``, or a plugin added or removed since, would
    fail every new trial.
    """
    now = space.choices()
    for trial in study.get_trials(deepcopy=False):
        for name, distribution in trial.distributions.items():
            if name not in now or not isinstance(
                distribution, optuna.distributions.CategoricalDistribution
            ):
                continue
            before = [str(c) for c in distribution.choices]
            if before != now[name]:
                raise SegframeError(
                    f"Study {study.study_name!r} in {redact(storage)} was searched with "
                    f"{name} in {listing(before, width=200)}; this run offers "
                    f"{listing(now[name], width=200)} (other --models, --include or --exclude, "
                    "or plugins added or removed since). A study keeps its choices: continue it "
                    "with the same --models, --include, --exclude and plugins, or start a new "
                    "study with --study NEW_NAME."
                )


def check_run_not_all_failed(trials: list[FrozenTrial]) -> None:
    """A run whose every trial failed ends with an error naming the commonest reason,
    instead of storing the study's earlier winner again as if all went well."""
    finished = [t for t in trials if t.state in FINISHED]
    if not finished or any(t.state != TrialState.FAIL for t in finished):
        return
    reasons = Counter(t.user_attrs.get("error", "unknown") for t in finished)
    reason, count = reasons.most_common(1)[0]
    raise SegframeError(
        f"Every trial of this run failed ({len(finished)} of {len(finished)}); the commonest "
        f"reason ({count} trials): {reason[:300]}. Nothing new was stored. See every reason "
        "with `segframe leaderboard --errors`."
    )


#: The user attribute that marks a trial as one of the known-good starts.
START_ATTR = "portfolio"


def is_start(trial: FrozenTrial) -> bool:
    """Whether ``trial`` is one of the known-good starts the portfolio queued first."""
    return bool(trial.user_attrs.get(START_ATTR))


def _enqueue_portfolio(study: optuna.Study, plan: SearchPlan, space: Any) -> None:
    """Queue the space's known-good starts as a new study's first trials.

    Under the study lock, so that workers started together queue them once. A budget
    of trials keeps at least two thirds of it for the search proper.
    """
    limit = None if plan.trials is None else max(1, plan.trials // 3)
    lock = workers.StudyLock(plan.storage, study.study_name)
    try:
        with lock():
            if study.get_trials(deepcopy=False):
                return
            for params in space.portfolio(limit):
                study.enqueue_trial(params, user_attrs={START_ATTR: True})
    finally:
        lock.close()


def _evaluator(task: Task, plan: SearchPlan, work: Workload, registry: Registry) -> Any:
    if not plan.guarded:
        return task.evaluator(plan, work, registry)
    factory = functools.partial(task.evaluator, plan, work)  # rebuilt in the child
    return GuardedEvaluator(factory, plan.trial_timeout, plan.trial_memory_mb)


def _work(
    task: Task,
    study: optuna.Study,
    plan: SearchPlan,
    work: Workload,
    registry: Registry,
    space: Any,
    on_trial: Callable[[Any], None] | None,
) -> None:
    """One worker's share of the search: the trial loop until the study's budget is spent."""
    evaluate = _evaluator(task, plan, work, registry)
    lock = workers.StudyLock(plan.storage, study.study_name)
    try:
        _run_trials(task, study, space, evaluate, plan, work, on_trial, lock)
    except STORAGE_FAULTS as exc:  # disk full, read-only file, lost server: one paragraph
        raise storage_failure(plan.storage, exc) from exc
    finally:
        evaluate.close()
        lock.close()


def run_worker(task: Task, plan: SearchPlan, work: Workload) -> None:
    """Entry point of a spawned worker process (``n_jobs > 1``); the parent made the study."""
    optuna.logging.set_verbosity(logging.WARNING)
    registry = workers.rebuild_registry(work.registry)
    study = open_study(task, plan, work.meta)
    _work(task, study, plan, work, registry, task.space(plan, work, registry), None)


def _progress(
    task: Task, study: optuna.Study, budget: int | None, on_trial: Callable[[Any], None]
) -> Callable[[], None]:
    """Report trials finished by worker processes, as the in-process loop would."""
    seen: set[int] = set()

    def poll() -> None:
        trials = study.get_trials(deepcopy=False)  # read once per poll, not once per trial
        for t in trials:
            if t.state in FINISHED and t.number not in seen:
                seen.add(t.number)
                text = t.user_attrs.get("pipeline_text", "?")
                error = t.user_attrs.get("error")
                on_trial(task.event(trials, t.number, t.state.name, text, error, budget))

    return poll


def _next_trial(
    study: optuna.Study, budget: int | None
) -> tuple[optuna.Trial | None, list[FrozenTrial]]:
    """A retry or start waiting to run, a new trial while the budget lasts, else None;
    and the study's trials as read for that decision."""
    trials = study.get_trials(deepcopy=False)
    if budget is not None:
        waiting = any(t.state == TrialState.WAITING for t in trials)
        if not waiting and len(trials) >= budget:
            return None, trials
    with warnings.catch_warnings():  # "heartbeat is meant for optimize()": we run it ourselves
        warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
        return study.ask(), trials


def _run_trials(
    task: Task,
    study: optuna.Study,
    space: Any,
    evaluate: Any,
    plan: SearchPlan,
    work: Workload,
    on_trial: Callable[[Any], None] | None,
    lock: workers.StudyLock,
) -> None:
    """Ask, evaluate, tell until the budget is spent and no worker's trial is still running.

    Waiting for the other workers' trials means each worker stores its winner from the
    whole study; a trial whose process died is failed once its heartbeat is stale, and
    its retry is picked up here.
    """
    budget = plan.trials
    started, trials, stale_checked = time.monotonic(), [], -math.inf
    while True:
        now = time.monotonic()
        ends = search_ends_at(task, plan, started, trials)
        if ends is not None and now >= ends:
            return
        if now - stale_checked >= storage_module.HEARTBEAT_SECONDS:  # staleness moves no faster
            workers.fail_stale_trials(study)
            stale_checked = now
        with lock():
            trial, trials = _next_trial(study, budget)
        if trial is None:
            if budget is None or not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                return
            time.sleep(POLL_SECONDS)
            continue
        study.sampler = _sampler(plan.seed, trial.number)
        pruning = task.pruning(trial, plan, trials)
        deadline = trial_stop_time(task, plan, started, trials)
        with optuna_internals.heartbeat(study, trial), progress.trial_deadline(deadline):
            _run_trial(task, study, trial, space, evaluate, pruning, plan, work, on_trial, trials)


def search_ends_at(
    task: Task, plan: SearchPlan, started: float, trials: list[FrozenTrial]
) -> float | None:
    """When a worker that started at ``started`` asks no more trials (``time.monotonic()``):
    its ``timeout`` less what the task keeps for the final fits; None without a timeout."""
    if plan.timeout is None:
        return None
    return started + plan.timeout - task.reserve(trials, plan)


def trial_stop_time(
    task: Task, plan: SearchPlan, started: float, trials: list[FrozenTrial]
) -> float | None:
    """When a trial starting now must stop: when the search ends (:func:`search_ends_at`),
    so that the final fits keep their reserve. None while no trial of the study has
    completed: the first one finishes whatever it takes, or there would be no winner."""
    if not any(t.state == TrialState.COMPLETE for t in trials):
        return None
    return search_ends_at(task, plan, started, trials)


def _run_trial(
    task: Task,
    study: optuna.Study,
    trial: optuna.Trial,
    space: Any,
    evaluate: Any,
    pruning: Any | None,
    plan: SearchPlan,
    work: Workload,
    on_trial: Callable[[Any], None] | None,
    trials: list[FrozenTrial],
) -> None:
    """Sample, evaluate and tell one trial. Its parameters and pipeline are written in one
    commit before it runs (a running trial shows what it runs), its outcome in one after."""
    t0 = time.perf_counter()
    state, values, error, text, attrs = TrialState.COMPLETE, None, None, "?", {}
    try:
        with optuna_internals.one_commit(trial):
            spec = space.sample(trial)
            text = spec.describe()
            trial.set_user_attr("pipeline", spec.to_dict())
            trial.set_user_attr("pipeline_text", text)
        with warnings.catch_warnings():  # convergence chatter would drown the progress bar
            warnings.simplefilter("ignore")
            result = evaluate(spec, pruning)
        attrs, values = task.outcome(plan, work, study.study_name, trial.number, result)
    except optuna.TrialPruned as exc:
        state = TrialState.PRUNED
        attrs = pruning.attrs() if pruning is not None else {}
        if isinstance(exc, progress.OutOfTime):
            attrs["error"] = OUT_OF_TIME
    except (KeyboardInterrupt, SystemExit):
        trial.set_user_attr("error", "interrupted")
        study.tell(trial, state=TrialState.FAIL)
        raise
    except (*STORAGE_FAULTS, StorageError):  # the database failed: recording it would too
        raise
    except Exception as exc:  # a failing candidate is recorded, the search goes on
        reason = str(exc) if isinstance(exc, TrialError) else f"{type(exc).__name__}: {exc}"
        state, error = TrialState.FAIL, reason[:2000]
        attrs = {"error": error}
    with optuna_internals.one_commit(trial):
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("seconds", round(time.perf_counter() - t0, 3))
    frozen = study.tell(trial, values if state == TrialState.COMPLETE else None, state=state)
    if on_trial is not None:  # the study as read before this trial, with this trial's outcome
        everything = [t for t in trials if t.number != frozen.number] + [frozen]
        on_trial(task.event(everything, trial.number, state.name, text, error, plan.trials))
