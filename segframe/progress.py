"""Intermediate scores from inside a fit, so that hopeless candidates can be pruned.

Iterative models (neural networks, boosting) call :func:`report_epoch` after each epoch
with a validation score (higher is better). While a single-objective search evaluates a
candidate, the engine records these as Optuna intermediate values and may stop the
candidate by raising ``optuna.TrialPruned`` from the call; elsewhere the call does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

EpochReporter = Callable[[float, int], None]
_reporter: ContextVar[EpochReporter | None] = ContextVar("segframe_epoch_reporter", default=None)


def report_epoch(score: float, epoch: int) -> None:
    """Report a validation score after ``epoch`` (0-based); may raise ``optuna.TrialPruned``."""
    reporter = _reporter.get()
    if reporter is not None:
        reporter(score, epoch)


@contextmanager
def epoch_reporting(reporter: EpochReporter | None) -> Iterator[None]:
    """Route :func:`report_epoch` calls made inside the block to ``reporter``."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)
