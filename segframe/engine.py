"""The classification task and :func:`search`: supervised pipelines and their stored winner.

The runner (:mod:`segframe.runner`) runs the trials; this task says what they are. Each
trial samples a pipeline, scores it by stratified K-fold cross-validation on
the training part (samplers run inside training folds only, through
imbalanced-learn's Pipeline) and records F1 and ROC-AUC. The holdout part is never
seen by the search; the winner is refitted on the whole training part, scored on
the holdout, and only then written to the study database.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd
from imblearn.pipeline import Pipeline as ImbPipeline
from optuna.trial import FrozenTrial, TrialState
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.preprocessing import LabelEncoder

from segframe import report, runner
from segframe.components import SearchContext
from segframe.data import CustomerData, column_kinds, positive_label
from segframe.device import resolve_device
from segframe.ensemble import EnsemblePipeline, EnsembleSpec, select, with_starts
from segframe.errors import DataError, SegframeError, listing
from segframe.leaderboard import leaderboard, pick_winner
from segframe.metrics import f1_scores, objective_key, score
from segframe.pipeline import (
    PipelineSpec,
    SegmentPipeline,
    build_features,
    build_pipeline,
    build_tail,
)
from segframe.plan import DEFAULTS, OBJECTIVES, REFITS, SearchPlan, Workload
from segframe.progress import epoch_reporting, stop_if_out_of_time
from segframe.registry import Registry
from segframe.runner import FINISHED, StoredResult
from segframe.space import PipelineSpace
from segframe.storage import load_predictions, save_predictions
from segframe.task import Source, Task
from segframe.workers import rebuild_registry

Objective = Literal["both", "f1", "auc"]
#: A trial stops after its first fold when that fold scores below the median first fold
#: of the trials before it, once this many trials have a first fold to compare with.
EARLY_STOP_AFTER = 5
#: The best trials whose out-of-fold predictions ensemble selection may combine.
ENSEMBLE_CANDIDATES = 20
#: Share of a ``timeout`` kept at least for the final fits (holdout scoring, refit on all
#: rows), and the most that the estimate of their cost may take.
FINAL_FIT_SHARE = (0.1, 0.5)
#: Members an ensemble usually has, for estimating the final fits' cost.
EXPECTED_MEMBERS = 5
#: Memory the per-fold feature cache of one evaluator may hold.
FEATURE_CACHE_BYTES = 1 << 30


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
class SearchResult(StoredResult):
    """The outcome of :func:`search`: the stored, fitted winner and how it scored."""

    best_pipeline: SegmentPipeline | EnsemblePipeline
    cv_scores: dict[str, float]
    holdout_scores: dict[str, float]
    threshold: float | None = None

    def leaderboard(self) -> pd.DataFrame:
        return leaderboard(self.study_name, self.storage_url)


def _check_class_sizes(y: pd.Series, folds: int, holdout: float) -> None:
    counts = y.value_counts()
    needed = math.ceil(folds / (1 - holdout)) + 1
    small = counts[counts < needed]
    if len(small):
        listed = listing((f"{label!r}: {n}" for label, n in small.items()), width=60)
        raise DataError(
            f"The target {y.name!r} has too few customers in some classes ({listed}); with "
            f"{folds}-fold cross-validation and a {holdout:.0%} holdout each class needs at "
            f"least {needed}. Collect more labelled customers, merge rare classes, or lower --cv."
        )


def _context(
    frame: pd.DataFrame, y: pd.Series, folds: int, has_events: bool, device: str
) -> SearchContext:
    counts = y.value_counts()
    kinds = column_kinds(frame)
    return SearchContext(
        n_rows=len(frame),
        n_classes=len(counts),
        min_class_count=int(counts.min() * (folds - 1) // folds),
        minority_ratio=float(counts.min() / counts.max()),
        has_events=has_events,
        n_tabular_columns=len(kinds),
        device=device,
        columns=tuple(kinds),
        column_kinds=kinds,
    )


def _nbytes(part: Any) -> int:
    """Approximate memory of a feature builder's output (a frame, an array, a batch)."""
    if isinstance(part, pd.DataFrame):
        return int(part.memory_usage(index=False).sum())
    arrays = vars(part).values() if hasattr(part, "__dict__") else [part]
    return sum(int(getattr(a, "nbytes", 0)) for a in arrays)


class _Evaluator:
    """Cross-validates one pipeline spec on the training part.

    Feature builders' outputs are kept per fold and builder settings (RFM, event
    aggregates and the table's columns do not change between trials), so most trials
    fit only their preprocessing, sampler and model. Returns the scores and the
    out-of-fold class probabilities.
    """

    def __init__(
        self,
        X: pd.DataFrame,
        y: pd.Series,
        folds: int,
        seed: int,
        registry: Registry,
        positive: Any,
    ) -> None:
        self.X, self.registry = X, registry
        labels = LabelEncoder().fit(y.to_numpy())
        self.codes = labels.transform(y.to_numpy())
        classes = list(labels.classes_)
        self.positive_index = classes.index(positive) if positive in classes else len(classes) - 1
        self.n_classes = len(classes)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        self.folds = list(splitter.split(np.zeros(len(y)), y))
        self._cache: OrderedDict[tuple[int, str], tuple[Any, Any, int]] = OrderedDict()

    def _features(self, spec: PipelineSpec, fold: int) -> tuple[Any, Any]:
        """The fold's feature builders' output on its training and validation rows."""
        key = (fold, json.dumps(spec.to_dict()["features"], sort_keys=True, default=str))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key][:2]
        train, valid = self.folds[fold]
        builders = build_features(spec, self.registry)
        fitted = clone(builders).fit(self.X.iloc[train], self.codes[train])
        parts = fitted.transform(self.X.iloc[train]), fitted.transform(self.X.iloc[valid])
        size = sum(_nbytes(p) for p in parts)
        self._cache[key] = (*parts, size)
        while sum(v[2] for v in self._cache.values()) > FEATURE_CACHE_BYTES and self._cache:
            self._cache.popitem(last=False)
        return parts

    def __call__(self, spec: PipelineSpec, pruning: _Pruning | Any | None) -> dict[str, Any]:
        oof = np.zeros((len(self.codes), self.n_classes))
        fold_scores = []
        for fold, (_, valid) in enumerate(self.folds):
            if fold:
                stop_if_out_of_time()
            train_part, valid_part = self._features(spec, fold)
            tail = ImbPipeline(build_tail(spec, self.registry))
            with epoch_reporting(pruning.epoch_reporter(fold) if pruning else None):
                tail.fit(train_part, self.codes[self.folds[fold][0]])
            oof[valid] = np.asarray(tail.predict_proba(valid_part), dtype=float)
            fold_scores.append(score(self.codes[valid], oof[valid], self.positive_index))
            if pruning is not None:
                pruning.after_fold(fold, fold_scores)
        pooled = f1_scores(self.codes, oof, self.positive_index)
        threshold = pooled.get("threshold")
        fold_f1 = [
            f1_scores(self.codes[valid], oof[valid], self.positive_index, threshold)["f1"]
            for _, valid in self.folds
        ]
        auc = np.array([s["auc"] for s in fold_scores])
        return {
            "f1": pooled["f1"],
            "auc": float(auc.mean()),
            "f1_std": float(np.std(fold_f1)),
            "auc_std": float(auc.std()),
            "threshold": threshold,
            "first_fold": {k: fold_scores[0][k] for k in ("f1", "auc")},
            "oof": oof.astype(np.float32),
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
    storage: str = DEFAULTS.storage,
    study: str | None = None,
    trials: int | None = DEFAULTS.trials,
    timeout: float | None = DEFAULTS.timeout,
    objective: Objective = DEFAULTS.objective,  # type: ignore[assignment]
    models: Sequence[str] | None = DEFAULTS.models,
    include: Sequence[str] = DEFAULTS.include,
    exclude: Sequence[str] = DEFAULTS.exclude,
    seed: int = DEFAULTS.seed,
    cv: int = DEFAULTS.cv,
    holdout: float = DEFAULTS.holdout,
    device: str = DEFAULTS.device,
    registry: Registry | None = None,
    on_trial: Callable[[TrialEvent], None] | None = None,
    n_jobs: int = DEFAULTS.n_jobs,
    resume: bool = DEFAULTS.resume,
    trial_timeout: float | None = DEFAULTS.trial_timeout,
    trial_memory_mb: int | None = DEFAULTS.trial_memory_mb,
    refit: str = DEFAULTS.refit,
    ensemble: bool = DEFAULTS.ensemble,
) -> SearchResult:
    """Search pipelines for ``target`` and store the winner in the study database.

    ``trials`` is the study's total budget of trials: running the same study again
    continues it up to that total. ``timeout`` (seconds) bounds this run. ``n_jobs``
    worker processes share the study; more can run elsewhere on the same ``storage``.
    ``resume`` fails and retries the trials a killed run left running (without it they
    are retried once their heartbeat is stale). ``trial_timeout`` (seconds) and
    ``trial_memory_mb`` run each trial in a child process that is stopped at the limit
    (default: neither, trials run in-process; the CLI has the same defaults, see
    :class:`~segframe.plan.SearchPlan`).
    ``device`` (auto, cpu, gpu) tells GPU-capable components where to run.
    ``models`` and the models in ``include`` are the models searched; ``include`` keeps only
    the named components of each kind it names (preprocessors: of each slot), ``exclude``
    leaves components out (names, or ``kind:name``); see :class:`~segframe.space.Selection`.

    The winner is scored on the holdout, then (``refit="all"``) refitted on every
    labelled customer given and stored with its F1 threshold; ``refit="train"`` keeps
    the model fitted on the training part. With ``ensemble``, an ensemble is stored
    instead: the best trials' greedy weights (when they score higher out of fold than
    the winner alone) sharing half their weight with the known-good starts.
    """
    source = Source(data, target, events, id_column, demo)
    plan = SearchPlan(
        study=study or source.study_name(),
        storage=storage,
        objective=objective,
        trials=trials,
        timeout=timeout,
        seed=seed,
        models=None if models is None else tuple(models),
        include=tuple(include),
        exclude=tuple(exclude),
        n_jobs=n_jobs,
        resume=resume,
        trial_timeout=trial_timeout,
        trial_memory_mb=trial_memory_mb,
        cv=cv,
        holdout=holdout,
        refit=refit,
        ensemble=ensemble,
        device=device,
    )
    return runner.run(TASK, plan, source, registry=registry, on_trial=on_trial)


def _fingerprint(X_train: pd.DataFrame, folds: int, seed: int) -> str:
    """Names the training rows and folds that out-of-fold predictions belong to."""
    digest = hashlib.sha256(f"{folds}:{seed}:{len(X_train)}".encode())
    digest.update(pd.util.hash_pandas_object(X_train.index, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def final_fit_reserve(trials: Sequence[FrozenTrial], plan: SearchPlan) -> float:
    """Seconds of a ``timeout`` to leave for the final fits, so the whole run keeps to it.

    Each winner member is fitted twice after the search: on the training part (for the
    holdout scores) and on every row. A trial fitted ``folds`` times on ``(folds-1)/folds``
    of the training part, so one member costs about its trial's seconds × (1 + 1/(1 -
    holdout)) / (folds - 1). The estimate sums that over the best trials an ensemble may
    take and the known-good starts it shares its weight with (with ``plan.ensemble``), and
    stays between the shares of :data:`FINAL_FIT_SHARE`.
    """
    timeout = plan.timeout or 0.0
    low, high = FINAL_FIT_SHARE
    done = [t for t in trials if t.state == TrialState.COMPLETE and "seconds" in t.user_attrs]
    done.sort(key=lambda t: -objective_key(t.user_attrs, plan.objective))
    members = done[:1]
    if plan.ensemble:
        best = done[:EXPECTED_MEMBERS]
        numbers = {t.number for t in best}
        members = best + [t for t in done if runner.is_start(t) and t.number not in numbers]
    seconds = sum(t.user_attrs["seconds"] for t in members)
    estimate = final_fit_seconds(seconds, plan.cv, plan.holdout)
    return min(max(estimate, low * timeout), high * timeout)


def final_fit_seconds(trial_seconds: float, folds: int, holdout: float) -> float:
    """Seconds to fit a trial's pipeline on the training part and then on every row,
    from the seconds its cross-validation took (``folds`` fits on ``(folds-1)/folds``)."""
    return trial_seconds * (1 + 1 / (1 - holdout)) / (folds - 1)


def early_stop_bar(trials: Sequence[FrozenTrial], objective: str) -> float | None:
    """The first-fold score below which a new trial stops after its first fold.

    The median first-fold score of the trials that got that far (completed or stopped),
    once there are :data:`EARLY_STOP_AFTER` of them; Optuna's pruners cannot act on
    two-objective studies, so this one rule serves every objective.
    """
    firsts = [
        objective_key(t.user_attrs["first_fold"], objective)
        for t in trials
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and "first_fold" in t.user_attrs
    ]
    return float(np.median(firsts)) if len(firsts) >= EARLY_STOP_AFTER else None


class _Pruning:
    """Stops a trial early: after its first fold by :func:`early_stop_bar` (any objective),
    and between epochs of iterative models by Optuna's pruner (single objective only:
    Optuna cannot prune two-objective studies).

    Epochs report at ``fold * STEPS + epoch`` so steps compare like with like across trials.
    """

    STEPS = 10_000

    def __init__(self, trial: optuna.Trial, objective: str, stop_below: float | None) -> None:
        self.trial, self.objective, self.stop_below = trial, objective, stop_below
        self.first_fold: dict[str, float] | None = None

    def epoch_reporter(self, fold: int) -> Callable[[float, int], None]:
        def report(value: float, epoch: int) -> None:
            if self.objective == "both":
                return
            self.trial.report(float(value), fold * self.STEPS + min(epoch, self.STEPS - 2))
            if self.trial.should_prune():
                raise optuna.TrialPruned()

        return report

    def attrs(self) -> dict[str, Any]:
        """Recorded on a trial stopped early: its first fold joins the next trials' bar."""
        return {} if self.first_fold is None else {"first_fold": self.first_fold}

    def after_fold(self, fold: int, fold_scores: list[dict[str, float]]) -> None:
        if fold != 0:
            return
        self.first_fold = {k: fold_scores[0][k] for k in ("f1", "auc")}
        key = objective_key(self.first_fold, self.objective)
        if self.stop_below is not None and key < self.stop_below:
            raise optuna.TrialPruned()


def _event(
    trials: list[FrozenTrial],
    number: int,
    state: str,
    text: str,
    error: str | None,
    budget: int | None,
) -> TrialEvent:
    this = next((t for t in trials if t.number == number), None)
    attrs = this.user_attrs if this is not None else {}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    return TrialEvent(
        number=number,
        state=state,
        f1=attrs.get("f1"),
        auc=attrs.get("auc"),
        best_f1=max((t.user_attrs["f1"] for t in complete), default=None),
        best_auc=max((t.user_attrs["auc"] for t in complete), default=None),
        finished=sum(t.state in FINISHED for t in trials),
        budget=budget,
        pipeline=text,
        error=error,
    )


def _ensemble(
    trials: list[FrozenTrial],
    winner: FrozenTrial,
    y_train: pd.Series,
    positive: Any,
    plan: SearchPlan,
    work: Workload,
    time_left: float | None,
) -> tuple[EnsembleSpec, dict[str, float]] | None:
    """The best trials' weighted ensemble (when it beats ``winner`` out of fold; else the
    winner), with an equal-weight share of the known-good starts (:func:`with_starts`).

    Greedy selection and the winner are judged on the same pooled out-of-fold predictions
    and by the same key as the winner pick; a tie keeps the single pipeline. With
    ``time_left`` (seconds of a timeout), members join only while their final fits fit in,
    the cheapest starts first. ``None`` when that leaves the winner alone.
    """
    objective = plan.objective
    complete = [t for t in trials if t.state == TrialState.COMPLETE and "f1" in t.user_attrs]
    complete.sort(key=lambda t: (-objective_key(t.user_attrs, objective), t.number))
    candidates = [winner, *[t for t in complete if t.number != winner.number]]
    candidates = candidates[:ENSEMBLE_CANDIDATES]
    numbers = {t.number for t in candidates}
    starts = [t for t in complete if runner.is_start(t) and t.number not in numbers]
    found = load_predictions(
        plan.storage, plan.study, [t.number for t in candidates + starts], work.fingerprint
    )
    pool = [t for t in candidates + starts if t.number in found]
    if not pool or pool[0].number != winner.number:
        return None
    labels = LabelEncoder().fit(y_train.to_numpy())
    codes = labels.transform(y_train.to_numpy())
    classes = list(labels.classes_)
    positive_index = classes.index(positive) if positive in classes else len(classes) - 1
    predictions = [found[t.number] for t in pool]
    costs = [
        final_fit_seconds(t.user_attrs.get("seconds", 0.0), plan.cv, plan.holdout) for t in pool
    ]
    best = sum(t.number in found for t in candidates)  # they lead the pool
    weights = {0: 1.0}
    if best > 1:
        chosen = select(
            predictions[:best],
            codes,
            positive_index,
            objective,
            costs=costs[:best],
            budget=time_left,
        )
        single = objective_key(score(codes, predictions[0], positive_index), objective)
        if len(chosen.positions) > 1 and objective_key(chosen.scores, objective) > single:
            weights = dict(zip(chosen.positions, chosen.weights, strict=True))
    weights = with_starts(weights, _affordable_starts(pool, costs, weights, time_left))
    if len(weights) < 2:
        return None
    positions = sorted(weights)
    blend = sum(weights[i] * np.asarray(predictions[i], dtype=float) for i in positions)
    members = tuple(
        (weights[i], pool[i].number, PipelineSpec.from_dict(pool[i].user_attrs["pipeline"]))
        for i in positions
    )
    return EnsembleSpec(members), score(codes, np.asarray(blend), positive_index)


def _affordable_starts(
    pool: list[FrozenTrial], costs: list[float], members: dict[int, float], time_left: float | None
) -> list[int]:
    """Positions of the starts in ``pool`` whose final fits fit in ``time_left`` beside
    those of ``members``, cheapest first (a start that is a member already costs nothing)."""
    starts = sorted((i for i, t in enumerate(pool) if runner.is_start(t)), key=lambda i: costs[i])
    spent = sum(costs[i] for i in members)
    kept = []
    for i in starts:
        extra = 0.0 if i in members else costs[i]
        if time_left is None or spent + extra <= time_left:
            kept.append(i)
            spent += extra
    return kept


def _store_winner(
    study: optuna.Study,
    registry: Registry,
    customers: CustomerData,
    split: tuple,
    plan: SearchPlan,
    work: Workload,
    time_left: float | None,
) -> SearchResult:
    """Score the winner on the holdout, refit it as asked, store it in one transaction."""
    X_train, y_train, X_hold, y_hold = split
    positive = work.positive
    storage, objective, refit = plan.storage, plan.objective, plan.refit
    trials = study.get_trials(deepcopy=False)
    winner = pick_winner(trials, objective)
    spec: PipelineSpec | EnsembleSpec = PipelineSpec.from_dict(winner.user_attrs["pipeline"])
    cv_scores = {k: winner.user_attrs[k] for k in ("f1", "auc", "f1_std", "auc_std")}
    threshold = winner.user_attrs.get("threshold")
    ensembled = None
    if plan.ensemble:
        ensembled = _ensemble(trials, winner, y_train, positive, plan, work, time_left)
    if ensembled is not None:
        spec, oof_scores = ensembled
        threshold = oof_scores.get("threshold")
        cv_scores = {"f1": oof_scores["f1"], "auc": oof_scores["auc"]}
    fitted = _build(spec, registry, positive, threshold).fit(X_train, y_train)
    codes = fitted.label_encoder_.transform(y_hold.to_numpy())
    holdout_proba = fitted.predict_proba(X_hold)
    holdout_scores = score(codes, holdout_proba, fitted.positive_index_, threshold)
    holdout_scores.pop("threshold", None)
    summary = report.holdout_summary(fitted, X_hold, codes)  # for `segframe report`
    if refit == "all":
        fitted = _build(spec, registry, positive, threshold).fit(
            pd.concat([X_train, X_hold]), pd.concat([y_train, y_hold])
        )
    details = {
        "target": customers.target_column,
        "id_column": customers.id_column,
        "classes": [str(c) for c in fitted.classes_],
        "positive": str(positive),
        "objective": objective,
        "cv": cv_scores,
        "threshold": threshold,
        "ensemble": isinstance(spec, EnsembleSpec),
        "pipeline_text": spec.describe(),
        "has_events": customers.has_events,
        "refit": refit,
        "n_train": len(X_train),
        "n_holdout": len(X_hold),
        "n_fit": len(X_train) + (len(X_hold) if refit == "all" else 0),
        "columns": [c for c in X_train.columns if c != "events"],
        "holdout_predictions": summary,
    }
    runner.store(TASK, plan, registry, fitted, spec, winner.number, details, holdout_scores)
    return SearchResult(
        study_name=study.study_name,
        best_pipeline=fitted,
        best_spec=spec,
        best_trial=winner.number,
        cv_scores=cv_scores,
        holdout_scores=holdout_scores,
        threshold=threshold,
        notes=list(customers.notes),
        storage_url=storage,
    )


def _build(
    spec: PipelineSpec | EnsembleSpec, registry: Registry, positive: Any, threshold: float | None
) -> SegmentPipeline | EnsemblePipeline:
    """The unfitted winner: one pipeline, or the ensemble of its members, with a threshold."""
    if isinstance(spec, PipelineSpec):
        return build_pipeline(spec, registry, positive, threshold)
    members = [build_pipeline(member, registry, positive) for _, _, member in spec.members]
    return EnsemblePipeline(members, [w for w, _, _ in spec.members], threshold)


class Classification(Task):
    """Supervised search: pipelines scored by cross-validated F1 and ROC-AUC (module doc)."""

    name = "classification"

    def check(self, plan: SearchPlan) -> None:
        if plan.objective not in OBJECTIVES:
            raise SegframeError(
                f"--objective must be one of {', '.join(OBJECTIVES)}, not {plan.objective!r}."
            )
        if not 2 <= plan.cv <= 20 or not 0.05 <= plan.holdout <= 0.5:
            raise SegframeError(
                "Use 2 to 20 cross-validation folds and a holdout share of 0.05 to 0.5."
            )
        if plan.refit not in REFITS:
            raise SegframeError(f"--refit must be one of {', '.join(REFITS)}, not {plan.refit!r}.")

    def metrics(self, plan: SearchPlan) -> list[str]:
        return ["f1", "auc"] if plan.objective == "both" else [plan.objective]

    def prepare(
        self, plan: SearchPlan, source: Source, registry: Registry
    ) -> tuple[Workload, tuple[CustomerData, tuple]]:
        """The training part that trials see (the holdout is kept back for the winner)."""
        customers = source.load(plan.seed, labelled=True)
        if customers.target is None:
            raise DataError("A search needs a target column; pass --target.")
        y = customers.target
        _check_class_sizes(y, plan.cv, plan.holdout)
        positive = positive_label(sorted(y.unique().tolist()))
        if positive is None and y.nunique() == 2:
            positive = y.value_counts().idxmin()
        X_train, X_hold, y_train, y_hold = train_test_split(
            customers.frame, y, test_size=plan.holdout, stratify=y, random_state=plan.seed
        )
        device = resolve_device(plan.device)
        work = Workload(
            X=X_train,
            y=y_train,
            positive=positive,
            context=_context(X_train, y_train, plan.cv, customers.has_events, device),
            meta={
                "task": self.name,
                "target": customers.target_column,
                "objective": plan.objective,
                "id_column": customers.id_column,
                "has_events": customers.has_events,
            },
            fingerprint=_fingerprint(X_train, plan.cv, plan.seed),
            registry=None,
        )
        return work, (customers, (X_train, y_train, X_hold, y_hold))

    def space(self, plan: SearchPlan, work: Workload, registry: Registry) -> PipelineSpace:
        return PipelineSpace(
            registry, work.context, plan.models, include=plan.include, exclude=plan.exclude
        )

    def evaluator(
        self, plan: SearchPlan, work: Workload, registry: Registry | None = None
    ) -> _Evaluator:
        registry = registry or rebuild_registry(work.registry)
        return _Evaluator(work.X, work.y, plan.cv, plan.seed, registry, work.positive)

    def pruning(
        self, trial: optuna.Trial, plan: SearchPlan, trials: Sequence[FrozenTrial]
    ) -> _Pruning:
        return _Pruning(trial, plan.objective, early_stop_bar(trials, plan.objective))

    def outcome(
        self, plan: SearchPlan, work: Workload, study: str, number: int, result: dict[str, Any]
    ) -> tuple[dict[str, Any], list[float]]:
        """The scores as attributes; the out-of-fold predictions go to their own table (for
        the ensemble), not into the trial."""
        oof = result.pop("oof")
        values = [result[m] for m in self.metrics(plan)]
        if not all(np.isfinite(values)):
            raise DataError("a validation fold lacked a class, so a score is undefined")
        save_predictions(plan.storage, study, number, work.fingerprint, oof)
        return result, values

    def reserve(self, trials: Sequence[FrozenTrial], plan: SearchPlan) -> float:
        return final_fit_reserve(trials, plan)

    def event(
        self,
        trials: list[FrozenTrial],
        number: int,
        state: str,
        text: str,
        error: str | None,
        budget: int | None,
    ) -> TrialEvent:
        return _event(trials, number, state, text, error, budget)

    def store(
        self,
        study: optuna.Study,
        plan: SearchPlan,
        work: Workload,
        registry: Registry,
        prepared: tuple[CustomerData, tuple],
        time_left: float | None,
    ) -> SearchResult:
        customers, split = prepared
        return _store_winner(study, registry, customers, split, plan, work, time_left)

    def leaderboard(self, study: str, storage: str) -> pd.DataFrame:
        return leaderboard(study, storage)

    def predict_columns(
        self, pipeline: Any, frame: pd.DataFrame, details: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        """The predicted class (at the stored F1 threshold) and each class's probability."""
        proba = pipeline.predict_proba(frame)
        return [
            ("segment", pipeline.classes_[pipeline.decide(proba)]),
            *((f"probability_{label}", proba[:, j]) for j, label in enumerate(pipeline.classes_)),
        ]

    report_title = "supervised search"

    def report(self, record: Any, study: optuna.Study) -> tuple[list[str], list[str]]:
        return report.classification_sections(record, study)

    def report_facts(self, record: Any) -> list[tuple[str, Any]]:
        return report.classification_facts(record)


TASK = Classification()
