"""Parallel scaling: several ``segframe search`` CLI processes sharing one study.

Every worker is started at once with the same command (the study's total trial budget
is shared). Throughput comes from the trials' own start/end times in the study, so
process start-up and each worker's final refit do not count; the end-to-end wall time
is reported beside it.

Every trial runs the same pipeline, one of about a second (found by a short probe
search on the same demo data): a fixed pipeline keeps the setups comparable, and at a
second a trial the question is whether the engine and the database let workers scale,
not how fast one commit is. Each process gets one thread (``OMP_NUM_THREADS=1`` and
friends), so that two workers on two cores do not fight over both.
"""

from __future__ import annotations

import contextlib
import os
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

#: One thread per process: a worker is one core's worth of work.
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
#: The probe search's trial time a fixed pipeline is chosen closest to, in seconds.
TRIAL_SECONDS = 1.0


def _cli(storage: str, study: str, trials: int, *options: str) -> list[str]:
    return [
        sys.executable, "-m", "segframe", "search", "--demo",
        "--study", study, "--storage", storage, "--trials", str(trials), *options,
    ]  # fmt: skip


def one_second_pipeline(storage: str, workdir: Path, probe_trials: int = 12) -> optuna.FrozenTrial:
    """The trial of a short demo search (the CLI's own) whose time came closest to
    :data:`TRIAL_SECONDS`: its parameters rebuild that pipeline on the same demo data."""
    study = f"scaling-probe-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        _cli(storage, study, probe_trials),
        check=True,
        cwd=workdir,
        env={**os.environ, **ONE_THREAD},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    done = optuna.load_study(study_name=study, storage=storage).get_trials(
        deepcopy=False, states=(TrialState.COMPLETE,)
    )
    return min(done, key=lambda t: abs(t.user_attrs["seconds"] - TRIAL_SECONDS))


#: (label, CLI processes started at once, extra CLI options)
SETUPS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("1 worker", 1, ()),
    ("2 workers", 2, ()),
    ("1 process, --n-jobs 2", 1, ("--n-jobs", "2")),
)


def run_workers(
    storage: str,
    label: str,
    setup: tuple[str, int, tuple[str, ...]],
    trials: int,
    pipeline: optuna.FrozenTrial,
    workdir: Path,
) -> list[dict[str, Any]]:
    """Start the setup's CLI searches on one fresh study whose every trial is queued to
    run ``pipeline``, and measure its trials per minute."""
    tool, workers, options = setup
    study = f"scaling-{label}-{workers}w-{uuid.uuid4().hex[:8]}"
    queued = optuna.create_study(
        study_name=study, storage=storage, directions=["maximize", "maximize"]
    )
    for _ in range(trials):
        queued.enqueue_trial(pipeline.params)
    logs = [workdir / f"{study}-{i}.log" for i in range(workers)]
    with contextlib.ExitStack() as files:
        outputs = [files.enter_context(log.open("w")) for log in logs]
        started = time.perf_counter()
        processes = [
            subprocess.Popen(
                _cli(storage, study, trials, *options),
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env={**os.environ, **ONE_THREAD},
            )
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
        ]
    return out


def run_scaling(
    storages: dict[str, str],
    trials: int,
    workdir: Path,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Each storage with every setup on the same ~1 s pipeline; ``storages`` maps a label
    to a URL. Each setup's speed-up is its trials per minute over one worker's."""
    out = []
    first = next(iter(storages.values()))
    log(f"scaling: probing the demo search for a pipeline of about {TRIAL_SECONDS} s")
    pipeline = one_second_pipeline(first, workdir)
    text, seconds = pipeline.user_attrs["pipeline_text"], pipeline.user_attrs["seconds"]
    log(f"scaling: every trial runs {text} ({seconds:.2f} s in the probe)")
    for label, url in storages.items():
        figures = []
        for setup in SETUPS:
            log(f"scaling: {setup[0]} on {redact(url)}, {trials} trials")
            figures += run_workers(url, label, setup, trials, pipeline, workdir)
        one = [f["value"] for f in figures if f["metric"] == "trials_per_minute"][:1]
        for f in [f for f in figures if f["metric"] == "trials_per_minute"]:
            if one:
                figures.append(figure("scaling", label, f["tool"], "speedup", f["value"] / one[0]))
        figures.append(
            figure("scaling", label, "every trial", "pipeline", f"{text} ({seconds:.2f} s)")
        )
        out += figures
    return out
