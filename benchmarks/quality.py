"""Quality at equal budget: every tool trains on the same 80 % and is scored on the same 20 %."""

from __future__ import annotations

import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from benchmarks.datasets import Dataset
from benchmarks.report import figure

#: FLAML's default classification learners (``estimator_list="auto"``) that need no extra
#: package besides FLAML's own requirements; ``lgbm`` joins when lightgbm is installed.
FLAML_WITHOUT_LIGHTGBM = ["rf", "xgboost", "extra_tree", "xgb_limitdepth", "sgd", "lrl1"]

#: (probability of the positive class, predict() says positive) on the test rows
Predictions = tuple[np.ndarray, np.ndarray]


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

    def __init__(self, data: Dataset, seed: int, budget: float, workdir: Path) -> None:
        self.data, self.seed, self.budget, self.workdir = data, seed, budget, workdir
        self.segframe_winner: Any = None
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

    def segframe(self) -> tuple[Predictions, dict[str, Any]]:
        import segframe

        result = segframe.search(
            self.data.subset(self.train),
            storage=f"sqlite:///{self.workdir / 'quality.db'}",
            study=f"{self.data.name}-seed{self.seed}",
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
        self.segframe_winner = result.best_pipeline
        return self._score_segframe(result.best_pipeline), extra

    def segframe_refit(self) -> tuple[Predictions, dict[str, Any]]:
        """Diagnostic: segframe's winning spec refitted on the whole 80 %, not 80 % of it."""
        part = self.data.subset(self.train)
        refitted = clone(self.segframe_winner).fit(part.frame, part.target)
        return self._score_segframe(refitted), {}

    def _score_segframe(self, pipeline: Any) -> Predictions:
        test = self.data.customers.frame.iloc[self.test]
        if pipeline.classes_[pipeline.positive_index_] != self.data.positive:
            raise RuntimeError("segframe picked a different positive class than the benchmark")
        proba = pipeline.predict_proba(test)[:, pipeline.positive_index_]
        return proba, pipeline.predict(test) == self.data.positive

    def score(self, tool: str, predictions: Predictions, seconds: float, **extra: Any) -> list:
        truth = self.data.y[self.test] == 1
        proba, predicted = predictions
        values = {
            "f1": f1_score(truth, predicted, zero_division=0.0),
            "roc_auc": roc_auc_score(truth, proba),
            "seconds": seconds,
        }
        figures = [
            figure("quality", self.data.name, tool, metric, float(value), self.seed)
            for metric, value in values.items()
        ]
        if "trials" in extra:
            figures.append(
                figure("quality", self.data.name, tool, "trials", extra.pop("trials"), self.seed)
            )
        if "winner" in extra:
            figures.append(
                figure(
                    "quality",
                    self.data.name,
                    tool,
                    "winner",
                    extra.pop("winner"),
                    self.seed,
                    **extra,
                )
            )
        return figures


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
) -> Iterator[list[dict[str, Any]]]:
    """Yield each tool's figures for each seed as soon as they are measured."""
    for seed in seeds:
        run = Run(data, seed, budget, workdir)
        tools: list[tuple[str, Callable[[], Any]]] = [
            ("segframe", run.segframe),
            ("flaml (roc_auc)", lambda run=run: run.flaml("roc_auc")),
            ("flaml (f1)", lambda run=run: run.flaml("f1")),
            ("xgboost default", run.xgboost),
            ("logreg", run.logreg),
        ]
        for tool, call in tools:
            yield _measure(run, tool, call, log)
        if run.segframe_winner is not None:
            tool = "segframe winner refit on all 80 % (diagnostic)"
            yield _measure(run, tool, run.segframe_refit, log)


def _measure(run: Run, tool: str, call: Callable[[], Any], log: Callable[[str], None]) -> list:
    """One tool's figures; a failure becomes an ``error`` figure so the other tools go on."""
    log(f"{run.data.name} seed {run.seed}: {tool}")
    try:
        out, seconds = _timed(call)
    except Exception as exc:
        log(traceback.format_exc())
        error = f"{type(exc).__name__}: {exc}"
        return [figure("quality", run.data.name, tool, "error", error, run.seed)]
    return run.score(tool, out[0], seconds, **out[1])
