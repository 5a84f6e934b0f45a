"""scikit-learn preprocessing (impute, encode, scale) and the logistic-regression baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)

from segframe import Component, SearchContext, hookimpl
from segframe.components import FRAME, MATRIX, PREDICTION

#: The segframe plugin contract this plugin is written for.
SEGFRAME_CONTRACT = 1

NUMERIC = make_column_selector(dtype_include=np.number)
CATEGORICAL = make_column_selector(dtype_exclude=np.number)
SCALERS = {"standard": StandardScaler, "robust": RobustScaler, "minmax": MinMaxScaler}


def make_imputer(numeric_strategy: str = "median") -> ColumnTransformer:
    """Fill numeric gaps by ``numeric_strategy`` and categorical gaps with ``"missing"``."""
    return ColumnTransformer(
        [
            (
                "numeric",
                SimpleImputer(strategy=numeric_strategy, keep_empty_features=True),
                NUMERIC,
            ),
            ("categorical", SimpleImputer(strategy="constant", fill_value="missing"), CATEGORICAL),
        ],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")


def make_onehot(min_frequency: float = 0.01) -> ColumnTransformer:
    """One-hot encode categoricals (rare levels pooled), numeric columns pass through."""
    encoder = OneHotEncoder(
        handle_unknown="infrequent_if_exist", min_frequency=min_frequency, sparse_output=False
    )
    return ColumnTransformer(
        [("numeric", "passthrough", NUMERIC), ("categorical", encoder, CATEGORICAL)],
        sparse_threshold=0.0,
    )


def make_ordinal() -> ColumnTransformer:
    """Integer-code categoricals (unknown levels become -1); suits tree models."""
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    return ColumnTransformer(
        [("numeric", "passthrough", NUMERIC), ("categorical", encoder, CATEGORICAL)],
        sparse_threshold=0.0,
    )


def make_scaler(method: str = "standard") -> Any:
    return SCALERS[method]()


def make_logreg(C: float = 1.0, class_weight: str | None = None) -> Pipeline:
    """Standardised logistic regression: unscaled inputs make lbfgs crawl and C meaningless."""
    return make_pipeline(
        StandardScaler(), LogisticRegression(C=C, class_weight=class_weight, max_iter=500)
    )


def _imputer_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {"numeric_strategy": trial.suggest_categorical("numeric_strategy", ["median", "mean"])}


def _onehot_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {"min_frequency": trial.suggest_float("min_frequency", 0.001, 0.05, log=True)}


def _scaler_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {"method": trial.suggest_categorical("method", list(SCALERS))}


def _logreg_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {
        "C": trial.suggest_float("C", 1e-3, 1e2, log=True),
        "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
    }


@hookimpl
def segframe_components() -> list[Component]:
    return [
        Component(
            "preprocessor",
            "impute",
            make_imputer,
            FRAME,
            FRAME,
            space=_imputer_space,
            optional=False,
            description="fill missing values (numeric by median/mean)",
        ),
        Component(
            "preprocessor",
            "onehot",
            make_onehot,
            FRAME,
            MATRIX,
            space=_onehot_space,
            description="one-hot encode categorical columns",
        ),
        Component(
            "preprocessor",
            "ordinal",
            make_ordinal,
            FRAME,
            MATRIX,
            description="integer-code categorical columns",
        ),
        Component(
            "preprocessor",
            "scale",
            make_scaler,
            MATRIX,
            MATRIX,
            space=_scaler_space,
            description="standard, robust or min-max scaling",
        ),
        Component(
            "model",
            "logreg",
            make_logreg,
            MATRIX,
            PREDICTION,
            space=_logreg_space,
            description="logistic regression, the plain baseline",
        ),
    ]
