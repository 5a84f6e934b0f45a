"""segframe beside AutoGluon, FLAML and default baselines: ``python -m benchmarks.compare``.

Three sections: quality at equal time budget on real data, engine overhead per trial
against plain scikit-learn code, and parallel scaling of CLI workers on one study.
Every figure goes to a JSON-lines file; a Markdown summary is printed at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import optuna
from threadpoolctl import threadpool_limits

from benchmarks.datasets import (
    DEFAULT_BENCH_DATA_DIR,
    DEFAULT_DATA_DIR,
    BenchmarkError,
    DatasetSpec,
    builtin,
    load,
)
from benchmarks.overhead import run_overhead
from benchmarks.quality import find_autogluon, flaml_estimators, run_quality
from benchmarks.report import Recorder, figure, machine, markdown
from benchmarks.scaling import run_scaling
from benchmarks.throughput import run_throughput

SECTIONS = ("quality", "throughput", "overhead", "scaling")
QUICK = {"budgets": [10.0], "seeds": 1, "max_rows": 2000, "pairs": 4, "search_trials": 6,
         "search_seconds": 40.0, "scaling_trials": 6}  # fmt: skip
FULL = {"budgets": [120.0], "seeds": 3, "max_rows": None, "pairs": 15, "search_trials": 20,
        "search_seconds": 300.0, "scaling_trials": 30}  # fmt: skip


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.compare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="smoke run of a few minutes")
    budgets = parser.add_mutually_exclusive_group()
    budgets.add_argument("--budget", type=float, help="seconds per AutoML tool (default 120)")
    budgets.add_argument(
        "--budgets", type=_budgets, help="several budgets, e.g. 60,120: each is run in turn"
    )
    parser.add_argument("--seeds", type=int, help="80/20 splits, seeds 0..N-1 (default 3)")
    parser.add_argument("--max-rows", type=int, help="stratified subsample of each dataset")
    parser.add_argument(
        "--skip-tools",
        default="",
        help="quality: tools to leave out, comma-separated (e.g. 'flaml (f1)')",
    )
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds first-seed..first-seed+N-1"
    )
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"sections to run, of {','.join(SECTIONS)}"
    )
    parser.add_argument(
        "--datasets",
        help="built-in datasets to use (comma-separated; '' for none; default: every built-in "
        "dataset whose files exist)",
    )
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="shared data")
    parser.add_argument(
        "--bench-data-dir",
        type=Path,
        default=DEFAULT_BENCH_DATA_DIR,
        help="datasets written by `python -m benchmarks.prepare` (default ../bench-data)",
    )
    parser.add_argument(
        "--autogluon-python",
        type=Path,
        help="interpreter with autogluon.tabular (default: this one if it has it, else "
        "../agvenv/bin/python)",
    )
    parser.add_argument("--data", type=Path, help="your own customer table (CSV or Parquet)")
    parser.add_argument("--target", help="its binary target column")
    parser.add_argument("--id", dest="id_column", help="its customer id column")
    parser.add_argument("--events", type=Path, help="its event log (segframe only)")
    parser.add_argument("--pairs", type=int, help="overhead: paired runs of the fixed trial")
    parser.add_argument("--search-trials", type=int, help="overhead: paired default-search trials")
    parser.add_argument("--search-seconds", type=float, help="overhead: default-search time cap")
    parser.add_argument("--scaling-trials", type=int, help="scaling: trial budget per study")
    parser.add_argument("--postgres", help="also measure scaling on this PostgreSQL URL")
    parser.add_argument("--out", type=Path, help="JSON-lines output (default benchmarks/results/)")
    args = parser.parse_args(argv)
    if args.budget is not None:
        args.budgets = [args.budget]
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.only) - set(SECTIONS))
    if unknown:
        parser.error(f"--only: unknown section(s) {', '.join(unknown)}; use {', '.join(SECTIONS)}")
    if (args.data is None) != (args.target is None):
        parser.error("--data and --target go together")
    if args.out is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        args.out = Path(__file__).parent / "results" / f"compare-{stamp}.jsonl"
    return args


def _budgets(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of seconds like 60,120") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError("budgets are positive seconds, e.g. 60,120")
    return values


def dataset_specs(args: argparse.Namespace) -> list[DatasetSpec]:
    """The named built-in datasets (each must exist), or by default every one that exists."""
    known = builtin(args.data_dir, args.bench_data_dir)
    if args.datasets is None:
        specs = [spec for spec in known.values() if spec.exists()]
    else:
        names = [n.strip() for n in args.datasets.split(",") if n.strip()]
        for name in names:
            if name not in known:
                raise BenchmarkError(f"Unknown dataset {name!r}; built-in: {', '.join(known)}.")
            spec = known[name]
            if not spec.exists():
                missing = next(p for p in (spec.data, spec.events) if p and not Path(p).exists())
                raise BenchmarkError(f"{name}: {missing} does not exist. {spec.missing_hint}")
        specs = [known[name] for name in names]
    if args.data is not None:
        specs.append(
            DatasetSpec(args.data.stem, args.data, args.target, args.id_column, args.events)
        )
    return specs


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # Optuna's notices about experimental heartbeat features would bury the progress lines.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage")
    try:  # a wrong or missing dataset stops the run before any output file is written
        wants_data = {"quality", "throughput"} & set(args.only)
        specs = dataset_specs(args) if wants_data else []
    except BenchmarkError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    info = machine()
    autogluon = find_autogluon(args.autogluon_python) if "quality" in args.only else None
    settings = {
        "mode": "quick" if args.quick else "full",
        "budgets_s": args.budgets,
        "seeds": args.seeds,
        "max_rows": args.max_rows or "all",
        "flaml learners": flaml_estimators(),
        "autogluon": autogluon.describe() if autogluon else "not used",
    }
    recorder = Recorder(args.out)
    recorder.add([figure("machine", "-", "-", "info", info, settings=settings)])
    log(f"writing figures to {args.out}")
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="segframe-bench-") as tmp:
            workdir = Path(tmp)
            if "quality" in args.only:
                log(f"datasets: {', '.join(spec.name for spec in specs) or 'none'}")
                loaded = [load(spec, args.max_rows) for spec in specs]
                # Equal compute: every in-process library (BLAS, OpenMP) keeps to one thread.
                with threadpool_limits(1):
                    for budget in args.budgets:  # each budget's table is complete in turn
                        for data in loaded:
                            for figures in run_quality(
                                data,
                                list(range(args.first_seed, args.first_seed + args.seeds)),
                                budget,
                                workdir,
                                log,
                                autogluon,
                                skip=frozenset(
                                    t.strip() for t in args.skip_tools.split(",") if t.strip()
                                ),
                            ):
                                recorder.add(figures)
            if "throughput" in args.only:
                loaded = [load(spec, args.max_rows) for spec in specs]
                with threadpool_limits(1):
                    for figures in run_throughput(loaded, args.budgets[0], 0, workdir, log):
                        recorder.add(figures)
            if "overhead" in args.only:
                recorder.add(
                    run_overhead(args.pairs, args.search_trials, args.search_seconds, workdir, log)
                )
            if "scaling" in args.only:
                storages = {"sqlite": f"sqlite:///{workdir / 'scaling.db'}"}
                if args.postgres:
                    storages["postgresql"] = args.postgres
                recorder.add(run_scaling(storages, args.scaling_trials, workdir, log))
    except BenchmarkError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    finally:
        recorder.close()
    settings["total_minutes"] = round((time.perf_counter() - started) / 60, 1)
    print(markdown(info, settings, recorder.figures))
    print(f"\nAll figures: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
