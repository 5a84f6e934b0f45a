"""The component contract: what a plugin hands to segframe.

A component is one pluggable pipeline step. The engine chains components whose
forms fit (``accepts`` of one step equals ``produces`` of the step before), samples
their parameters from ``space`` and builds the step with ``factory``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

#: Version of the component contract and hook specs; bumped on incompatible change.
CONTRACT_VERSION = 1
#: Module attribute by which a plugin declares the contract it was written for
#: (``SEGFRAME_CONTRACT = 1``); a plugin without it is taken to target contract 1.
CONTRACT_ATTRIBUTE = "SEGFRAME_CONTRACT"

Kind = Literal["features", "preprocessor", "sampler", "model"]
KINDS: tuple[Kind, ...] = ("features", "preprocessor", "sampler", "model")

#: Data forms flowing between steps.
RAW = "raw"  # customer frame (id as index) with the nested ``events`` column
FRAME = "frame"  # feature frame: numeric and categorical columns, may hold NaN
MATRIX = "matrix"  # all-numeric, complete feature matrix
SEQUENCES = "sequences"  # a SequenceBatch: token sequences plus per-customer side features
PREDICTION = "prediction"  # class probabilities


@dataclass(frozen=True)
class SequenceBatch:
    """The ``sequences`` form: what sequence models (CNN, LSTM) take as their two inputs.

    ``tokens`` is an int32 array (customers × length, 0 = padding, most recent event
    last); ``features`` a float32 array (customers × side features, complete, scaled).
    """

    tokens: np.ndarray
    features: np.ndarray

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True)
class SearchContext:
    """Facts about the training data that a search space may depend on."""

    n_rows: int
    n_classes: int
    min_class_count: int  # smallest class size inside one training fold
    minority_ratio: float  # smallest over largest class count (1.0 = balanced)
    has_events: bool
    n_tabular_columns: int
    device: str = "cpu"  # "cpu" or "gpu": where components that can use a GPU should run


Space = Callable[[Any, SearchContext], Mapping[str, Any]]


def no_parameters(trial: Any, context: SearchContext) -> dict[str, Any]:
    """Search space of a component without tunable parameters."""
    return {}


def always(context: SearchContext) -> bool:
    """Applicability of a component that fits any data."""
    return True


@dataclass(frozen=True)
class Start:
    """A known-good configuration of one model, tried before the search explores.

    Like a portfolio in FLAML or AutoGluon: a few defaults that are strong on most
    tabular data cost a handful of trials and give the sampler good points to improve
    on. ``params`` are the model's own parameters, by the plain names its ``space``
    suggests; ``chain`` picks the preprocessing it works best with, by slot
    (``{"frame_to_matrix": "ordinal"}``); whatever a start leaves out is sampled as
    usual. Starts of all models run in order of ``rank`` (lower first).
    """

    params: Mapping[str, Any] = field(default_factory=dict)
    chain: Mapping[str, str] = field(default_factory=dict)
    rank: int = 50


def no_starts(context: SearchContext) -> Sequence[Start]:
    """Starting points of a component that has no known-good defaults."""
    return ()


@dataclass(frozen=True)
class Component:
    """One pluggable step.

    ``space(trial, context)`` suggests parameters with plain names (``"max_depth"``);
    the engine prefixes them with the component name so that conditional parameters
    of different components never collide. ``factory(**params)`` returns an unfitted
    scikit-learn / imbalanced-learn object.
    """

    kind: Kind
    name: str
    factory: Callable[..., Any]
    accepts: str
    produces: str
    space: Space = no_parameters
    description: str = ""
    applies: Callable[[SearchContext], bool] = always  # e.g. needs an event log
    optional: bool = True  # preprocessors only: whether the chain may skip this slot
    requires_modules: tuple[str, ...] = ()
    extra: str | None = None  # the segframe extra that installs ``requires_modules``
    uses_gpu: bool = False
    #: whether a search tries it unasked; costly components can opt out on, say, a CPU.
    #: Naming a model in ``--models`` includes it, and its plugin's other components.
    in_default_search: Callable[[SearchContext], bool] = always
    #: models only: known-good configurations for this data, tried first (see :class:`Start`)
    starts: Callable[[SearchContext], Sequence[Start]] = no_starts

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"component {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}"
            )
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ValueError(f"component name must be a non-empty identifier, got {self.name!r}")

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"
