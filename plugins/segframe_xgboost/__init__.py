"""XGBoost gradient-boosted trees, the strongest tabular candidate in most searches."""

from __future__ import annotations

from typing import Any

from segframe import Component, SearchContext, hookimpl
from segframe.components import MATRIX, PREDICTION

#: The segframe plugin contract this plugin is written for.
SEGFRAME_CONTRACT = 1


def make_xgboost(**params: Any) -> Any:
    from xgboost import XGBClassifier

    # One thread: OpenMP threads that spin-wait for a busy core slow fitting by 10-50x, and
    # parallel trials (several workers) are the better use of several cores.
    return XGBClassifier(tree_method="hist", n_jobs=1, random_state=0, verbosity=0, **params)


def _space(trial: Any, context: SearchContext) -> dict[str, Any]:
    params = {
        "n_estimators": trial.suggest_int("n_estimators", 50, 600, log=True),
        "max_depth": trial.suggest_int("max_depth", 2, 10),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 20.0, log=True),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
    }
    if context.device == "gpu":
        params["device"] = "cuda"
    if context.n_classes == 2 and trial.suggest_categorical("balance", [False, True]):
        params["scale_pos_weight"] = 1.0 / context.minority_ratio
    return params


@hookimpl
def segframe_components() -> list[Component]:
    return [
        Component(
            "model",
            "xgboost",
            make_xgboost,
            MATRIX,
            PREDICTION,
            space=_space,
            requires_modules=("xgboost",),
            uses_gpu=True,
            description="XGBoost gradient-boosted trees",
        )
    ]
