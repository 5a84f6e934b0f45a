"""Trials per minute with and without the per-fold feature cache and the first-fold stop.

The same time-bounded default search (same data, split, folds and seed) runs three times in
one process: with both switched off, with the cache only, and with both, as segframe
ships. Trials per minute count every finished trial (complete, stopped early or failed)
over the trial loop's own span, so the final refits do not dilute the figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna

from benchmarks.datasets import Dataset
from benchmarks.report import figure
from segframe import engine

#: variant → (feature cache bytes, trials needed before the first-fold stop acts)
VARIANTS: dict[str, tuple[int, int]] = {
    "no cache, no early stop": (0, 10**9),
    "cache": (engine.FEATURE_CACHE_BYTES, 10**9),
    "cache + first-fold stop (default)": (engine.FEATURE_CACHE_BYTES, engine.EARLY_STOP_AFTER),
}


@contextmanager
def _switched(cache_bytes: int, stop_after: int) -> Iterator[None]:
    saved = engine.FEATURE_CACHE_BYTES, engine.EARLY_STOP_AFTER
    engine.FEATURE_CACHE_BYTES, engine.EARLY_STOP_AFTER = cache_bytes, stop_after
    try:
        yield
    finally:
        engine.FEATURE_CACHE_BYTES, engine.EARLY_STOP_AFTER = saved


def _per_minute(trials: list[optuna.trial.FrozenTrial]) -> tuple[int, float]:
    done = [t for t in trials if t.datetime_complete is not None]
    if not done:
        return 0, 0.0
    start = min(t.datetime_start for t in done)
    end = max(t.datetime_complete for t in done)
    return len(done), 60 * len(done) / max((end - start).total_seconds(), 1e-9)


def run_throughput(
    datasets: list[Dataset], budget: float, seed: int, workdir: Path, log: Callable[[str], None]
) -> Iterator[list[dict[str, Any]]]:
    """Yield each variant's trials per minute on each dataset, then its ratio to the first."""
    import segframe

    for data in datasets:
        base = None
        for number, (variant, switches) in enumerate(VARIANTS.items()):
            log(f"throughput {data.name}: {variant}")
            storage = f"sqlite:///{workdir / 'throughput.db'}"
            study = f"{data.name}-throughput-{number}-{time.time_ns()}"
            with _switched(*switches):
                segframe.search(
                    data.customers,
                    storage=storage,
                    study=study,
                    trials=None,
                    timeout=budget,
                    seed=seed,
                    ensemble=False,
                )
            trials = optuna.load_study(study_name=study, storage=storage).get_trials()
            count, rate = _per_minute(trials)
            pruned = sum(t.state.name == "PRUNED" for t in trials)
            base = rate if base is None else base
            yield [
                figure("throughput", data.name, variant, "trials_per_minute", rate, seed),
                figure("throughput", data.name, variant, "trials", count, seed),
                figure("throughput", data.name, variant, "stopped_early", pruned, seed),
                figure("throughput", data.name, variant, "ratio", rate / base, seed),
            ]
