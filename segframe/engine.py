"""The search engine: an Optuna study over whole pipelines, and its stored winner.

Each trial samples a pipeline, scores it by stratified K-fold cross-validation on
the training part (samplers run inside training folds only, through
imbalanced-learn's Pipeline) and records F1 and ROC-AUC. The holdout part is never
seen by the search; the winner is refitted on the whole training part, scored on
the holdout, and only then written to the study database.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState
from sklearn.model_selection import StratifiedKFold, train_test_split

from segframe import __version__, workers
from segframe.components import SearchContext
from segframe.data import CustomerData, load_customers, positive_label
from segframe.device import resolve_device
from segframe.errors import DataError, SegframeError
from segframe.guard import GuardedEvaluator, TrialError
from segframe.leaderboard import leaderboard, pick_winner
from segframe.metrics import score
from segframe.pipeline import PipelineSpec, SegmentPipeline, build_pipeline
from segframe.progress import epoch_reporting
from segframe.registry import Registry, default_registry
from segframe.report import holdout_summary
from segframe.space import PipelineSpace
from segframe.storage import DEFAULT_STORAGE, optuna_storage, redact, save_winner

Objective = Literal["both", "f1", "auc"]
OBJECTIVES: tuple[str, ...] = ("both", "f1", "auc")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
#: How often a worker with no budget left checks whether the other workers are done.
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class TrialEvent:
    """What a progress display needs after each trial."""

    number: int
    state: str
    f1: float | None
    auc: float | None
    best_f1: float | None
    best_auc: float | None
    finished: int
    budget: int | None
    pipeline: str
    error: str | None = None


@dataclass(kw_only=True)
class StoredResult:
    """What every search returns: the winning trial and where its pipeline is stored."""

    study_name: str
    best_spec: PipelineSpec
    best_trial: int
    notes: list[str] = field(default_factory=list)
    storage_url: str = field(default=DEFAULT_STORAGE, repr=False)

    @property
    def storage(self) -> str:
        """The study database's URL with any password hidden."""
        return redact(self.storage_url)


@dataclass(kw_only=True)
class SearchResult(StoredResult):
    """The outcome of :func:`search`: the stored, fitted winner and how it scored."""

    best_pipeline: SegmentPipeline
    cv_scores: dict[str, float]
    holdout_scores: dict[str, float]

    def leaderboard(self) -> pd.DataFrame:
        return leaderboard(self.study_name, self.storage_url)


def default_study_name(data: Any, demo: bool, suffix: str = "") -> str:
    """``demo``, the data file's stem, or ``segframe`` for in-memory data; plus ``suffix``."""
    if demo:
        return f"demo{suffix}"
    if isinstance(data, str | Path):
        return f"{Path(data).stem}{suffix}"
    return f"segframe{suffix}"


def _load(
    data: str | Path | pd.DataFrame | CustomerData | None,
    target: str | None,
    events: str | Path | pd.DataFrame | None,
    id_column: str | None,
    demo: bool,
    seed: int,
) -> CustomerData:
    if isinstance(data, CustomerData):
        return data
    if demo:
        from segframe.demo import make_demo

        customers, log = make_demo(seed=seed)
        return load_customers(
            customers, target="will_buy_again", id_column="customer_id", events=log
        )
    if data is None or target is None:
        raise DataError("Pass a customer table and its target column (or use the demo data).")
    return load_customers(data, target=target, id_column=id_column, events=events)


def _check_class_sizes(y: pd.Series, folds: int, holdout: float) -> None:
    counts = y.value_counts()
    needed = math.ceil(folds / (1 - holdout)) + 1
    small = counts[counts < needed]
    if len(small):
        listed = ", ".join(f"{label!r}: {n}" for label, n in small.items())
        raise DataError(
            f"The target {y.name!r} has too few customers in some classes ({listed}); with "
            f"{folds}-fold cross-validation and a {holdout:.0%} holdout each class needs at "
            f"least {needed}. Collect more labelled customers, merge rare classes, or lower --cv."
        )


def _context(
    frame: pd.DataFrame, y: pd.Series, folds: int, has_events: bool, device: str
) -> SearchContext:
    counts = y.value_counts()
    return SearchContext(
        n_rows=len(frame),
        n_classes=len(counts),
        min_class_count=int(counts.min() * (folds - 1) // folds),
        minority_ratio=float(counts.min() / counts.max()),
        has_events=has_events,
        n_tabular_columns=sum(1 for c in frame.columns if c != "events"),
        device=device,
    )


def _sampler(seed: int, trial_number: int) -> optuna.samplers.BaseSampler:
    """TPE seeded by the search seed and the trial number.

    Reseeding per trial keeps one process reproducible and keeps processes that share a
    study (``--n-jobs``, several machines, the same ``--seed``) from drawing the same
    candidates in lockstep.
    """
    return optuna.samplers.TPESampler(seed=seed * 100_003 + trial_number)


def _open_study(
    name: str, storage_url: str, objective: str, seed: int, meta: dict[str, Any]
) -> optuna.Study:
    storage = optuna_storage(storage_url)
    sampler = _sampler(seed, 0)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    directions = ["maximize", "maximize"] if objective == "both" else ["maximize"]
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        directions=directions,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    stored = study.user_attrs.get("segframe")
    if stored is None:
        study.set_user_attr("segframe", meta)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(["f1", "auc"] if objective == "both" else [objective])
    else:
        clashes = [k for k in ("target", "objective") if stored.get(k) != meta.get(k)]
        if clashes:
            what = ", ".join(f"{k} {stored.get(k)!r} (now {meta.get(k)!r})" for k in clashes)
            raise SegframeError(
                f"Study {name!r} in {redact(storage_url)} was started with {what}. Continue it "
                "with the same settings, or start a new study with --study NEW_NAME."
            )
    return study


class _Evaluator:
    """Cross-validates one pipeline spec on the training part."""

    def __init__(
        self,
        X: pd.DataFrame,
        y: pd.Series,
        folds: int,
        seed: int,
        registry: Registry,
        positive: Any,
    ) -> None:
        self.X, self.y, self.registry, self.positive = X, y, registry, positive
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        self.folds = list(splitter.split(np.zeros(len(y)), y))

    def __call__(self, spec: PipelineSpec, pruning: _Pruning | None) -> dict:
        fold_scores = []
        for fold, (train, valid) in enumerate(self.folds):
            estimator = build_pipeline(spec, self.registry, self.positive)
            with epoch_reporting(pruning.epoch_reporter(fold) if pruning else None):
                estimator.fit(self.X.iloc[train], self.y.iloc[train])
            proba = estimator.predict_proba(self.X.iloc[valid])
            codes = estimator.label_encoder_.transform(self.y.iloc[valid].to_numpy())
            fold_scores.append(score(codes, proba, estimator.positive_index_))
            if pruning is not None:
                pruning.after_fold(fold, fold_scores)
        f1 = np.array([s["f1"] for s in fold_scores])
        auc = np.array([s["auc"] for s in fold_scores])
        return {
            "f1": float(f1.mean()),
            "auc": float(auc.mean()),
            "f1_std": float(f1.std()),
            "auc_std": float(auc.std()),
        }

    def close(self) -> None:
        """Nothing to release in-process (the guarded evaluator stops its child here)."""


def search(
    data: str | Path | pd.DataFrame | CustomerData | None = None,
    target: str | None = None,
    *,
    events: str | Path | pd.DataFrame | None = None,
    id_column: str | None = None,
    demo: bool = False,
    storage: str = DEFAULT_STORAGE,
    study: str | None = None,
    trials: int | None = 30,
    timeout: float | None = None,
    objective: Objective = "both",
    models: Sequence[str] | None = None,
    seed: int = 0,
    cv: int = 3,
    holdout: float = 0.2,
    device: str = "auto",
    registry: Registry | None = None,
    on_trial: Callable[[TrialEvent], None] | None = None,
    n_jobs: int = 1,
    resume: bool = False,
    trial_timeout: float | None = None,
    trial_memory_mb: int | None = None,
) -> SearchResult:
    """Search pipelines for ``target`` and store the winner in the study database.

    ``trials`` is the study's total budget of trials: running the same study again
    continues it up to that total. ``timeout`` (seconds) bounds this run. ``n_jobs``
    worker processes share the study; more can run elsewhere on the same ``storage``.
    ``resume`` fails and retries the trials a killed run left running (without it they
    are retried once their heartbeat is stale). ``trial_timeout`` (seconds) and
    ``trial_memory_mb`` run each trial in a child process that is stopped at the limit.
    ``device`` (auto, cpu, gpu) tells GPU-capable components where to run.
    """
    if objective not in OBJECTIVES:
        raise SegframeError(
            f"--objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}."
        )
    if trials is None and timeout is None:
        raise SegframeError("Give a budget: a number of trials, a timeout in seconds, or both.")
    if not 2 <= cv <= 20 or not 0.05 <= holdout <= 0.5:
        raise SegframeError(
            "Use 2 to 20 cross-validation folds and a holdout share of 0.05 to 0.5."
        )
    if trials is not None and trials < 1:
        raise SegframeError(f"--trials must be at least 1, not {trials}.")
    if n_jobs < 1 or (trial_timeout is not None and trial_timeout <= 0):
        raise SegframeError("--n-jobs must be at least 1 and --trial-timeout above 0 seconds.")
    if trial_memory_mb is not None and trial_memory_mb < 64:
        raise SegframeError("--trial-memory-mb must be at least 64 (a pipeline needs room).")
    optuna.logging.set_verbosity(logging.WARNING)
    registry = registry or default_registry()
    customers = _load(data, target, events, id_column, demo, seed)
    if customers.target is None:
        raise DataError("A search needs a target column; pass --target.")
    y = customers.target
    _check_class_sizes(y, cv, holdout)
    positive = positive_label(sorted(y.unique().tolist()))
    if positive is None and y.nunique() == 2:
        positive = y.value_counts().idxmin()
    X_train, X_hold, y_train, y_hold = train_test_split(
        customers.frame, y, test_size=holdout, stratify=y, random_state=seed
    )
    context = _context(X_train, y_train, cv, customers.has_events, resolve_device(device))
    space = PipelineSpace(registry, context, models)
    name = study or default_study_name(data, demo)
    meta = {
        "target": customers.target_column,
        "objective": objective,
        "id_column": customers.id_column,
        "has_events": customers.has_events,
    }
    optuna_study = _open_study(name, storage, objective, seed, meta)
    if resume:
        workers.fail_running_trials(optuna_study)
    guarded = trial_timeout is not None or trial_memory_mb is not None
    payload = {
        "storage": storage,
        "study": name,
        "objective": objective,
        "seed": seed,
        "meta": meta,
        "context": context,
        "models": models,
        "trials": trials,
        "timeout": timeout,
        "trial_timeout": trial_timeout,
        "trial_memory_mb": trial_memory_mb,
        "setup": {  # _Evaluator's arguments; the registry as a recipe for other processes
            "X": X_train,
            "y": y_train,
            "folds": cv,
            "seed": seed,
            "positive": positive,
            "registry": workers.registry_recipe(registry) if guarded or n_jobs > 1 else None,
        },
    }
    worker_notes: list[str] = []
    if n_jobs == 1:
        _work(optuna_study, payload, registry, space, on_trial)
    else:
        progress = None if on_trial is None else _progress(optuna_study, trials, on_trial)
        worker_notes = workers.run_workers(n_jobs, payload, progress)
    result = _store_winner(
        optuna_study,
        storage,
        registry,
        customers,
        positive,
        objective,
        (X_train, y_train, X_hold, y_hold),
    )
    result.notes.extend(worker_notes)
    return result


def _evaluator(payload: dict[str, Any], registry: Registry) -> _Evaluator | GuardedEvaluator:
    setup = payload["setup"]
    if payload["trial_timeout"] is None and payload["trial_memory_mb"] is None:
        kwargs = {k: v for k, v in setup.items() if k != "registry"}
        return _Evaluator(registry=registry, **kwargs)
    return GuardedEvaluator(setup, payload["trial_timeout"], payload["trial_memory_mb"])


def _work(
    study: optuna.Study,
    payload: dict[str, Any],
    registry: Registry,
    space: PipelineSpace,
    on_trial: Callable[[TrialEvent], None] | None,
) -> None:
    """One worker's share of the search: the trial loop until the study's budget is spent."""
    evaluate = _evaluator(payload, registry)
    lock = workers.StudyLock(payload["storage"], study.study_name)
    try:
        _run_trials(
            study,
            space,
            evaluate,
            payload["objective"],
            payload["trials"],
            payload["timeout"],
            on_trial,
            lock,
            payload["seed"],
        )
    finally:
        evaluate.close()
        lock.close()


def run_worker(payload: dict[str, Any], index: int) -> None:
    """Entry point of a spawned worker process (``n_jobs > 1``); the parent made the study."""
    optuna.logging.set_verbosity(logging.WARNING)
    registry = workers.rebuild_registry(payload["setup"]["registry"])
    study = _open_study(
        payload["study"], payload["storage"], payload["objective"], payload["seed"], payload["meta"]
    )
    space = PipelineSpace(registry, payload["context"], payload["models"])
    _work(study, payload, registry, space, None)


def _progress(
    study: optuna.Study, budget: int | None, on_trial: Callable[[TrialEvent], None]
) -> Callable[[], None]:
    """Report trials finished by worker processes, as the in-process loop would."""
    seen: set[int] = set()

    def poll() -> None:
        trials = study.get_trials(deepcopy=False)  # read once per poll, not once per trial
        for t in trials:
            if t.state in FINISHED and t.number not in seen:
                seen.add(t.number)
                text = t.user_attrs.get("pipeline_text", "?")
                on_trial(_event(trials, t.number, t.state, text, t.user_attrs.get("error"), budget))

    return poll


def _next_trial(study: optuna.Study, budget: int | None) -> optuna.Trial | None:
    """A retry waiting to run, a new trial while the budget lasts, else None."""
    if budget is not None:
        trials = study.get_trials(deepcopy=False)
        waiting = any(t.state == TrialState.WAITING for t in trials)
        if not waiting and len(trials) >= budget:
            return None
    with warnings.catch_warnings():  # "heartbeat is meant for optimize()": we run it ourselves
        warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
        return study.ask()


def _run_trials(
    study: optuna.Study,
    space: PipelineSpace,
    evaluate: _Evaluator | GuardedEvaluator,
    objective: str,
    trials: int | None,
    timeout: float | None,
    on_trial: Callable[[TrialEvent], None] | None,
    lock: workers.StudyLock,
    seed: int,
) -> None:
    """Ask, evaluate, tell until the budget is spent and no worker's trial is still running.

    Waiting for the other workers' trials means each worker stores its winner from the
    whole study; a trial whose process died is failed once its heartbeat is stale, and
    its retry is picked up here.
    """
    started = time.monotonic()
    while True:
        if timeout is not None and time.monotonic() - started >= timeout:
            return
        workers.fail_stale_trials(study)
        with lock():
            trial = _next_trial(study, trials)
        if trial is None:
            if trials is None or not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                return
            time.sleep(POLL_SECONDS)
            continue
        study.sampler = _sampler(seed, trial.number)
        with workers.heartbeat(study, trial):
            _run_trial(study, trial, space, evaluate, objective, trials, on_trial)


def _run_trial(
    study: optuna.Study,
    trial: optuna.Trial,
    space: PipelineSpace,
    evaluate: _Evaluator | GuardedEvaluator,
    objective: str,
    trials: int | None,
    on_trial: Callable[[TrialEvent], None] | None,
) -> None:
    t0 = time.perf_counter()
    state, values, error, text = TrialState.COMPLETE, None, None, "?"
    try:
        spec = space.sample(trial)
        text = spec.describe()
        trial.set_user_attr("pipeline", spec.to_dict())
        trial.set_user_attr("pipeline_text", text)
        pruning = None if objective == "both" else _Pruning(trial, objective)
        with warnings.catch_warnings():  # convergence chatter would drown the progress bar
            warnings.simplefilter("ignore")
            result = evaluate(spec, pruning)
        for key, value in result.items():
            trial.set_user_attr(key, value)
        values = [result["f1"], result["auc"]] if objective == "both" else [result[objective]]
        if not all(np.isfinite(values)):
            raise DataError("a validation fold lacked a class, so a score is undefined")
    except optuna.TrialPruned:
        state = TrialState.PRUNED
    except (KeyboardInterrupt, SystemExit):
        trial.set_user_attr("error", "interrupted")
        study.tell(trial, state=TrialState.FAIL)
        raise
    except Exception as exc:  # a failing candidate is recorded, the search goes on
        reason = str(exc) if isinstance(exc, TrialError) else f"{type(exc).__name__}: {exc}"
        state, error = TrialState.FAIL, reason[:2000]
        trial.set_user_attr("error", error)
    trial.set_user_attr("seconds", round(time.perf_counter() - t0, 3))
    study.tell(trial, values if state == TrialState.COMPLETE else None, state=state)
    if on_trial is not None:
        everything = study.get_trials(deepcopy=False)
        on_trial(_event(everything, trial.number, state, text, error, trials))


class _Pruning:
    """Intermediate values of one single-objective trial, and the prune decision.

    Each fold owns a block of steps: its models' epochs report at ``fold * STEPS + epoch``
    and the fold's own score at the block's last step, so steps compare like with like
    across trials.
    """

    STEPS = 10_000

    def __init__(self, trial: optuna.Trial, objective: str) -> None:
        self.trial, self.objective = trial, objective

    def _report(self, value: float, step: int) -> None:
        self.trial.report(float(value), step)
        if self.trial.should_prune():
            raise optuna.TrialPruned()

    def epoch_reporter(self, fold: int) -> Callable[[float, int], None]:
        def report(value: float, epoch: int) -> None:
            self._report(value, fold * self.STEPS + min(epoch, self.STEPS - 2))

        return report

    def after_fold(self, fold: int, fold_scores: list[dict[str, float]]) -> None:
        mean = np.mean([s[self.objective] for s in fold_scores])
        self._report(mean, (fold + 1) * self.STEPS - 1)


def _event(
    trials: list[FrozenTrial],
    number: int,
    state: TrialState,
    text: str,
    error: str | None,
    budget: int | None,
) -> TrialEvent:
    this = trials[number] if number < len(trials) else None
    attrs = this.user_attrs if this is not None else {}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    return TrialEvent(
        number=number,
        state=state.name,
        f1=attrs.get("f1"),
        auc=attrs.get("auc"),
        best_f1=max((t.user_attrs["f1"] for t in complete), default=None),
        best_auc=max((t.user_attrs["auc"] for t in complete), default=None),
        finished=sum(t.state in FINISHED for t in trials),
        budget=budget,
        pipeline=text,
        error=error,
    )


def _store_winner(
    study: optuna.Study,
    storage: str,
    registry: Registry,
    customers: CustomerData,
    positive: Any,
    objective: str,
    split: tuple,
) -> SearchResult:
    X_train, y_train, X_hold, y_hold = split
    winner = pick_winner(study.get_trials(deepcopy=False), objective)
    spec = PipelineSpec.from_dict(winner.user_attrs["pipeline"])
    fitted = build_pipeline(spec, registry, positive).fit(X_train, y_train)
    codes = fitted.label_encoder_.transform(y_hold.to_numpy())
    holdout_scores = score(codes, fitted.predict_proba(X_hold), fitted.positive_index_)
    cv_scores = {k: winner.user_attrs[k] for k in ("f1", "auc", "f1_std", "auc_std")}
    versions = registry.plugin_versions(spec.all_steps())
    details = {
        "target": customers.target_column,
        "id_column": customers.id_column,
        "classes": [str(c) for c in fitted.classes_],
        "positive": str(positive),
        "objective": objective,
        "cv": cv_scores,
        "pipeline_text": spec.describe(),
        "has_events": customers.has_events,
        "n_train": len(X_train),
        "n_holdout": len(X_hold),
        "columns": [c for c in X_train.columns if c != "events"],
        "holdout_predictions": holdout_summary(fitted, X_hold, codes),  # for `segframe report`
    }
    save_winner(
        storage,
        study.study_name,
        fitted,
        trial_number=winner.number,
        spec=spec.to_dict(),
        segframe_version=__version__,
        plugin_versions=versions,
        task="classification",
        holdout_f1=holdout_scores["f1"],
        holdout_auc=holdout_scores["auc"],
        details=details,
    )
    return SearchResult(
        study_name=study.study_name,
        best_pipeline=fitted,
        best_spec=spec,
        best_trial=winner.number,
        cv_scores=cv_scores,
        holdout_scores=holdout_scores,
        notes=list(customers.notes),
        storage_url=storage,
    )
