"""Quality at equal budget: every tool trains on the same 80 % and is scored on the same 20 %."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from benchmarks import autogluon_tool
from benchmarks.autogluon_tool import AutoGluonResult
from benchmarks.datasets import Dataset
from benchmarks.report import figure

#: FLAML's default classification learners (``estimator_list="auto"``) that need no extra
#: package besides FLAML's own requirements; ``lgbm`` joins when lightgbm is installed.
FLAML_WITHOUT_LIGHTGBM = ["rf", "xgboost", "extra_tree", "xgb_limitdepth", "sgd", "lrl1"]

#: (probability of the positive class, predict() says positive) on the test rows
Predictions = tuple[np.ndarray, np.ndarray]

#: AutoGluon's own virtual environment beside the checkout (benchmarks/README.md installs it).
DEFAULT_AUTOGLUON_VENV = Path(__file__).resolve().parents[2] / "agvenv"
AUTOGLUON = "autogluon"
AUTOGLUON_CALIBRATED = "autogluon (f1-calibrated)"
#: every library that could start a thread pool in the AutoGluon child keeps to one thread
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


class ToolError(RuntimeError):
    """A tool failure its one-line message explains fully (no traceback in the log)."""


@dataclass(frozen=True)
class AutoGluonPython:
    """The interpreter that runs AutoGluon, or why there is none."""

    path: str | None
    version: str | None = None
    problem: str | None = None

    def describe(self) -> str:
        if self.path is None:
            return f"not installed ({self.problem})"
        return f"{self.version} ({self.path})"


def find_autogluon(explicit: Path | None = None) -> AutoGluonPython:
    """``explicit`` if given; else this interpreter when it has AutoGluon; else ../agvenv."""
    if explicit is None:
        if importlib.util.find_spec("autogluon") and importlib.util.find_spec("autogluon.tabular"):
            explicit = Path(sys.executable)
        else:
            explicit = DEFAULT_AUTOGLUON_VENV / "bin" / "python"
            if not explicit.exists():
                return AutoGluonPython(
                    None,
                    problem=f"no autogluon.tabular here and no {explicit}; "
                    "benchmarks/README.md says how to install it, or pass --autogluon-python",
                )
    if not explicit.exists():
        return AutoGluonPython(None, problem=f"{explicit} does not exist")
    probe = subprocess.run(
        [str(explicit), "-c", "import autogluon.tabular as t; print(t.__version__)"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        return AutoGluonPython(None, problem=f"{explicit} cannot import autogluon.tabular: {last}")
    return AutoGluonPython(str(explicit), version=probe.stdout.strip())


def _table_preprocessor(scale: bool) -> ColumnTransformer:
    """Median-impute numbers (and scale them for linear models), one-hot categoricals."""
    numeric = [SimpleImputer(strategy="median"), *([StandardScaler()] if scale else [])]
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
    )
    return ColumnTransformer(
        [
            ("numeric", make_pipeline(*numeric), make_column_selector(dtype_include=np.number)),
            ("categorical", categorical, make_column_selector(dtype_exclude=np.number)),
        ]
    )


def _baseline(model: Any, scale: bool) -> Pipeline:
    return make_pipeline(_table_preprocessor(scale), model)


def flaml_estimators() -> list[str] | str:
    """FLAML's own default learners, minus LightGBM when it is not installed."""
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        return FLAML_WITHOUT_LIGHTGBM
    return "auto"


class Run:
    """One seed of one dataset: the split, and the tools fitted on its training part."""

    def __init__(
        self,
        data: Dataset,
        seed: int,
        budget: float,
        workdir: Path,
        autogluon: AutoGluonPython | None = None,
    ) -> None:
        self.data, self.seed, self.budget, self.workdir = data, seed, budget, workdir
        self.autogluon_python = autogluon or AutoGluonPython(None, problem="not looked for")
        self.autogluon_result: AutoGluonResult | None = None
        self.autogluon_seconds = 0.0
        rows = np.arange(len(data.y))
        self.train, self.test = train_test_split(
            rows, test_size=0.2, stratify=data.y, random_state=seed
        )

    def _table_tool(self, model: Pipeline) -> tuple[Predictions, dict[str, Any]]:
        table, y = self.data.table, self.data.y
        fitted = model.fit(table.iloc[self.train], y[self.train])
        test = table.iloc[self.test]
        return (fitted.predict_proba(test)[:, 1], fitted.predict(test) == 1), {}

    def xgboost(self) -> tuple[Predictions, dict[str, Any]]:
        from xgboost import XGBClassifier

        return self._table_tool(
            _baseline(XGBClassifier(n_jobs=1, random_state=self.seed, verbosity=0), scale=False)
        )

    def logreg(self) -> tuple[Predictions, dict[str, Any]]:
        return self._table_tool(_baseline(LogisticRegression(max_iter=1000), scale=True))

    def flaml(self, metric: str) -> tuple[Predictions, dict[str, Any]]:
        from flaml import AutoML

        automl = AutoML()
        estimators = flaml_estimators()
        automl.fit(
            X_train=self.data.table.iloc[self.train],
            y_train=self.data.y[self.train],
            task="classification",
            metric=metric,
            time_budget=self.budget,
            seed=self.seed,
            n_jobs=1,
            verbose=0,
            estimator_list=estimators,
        )
        test = self.data.table.iloc[self.test]
        positive = list(automl.classes_).index(1)
        extra = {
            "winner": automl.best_estimator,
            "config": automl.best_config,
            "estimators": estimators,
        }
        return (automl.predict_proba(test)[:, positive], automl.predict(test) == 1), extra

    def autogluon(self) -> tuple[Predictions, dict[str, Any]]:
        """AutoGluon in its own interpreter; the calibrated figure reuses this fit."""
        python = self.autogluon_python
        if python.path is None:
            raise ToolError(f"AutoGluon not installed: {python.problem}")
        folder = self.workdir / f"autogluon-{self.data.name}-b{self.budget:g}-seed{self.seed}"
        folder.mkdir(parents=True, exist_ok=True)
        label = autogluon_tool.LABEL
        table = self.data.table.reset_index(drop=True)
        table.iloc[self.train].assign(**{label: self.data.y[self.train]}).to_parquet(
            folder / autogluon_tool.TRAIN
        )
        table.iloc[self.test].to_parquet(folder / autogluon_tool.TEST)
        command = [python.path, autogluon_tool.__file__, str(folder), "--budget", f"{self.budget}"]
        started = time.perf_counter()
        child = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={**os.environ, **ONE_THREAD},
            # AutoGluon finishes the model running at the deadline, then ensembles and predicts.
            timeout=3 * self.budget + 300,
        )
        self.autogluon_seconds = time.perf_counter() - started
        if child.returncode != 0:
            tail = " | ".join(child.stderr.strip().splitlines()[-3:])
            raise ToolError(f"AutoGluon exited with {child.returncode}: {tail}")
        result = self.autogluon_result = AutoGluonResult.read(folder)
        shutil.rmtree(folder / "models", ignore_errors=True)  # tens of MB per fit otherwise
        proba = np.asarray(result.proba)
        return (proba, np.asarray(result.predicted) == 1), self._autogluon_extra()

    def autogluon_calibrated(self) -> tuple[Predictions, dict[str, Any]]:
        """The same fit, predicting at the threshold calibrate_decision_threshold("f1") chose."""
        result = self.autogluon_result
        if result is None:
            raise ToolError("the AutoGluon fit failed (see the autogluon row)")
        predictions = (np.asarray(result.proba), np.asarray(result.calibrated) == 1)
        return predictions, {**self._autogluon_extra(), "threshold": result.threshold}

    def _autogluon_extra(self) -> dict[str, Any]:
        result = self.autogluon_result
        assert result is not None
        return {
            "winner": result.best_model,
            "models": result.models,
            "excluded_models": result.excluded,
            "fit_seconds": result.fit_seconds,
            "autogluon": result.version,
        }

    def segframe(self) -> tuple[Predictions, dict[str, Any]]:
        import segframe

        result = segframe.search(
            self.data.subset(self.train),
            storage=f"sqlite:///{self.workdir / 'quality.db'}",
            # one study per dataset, budget and seed: several budgets share the database
            study=f"{self.data.name}-b{self.budget:g}-seed{self.seed}",
            trials=None,
            timeout=self.budget,
            seed=self.seed,
        )
        board = result.leaderboard()
        extra = {
            "winner": result.best_spec.describe(),
            "trials": int((board["state"] != "RUNNING").sum()),
            "internal_holdout": result.holdout_scores,
            "cv": result.cv_scores,
        }
        return self._score_segframe(result.best_pipeline), extra

    def _score_segframe(self, pipeline: Any) -> Predictions:
        test = self.data.customers.frame.iloc[self.test]
        if pipeline.classes_[pipeline.positive_index_] != self.data.positive:
            raise RuntimeError("segframe picked a different positive class than the benchmark")
        proba = pipeline.predict_proba(test)[:, pipeline.positive_index_]
        return proba, pipeline.predict(test) == self.data.positive

    def score(self, tool: str, predictions: Predictions, seconds: float, **extra: Any) -> list:
        truth = self.data.y[self.test] == 1
        proba, predicted = predictions
        values: dict[str, Any] = {
            "f1": float(f1_score(truth, predicted, zero_division=0.0)),
            "roc_auc": float(roc_auc_score(truth, proba)),
            "seconds": seconds,
        }
        if "trials" in extra:
            values["trials"] = extra.pop("trials")
            # finished trials per minute of the search budget (the refit is not searching)
            values["trials_per_minute"] = values["trials"] * 60.0 / self.budget
        figures = [self.figure(tool, metric, value) for metric, value in values.items()]
        if "winner" in extra:
            figures.append(self.figure(tool, "winner", extra.pop("winner"), **extra))
        return figures

    def figure(self, tool: str, metric: str, value: Any, **extra: Any) -> dict[str, Any]:
        """A quality figure of this run: every one carries the budget, so tables split by it."""
        return figure(
            "quality", self.data.name, tool, metric, value, self.seed, budget=self.budget, **extra
        )


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = call()
    return out, time.perf_counter() - start


def run_quality(
    data: Dataset,
    seeds: list[int],
    budget: float,
    workdir: Path,
    log: Callable[[str], None],
    autogluon: AutoGluonPython | None = None,
    skip: frozenset[str] = frozenset(),
) -> Iterator[list[dict[str, Any]]]:
    """Yield each tool's figures for each seed as soon as they are measured; tools named in
    ``skip`` are left out (AutoGluon's calibrated row goes with ``autogluon``)."""
    for seed in seeds:
        run = Run(data, seed, budget, workdir, autogluon)
        tools: list[tuple[str, Callable[[], Any]]] = [
            ("segframe", run.segframe),
            ("flaml (roc_auc)", lambda run=run: run.flaml("roc_auc")),
            ("flaml (f1)", lambda run=run: run.flaml("f1")),
            (AUTOGLUON, run.autogluon),
            ("xgboost default", run.xgboost),
            ("logreg", run.logreg),
        ]
        for tool, call in tools:
            if tool in skip:
                continue
            yield _measure(run, tool, call, log)
            if tool == AUTOGLUON:
                # Same fit and seconds; only the decision threshold differs.
                yield _measure(
                    run, AUTOGLUON_CALIBRATED, run.autogluon_calibrated, log, run.autogluon_seconds
                )


def _measure(
    run: Run,
    tool: str,
    call: Callable[[], Any],
    log: Callable[[str], None],
    seconds: float | None = None,
) -> list:
    """One tool's figures; a failure becomes an ``error`` figure so the other tools go on.
    ``seconds`` replaces the measured time of a tool that reuses another's fit."""
    log(f"{run.data.name} budget {run.budget:g} s seed {run.seed}: {tool}")
    try:
        out, measured = _timed(call)
    except Exception as exc:
        if isinstance(exc, ToolError):
            return [run.figure(tool, "error", str(exc))]
        log(traceback.format_exc())
        return [run.figure(tool, "error", f"{type(exc).__name__}: {exc}")]
    return run.score(tool, out[0], measured if seconds is None else seconds, **out[1])
