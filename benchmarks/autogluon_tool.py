"""AutoGluon's side of the quality benchmark, run by AutoGluon's own interpreter.

``python benchmarks/autogluon_tool.py WORKDIR --budget SECONDS`` reads
``WORKDIR/train.parquet`` and ``WORKDIR/test.parquet`` (the features plus the 0/1 column
``LABEL``; the test file's label is not read), fits ``TabularPredictor`` with
``presets="medium_quality"``, ``eval_metric="roc_auc"``, the budget as ``time_limit`` and one
CPU, and writes ``WORKDIR/result.json`` (an :class:`AutoGluonResult`).

AutoGluon lives in a virtual environment of its own (its pins differ from segframe's), so this
file imports nothing from segframe or the benchmarks package and needs only the standard
library, pandas and AutoGluon. The benchmark imports :class:`AutoGluonResult` from here without
importing AutoGluon.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

#: the 0/1 label column in the parquet files (1 = the benchmark's positive class)
LABEL = "__segframe_bench_label__"
TRAIN, TEST, RESULT = "train.parquet", "test.parquet", "result.json"


@dataclass(frozen=True)
class AutoGluonResult:
    """What one fit returns to the benchmark (written as JSON by the child process)."""

    proba: list[float]  # probability of the positive class, per test row
    predicted: list[int]  # predict() at AutoGluon's default threshold (0.5)
    threshold: float  # calibrate_decision_threshold(metric="f1") on AutoGluon's own holdout
    calibrated: list[int]  # predictions at that threshold
    best_model: str
    models: list[str]  # every model AutoGluon trained in the budget
    excluded: list[str]  # model types of the preset left out because their package is missing
    fit_seconds: float  # fit() alone, without interpreter start and data loading
    version: str

    @classmethod
    def read(cls, workdir: Path) -> AutoGluonResult:
        return cls(**json.loads((workdir / RESULT).read_text(encoding="utf-8")))


#: model types of the medium_quality preset and the package each needs beyond AutoGluon's own
OPTIONAL_MODELS = {"NN_TORCH": "torch", "FASTAI": "fastai"}


def run(workdir: Path, budget: float) -> AutoGluonResult:
    """Fit and predict. AutoGluon's own random state stays at its default (fit() has no seed
    argument); seeds differ through the benchmark's train/test split."""
    import importlib.util

    import autogluon.tabular
    import pandas as pd
    from autogluon.tabular import TabularPredictor

    train = pd.read_parquet(workdir / TRAIN)
    test = pd.read_parquet(workdir / TEST).drop(columns=[LABEL], errors="ignore")
    predictor = TabularPredictor(
        label=LABEL,
        problem_type="binary",
        eval_metric="roc_auc",
        positive_class=1,
        path=str(workdir / "models"),
        verbosity=0,
    )
    # Without its package a model type fails at fit time after a warning; leave it out instead,
    # and say so in the result.
    excluded = [
        kind
        for kind, package in OPTIONAL_MODELS.items()
        if importlib.util.find_spec(package) is None
    ]
    started = time.perf_counter()
    predictor.fit(
        train,
        presets="medium_quality",
        time_limit=budget,
        num_cpus=1,  # the predictor as a whole, and each model below
        num_gpus=0,
        ag_args_fit={"num_cpus": 1},
        # predict() stays at 0.5; the calibrated threshold is a second, separate figure.
        calibrate_decision_threshold=False,
        excluded_model_types=excluded,
    )
    fit_seconds = time.perf_counter() - started
    proba = predictor.predict_proba(test, as_multiclass=False)
    predicted = predictor.predict(test)
    threshold = float(predictor.calibrate_decision_threshold(metric="f1", verbose=False))
    calibrated = predictor.predict(test, decision_threshold=threshold)
    return AutoGluonResult(
        proba=[float(p) for p in proba],
        predicted=[int(v) for v in predicted],
        threshold=threshold,
        calibrated=[int(v) for v in calibrated],
        best_model=str(predictor.model_best),
        models=[str(m) for m in predictor.model_names()],
        excluded=excluded,
        fit_seconds=fit_seconds,
        version=autogluon.tabular.__version__,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--budget", type=float, required=True, help="time_limit in seconds")
    args = parser.parse_args(argv)
    result = run(args.workdir, args.budget)
    (args.workdir / RESULT).write_text(json.dumps(asdict(result)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
