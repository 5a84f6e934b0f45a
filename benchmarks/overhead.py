"""Engine overhead: a segframe trial against the same pipeline fitted by plain code.

Both sides run in one process, alternating trial by trial: segframe's ``on_trial``
callback runs the trial it was just told about again as plain scikit-learn /
imbalanced-learn code (same feature builders, same fitted objects and parameters, same
training part and CV folds). A segframe trial's time is the gap between the end of one
callback and the start of the next, so it covers everything the engine does per trial
(Optuna ask/tell and sampling, the SQLite writes, building the pipeline, scoring) and
nothing of the plain run. Python's garbage is collected before and after the plain run,
outside both timings, so that neither side pays for collecting the other's garbage (a
full collection of this process takes a few hundred milliseconds).
"""

from __future__ import annotations

import gc
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from imblearn.pipeline import Pipeline
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.preprocessing import LabelEncoder

import segframe
from benchmarks.report import figure
from segframe.data import CustomerData, load_customers
from segframe.demo import make_demo
from segframe.engine import TrialEvent
from segframe.metrics import f1_threshold
from segframe.pipeline import NONE, FeatureConcat, PipelineSpec
from segframe.registry import Registry, default_registry
from segframe.storage import optuna_storage

CV_FOLDS = 3


def plain_pipeline(spec: PipelineSpec, registry: Registry) -> Pipeline:
    """The spec's objects in an imbalanced-learn Pipeline: what one would write by hand."""

    def make(step: Any) -> Any:
        return registry.get(step.kind, step.name).factory(**step.params)

    steps: list[tuple[str, Any]] = [
        ("features", FeatureConcat([(s.name, make(s)) for s in spec.features]))
    ]
    steps += [(s.name, make(s)) for s in spec.steps if s.name != NONE]
    return Pipeline(steps)


def plain_trial(
    pipeline: Pipeline, X: pd.DataFrame, codes: np.ndarray, folds: list, positive: int
) -> dict[str, float]:
    """Cross-validate ``pipeline`` on ``folds`` and score it as a segframe trial is scored:
    F1 at the threshold that maximises it on the pooled out-of-fold probabilities, mean
    ROC-AUC of the folds."""
    auc, oof = [], np.zeros(len(codes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for train, valid in folds:
            fitted = clone(pipeline).fit(X.iloc[train], codes[train])
            oof[valid] = fitted.predict_proba(X.iloc[valid])[:, positive]
            auc.append(roc_auc_score(codes[valid] == positive, oof[valid]))
    _, f1 = f1_threshold(codes == positive, oof)
    return {"f1": float(f1), "auc": float(np.mean(auc))}


class PairedTrials:
    """segframe's ``on_trial`` callback that times the engine and reruns each trial plainly."""

    def __init__(self, data: CustomerData, seed: int, study: str, storage: str) -> None:
        self.study_name, self.storage = study, storage
        self.registry = default_registry()
        # The engine's own holdout split and folds, reproduced from the same seed.
        X, _, y, _ = train_test_split(
            data.frame, data.target, test_size=0.2, stratify=data.target, random_state=seed
        )
        self.X = X
        encoder = LabelEncoder().fit(y.to_numpy())
        self.codes = encoder.transform(y.to_numpy())
        self.positive = int(np.flatnonzero(encoder.classes_ == 1)[0])
        splitter = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
        self.folds = list(splitter.split(np.zeros(len(y)), y))
        self.segframe_s: list[float] = []
        self.plain_s: list[float] = []
        self.plain_by_trial: dict[int, float] = {}  # warm-up included
        self.same_scores = 0
        self.specs: list[dict] = []
        self._study: optuna.Study | None = None
        self._last_end: float | None = None

    def __call__(self, event: TrialEvent) -> None:
        started = time.perf_counter()
        if self._study is None:
            self._study = optuna.load_study(study_name=self.study_name, storage=self.storage)
        trial = self._study.get_trials(deepcopy=False)[event.number]
        if event.state == "COMPLETE":
            spec = trial.user_attrs["pipeline"]
            self.specs.append(spec)
            pipeline = plain_pipeline(PipelineSpec.from_dict(spec), self.registry)
            gc.collect()
            t0 = time.perf_counter()
            scores = plain_trial(pipeline, self.X, self.codes, self.folds, self.positive)
            plain = time.perf_counter() - t0
            self.plain_by_trial[event.number] = plain
            if self._last_end is not None:  # the first trial has no start mark: warm-up only
                self.segframe_s.append(started - self._last_end)
                self.plain_s.append(plain)
                self.same_scores += bool(
                    np.isclose(scores["f1"], event.f1) and np.isclose(scores["auc"], event.auc)
                )
            gc.collect()
        self._last_end = time.perf_counter()

    def figures(self, label: str) -> list[dict[str, Any]]:
        seg, plain = np.array(self.segframe_s), np.array(self.plain_s)
        if not len(seg):
            return [figure("overhead", label, "segframe/plain", "error", "no completed pairs")]
        values = [
            ("segframe", "seconds_median", float(np.median(seg))),
            ("plain", "seconds_median", float(np.median(plain))),
            ("segframe", "trials_per_minute", 60 * len(seg) / float(seg.sum())),
            ("plain", "trials_per_minute", 60 * len(plain) / float(plain.sum())),
            ("segframe/plain", "ratio_median", float(np.median(seg / plain))),
            ("segframe/plain", "overhead_ms_median", 1000 * float(np.median(seg - plain))),
            ("segframe/plain", "pairs", len(seg)),
            ("segframe/plain", "scores_identical", self.same_scores),
        ]
        out = [figure("overhead", label, tool, metric, value) for tool, metric, value in values]
        out += [
            figure("overhead", label, "segframe/plain", "pair_seconds", [s, p], repeat=i)
            for i, (s, p) in enumerate(zip(seg.tolist(), plain.tolist(), strict=True))
        ]
        return out


def write_latency(storage: str, writes: int = 30) -> list[dict[str, Any]]:
    """Median time of one Optuna write (a trial attribute) on the storage as segframe opens it.

    Optuna commits each suggested parameter and each trial attribute on its own like this;
    segframe writes them in two commits a trial (``optuna_internals.one_commit``), and with
    ask, tell and the out-of-fold predictions a trial makes about six: this times one.
    """
    study = optuna.create_study(storage=optuna_storage(storage), study_name="write-latency")
    trial = study.ask()
    seconds = []
    for i in range(writes):
        t0 = time.perf_counter()
        trial.set_user_attr(f"attribute_{i}", i)
        seconds.append(time.perf_counter() - t0)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    label = "SQLite, one Optuna write"
    return [
        figure("overhead", label, "segframe", "write_ms_median", 1000 * float(np.median(seconds)))
    ]


def _demo(n_customers: int, seed: int) -> CustomerData:
    customers, events = make_demo(n_customers=n_customers, seed=seed)
    return load_customers(
        customers, target="will_buy_again", id_column="customer_id", events=events
    )


def _paired_search(
    data: CustomerData, study: str, storage: str, trials: int, seed: int, **options: Any
) -> PairedTrials:
    paired = PairedTrials(data, seed, study, storage)
    segframe.search(
        data,
        storage=storage,
        study=study,
        trials=trials,
        seed=seed,
        cv=CV_FOLDS,
        on_trial=paired,
        **options,
    )
    return paired


def run_overhead(
    pairs: int,
    search_trials: int,
    search_seconds: float,
    workdir: Path,
    log: Callable[[str], None],
    n_customers: int = 3000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """A default search paired trial by trial (at most ``search_trials`` pairs or
    ``search_seconds``), then its ~1 s pipeline ``pairs`` times over.

    The repeated pipeline is the searched trial whose plain run took closest to a second;
    its Optuna parameters are queued for every trial of a fresh study, so the pipeline is
    fixed whatever the search space looks like. It runs once in-process (the API's
    default) and once with ``trial_timeout=600`` (the CLI's default: a child per trial).
    """
    data = _demo(n_customers, seed)
    storage = f"sqlite:///{workdir / 'overhead.db'}"
    out = write_latency(storage)
    log(f"overhead: default search space, {search_trials + 1} paired trials")
    searched = _paired_search(
        data, "overhead-search", storage, search_trials + 1, seed, timeout=search_seconds
    )
    out += searched.figures("demo, default search space")
    if not searched.plain_by_trial:
        return out
    plain = searched.plain_by_trial
    nearest = min(plain, key=lambda number: abs(plain[number] - 1.0))
    source = optuna.load_study(study_name="overhead-search", storage=storage)
    chosen = source.get_trials(deepcopy=False)[nearest]
    text = chosen.user_attrs["pipeline_text"]
    # The API runs trials in-process; the CLI's default --trial-timeout runs each in a child.
    for name, options in (("fixed", {}), ("fixed-guarded", {"trial_timeout": 600})):
        label = f"demo, fixed pipeline ({text}){', trial_timeout=600' if options else ''}"
        log(f"overhead: {label}, {pairs + 1} paired trials")
        queued = optuna.create_study(
            study_name=f"overhead-{name}", storage=storage, directions=["maximize", "maximize"]
        )
        for _ in range(pairs + 1):
            queued.enqueue_trial(chosen.params)
        fixed = _paired_search(data, f"overhead-{name}", storage, pairs + 1, seed, **options)
        if any(spec != fixed.specs[0] for spec in fixed.specs):
            raise RuntimeError("The queued trials built different pipelines; cannot pair them.")
        out += fixed.figures(label)
    return out
