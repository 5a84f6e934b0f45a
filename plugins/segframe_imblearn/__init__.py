"""Imbalance samplers from imbalanced-learn (SMOTE family, random over/under-sampling).

Samplers only run while a pipeline is fitted (imbalanced-learn's Pipeline skips them at
predict time), so inside cross-validation they only ever see training folds.
"""

from __future__ import annotations

from typing import Any

from segframe.plugin import EARLY_STOPPING_SHARE, MATRIX, Component, SearchContext, hookimpl

#: The segframe plugin contract this plugin is written for.
SEGFRAME_CONTRACT = 1

SAMPLERS = {
    "smote": "SMOTE",
    "borderline_smote": "BorderlineSMOTE",
    "adasyn": "ADASYN",
    "random_over": "RandomOverSampler",
    "random_under": "RandomUnderSampler",
}


def make_sampler(name: str) -> Any:
    """A factory for one imbalanced-learn sampler class, named for error messages."""

    def factory(**params: Any) -> Any:
        import imblearn.over_sampling as over
        import imblearn.under_sampling as under

        cls = getattr(over, SAMPLERS[name], None) or getattr(under, SAMPLERS[name])
        ratio = params.pop("ratio", None)
        if ratio is not None:
            params["sampling_strategy"] = ratio
        return cls(random_state=0, **params)

    factory.__name__ = f"make_{name}"
    return factory


def _ratio(trial: Any, context: SearchContext) -> dict[str, Any]:
    """Binary targets: how far to rebalance (minority/majority after sampling)."""
    if context.n_classes != 2 or context.minority_ratio >= 0.95:
        return {}
    low = min(max(context.minority_ratio + 0.05, 0.3), 1.0)
    return {"ratio": trial.suggest_float("ratio", low, 1.0)}


def _neighbours(trial: Any, context: SearchContext, name: str = "k_neighbors") -> dict[str, Any]:
    """At most one neighbour fewer than the smallest class has rows to resample: a booster
    resamples only the rows it keeps after holding some back for early stopping."""
    rows = int(context.min_class_count * (1 - EARLY_STOPPING_SHARE))
    high = max(1, min(10, rows - 1))
    return {name: trial.suggest_int(name, 1, high) if high > 1 else 1}


def _smote_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {**_ratio(trial, context), **_neighbours(trial, context)}


def _borderline_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {
        **_smote_space(trial, context),
        "kind": trial.suggest_categorical("kind", ["borderline-1", "borderline-2"]),
    }


def _adasyn_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    """Full balancing only: ADASYN's own weighting often yields zero samples for a ratio."""
    return _neighbours(trial, context, "n_neighbors")


def _enough_for_neighbours(context: SearchContext) -> bool:
    return context.min_class_count >= 3 and context.minority_ratio < 0.95


def _imbalanced(context: SearchContext) -> bool:
    return context.minority_ratio < 0.95


#: name → (search space, when it applies, description)
CATALOGUE = {
    "smote": (_smote_space, _enough_for_neighbours, "SMOTE: interpolate new minority customers"),
    "borderline_smote": (
        _borderline_space,
        _enough_for_neighbours,
        "Borderline-SMOTE: SMOTE near the class border",
    ),
    "adasyn": (_adasyn_space, _enough_for_neighbours, "ADASYN: SMOTE weighted towards hard cases"),
    "random_over": (_ratio, _imbalanced, "duplicate random minority customers"),
    "random_under": (_ratio, _imbalanced, "drop random majority customers"),
}


@hookimpl
def segframe_components() -> list[Component]:
    return [
        Component(
            "sampler",
            name,
            make_sampler(name),
            MATRIX,
            MATRIX,
            space=space,
            applies=applies,
            description=text,
            requires_modules=("imblearn",),
        )
        for name, (space, applies, text) in CATALOGUE.items()
    ]
