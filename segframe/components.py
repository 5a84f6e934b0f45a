"""The component contract: what a plugin hands to segframe.

A component is one pluggable pipeline step. The engine chains components whose
forms fit (``accepts`` of one step equals ``produces`` of the step before), samples
their parameters from ``space`` and builds the step with ``factory``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

#: Version of the component contract and hook specs; bumped on incompatible change.
CONTRACT_VERSION = 1
#: Module attribute by which a plugin declares the contract it was written for
#: (``SEGFRAME_CONTRACT = 1``); a plugin without it is taken to target contract 1.
CONTRACT_ATTRIBUTE = "SEGFRAME_CONTRACT"

Kind = Literal["features", "preprocessor", "sampler", "model", "segmenter"]
KINDS: tuple[Kind, ...] = ("features", "preprocessor", "sampler", "model", "segmenter")

#: Data forms flowing between steps.
RAW = "raw"  # customer frame (id as index) with the nested ``events`` column
FRAME = "frame"  # feature frame: numeric and categorical columns, may hold NaN
MATRIX = "matrix"  # all-numeric, complete feature matrix
SEQUENCES = "sequences"  # a SequenceBatch: token sequences plus per-customer side features
PREDICTION = "prediction"  # class probabilities
SEGMENTS = "segments"  # a segment id per customer: what a segmenter gives `segframe segment`


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


#: Kinds of a customer-table column, as :attr:`SearchContext.column_kinds` names them.
COLUMN_KINDS = ("numeric", "categorical", "datetime", "boolean")


class ColumnKinds(Mapping[str, str]):
    """A read-only, hashable mapping of column name to kind: a context stays frozen
    (a plugin cannot change what the next one sees) and travels to worker processes."""

    def __init__(self, kinds: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        self._kinds = dict(kinds)

    def __getitem__(self, column: str) -> str:
        return self._kinds[column]

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def __hash__(self) -> int:
        return hash(tuple(self._kinds.items()))

    def __repr__(self) -> str:
        return f"ColumnKinds({self._kinds!r})"


@dataclass(frozen=True)
class SearchContext:
    """Facts about the training data that a search space, ``applies`` or ``starts`` may
    depend on.

    ``columns`` are the customer table's feature columns in table order (not the id, the
    target or the nested ``events`` column); ``column_kinds`` gives each one's kind, one of
    :data:`COLUMN_KINDS`: ``"boolean"``, ``"datetime"``, ``"numeric"``, else
    ``"categorical"`` (text and anything else). Contexts made before these fields existed
    leave them empty; then only ``n_tabular_columns`` is known.
    """

    n_rows: int
    n_classes: int
    min_class_count: int  # smallest class size inside one training fold
    minority_ratio: float  # smallest over largest class count (1.0 = balanced)
    has_events: bool
    n_tabular_columns: int  # len(columns) whenever columns are given
    device: str = "cpu"  # "cpu" or "gpu": where components that can use a GPU should run
    columns: tuple[str, ...] = ()
    column_kinds: Mapping[str, str] = field(default_factory=ColumnKinds)

    def __post_init__(self) -> None:
        kinds = ColumnKinds(self.column_kinds)
        columns = tuple(self.columns) or tuple(kinds)
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "column_kinds", kinds)
        odd = sorted({str(k) for k in kinds.values()} - set(COLUMN_KINDS))
        if odd:
            raise ValueError(f"column kinds must be among {COLUMN_KINDS}, got {odd}")
        if set(kinds) - set(columns):
            raise ValueError("column_kinds names columns that columns lacks")
        if columns and len(columns) != self.n_tabular_columns:
            raise ValueError(
                f"n_tabular_columns is {self.n_tabular_columns} but {len(columns)} columns given"
            )

    def has_columns(self, *names: str, kind: str | None = None) -> bool:
        """Whether the customer table has every column in ``names`` (each of ``kind``, one
        of :data:`COLUMN_KINDS`, when given); e.g. ``context.has_columns("plan")``."""
        if kind is not None:
            return all(self.column_kinds.get(name) == kind for name in names)
        return all(name in self.columns for name in names)

    def columns_of(self, kind: str) -> tuple[str, ...]:
        """The columns of one kind (see :data:`COLUMN_KINDS`), in table order."""
        return tuple(c for c in self.columns if self.column_kinds.get(c) == kind)


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
    #: Naming a model in ``--models`` or ``--include`` includes it, and its plugin's other
    #: components; naming another component in ``--include`` includes it alone.
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
