"""Whole pipelines: a declarative spec, and the estimator built from it.

A :class:`PipelineSpec` names components and their parameters; it is what a trial
samples, what the leaderboard shows and what the study database keeps next to the
fitted artifact, so any stored winner can be rebuilt and refitted from text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.preprocessing import LabelEncoder

from segframe.metrics import decide
from segframe.registry import Registry


@dataclass(frozen=True)
class StepSpec:
    kind: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return self.name


@dataclass(frozen=True)
class PipelineSpec:
    """Feature builders, then preprocessors in order, then a sampler and a model."""

    features: tuple[StepSpec, ...]
    steps: tuple[StepSpec, ...]

    @property
    def model(self) -> StepSpec:
        return self.steps[-1]

    @property
    def sampler(self) -> StepSpec:
        return self.steps[-2]

    def all_steps(self) -> tuple[StepSpec, ...]:
        return (*self.features, *self.steps)

    @property
    def model_names(self) -> tuple[str, ...]:
        """The model of this pipeline (an ensemble names each member's)."""
        return (self.model.name,)

    def describe(self) -> str:
        """One line for people, e.g. ``tabular+rfm > impute > onehot > smote > xgboost``."""
        features = "+".join(step.name for step in self.features)
        return " > ".join([features, *(step.name for step in self.steps)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": [asdict(step) for step in self.features],
            "steps": [asdict(step) for step in self.steps],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineSpec:
        return cls(
            features=tuple(StepSpec(**step) for step in data["features"]),
            steps=tuple(StepSpec(**step) for step in data["steps"]),
        )


class FeatureConcat(TransformerMixin, BaseEstimator):
    """Run several feature builders side by side; columns are prefixed by builder name.

    A lone builder whose output is not a frame (a ``SequenceBatch``) passes it through
    unchanged: such forms have no columns to prefix or concatenate.
    """

    def __init__(self, builders: list[tuple[str, Any]]) -> None:
        self.builders = builders

    def fit(self, X: pd.DataFrame, y: Any = None) -> FeatureConcat:
        self.builders_ = [(name, clone(builder).fit(X, y)) for name, builder in self.builders]
        return self

    def transform(self, X: pd.DataFrame) -> Any:
        parts = []
        for name, builder in self.builders_:
            part = builder.transform(X)
            if len(self.builders_) == 1 and not isinstance(part, pd.DataFrame):
                return part
            part.columns = [f"{name}__{column}" for column in part.columns]
            parts.append(part.set_axis(X.index))
        return pd.concat(parts, axis=1)


class SegmentPipeline(ClassifierMixin, BaseEstimator):
    """A fitted-to-be pipeline from raw customer data to a segment.

    Labels may be any values ("Yes"/"No", segment names); they are encoded for the
    model and decoded in :meth:`predict`. ``positive`` names the class that binary F1
    and ROC-AUC score; ``threshold`` (binary only) is the positive-class probability
    from which :meth:`predict` says positive, chosen for F1 by the search.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        spec: dict[str, Any] | None = None,
        positive: Any = None,
        threshold: float | None = None,
    ):
        self.pipeline = pipeline
        self.spec = spec
        self.positive = positive
        self.threshold = threshold

    def fit(self, X: pd.DataFrame, y: Any) -> SegmentPipeline:
        self.label_encoder_ = LabelEncoder().fit(np.asarray(y))
        self.classes_ = self.label_encoder_.classes_
        self.pipeline_ = clone(self.pipeline).fit(X, self.label_encoder_.transform(np.asarray(y)))
        return self

    @property
    def positive_index_(self) -> int:
        """Column of :meth:`predict_proba` that holds the positive class (binary targets)."""
        if self.positive is not None and self.positive in list(self.classes_):
            return list(self.classes_).index(self.positive)
        return len(self.classes_) - 1

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.pipeline_.predict_proba(X), dtype=float)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[self.decide(self.predict_proba(X))]

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Class positions for probabilities: at the F1 threshold, else the likeliest class."""
        # getattr: winners stored before thresholds existed unpickle without the attribute
        return decide(proba, self.positive_index_, getattr(self, "threshold", None))


#: Name of a skipped optional step (no preprocessor of that slot, no resampling).
NONE = "none"


def build_step(registry: Registry, step: StepSpec) -> Any:
    if step.name == NONE:
        return "passthrough"
    return registry.get(step.kind, step.name).factory(**step.params)


def build_features(spec: PipelineSpec, registry: Registry) -> FeatureConcat:
    """The (unfitted) feature builders of ``spec``, side by side."""
    return FeatureConcat([(step.name, build_step(registry, step)) for step in spec.features])


def build_tail(spec: PipelineSpec, registry: Registry) -> list[tuple[str, Any]]:
    """The (unfitted) steps after the feature builders: preprocessors, sampler, model.

    A model that holds rows back for early stopping and offers ``resampled(sampler)``
    takes the sampler inside, so that only the rows it fits on are resampled.
    """
    steps = [(step.name, build_step(registry, step)) for step in spec.steps[:-2]]
    sampler, model = build_step(registry, spec.sampler), build_step(registry, spec.model)
    if sampler != "passthrough" and hasattr(model, "resampled"):
        sampler, model = "passthrough", model.resampled(sampler)
    steps.append(("sampler", sampler))
    steps.append(("model", model))
    return steps


def build_pipeline(
    spec: PipelineSpec, registry: Registry, positive: Any = None, threshold: float | None = None
) -> SegmentPipeline:
    """Instantiate the (unfitted) estimator that ``spec`` describes."""
    steps = [("features", build_features(spec, registry)), *build_tail(spec, registry)]
    return SegmentPipeline(
        Pipeline(steps), spec=spec.to_dict(), positive=positive, threshold=threshold
    )
