"""CatBoost oblivious (symmetric) boosted trees, with early stopping instead of a searched
tree count.

Needs the ``catboost`` extra; CatBoost is imported only when a model is fitted, so without
it the component shows as unavailable and the rest of segframe works as before. Its
symmetric trees are strongly regularised, so its defaults are among the best single models
on some customer tables, and it errs differently from LightGBM and XGBoost, which an
ensemble can use (docs/plugins/first-party.md has the figures).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from segframe.plugin import (
    EARLY_STOPPING_ROUNDS,
    MATRIX,
    PREDICTION,
    TREE_CHAIN,
    Component,
    EarlyStoppedBooster,
    SearchContext,
    Start,
    hookimpl,
    out_of_time,
    slowest_learning_rate,
)

#: The segframe plugin contract this plugin is written for.
SEGFRAME_CONTRACT = 1

#: CatBoost's slowest searched learning rate (the other boosters' floor may be lower).
SLOWEST_RATE = 0.03


def _only_when_named(context: SearchContext) -> bool:
    """CatBoost joins a search when named (``--models catboost``), not unasked: in the
    default search at 60 s it raised ROC-AUC on CARAVAN insurance (+0.011, 3 splits) and
    lowered it on iFood (-0.011, 6 splits), flat on Online Retail and CDNOW, so on average
    it does not pay for its slower trials."""
    return False


#: Below this minority/majority ratio the start of a multi-class target weights classes.
IMBALANCED = 0.5


class CatBoostModel(EarlyStoppedBooster):
    """CatBoostClassifier that finds its number of trees by early stopping (see the base
    class). Writes no training files (CatBoost's ``catboost_info`` folder) and uses one
    thread; the symmetric trees need no leaf-count search, only depth."""

    def __init__(
        self,
        learning_rate: float = 0.05,
        depth: int = 6,
        l2_leaf_reg: float = 3.0,
        random_strength: float = 1.0,
        subsample: float = 0.8,
        class_weight: str | dict | None = None,
        max_trees: int = 1000,
        fallback_trees: int = 100,
        random_state: int = 0,
    ) -> None:
        self.learning_rate = learning_rate
        self.depth = depth
        self.l2_leaf_reg = l2_leaf_reg
        self.random_strength = random_strength
        self.subsample = subsample
        self.class_weight = class_weight
        self.max_trees = max_trees
        self.fallback_trees = fallback_trees
        self.random_state = random_state

    def _model(self, codes: np.ndarray, trees: int) -> Any:
        import catboost

        return catboost.CatBoostClassifier(
            iterations=trees,
            learning_rate=self.learning_rate,
            depth=self.depth,
            l2_leaf_reg=self.l2_leaf_reg,
            random_strength=self.random_strength,
            bootstrap_type="MVS",
            subsample=self.subsample,
            **self._class_weights(),
            random_seed=self.random_state,
            thread_count=1,
            allow_writing_files=False,
            verbose=False,
        )

    def _class_weights(self) -> dict[str, Any]:
        """``"balanced"`` as CatBoost's own rule; a dict per class (scikit-learn's form) in
        the label codes CatBoost is fitted on."""
        if self.class_weight == "balanced":
            return {"auto_class_weights": "Balanced"}
        if isinstance(self.class_weight, dict):
            return {"class_weights": [self.class_weight.get(c, 1.0) for c in self.classes_]}
        return {}

    def _fit_stopping(self, model: Any, X_fit: Any, y_fit: Any, X_valid: Any, y_valid: Any) -> int:
        model.fit(
            X_fit,
            y_fit,
            eval_set=(X_valid, y_valid),
            early_stopping_rounds=EARLY_STOPPING_ROUNDS,
            use_best_model=True,
            callbacks=[_EndWhenOutOfTime()],
        )
        return int(model.get_best_iteration()) + 1


class _EndWhenOutOfTime:
    """Ends boosting once the search's time is up (CatBoost goes on while this says so)."""

    def after_iteration(self, info: Any) -> bool:
        return not out_of_time()


def _space(trial: Any, context: SearchContext) -> dict[str, Any]:
    # Like FLAML's catboost space plus depth and L2, which CatBoost's own tuning guide names
    # first, kept near CatBoost's defaults: its own rate for 1,000 trees on 2k-20k rows is
    # 0.035-0.065, and slower rates or deeper trees made single trials take a third of a
    # 60-second search (iFood: 25 s on 1,800 rows) for no better score.
    return {
        "learning_rate": trial.suggest_float(
            "learning_rate", max(slowest_learning_rate(context), SLOWEST_RATE), 0.3, log=True
        ),
        "depth": trial.suggest_int("depth", 4, 7),
        "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 0.5, 30.0, log=True),
        "random_strength": trial.suggest_float("random_strength", 0.1, 10.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
    }


def _starts(context: SearchContext) -> list[Start]:
    """CatBoost's defaults (depth 6, L2 3, MVS sampling) at rate 0.05, about the rate it picks
    itself for 1,000 trees on 2k-20k rows; classes weighted only for skewed multi-class
    targets, as in the LightGBM starts."""
    skewed = context.n_classes > 2 and context.minority_ratio < IMBALANCED
    params = {
        "learning_rate": 0.05,
        "depth": 6,
        "l2_leaf_reg": 3.0,
        "random_strength": 1.0,
        "subsample": 0.8,
        "class_weight": "balanced" if skewed else None,
    }
    return [Start(params, chain=TREE_CHAIN, rank=15)]


def make_catboost(**params: Any) -> CatBoostModel:
    return CatBoostModel(**params)


@hookimpl
def segframe_components() -> list[Component]:
    return [
        Component(
            "model",
            "catboost",
            make_catboost,
            MATRIX,
            PREDICTION,
            space=_space,
            requires_modules=("catboost",),
            extra="catboost",
            starts=_starts,
            in_default_search=_only_when_named,
            description="CatBoost symmetric boosted trees, tree count by early stopping",
        )
    ]
