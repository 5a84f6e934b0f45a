"""The search plan: every setting of a run, typed, with the one set of defaults.

The CLI and the Python API both build a :class:`SearchPlan`, so they cannot drift apart,
and the runner hands it (with the :class:`Workload` derived from the data) to worker and
guard processes: both are frozen and picklable, where a dict of settings let a typo or a
missing key surface only inside another process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from segframe.components import SearchContext
from segframe.storage import DEFAULT_STORAGE

OBJECTIVES: tuple[str, ...] = ("both", "f1", "auc")
REFITS: tuple[str, ...] = ("all", "train")


@dataclass(frozen=True, kw_only=True)
class SearchPlan:
    """What to search, where to store it, and the limits of the run.

    ``trials`` is the study's total budget of finished trials (running the study again
    continues it); ``timeout`` (seconds) bounds one run. ``n_jobs`` worker processes share
    the study. ``trial_timeout`` (seconds) and ``trial_memory_mb`` run each trial in a
    guarded child process that is stopped at the limit; by default (None) trials run
    in-process: fastest, and plugins registered in code need not be importable by another
    process. ``resume`` fails and retries the trials a killed run left running.
    ``cv``, ``holdout``, ``refit``, ``ensemble`` and ``device`` concern classification;
    ``k`` (the range of segment counts) and ``names`` (segment id → name overrides)
    segmentation, whose ``objective`` is ``silhouette``.
    """

    study: str
    storage: str = DEFAULT_STORAGE
    objective: str = "both"
    trials: int | None = 30
    timeout: float | None = None
    seed: int = 0
    models: tuple[str, ...] | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    n_jobs: int = 1
    resume: bool = False
    trial_timeout: float | None = None
    trial_memory_mb: int | None = None
    cv: int = 3
    holdout: float = 0.2
    refit: str = "all"
    ensemble: bool = True
    device: str = "auto"
    k: tuple[int, int] = (2, 12)
    names: tuple[tuple[int, str], ...] = ()

    @property
    def guarded(self) -> bool:
        """Whether trials run in a guarded child process."""
        return self.trial_timeout is not None or self.trial_memory_mb is not None


#: The defaults of every setting, for the CLI's options and the API's signatures.
DEFAULTS = SearchPlan(study="")


@dataclass(frozen=True, kw_only=True)
class Workload:
    """What every process of a run derives from the data once, in the parent.

    ``X``/``y`` are the rows trials are scored on (the training part; ``y`` is None for
    a segmentation), ``positive`` the positive class, ``fingerprint`` names those rows and
    folds (stored out-of-fold predictions belong to it), ``meta`` is stored with the study,
    and ``registry`` is how another process rebuilds the plugin registry (None: the default).
    """

    X: Any
    y: Any
    positive: Any
    context: SearchContext
    meta: dict[str, Any]
    fingerprint: str
    registry: tuple[bool, list[Any]] | None
