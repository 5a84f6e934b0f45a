"""The segmentation task and :func:`segment`: segments without labels, and their stored winner.

The runner (:mod:`segframe.runner`) runs the trials (budget, workers, guard, resume); this
task says what they are: an Optuna search over feature chains and segmenters.

Each trial samples feature builders, the preprocessing chain up to an all-numeric
matrix (every registered preprocessor that fits, matrix→matrix ones such as ``scale``
or an embedding included), a segmenter (a plugin component of kind ``segmenter``, such
as the kmeans plugin's) with its settings, and the number of segments within ``--k``.
It is scored by the silhouette on a sample of customers (the objective), with
Calinski–Harabasz, Davies–Bouldin and stability recorded beside it. Stability is the
mean adjusted Rand index between the trial's segmentation and refits of its segmenter
on bootstrap samples, all predicted on the same customers: a segmentation that changes
with every resample is not one to hand to a marketing team.

A segmenter's factory takes ``n_clusters`` and ``seed`` besides its own parameters; what
it builds has ``fit(X)`` (setting ``labels_``), ``predict(X)`` and ``embed(X)``, the space
its segments are judged and drawn in.

The winner is the most silhouette-scoring trial among the stable ones (stability >=
:data:`MIN_STABILITY`; the best overall when none is), refitted on all customers and
stored like a supervised winner (``task="segmentation"``) with its scores, segment
profiles, names and a 2-D projection for the report in ``details``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.decomposition import PCA
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.pipeline import Pipeline

from segframe import report, runner
from segframe.components import FRAME, MATRIX, SearchContext
from segframe.data import CustomerData, column_kinds
from segframe.errors import DataError, PluginError, SegframeError
from segframe.leaderboard import best_trial, trial_table
from segframe.pipeline import FeatureConcat, PipelineSpec, StepSpec, build_step
from segframe.plan import DEFAULTS, SearchPlan, Workload
from segframe.profiles import profiles_records, segment_profiles
from segframe.registry import Registry
from segframe.runner import FINISHED, StoredResult, run
from segframe.space import NamespacedTrial, Selection, Slot, form_rank, usable_components
from segframe.task import Source, Task
from segframe.workers import rebuild_registry

OBJECTIVE = "silhouette"
#: Trials whose mean bootstrap ARI is below this are only chosen when no trial reaches it.
MIN_STABILITY = 0.75
SILHOUETTE_SAMPLE = 2000
STABILITY_BOOTSTRAPS = 5
STABILITY_SAMPLE = 2000  # customers on which bootstrap fits are compared
BOOTSTRAP_SIZE = 20_000  # cap of each bootstrap sample, for speed on big data
PROJECTION_POINTS = 2000


class Segmenter(TransformerMixin, BaseEstimator):
    """Raw customer data → segment id: feature builders, preprocessors, then a segmenter.

    ``transform`` gives the clustering space (for projections); ``predict`` the segment.
    """

    def __init__(self, pipeline: Pipeline, spec: dict[str, Any] | None = None) -> None:
        self.pipeline = pipeline
        self.spec = spec

    def fit(self, X: pd.DataFrame, y: Any = None) -> Segmenter:
        self.fit_matrix(X)
        return self

    def fit_matrix(self, X: pd.DataFrame) -> np.ndarray:
        """Fit; return the matrix the segmenter step was fitted on (stability refits it on
        bootstrap samples of it), which the fitted object does not keep."""
        self.pipeline_ = clone(self.pipeline)
        matrix = np.asarray(self.pipeline_[:-1].fit_transform(X), dtype=float)
        self.pipeline_[-1].fit(matrix)
        self.labels_ = np.asarray(self.pipeline_[-1].labels_)
        self.embedding_ = self.pipeline_[-1].embed(matrix)
        return matrix

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_[-1].embed(self.pipeline_[:-1].transform(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.predict(X)


class SegmentSpace:
    """Feature builders, every preprocessing chain from raw data to a matrix, then a
    segmenter and its number of segments."""

    def __init__(
        self,
        registry: Registry,
        context: SearchContext,
        k_range: tuple[int, int],
        seed: int,
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> None:
        self.context, self.k_range, self.seed = context, k_range, seed
        kinds = ("features", "preprocessor", "segmenter")
        selection = Selection.resolve(
            registry, include, exclude, kinds=kinds, search="a segmentation"
        )
        # every available preprocessor, autoencoder embeddings included when installed:
        # learned embeddings are one of the things a segmentation search is for
        everything = registry.plugins.keys()

        def usable(kind: str, chosen: Selection | None) -> list:
            # segmenters take a matrix; other forms (e.g. sequences) are skipped
            asked = everything if kind != "features" else ()
            found = usable_components(registry, kind, context, asked, chosen)
            if kind == "features":
                return [c for c in found if c.produces == FRAME]
            if kind == "segmenter":
                return found
            return [c for c in found if {c.accepts, c.produces} <= {FRAME, MATRIX}]

        builders, preprocessors = usable("features", selection), usable("preprocessor", selection)
        segmenters = usable("segmenter", selection)
        if selection:
            selection.check("features", usable("features", None), builders)
            selection.check("preprocessor", usable("preprocessor", None), preprocessors)
            selection.check("segmenter", usable("segmenter", None), segmenters)
        if not builders:
            raise PluginError("No feature builder fits this data; is the customer table empty?")
        if not segmenters:
            raise PluginError(
                "No segmenter is available; install segframe's kmeans plugin (it comes with "
                "segframe) or another plugin with a component of kind 'segmenter'."
            )
        self.segmenters = {c.name: c for c in segmenters}
        self.features = {c.name: [c] for c in builders}
        if len(builders) > 1:
            self.features["+".join(c.name for c in builders)] = builders
        groups: dict[tuple[str, str], list] = {}
        for component in preprocessors:
            groups.setdefault((component.accepts, component.produces), []).append(component)
        self.slots = sorted(
            (Slot(a, p, tuple(cs)) for (a, p), cs in groups.items()),
            key=lambda s: (form_rank(s.accepts), form_rank(s.produces)),
        )

    def choices(self) -> dict[str, list[str]]:
        """The structural parameters' choices, which a continued study must keep."""
        chosen = {"features": list(self.features), **{s.parameter: s.choices for s in self.slots}}
        if len(self.segmenters) > 1:
            chosen["segmenter"] = list(self.segmenters)
        return chosen

    def portfolio(self, limit: int | None = None) -> list[dict[str, Any]]:
        """No known-good starts: which segmentation is good depends on the shop, so the
        sampler starts from scratch."""
        return []

    def _step(self, trial: Any, component: Any) -> StepSpec:
        params = dict(component.space(NamespacedTrial(trial, component.name), self.context))
        return StepSpec(component.kind, component.name, params)

    def sample(self, trial: Any) -> PipelineSpec:
        label = trial.suggest_categorical("features", list(self.features))
        features = tuple(self._step(trial, c) for c in self.features[label])
        form, steps = FRAME, []
        for slot in self.slots:
            if slot.accepts != form:
                continue
            name = trial.suggest_categorical(slot.parameter, slot.choices)
            if name == "none":
                continue
            steps.append(self._step(trial, next(c for c in slot.components if c.name == name)))
            form = slot.produces
        if form != MATRIX:
            raise PluginError(
                "No preprocessing chain turns features into a numeric matrix; install a "
                "preprocessor plugin that encodes frames (e.g. segframe's sklearn plugin)."
            )
        names = list(self.segmenters)
        name = names[0] if len(names) == 1 else trial.suggest_categorical("segmenter", names)
        k = NamespacedTrial(trial, name).suggest_int("n_clusters", *self.k_range)
        step = self._step(trial, self.segmenters[name])
        params = {"n_clusters": k, **step.params}
        return PipelineSpec(features, (*steps, StepSpec("segmenter", name, params)))


def build_segmenter(spec: PipelineSpec, registry: Registry, seed: int = 0) -> Segmenter:
    """The unfitted :class:`Segmenter` that ``spec`` describes."""
    builders = [(step.name, build_step(registry, step)) for step in spec.features]
    steps: list[tuple[str, Any]] = [("features", FeatureConcat(builders))]
    steps += [(step.name, build_step(registry, step)) for step in spec.steps[:-1]]
    last = spec.steps[-1]
    segmenter = registry.get("segmenter", last.name).factory(**last.params, seed=seed)
    steps.append((last.name, segmenter))
    return Segmenter(Pipeline(steps), spec=spec.to_dict())


def stability(
    segmenter: Any, matrix: np.ndarray, labels: np.ndarray, seed: int
) -> tuple[float, float]:
    """Mean and std of the ARI between ``labels`` and refits of ``segmenter`` (a segmenter
    step, fitted on ``matrix``) on bootstrap samples of ``matrix``.

    Each bootstrap fit (same procedure, another seed) predicts the same fixed sample of
    customers, so disagreement measures how much the segmentation would change if it
    were run again on a slightly different set of customers.
    """
    rng = np.random.default_rng(seed)
    n = len(matrix)
    probe = rng.choice(n, size=min(n, STABILITY_SAMPLE), replace=False)
    scores = []
    for b in range(STABILITY_BOOTSTRAPS):
        boot = rng.choice(n, size=min(n, BOOTSTRAP_SIZE), replace=True)
        fit = clone(segmenter).set_params(seed=seed + 1 + b).fit(matrix[boot])
        scores.append(adjusted_rand_score(labels[probe], fit.predict(matrix[probe])))
    return float(np.mean(scores)), float(np.std(scores))


def evaluate(segmenter: Segmenter, matrix: np.ndarray, seed: int) -> dict[str, float]:
    """Internal validity and stability of a fitted segmenter on the customers it was fitted
    on; ``matrix`` is what its segmenter step saw (:meth:`Segmenter.fit_matrix`)."""
    Z, labels = segmenter.embedding_, segmenter.labels_
    k = len(np.unique(labels))
    if k < 2:
        raise DataError(
            f"The segmenter {segmenter.pipeline_.steps[-1][0]!r} put every customer in one "
            "segment (the features are constant)."
        )
    mean, std = stability(segmenter.pipeline_[-1], matrix, labels, seed)
    return {
        "silhouette": float(
            silhouette_score(
                Z, labels, sample_size=min(len(Z), SILHOUETTE_SAMPLE), random_state=seed
            )
        ),
        "calinski_harabasz": float(calinski_harabasz_score(Z, labels)),
        "davies_bouldin": float(davies_bouldin_score(Z, labels)),
        "stability": mean,
        "stability_std": std,
        "k": k,
    }


@dataclass(frozen=True)
class SegmentEvent:
    """What a progress display needs after each trial."""

    number: int
    state: str
    silhouette: float | None
    best_silhouette: float | None
    finished: int
    budget: int | None
    error: str | None = None


@dataclass(kw_only=True)
class SegmentResult(StoredResult):
    """The stored, fitted segmentation, its scores and its segment profiles."""

    best_pipeline: Segmenter
    scores: dict[str, float]
    profiles: pd.DataFrame
    names: dict[int, str]

    def leaderboard(self) -> pd.DataFrame:
        return segment_leaderboard(self.study_name, self.storage_url)


def segment_leaderboard(study: str, storage: str = DEFAULTS.storage) -> pd.DataFrame:
    """One row per trial of a segmentation study, best silhouette first."""
    scores = ["k", OBJECTIVE, "stability", "calinski_harabasz", "davies_bouldin"]
    return trial_table(study, storage, scores, lambda table: table[OBJECTIVE].astype(float))


def parse_k(text: str | tuple[int, int]) -> tuple[int, int]:
    """``"2-12"`` or ``"5"`` → (low, high); a clear error otherwise."""
    if isinstance(text, tuple):
        low, high = text
    else:
        parts = str(text).replace(" ", "").split("-")
        if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts):
            raise SegframeError(f"--k must be a number or a range like 2-12, not {text!r}.")
        low, high = int(parts[0]), int(parts[-1])
    if not 2 <= low <= high:
        raise SegframeError(f"--k needs 2 <= low <= high segments, got {low}-{high}.")
    return low, high


def _pick(trials: list[FrozenTrial]) -> tuple[FrozenTrial, list[str]]:
    """The most silhouette-scoring stable trial (module doc), and a note when none is stable."""

    def stable(complete: list[FrozenTrial]) -> list[FrozenTrial]:
        return [t for t in complete if t.user_attrs["stability"] >= MIN_STABILITY]

    best = best_trial(
        trials, lambda t: (t.user_attrs[OBJECTIVE],), scored=OBJECTIVE, what="segmentation",
        among=stable,
    )  # fmt: skip
    if best.user_attrs["stability"] >= MIN_STABILITY:
        return best, []
    return best, [
        f"No segmentation reached a stability (bootstrap ARI) of {MIN_STABILITY}; the winner "
        "may change between runs. Narrow --k or add trials."
    ]


def projection(Z: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, Any]:
    """A PCA 2-D projection of at most :data:`PROJECTION_POINTS` customers, for the report."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(Z), size=min(len(Z), PROJECTION_POINTS), replace=False)
    pca = PCA(n_components=min(2, Z.shape[1]), random_state=seed).fit(Z)
    xy = pca.transform(Z[pick])
    if xy.shape[1] == 1:
        xy = np.column_stack([xy, np.zeros(len(xy))])
    return {
        "x": np.round(xy[:, 0], 3).tolist(),
        "y": np.round(xy[:, 1], 3).tolist(),
        "segment": labels[pick].astype(int).tolist(),
        "explained": np.round(pca.explained_variance_ratio_, 4).tolist(),
    }


class _Evaluator:
    """Fits a candidate segmenter on every customer and scores it (:func:`evaluate`)."""

    def __init__(self, X: pd.DataFrame, registry: Registry, seed: int) -> None:
        self.X, self.registry, self.seed = X, registry, seed

    def __call__(self, spec: PipelineSpec, pruning: None) -> dict[str, float]:
        segmenter = build_segmenter(spec, self.registry, self.seed)
        return evaluate(segmenter, segmenter.fit_matrix(self.X), self.seed)

    def close(self) -> None:
        """Nothing to release in-process (the guarded evaluator stops its child here)."""


class Segmentation(Task):
    """Unsupervised search: segmentations scored by silhouette and stability (module doc)."""

    name = "segmentation"

    def check(self, plan: SearchPlan) -> None:
        parse_k(plan.k)

    def metrics(self, plan: SearchPlan) -> list[str]:
        return [OBJECTIVE]

    def prepare(
        self, plan: SearchPlan, source: Source, registry: Registry
    ) -> tuple[Workload, CustomerData]:
        customers = source.load(plan.seed, labelled=False)
        X = customers.frame
        if plan.k[1] >= len(X):
            raise DataError(
                f"{len(X)} customers cannot form up to {plan.k[1]} segments; lower --k."
            )
        kinds = column_kinds(X)
        context = SearchContext(
            n_rows=len(X),
            n_classes=0,
            min_class_count=len(X),
            minority_ratio=1.0,
            has_events=customers.has_events,
            n_tabular_columns=len(kinds),
            columns=tuple(kinds),
            column_kinds=kinds,
        )
        meta = {
            "task": self.name,
            "target": None,
            "objective": OBJECTIVE,
            "id_column": customers.id_column,
            "has_events": customers.has_events,
        }
        work = Workload(
            X=X, y=None, positive=None, context=context, meta=meta, fingerprint="", registry=None
        )
        return work, customers

    def space(self, plan: SearchPlan, work: Workload, registry: Registry) -> SegmentSpace:
        return SegmentSpace(
            registry, work.context, plan.k, plan.seed, include=plan.include, exclude=plan.exclude
        )

    def evaluator(
        self, plan: SearchPlan, work: Workload, registry: Registry | None = None
    ) -> _Evaluator:
        return _Evaluator(work.X, registry or rebuild_registry(work.registry), plan.seed)

    def outcome(
        self, plan: SearchPlan, work: Workload, study: str, number: int, result: dict[str, Any]
    ) -> tuple[dict[str, Any], list[float]]:
        return result, [result[OBJECTIVE]]

    def event(
        self,
        trials: list[FrozenTrial],
        number: int,
        state: str,
        text: str,
        error: str | None,
        budget: int | None,
    ) -> SegmentEvent:
        this = next((t for t in trials if t.number == number), None)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        return SegmentEvent(
            number=number,
            state=state,
            silhouette=this.user_attrs.get(OBJECTIVE) if this is not None else None,
            best_silhouette=max((t.user_attrs[OBJECTIVE] for t in complete), default=None),
            finished=sum(t.state in FINISHED for t in trials),
            budget=budget,
            error=error,
        )

    def store(
        self,
        study: optuna.Study,
        plan: SearchPlan,
        work: Workload,
        registry: Registry,
        prepared: CustomerData,
        time_left: float | None,
    ) -> SegmentResult:
        """Refit the winner on every customer; store it with its profiles, names and a 2-D
        projection for the report."""
        from segframe.profiles import apply_names

        customers, X, seed = prepared, work.X, plan.seed
        winner, notes = _pick(study.get_trials(deepcopy=False))
        spec = PipelineSpec.from_dict(winner.user_attrs["pipeline"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = build_segmenter(spec, registry, seed)
            scores = evaluate(fitted, fitted.fit_matrix(X), seed)
        profiles = segment_profiles(X, fitted.labels_)
        final = apply_names(profiles["name"].to_dict(), dict(plan.names))
        profiles["name"] = pd.Series(final)
        details = {
            "task": self.name,
            "target": None,
            "id_column": customers.id_column,
            "has_events": customers.has_events,
            "columns": [c for c in X.columns if c != "events"],
            "pipeline_text": spec.describe(),
            "scores": scores,
            "min_stability": MIN_STABILITY,
            "k_range": list(plan.k),
            "n_customers": len(X),
            "names": {str(s): n for s, n in final.items()},
            "profiles": profiles_records(profiles),
            "projection": projection(fitted.embedding_, fitted.labels_, seed),
        }
        runner.store(self, plan, registry, fitted, spec, winner.number, details)
        return SegmentResult(
            study_name=plan.study,
            best_pipeline=fitted,
            best_spec=spec,
            best_trial=winner.number,
            scores=scores,
            profiles=profiles,
            names=final,
            notes=[*customers.notes, *notes],
            storage_url=plan.storage,
        )

    def leaderboard(self, study: str, storage: str) -> pd.DataFrame:
        return segment_leaderboard(study, storage)

    def predict_columns(
        self, pipeline: Any, frame: pd.DataFrame, details: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        """No classes: a segment id and its (renamable) name."""
        segments = pd.Series(pipeline.predict(frame))
        return [
            ("segment", segments.to_numpy()),
            ("segment_name", segments.astype(str).map(details["names"]).to_numpy()),
        ]

    report_title = "segmentation"

    def report(self, record: Any, study: optuna.Study) -> tuple[list[str], list[str]]:
        return report.segmentation_sections(record, study)

    def report_facts(self, record: Any) -> list[tuple[str, Any]]:
        return report.segmentation_facts(record)


TASK = Segmentation()


def segment(
    data: str | Path | pd.DataFrame | CustomerData | None = None,
    *,
    events: str | Path | pd.DataFrame | None = None,
    id_column: str | None = None,
    demo: bool = False,
    storage: str = DEFAULTS.storage,
    study: str | None = None,
    trials: int | None = 20,
    timeout: float | None = DEFAULTS.timeout,
    k: str | tuple[int, int] = DEFAULTS.k,
    seed: int = DEFAULTS.seed,
    names: dict[int, str] | None = None,
    registry: Registry | None = None,
    on_trial: Callable[[SegmentEvent], None] | None = None,
    include: Sequence[str] = DEFAULTS.include,
    exclude: Sequence[str] = DEFAULTS.exclude,
    n_jobs: int = DEFAULTS.n_jobs,
    resume: bool = DEFAULTS.resume,
    trial_timeout: float | None = DEFAULTS.trial_timeout,
    trial_memory_mb: int | None = DEFAULTS.trial_memory_mb,
) -> SegmentResult:
    """Find segments without labels and store the winning segmentation.

    ``trials`` is the study's total budget (re-running continues it; 20 by default, where a
    search has 30: a segmentation trial is cheaper to judge); ``timeout`` bounds this run.
    ``names`` overrides derived segment names, e.g. ``{0: "VIP"}``. ``include`` and
    ``exclude`` select feature builders and preprocessors as in a search. ``n_jobs``,
    ``resume``, ``trial_timeout`` and ``trial_memory_mb`` work as in :func:`~segframe.search`.
    """
    source = Source(data, events=events, id_column=id_column, demo=demo)
    plan = SearchPlan(
        study=study or source.study_name("-segments"),
        storage=storage,
        objective=OBJECTIVE,
        trials=trials,
        timeout=timeout,
        seed=seed,
        include=tuple(include),
        exclude=tuple(exclude),
        n_jobs=n_jobs,
        resume=resume,
        trial_timeout=trial_timeout,
        trial_memory_mb=trial_memory_mb,
        k=parse_k(k),
        names=tuple(sorted((names or {}).items())),
    )
    return run(TASK, plan, source, registry=registry, on_trial=on_trial)
