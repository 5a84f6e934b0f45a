"""Hostile-plugin guard: each trial's cross-validation runs in a child process.

Why a process and not a thread: a thread cannot be stopped, so a plugin that hangs
(or spins in C code holding the GIL) would keep running, and a plugin that eats
memory would take the search down with it. The child is spawned once per search and
reused; when a trial runs past ``--trial-timeout`` the child is killed (SIGKILL) and
the trial is marked failed, and the next trial starts a fresh child. With
``--trial-memory-mb`` the child's address space is capped (``RLIMIT_AS``), so a
memory hog gets a MemoryError (or dies) inside the child; either way only that trial
fails. The parent keeps the Optuna trial, its heartbeat and the database connection.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
import warnings
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import optuna

from segframe.progress import OutOfTime, current_deadline, trial_deadline


class TrialError(Exception):
    """A trial failed inside the guarded child; ``str()`` is the reason as recorded."""


class _RemotePruning:
    """The child's stand-in for the engine's pruning: the parent owns the Optuna trial."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def _ask(self, *call: Any) -> None:
        self.connection.send(("report", *call))
        if self.connection.recv() == "prune":
            raise optuna.TrialPruned()

    def epoch_reporter(self, fold: int) -> Any:
        return lambda value, epoch: self._ask("epoch", fold, value, epoch)

    def after_fold(self, fold: int, fold_scores: list[dict[str, float]]) -> None:
        self._ask("fold", fold, fold_scores)


#: What builds a trial's evaluator in the child: a picklable, module-level callable (the
#: runner passes one that takes the plan and workload), so this module imports no engine.
EvaluatorFactory = Callable[[], Callable[[Any, Any], dict[str, Any]]]


def _serve(connection: Connection, factory: EvaluatorFactory, memory_mb: int | None) -> None:
    """The child: build the evaluator once, then evaluate each spec it is sent."""
    evaluate = factory()
    if memory_mb is not None:
        limit = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))

    pruning = _RemotePruning(connection)
    while True:
        try:
            spec, prunes, deadline = connection.recv()
        except EOFError:  # the search closed the pipe: done
            return
        try:
            with warnings.catch_warnings(), trial_deadline(deadline):
                warnings.simplefilter("ignore")
                result = evaluate(spec, pruning if prunes else None)
            connection.send(("done", result))
        except optuna.TrialPruned as exc:
            connection.send(("pruned", isinstance(exc, OutOfTime)))
        except MemoryError as exc:  # the heap may be in a poor state: start afresh
            connection.send(("error", f"MemoryError: {exc or 'out of memory'}"))
            return
        except Exception as exc:
            connection.send(("error", f"{type(exc).__name__}: {exc}"))


class GuardedEvaluator:
    """Evaluates specs in a child process with a time limit and a memory cap.

    Same call as the in-process evaluator that ``factory`` builds: ``(spec, pruning) ->
    scores``; specs and scores cross the pipe pickled.
    """

    def __init__(self, factory: EvaluatorFactory, timeout: float | None, memory_mb: int | None):
        self._factory, self._timeout, self._memory_mb = factory, timeout, memory_mb
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._connection: Connection | None = None

    def _start(self) -> Connection:
        if self._process is not None and self._process.is_alive():
            assert self._connection is not None
            return self._connection
        self.close()
        parent, child = self._context.Pipe()
        self._process = self._context.Process(
            target=_serve,
            args=(child, self._factory, self._memory_mb),
            name="segframe-trial",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._connection = parent
        return parent

    def __call__(self, spec: Any, pruning: Any) -> dict[str, Any]:
        connection = self._start()
        connection.send((spec, pruning is not None, current_deadline()))
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            if not connection.poll(left):
                self.close()
                raise TrialError(
                    f"TrialTimeout: the trial ran longer than {self._timeout:g} s and was "
                    "stopped (raise --trial-timeout if such pipelines are wanted)"
                )
            try:
                message = connection.recv()
            except (EOFError, OSError):
                code = self._process.exitcode if self._process is not None else None
                self.close()
                cap = f" (memory cap {self._memory_mb} MB)" if self._memory_mb else ""
                raise TrialError(
                    f"WorkerDied: the trial's process ended abruptly (exit code {code}){cap}; "
                    "the pipeline crashed or ran out of memory"
                ) from None
            if message[0] == "done":
                return message[1]
            if message[0] == "pruned":
                raise OutOfTime() if message[1] else optuna.TrialPruned()
            if message[0] == "error":
                raise TrialError(message[1])
            try:  # an intermediate score: record it, tell the child whether to go on
                if message[1] == "epoch":
                    fold, value, epoch = message[2:]
                    pruning.epoch_reporter(fold)(value, epoch)
                else:
                    pruning.after_fold(*message[2:])
            except optuna.TrialPruned:
                connection.send("prune")
            else:
                connection.send("go")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join()
            self._process = None
