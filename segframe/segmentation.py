"""Segments without labels: an Optuna search over feature chains and K-Means settings.

Each trial samples feature builders, the preprocessing chain up to an all-numeric
matrix (every registered preprocessor that fits, matrix→matrix ones such as ``scale``
or an embedding included) and K-Means settings (k, init, log compression). It is
scored by the silhouette on a sample of customers (the objective), with
Calinski–Harabasz, Davies–Bouldin and stability recorded beside it. Stability is the
mean adjusted Rand index between the trial's segmentation and K-Means fits on
bootstrap samples, all predicted on the same customers: a segmentation that changes
with every resample is not one to hand to a marketing team.

The winner is the most silhouette-scoring trial among the stable ones (stability >=
:data:`MIN_STABILITY`; the best overall when none is), refitted on all customers and
stored like a supervised winner (``task="segmentation"``) with its scores, segment
profiles, names and a 2-D projection for the report in ``details``.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, clone
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from segframe.components import FRAME, MATRIX, SearchContext
from segframe.data import CustomerData, column_kinds, load_customers
from segframe.engine import (
    FINISHED,
    StoredResult,
    _check_same_choices,
    _next_trial,
    _open_study,
    default_study_name,
)
from segframe.errors import DataError, PluginError, SegframeError
from segframe.leaderboard import load_study
from segframe.pipeline import FeatureConcat, PipelineSpec, StepSpec, _build_step
from segframe.profiles import profiles_records, segment_profiles
from segframe.registry import Registry, default_registry
from segframe.space import NamespacedTrial, Selection, Slot, _form_rank, usable_components
from segframe.storage import DEFAULT_STORAGE, save_winner
from segframe.version import __version__

OBJECTIVE = "silhouette"
#: Trials whose mean bootstrap ARI is below this are only chosen when no trial reaches it.
MIN_STABILITY = 0.75
SILHOUETTE_SAMPLE = 2000
STABILITY_BOOTSTRAPS = 5
STABILITY_SAMPLE = 2000  # customers on which bootstrap fits are compared
BOOTSTRAP_SIZE = 20_000  # cap of each bootstrap sample, for speed on big data
PROJECTION_POINTS = 2000
N_INIT = 3  # K-Means restarts, the same for the segmentation and its bootstrap refits
#: OpenMP threads for K-Means. One: beside a busy core, OpenMP spin-waiting made K-Means
#: 8x slower on the 2-core machines this runs on (the same trap as XGBoost's).
KMEANS_THREADS = 1


class KMeansSegments(ClusterMixin, BaseEstimator):
    """K-Means on a standardised (optionally sign-log-compressed) matrix.

    RFM-like columns are heavy-tailed: a few big spenders would otherwise get clusters
    of their own. Segment ids are ordered by size (0 = largest) so they read the same
    across refits.
    """

    def __init__(
        self, n_clusters: int = 4, init: str = "k-means++", log: bool = True, seed: int = 0
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.log = log
        self.seed = seed

    def _compress(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return np.sign(X) * np.log1p(np.abs(X)) if self.log else X

    def embed(self, X: Any) -> np.ndarray:
        """The space K-Means clusters in: what silhouette and the projection use."""
        return self.scaler_.transform(self._compress(X))

    def fit(self, X: Any, y: Any = None) -> KMeansSegments:
        self.scaler_ = StandardScaler().fit(self._compress(X))
        Z = self.embed(X)
        if len(Z) <= self.n_clusters:
            raise DataError(f"{len(Z)} customers cannot form {self.n_clusters} segments.")
        kmeans = KMeans(self.n_clusters, init=self.init, n_init=N_INIT, random_state=self.seed)
        with threadpool_limits(KMEANS_THREADS, user_api="openmp"):
            self.kmeans_ = kmeans.fit(Z)
        sizes = np.bincount(self.kmeans_.labels_, minlength=self.n_clusters)
        self.order_ = np.empty(self.n_clusters, dtype=int)
        self.order_[np.argsort(-sizes, kind="stable")] = np.arange(self.n_clusters)
        self.labels_ = self.order_[self.kmeans_.labels_]
        return self

    def predict(self, X: Any) -> np.ndarray:
        with threadpool_limits(KMEANS_THREADS, user_api="openmp"):
            return self.order_[self.kmeans_.predict(self.embed(X))]


class Segmenter(TransformerMixin, BaseEstimator):
    """Raw customer data → segment id: feature builders, preprocessors, then K-Means.

    ``transform`` gives the clustering space (for projections); ``predict`` the segment.
    """

    def __init__(self, pipeline: Pipeline, spec: dict[str, Any] | None = None) -> None:
        self.pipeline = pipeline
        self.spec = spec

    def fit(self, X: pd.DataFrame, y: Any = None) -> Segmenter:
        self.pipeline_ = clone(self.pipeline)
        matrix = self.pipeline_[:-1].fit_transform(X)
        self.pipeline_[-1].fit(matrix)
        self.labels_ = self.pipeline_[-1].labels_
        self.embedding_ = self.pipeline_[-1].embed(matrix)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_[-1].embed(self.pipeline_[:-1].transform(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.predict(X)


def _kmeans_space(trial: Any, k_range: tuple[int, int]) -> dict[str, Any]:
    return {
        "n_clusters": trial.suggest_int("n_clusters", *k_range),
        "init": trial.suggest_categorical("init", ["k-means++", "random"]),
        "log": trial.suggest_categorical("log", [True, False]),
    }


class SegmentSpace:
    """Feature builders and every preprocessing chain from raw data to a matrix, then K-Means."""

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
        kinds = ("features", "preprocessor")
        selection = Selection.resolve(
            registry, include, exclude, kinds=kinds, search="a segmentation"
        )
        # every available preprocessor, autoencoder embeddings included when installed:
        # learned embeddings are one of the things a segmentation search is for
        everything = registry.plugins.keys()

        def usable(kind: str, chosen: Selection | None) -> list:
            # K-Means needs a feature frame; other forms (e.g. sequences) are skipped
            asked = everything if kind == "preprocessor" else ()
            found = usable_components(registry, kind, context, asked, chosen)
            if kind == "features":
                return [c for c in found if c.produces == FRAME]
            return [c for c in found if {c.accepts, c.produces} <= {FRAME, MATRIX}]

        builders, preprocessors = usable("features", selection), usable("preprocessor", selection)
        if selection:
            selection.check("features", usable("features", None), builders)
            selection.check("preprocessor", usable("preprocessor", None), preprocessors)
        if not builders:
            raise PluginError("No feature builder fits this data; is the customer table empty?")
        self.features = {c.name: [c] for c in builders}
        if len(builders) > 1:
            self.features["+".join(c.name for c in builders)] = builders
        groups: dict[tuple[str, str], list] = {}
        for component in preprocessors:
            groups.setdefault((component.accepts, component.produces), []).append(component)
        self.slots = sorted(
            (Slot(a, p, tuple(cs)) for (a, p), cs in groups.items()),
            key=lambda s: (_form_rank(s.accepts), _form_rank(s.produces)),
        )

    def choices(self) -> dict[str, list[str]]:
        """The structural parameters' choices, which a continued study must keep."""
        return {"features": list(self.features), **{s.parameter: s.choices for s in self.slots}}

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
        params = _kmeans_space(NamespacedTrial(trial, "kmeans"), self.k_range)
        return PipelineSpec(features, (*steps, StepSpec("segmenter", "kmeans", params)))


def build_segmenter(spec: PipelineSpec, registry: Registry, seed: int = 0) -> Segmenter:
    """The unfitted :class:`Segmenter` that ``spec`` describes."""
    builders = [(step.name, _build_step(registry, step)) for step in spec.features]
    steps: list[tuple[str, Any]] = [("features", FeatureConcat(builders))]
    steps += [(step.name, _build_step(registry, step)) for step in spec.steps[:-1]]
    steps.append(("kmeans", KMeansSegments(**spec.steps[-1].params, seed=seed)))
    return Segmenter(Pipeline(steps), spec=spec.to_dict())


def stability(
    Z: np.ndarray, labels: np.ndarray, n_clusters: int, init: str, seed: int
) -> tuple[float, float]:
    """Mean and std of the ARI between ``labels`` and K-Means fits on bootstrap samples.

    Each bootstrap fit (same procedure, another seed) predicts the same fixed sample of
    customers, so disagreement measures how much the segmentation would change if it
    were run again on a slightly different set of customers.
    """
    rng = np.random.default_rng(seed)
    n = len(Z)
    probe = rng.choice(n, size=min(n, STABILITY_SAMPLE), replace=False)
    scores = []
    with threadpool_limits(KMEANS_THREADS, user_api="openmp"):
        for b in range(STABILITY_BOOTSTRAPS):
            boot = rng.choice(n, size=min(n, BOOTSTRAP_SIZE), replace=True)
            fit = KMeans(n_clusters, init=init, n_init=N_INIT, random_state=seed + 1 + b)
            fit = fit.fit(Z[boot])
            scores.append(adjusted_rand_score(labels[probe], fit.predict(Z[probe])))
    return float(np.mean(scores)), float(np.std(scores))


def evaluate(segmenter: Segmenter, seed: int) -> dict[str, float]:
    """Internal validity and stability of a fitted segmenter on the customers it was fitted on."""
    Z, labels = segmenter.embedding_, segmenter.labels_
    kmeans = segmenter.pipeline_[-1]
    if len(np.unique(labels)) < 2:
        raise DataError("K-Means put every customer in one segment (the features are constant).")
    mean, std = stability(Z, labels, kmeans.n_clusters, kmeans.init, seed)
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
        "k": kmeans.n_clusters,
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


def segment_leaderboard(study: str, storage: str = DEFAULT_STORAGE) -> pd.DataFrame:
    """One row per trial of a segmentation study, best silhouette first."""
    columns = [
        "trial", "pipeline", "k", "silhouette", "stability", "calinski_harabasz",
        "davies_bouldin", "seconds", "state", "error",
    ]  # fmt: skip
    rows = []
    for t in load_study(study, storage).get_trials(deepcopy=False):
        done = t.state == TrialState.COMPLETE
        attrs = t.user_attrs
        rows.append(
            {
                "trial": t.number,
                "pipeline": attrs.get("pipeline_text", ""),
                **{c: attrs.get(c) if done else None for c in columns[2:8]},
                "seconds": attrs.get("seconds"),
                "state": t.state.name,
                "error": attrs.get("error"),
            }
        )
    table = pd.DataFrame(rows, columns=columns)
    if table.empty:
        return table
    return table.sort_values(
        ["silhouette", "trial"], ascending=[False, True], na_position="last"
    ).reset_index(drop=True)


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


def _load(data: Any, events: Any, id_column: str | None, demo: bool, seed: int) -> CustomerData:
    if isinstance(data, CustomerData):
        return data
    if demo:
        from segframe.demo import make_demo

        customers, log = make_demo(seed=seed)
        customers = customers.drop(columns="will_buy_again")
        return load_customers(customers, id_column="customer_id", events=log)
    if data is None:
        raise DataError("Pass a customer table (and usually its event log), or use the demo data.")
    return load_customers(data, id_column=id_column, events=events)


def _pick(trials: list) -> tuple[Any, list[str]]:
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        errors = sorted({t.user_attrs.get("error", "") for t in trials} - {""})
        raise SegframeError(
            "No candidate segmentation completed, so there is no winner to store "
            f"({'; '.join(errors[:3]) or 'no trial finished'}). Raise --trials/--timeout or "
            "check the errors with `segframe leaderboard`."
        )
    stable = [t for t in complete if t.user_attrs["stability"] >= MIN_STABILITY]
    notes = []
    if not stable:
        notes.append(
            f"No segmentation reached a stability (bootstrap ARI) of {MIN_STABILITY}; the winner "
            "may change between runs. Narrow --k or add trials."
        )
    best = max(stable or complete, key=lambda t: (t.user_attrs[OBJECTIVE], -t.number))
    return best, notes


def _run(
    study: optuna.Study,
    space: SegmentSpace,
    X: pd.DataFrame,
    registry: Registry,
    seed: int,
    trials: int | None,
    timeout: float | None,
    on_trial: Callable[[SegmentEvent], None] | None,
) -> None:
    started = time.monotonic()
    best = None
    while True:
        finished = len(study.get_trials(deepcopy=False, states=FINISHED))
        if trials is not None and finished >= trials:
            return
        if timeout is not None and time.monotonic() - started >= timeout:
            return
        trial, _ = _next_trial(study, None)  # the budget is checked above
        t0 = time.perf_counter()
        state, value, error = TrialState.COMPLETE, None, None
        try:
            spec = space.sample(trial)
            trial.set_user_attr("pipeline", spec.to_dict())
            trial.set_user_attr("pipeline_text", spec.describe())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores = evaluate(build_segmenter(spec, registry, seed).fit(X), seed)
            for key, number in scores.items():
                trial.set_user_attr(key, number)
            value = scores[OBJECTIVE]
            best = value if best is None else max(best, value)
        except (KeyboardInterrupt, SystemExit):
            trial.set_user_attr("error", "interrupted")
            study.tell(trial, state=TrialState.FAIL)
            raise
        except Exception as exc:  # a failing candidate is recorded, the search goes on
            state, error = TrialState.FAIL, f"{type(exc).__name__}: {exc}"[:2000]
            trial.set_user_attr("error", error)
        trial.set_user_attr("seconds", round(time.perf_counter() - t0, 3))
        study.tell(trial, value, state=state)
        if on_trial is not None:
            event = SegmentEvent(trial.number, state.name, value, best, finished + 1, trials, error)
            on_trial(event)


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


def segment(
    data: str | Path | pd.DataFrame | CustomerData | None = None,
    *,
    events: str | Path | pd.DataFrame | None = None,
    id_column: str | None = None,
    demo: bool = False,
    storage: str = DEFAULT_STORAGE,
    study: str | None = None,
    trials: int | None = 20,
    timeout: float | None = None,
    k: str | tuple[int, int] = (2, 12),
    seed: int = 0,
    names: dict[int, str] | None = None,
    registry: Registry | None = None,
    on_trial: Callable[[SegmentEvent], None] | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> SegmentResult:
    """Find segments without labels and store the winning segmentation.

    ``trials`` is the study's total budget (re-running continues it); ``timeout`` bounds
    this run. ``names`` overrides derived segment names, e.g. ``{0: "VIP"}``. ``include``
    and ``exclude`` select feature builders and preprocessors as in a search.
    """
    from segframe.profiles import apply_names

    if trials is None and timeout is None:
        raise SegframeError("Give a budget: a number of trials, a timeout in seconds, or both.")
    k_range = parse_k(k)
    optuna.logging.set_verbosity(logging.WARNING)
    registry = registry or default_registry()
    customers = _load(data, events, id_column, demo, seed)
    X = customers.frame
    if k_range[1] >= len(X):
        raise DataError(f"{len(X)} customers cannot form up to {k_range[1]} segments; lower --k.")
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
    space = SegmentSpace(registry, context, k_range, seed, include=include, exclude=exclude)
    name = study or default_study_name(data, demo, "-segments")
    meta = {
        "task": "segmentation",
        "target": None,
        "objective": OBJECTIVE,
        "id_column": customers.id_column,
        "has_events": customers.has_events,
    }
    optuna_study = _open_study(name, storage, OBJECTIVE, seed, meta)
    _check_same_choices(optuna_study, space, storage)
    _run(optuna_study, space, X, registry, seed, trials, timeout, on_trial)
    winner, notes = _pick(optuna_study.get_trials(deepcopy=False))
    spec = PipelineSpec.from_dict(winner.user_attrs["pipeline"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = build_segmenter(spec, registry, seed).fit(X)
        scores = evaluate(fitted, seed)
    profiles = segment_profiles(X, fitted.labels_)
    final = apply_names(profiles["name"].to_dict(), names or {})
    profiles["name"] = pd.Series(final)
    details = {
        "task": "segmentation",
        "target": None,
        "id_column": customers.id_column,
        "has_events": customers.has_events,
        "columns": [c for c in X.columns if c != "events"],
        "pipeline_text": spec.describe(),
        "scores": scores,
        "min_stability": MIN_STABILITY,
        "k_range": list(k_range),
        "n_customers": len(X),
        "names": {str(s): n for s, n in final.items()},
        "profiles": profiles_records(profiles),
        "projection": projection(fitted.embedding_, fitted.labels_, seed),
    }
    versions = registry.plugin_versions(spec.all_steps())
    save_winner(
        storage,
        name,
        fitted,
        trial_number=winner.number,
        spec=spec.to_dict(),
        segframe_version=__version__,
        plugin_versions=versions,
        task="segmentation",
        holdout_f1=None,
        holdout_auc=None,
        details=details,
    )
    return SegmentResult(
        study_name=name,
        best_pipeline=fitted,
        best_spec=spec,
        best_trial=winner.number,
        scores=scores,
        profiles=profiles,
        names=final,
        notes=[*customers.notes, *notes],
        storage_url=storage,
    )
