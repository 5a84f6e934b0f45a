"""Intermediate scores and the run's deadline, seen from inside a fit.

Iterative models (neural networks, boosting) call :func:`report_epoch` after each epoch
with a validation score (higher is better). While a single-objective search evaluates a
candidate, the engine records these as Optuna intermediate values and may stop the
candidate by raising ``optuna.TrialPruned`` from the call; elsewhere the call does nothing.

A run with a ``timeout`` gives each trial a deadline (:func:`trial_deadline`): a trial
still running when it passes stops at its next fold or reported epoch (:class:`OutOfTime`)
instead of holding the run past its budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import optuna

EpochReporter = Callable[[float, int], None]
_reporter: ContextVar[EpochReporter | None] = ContextVar("segframe_epoch_reporter", default=None)
_deadline: ContextVar[float | None] = ContextVar("segframe_trial_deadline", default=None)


class OutOfTime(optuna.TrialPruned):
    """The run's time was up while this trial ran; it is recorded as stopped, not failed."""


def report_epoch(score: float, epoch: int) -> None:
    """Report a validation score after ``epoch`` (0-based); may raise ``optuna.TrialPruned``
    (:class:`OutOfTime` once the run's time is up)."""
    stop_if_out_of_time()
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


def current_deadline() -> float | None:
    """The running trial's deadline (``time.monotonic()`` seconds), or None."""
    return _deadline.get()


def out_of_time() -> bool:
    """Whether the running trial's deadline has passed (never outside a search's trials):
    a library's training loop that cannot raise through checks it to end early."""
    deadline = _deadline.get()
    return deadline is not None and time.monotonic() >= deadline


def stop_if_out_of_time() -> None:
    """Raise :class:`OutOfTime` when the running trial's deadline has passed."""
    if out_of_time():
        raise OutOfTime()


@contextmanager
def trial_deadline(deadline: float | None) -> Iterator[None]:
    """Trials evaluated inside the block stop at ``deadline`` (``time.monotonic()``
    seconds, the same clock in every process of the machine); None: no deadline."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)
