"""Figures as JSON lines, the machine they were taken on, and the Markdown summary."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TextIO

import numpy as np

LIBRARIES = (
    "segframe",
    "optuna",
    "scikit-learn",
    "imbalanced-learn",
    "xgboost",
    "flaml",
    "lightgbm",
    "tensorflow",
    "keras",
    "pandas",
    "numpy",
    "sqlalchemy",
)


def figure(
    section: str,
    dataset: str,
    tool: str,
    metric: str,
    value: Any,
    seed: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One figure: every JSON line carries dataset, tool, seed and metric."""
    return {
        "section": section,
        "dataset": dataset,
        "tool": tool,
        "seed": seed,
        "metric": metric,
        "value": value,
        **extra,
    }


class Recorder:
    """Appends figures to a JSON-lines file as they are measured, and keeps them for the table."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.figures: list[dict[str, Any]] = []
        self._file: TextIO = path.open("w", encoding="utf-8")

    def add(self, figures: Iterable[dict[str, Any]]) -> None:
        for item in figures:
            self.figures.append(item)
            self._file.write(json.dumps(item, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    """Cores, memory, load and library versions: timings mean little without them."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu": _cpu_model(),
        "memory_gib": _memory_gib(),
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in LIBRARIES},
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _spread(values: list[float], digits: int = 3) -> str:
    """Mean ± sample standard deviation (just the value for a single seed)."""
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _values(figures: list[dict], **match: Any) -> list[Any]:
    return [f["value"] for f in figures if all(f.get(k) == v for k, v in match.items())]


def _quality(figures: list[dict]) -> str:
    """One table per budget: every tool on every dataset, then the failures and winners."""
    budgets = dict.fromkeys(f.get("budget") for f in figures)
    parts = []
    for budget in budgets:
        chosen = [f for f in figures if f.get("budget") == budget]
        title = f"#### Budget {budget:g} s per AutoML tool" if budget is not None else ""
        parts += [title, _quality_table(chosen)] if title else [_quality_table(chosen)]
    return "\n\n".join(parts)


def _quality_table(figures: list[dict]) -> str:
    rows, notes = [], []
    keys = dict.fromkeys((f["dataset"], f["tool"]) for f in figures)
    for dataset, tool in keys:
        pick = [f for f in figures if f["dataset"] == dataset and f["tool"] == tool]
        seeds = sorted({f["seed"] for f in pick})
        failures = [f for f in pick if f["metric"] == "error"]
        notes += [f"{dataset} / {tool} / seed {f['seed']} failed: {f['value']}" for f in failures]
        trials = _values(pick, metric="trials")
        per_minute = _values(pick, metric="trials_per_minute")
        rows.append(
            [
                dataset,
                tool,
                _spread(_values(pick, metric="f1")),
                _spread(_values(pick, metric="roc_auc")),
                _spread(_values(pick, metric="seconds"), 0),
                _spread(trials, 0) if trials else "",
                _spread(per_minute, 1) if per_minute else "",
                f"{len(seeds) - len(failures)}/{len(seeds)}",
            ]
        )
        for f in pick:
            if f["metric"] == "winner":
                threshold = f" (threshold {f['threshold']:.3f})" if "threshold" in f else ""
                notes.append(f"{dataset} / {tool} / seed {f['seed']}: {f['value']}{threshold}")
    header = ["dataset", "tool", "F1", "ROC-AUC", "seconds", "trials", "trials/min", "seeds ok"]
    text = _table(header, rows)
    return text + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "")


def _overhead(figures: list[dict]) -> str:
    rows = []
    writes = _values(figures, metric="write_ms_median")
    for dataset in dict.fromkeys(f["dataset"] for f in figures if f["metric"] != "write_ms_median"):
        pick = [f for f in figures if f["dataset"] == dataset]

        def one(metric: str, tool: str, pick: list[dict] = pick) -> list[Any]:
            return _values(pick, metric=metric, tool=tool)

        ratio = one("ratio_median", "segframe/plain")
        rows.append(
            [
                dataset,
                _fmt(one("seconds_median", "segframe")),
                _fmt(one("seconds_median", "plain")),
                _fmt(ratio),
                _fmt(one("overhead_ms_median", "segframe/plain"), 0),
                _fmt(one("pairs", "segframe/plain"), 0),
                _fmt(one("scores_identical", "segframe/plain"), 0),
                _fmt(one("trials_per_minute", "segframe"), 1),
                _fmt(one("trials_per_minute", "plain"), 1),
            ]
        )

    header = [
        "measurement",
        "segframe s/trial",
        "plain s/trial",
        "ratio (median)",
        "overhead ms",
        "pairs",
        "same scores",
        "segframe trials/min",
        "plain trials/min",
    ]
    note = (
        f"\n\nOne Optuna write (one trial attribute, one commit) on SQLite as segframe opens "
        f"it: {writes[0]:.1f} ms median; a segframe trial makes about six commits."
        if writes
        else ""
    )
    return _table(header, rows) + note


def _fmt(values: list[Any], digits: int = 3) -> str:
    return "—" if not values or values[0] is None else f"{values[0]:.{digits}f}"


def _scaling(figures: list[dict]) -> str:
    rows, notes = [], []
    for dataset, tool in dict.fromkeys((f["dataset"], f["tool"]) for f in figures):
        pick = [f for f in figures if f["dataset"] == dataset and f["tool"] == tool]
        for f in pick:
            if f["metric"] == "error":
                notes.append(f"{tool}: {f['value']}")
            if f["metric"] == "pipeline":
                notes.append(f"{dataset}: every trial runs {f['value']}")
        if not _values(pick, metric="trials_budget"):
            continue
        rows.append(
            [
                dataset,
                tool,
                _fmt(_values(pick, metric="trials_budget"), 0),
                _fmt(_values(pick, metric="finished"), 0),
                _fmt(_values(pick, metric="trials_per_minute"), 1),
                _fmt(_values(pick, metric="speedup"), 2),
                _fmt(_values(pick, metric="wall_seconds"), 1),
            ]
        )
    header = [
        "storage",
        "workers",
        "trial budget",
        "finished",
        "trials/min",
        "× one worker",
        "wall s",
    ]
    text = _table(header, rows)
    return text + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "")


def _throughput(figures: list[dict]) -> str:
    """Trials per minute of each variant on each dataset, and the ratio to the first."""
    rows = []
    for dataset in dict.fromkeys(f["dataset"] for f in figures):
        for tool in dict.fromkeys(f["tool"] for f in figures if f["dataset"] == dataset):
            pick = {
                f["metric"]: f["value"]
                for f in figures
                if (f["dataset"], f["tool"]) == (dataset, tool)
            }
            rows.append(
                [
                    dataset,
                    tool,
                    f"{pick['trials_per_minute']:.1f}",
                    str(pick["trials"]),
                    str(pick["stopped_early"]),
                    f"{pick['ratio']:.2f}×",
                ]
            )
    header = ["dataset", "variant", "trials/min", "trials", "stopped early", "vs first"]
    return _table(header, rows)


def markdown(info: dict[str, Any], settings: dict[str, Any], figures: list[dict]) -> str:
    """The terminal summary: machine, versions, settings and one table per section."""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    parts = [
        f"## segframe benchmark ({info['started_utc']})",
        f"Machine: {info['usable_cores']} of {info['cores']} cores ({info['cpu']}), "
        f"{info['memory_gib']} GiB memory, load average {info['load_average']} at start, "
        f"{info['platform']}, Python {info['python']}.",
        f"Versions: {versions}.",
        "Settings: " + ", ".join(f"{k} {v}" for k, v in settings.items()) + ".",
    ]
    titles = {
        "quality": "### Quality on the benchmark's own 20 % test split (mean ± sd over seeds)",
        "throughput": "### Trials per minute: per-fold feature cache and first-fold stop",
        "overhead": "### Engine overhead per trial, segframe vs the same pipeline in plain code",
        "scaling": "### Parallel scaling: `segframe search` CLI workers on one study",
    }
    render = {
        "quality": _quality,
        "throughput": _throughput,
        "overhead": _overhead,
        "scaling": _scaling,
    }
    for section, title in titles.items():
        chosen = [f for f in figures if f["section"] == section]
        if chosen:
            parts += [title, render[section](chosen)]
    return "\n\n".join(parts)
