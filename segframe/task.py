"""What a task tells the runner: the one place where classification and segmentation differ.

The runner (:mod:`segframe.runner`) does everything a search of any task needs: the study,
trials, budget, heartbeats, retries, workers, the trial guard, resume and progress. A task
says how to read its data, build its space, evaluate a candidate, turn scores into
objective values, pick and store its winner, and show itself in the leaderboard. Adding a
task is one module that defines a :class:`Task` and its line in :data:`TASK_MODULES`.

A task object holds no state: the runner pickles it (by reference to its class) to worker
processes, and builds the evaluator in a guarded child through :meth:`Task.evaluator`.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial

from segframe.data import CustomerData, load_customers
from segframe.demo import make_demo
from segframe.errors import DataError, SegframeError
from segframe.plan import SearchPlan, Workload

#: Where each task lives: the name stored with a study and a winner → its module, which
#: defines ``TASK``. Imported when first asked for, so no task module imports another.
TASK_MODULES = {
    "classification": "segframe.engine",
    "segmentation": "segframe.segmentation",
}

#: An evaluator: ``(spec, pruning or None) -> scores``; ``close()`` releases it.
Evaluator = Callable[[Any, Any], dict[str, Any]]


@dataclass(frozen=True)
class Source:
    """Where the customers come from, as a search, a segmentation or the CLI was given them."""

    data: Any
    target: str | None = None
    events: Any = None
    id_column: str | None = None
    demo: bool = False

    def study_name(self, suffix: str = "") -> str:
        """``demo``, the data file's stem, or ``segframe`` for in-memory data; plus ``suffix``."""
        if self.demo:
            return f"demo{suffix}"
        if isinstance(self.data, str | Path):
            return f"{Path(self.data).stem}{suffix}"
        return f"segframe{suffix}"

    def load(self, seed: int, *, labelled: bool) -> CustomerData:
        """The customers, with their target when ``labelled`` (the demo's label is dropped
        for an unlabelled task, so it cannot leak into the features)."""
        if isinstance(self.data, CustomerData):
            return self.data
        if self.demo:
            customers, log = make_demo(seed=seed)
            if labelled:
                return load_customers(
                    customers, target="will_buy_again", id_column="customer_id", events=log
                )
            customers = customers.drop(columns="will_buy_again")
            return load_customers(customers, id_column="customer_id", events=log)
        if labelled and (self.data is None or self.target is None):
            raise DataError("Pass a customer table and its target column (or use the demo data).")
        if self.data is None:
            raise DataError(
                "Pass a customer table (and usually its event log), or use the demo data."
            )
        return load_customers(
            self.data, target=self.target, id_column=self.id_column, events=self.events
        )


class Task(ABC):
    """A kind of search. Each method is asked at one step of a run; see the runner."""

    #: Stored with the study (``meta["task"]``) and with the winner (its ``task`` column).
    name: str

    @abstractmethod
    def check(self, plan: SearchPlan) -> None:
        """Refuse settings this task cannot run with, before any data is read."""

    @abstractmethod
    def metrics(self, plan: SearchPlan) -> list[str]:
        """The names of the objective values, all maximised, in the order :meth:`outcome`
        returns them."""

    @abstractmethod
    def prepare(self, plan: SearchPlan, source: Source, registry: Any) -> tuple[Workload, Any]:
        """Read the data once, in the parent: what every process needs (the workload), and
        what only the winner's storing needs (anything; passed back to :meth:`store`)."""

    @abstractmethod
    def space(self, plan: SearchPlan, work: Workload, registry: Any) -> Any:
        """The search space: ``sample(trial) -> spec``, ``choices()`` (the categorical
        parameters a continued study must keep) and ``portfolio(limit)`` (known-good
        first trials, as parameter dicts)."""

    @abstractmethod
    def evaluator(self, plan: SearchPlan, work: Workload, registry: Any = None) -> Any:
        """The in-process evaluator of candidates (``registry`` None: rebuild it from the
        workload's recipe, as a guarded child does); it has ``close()``."""

    def pruning(
        self, trial: optuna.Trial, plan: SearchPlan, trials: Sequence[FrozenTrial]
    ) -> Any | None:
        """What stops a hopeless trial early (``epoch_reporter``, ``after_fold`` and the
        ``attrs`` recorded when it stops), or None: this task's trials run to the end."""
        return None

    @abstractmethod
    def outcome(
        self, plan: SearchPlan, work: Workload, study: str, number: int, result: dict[str, Any]
    ) -> tuple[dict[str, Any], list[float]]:
        """The trial attributes to record from an evaluator's result, and the objective
        values (in :meth:`metrics` order); may store side data such as predictions."""

    def reserve(self, trials: Sequence[FrozenTrial], plan: SearchPlan) -> float:
        """Seconds of ``plan.timeout`` to keep for what follows the trials (final fits)."""
        return 0.0

    @abstractmethod
    def event(
        self,
        trials: list[FrozenTrial],
        number: int,
        state: str,
        text: str,
        error: str | None,
        budget: int | None,
    ) -> Any:
        """What a progress display gets after trial ``number`` finished. ``trials`` is the
        study as the runner last read it, with this trial's outcome: find trials by number,
        not by position (other processes' trials may be missing)."""

    @abstractmethod
    def store(
        self,
        study: optuna.Study,
        plan: SearchPlan,
        work: Workload,
        registry: Any,
        prepared: Any,
        time_left: float | None,
    ) -> Any:
        """Pick the winner from the study's trials, fit it, store it; the run's result."""

    @abstractmethod
    def leaderboard(self, study: str, storage: str) -> pd.DataFrame:
        """One row per trial of a study of this task, best first."""

    @abstractmethod
    def predict_columns(
        self, pipeline: Any, frame: pd.DataFrame, details: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        """``segframe predict``'s columns after the id: (name, values) for the customers of
        ``frame``, from the stored ``pipeline`` and its winner's ``details``."""

    #: The report's subtitle: what kind of search made the winner.
    report_title: str

    @abstractmethod
    def report(self, record: Any, study: optuna.Study) -> tuple[list[str], list[str]]:
        """The report's sections (HTML) for the analyst and for the data scientist."""

    @abstractmethod
    def report_facts(self, record: Any) -> list[tuple[str, Any]]:
        """The task's lines of the report's winner facts, as (label, value)."""


def task_named(name: str) -> Task:
    """The task a study or a stored winner names."""
    module = TASK_MODULES.get(name)
    if module is None:
        raise SegframeError(
            f"This study or winner was made by a {name!r} search, which this segframe does not "
            f"know (it knows {', '.join(TASK_MODULES)}); upgrade segframe to read it."
        )
    return importlib.import_module(module).TASK
