"""A tiny plugin for core tests, written against ``segframe.plugin`` only, like a third party's.

Core tests (runner, budget, resume, storage, leaderboard, winner store, ...) search with a
registry holding only these components instead of the installed first-party plugins: a
feature builder passing the table's numeric columns, one frame-to-matrix preprocessor and
two fast scikit-learn models, each with a one- or two-parameter space. What a core test
asserts then holds for any plugin, and the test does not pay for LightGBM or SMOTE.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from segframe.plugin import FRAME, MATRIX, PREDICTION, RAW, Component, SearchContext, hookimpl

#: The segframe plugin contract this plugin is written for.
SEGFRAME_CONTRACT = 1


class NumericColumns(TransformerMixin, BaseEstimator):
    """The customer table's numeric columns, as floats (the event log and text are dropped)."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> NumericColumns:
        self.columns_ = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return X[self.columns_].astype(float)


def make_matrix() -> Any:
    """Frame to matrix: median-fill the gaps."""
    return SimpleImputer(strategy="median")


def make_logreg(C: float = 1.0) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=200))


def make_tree(max_depth: int = 3) -> Any:
    return DecisionTreeClassifier(max_depth=max_depth, random_state=0)


def _logreg_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {"C": trial.suggest_float("C", 1e-2, 1e2, log=True)}


def _tree_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {"max_depth": trial.suggest_int("max_depth", 1, 6)}


def _has_numbers(context: SearchContext) -> bool:
    return context.n_tabular_columns > 0


@hookimpl
def segframe_components() -> list[Component]:
    return [
        Component(
            "features",
            "numeric",
            NumericColumns,
            RAW,
            FRAME,
            applies=_has_numbers,
            description="the table's numeric columns",
        ),
        Component(
            "preprocessor",
            "to_matrix",
            make_matrix,
            FRAME,
            MATRIX,
            optional=False,
            description="median-filled matrix",
        ),
        Component(
            "model",
            "logreg",
            make_logreg,
            MATRIX,
            PREDICTION,
            space=_logreg_space,
            description="a small logistic regression",
        ),
        Component(
            "model",
            "tree",
            make_tree,
            MATRIX,
            PREDICTION,
            space=_tree_space,
            description="a shallow decision tree",
        ),
    ]


__all__ = ["NumericColumns", "make_logreg", "make_matrix", "make_tree", "segframe_components"]
