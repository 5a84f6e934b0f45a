"""The plugin API: the one segframe module a plugin imports.

Everything a component author needs is here: the component contract and its forms,
the search context, the hook marker, epoch reporting for pruning, and the helpers
first-party plugins share (so that plugins never import each other).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from segframe.components import (
    CONTRACT_VERSION,
    FRAME,
    MATRIX,
    PREDICTION,
    RAW,
    SEQUENCES,
    Component,
    SearchContext,
    SequenceBatch,
    Start,
    always,
    no_parameters,
    no_starts,
)
from segframe.hookspecs import hookimpl
from segframe.progress import report_epoch

#: Share of a booster's training rows held back to find its number of trees.
EARLY_STOPPING_SHARE = 0.1
#: Rounds without improvement on that share before a booster stops adding trees.
EARLY_STOPPING_ROUNDS = 50


def inner_split(
    X: Any, y: Any, share: float = EARLY_STOPPING_SHARE, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions to fit on and to validate on, stratified where every class allows.

    Boosters use it to find their number of trees by early stopping instead of having
    it searched blind; the held-back rows come from the training fold only, so
    cross-validation scores stay honest.
    """
    rows = np.arange(len(y))
    labels = np.asarray(y)
    _, counts = np.unique(labels, return_counts=True)
    stratify = labels if counts.min() >= 2 else None
    n_valid = max(round(share * len(rows)), len(counts))
    fit, valid = train_test_split(rows, test_size=n_valid, stratify=stratify, random_state=seed)
    return np.sort(fit), np.sort(valid)


__all__ = [
    "CONTRACT_VERSION",
    "EARLY_STOPPING_ROUNDS",
    "EARLY_STOPPING_SHARE",
    "FRAME",
    "MATRIX",
    "PREDICTION",
    "RAW",
    "SEQUENCES",
    "Component",
    "SearchContext",
    "SequenceBatch",
    "Start",
    "always",
    "hookimpl",
    "inner_split",
    "no_parameters",
    "no_starts",
    "report_epoch",
]
