"""Parallel scaling: several ``segframe search`` CLI processes sharing one study.

Every worker is started at once with the same command (the study's total trial budget
is shared). Throughput comes from the trials' own start/end times in the study, so
process start-up and each worker's final refit do not count; the end-to-end wall time
is reported beside it.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from benchmarks.report import figure
from segframe.storage import redact


def _duplicates(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Trials whose whole parameter set repeats an earlier trial's (wasted work)."""
    seen: set[str] = set()
    repeats = 0
    for trial in trials:
        key = json.dumps(trial.params, sort_keys=True, default=str)
        repeats += key in seen
        seen.add(key)
    return repeats


#: (label, CLI processes started at once, extra CLI options)
SETUPS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("1 worker", 1, ()),
    ("2 workers", 2, ()),
    ("1 process, --n-jobs 2", 1, ("--n-jobs", "2")),
)


def run_workers(
    storage: str, label: str, setup: tuple[str, int, tuple[str, ...]], trials: int, workdir: Path
) -> list[dict[str, Any]]:
    """Start the setup's CLI searches on one fresh study and measure its trials per minute."""
    tool, workers, options = setup
    study = f"scaling-{label}-{workers}w-{uuid.uuid4().hex[:8]}"
    command = [
        sys.executable, "-m", "segframe", "search", "--demo",
        "--study", study, "--storage", storage, "--trials", str(trials), *options,
    ]  # fmt: skip
    logs = [workdir / f"{study}-{i}.log" for i in range(workers)]
    with contextlib.ExitStack() as files:
        outputs = [files.enter_context(log.open("w")) for log in logs]
        started = time.perf_counter()
        processes = [
            subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=workdir)
            for output in outputs
        ]
        codes = [p.wait() for p in processes]
        wall = time.perf_counter() - started
    out = [
        figure("scaling", label, tool, "trials_budget", trials),
        figure("scaling", label, tool, "wall_seconds", wall),
    ]
    for code, log in zip(codes, logs, strict=True):
        if code != 0:
            tail = " ".join(log.read_text(errors="replace").split()[-60:])
            out.append(figure("scaling", label, tool, "error", f"exit {code}: {tail}"))
    try:
        done = optuna.load_study(study_name=study, storage=storage).get_trials(
            deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        )
    except KeyError:
        return out
    if done:
        span = max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)
        out += [
            figure("scaling", label, tool, "finished", len(done)),
            figure(
                "scaling", label, tool, "trials_per_minute", 60 * len(done) / span.total_seconds()
            ),
            figure("scaling", label, tool, "duplicate_trials", _duplicates(done)),
        ]
    return out


def run_scaling(
    storages: dict[str, str],
    trials: int,
    workdir: Path,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Each storage with every setup; ``storages`` maps a label to a URL."""
    out = []
    for label, url in storages.items():
        for setup in SETUPS:
            log(f"scaling: {setup[0]} on {redact(url)}, {trials} trials")
            out += run_workers(url, label, setup, trials, workdir)
    return out
