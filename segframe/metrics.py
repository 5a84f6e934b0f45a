"""F1 and ROC-AUC, the two scores every candidate is judged by, and the F1 threshold.

Binary targets: F1 and AUC of the positive class, F1 at a decision threshold tuned for
F1 (as AutoGluon's ``calibrate_decision_threshold``), so that the decision is moved by
the threshold and not only by resampling. Multi-class: macro F1 at the most probable
class and macro one-vs-rest AUC.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score


def f1_threshold(truth: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The threshold on ``scores`` that maximises F1, and that F1.

    A customer is predicted positive when its score is at least the threshold. The
    threshold is the midpoint between the lowest score still called positive and the
    next lower score, so it does not hinge on one customer's exact probability. Every
    distinct score is tried at once from cumulative counts: O(n log n).
    """
    truth = np.asarray(truth, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    positives = truth.sum()
    if positives == 0 or len(scores) == 0:
        return 0.5, 0.0
    order = np.argsort(-scores, kind="mergesort")
    ranked, hits = scores[order], truth[order]
    true_pos = np.cumsum(hits)
    called = np.arange(1, len(ranked) + 1)
    last_of_value = np.r_[ranked[1:] != ranked[:-1], True]
    true_pos, called, ranked = true_pos[last_of_value], called[last_of_value], ranked[last_of_value]
    f1 = 2 * true_pos / (called + positives)
    best = int(np.argmax(f1))
    cut = ranked[best]
    if best + 1 < len(ranked):
        middle = (cut + ranked[best + 1]) / 2
        cut = middle if ranked[best + 1] < middle <= cut else cut  # no room between tiny scores
    return float(cut), float(f1[best])


def binary_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """F1 of boolean predictions (0 when nothing is predicted or true): scikit-learn's
    ``f1_score`` without its input checks, which cost a millisecond a call in every trial."""
    true_pos = np.count_nonzero(truth & predicted)
    total = np.count_nonzero(truth) + np.count_nonzero(predicted)
    return 2 * true_pos / total if total else 0.0


def decide(proba: np.ndarray, positive_index: int, threshold: float | None) -> np.ndarray:
    """Class codes from probabilities: the threshold on the positive class for binary
    targets when one is given, else the most probable class."""
    proba = np.asarray(proba, dtype=float)
    if threshold is None or proba.shape[1] != 2:
        return proba.argmax(axis=1)
    positive = proba[:, positive_index] >= threshold
    return np.where(positive, positive_index, 1 - positive_index)


def f1_scores(
    y_codes: np.ndarray,
    proba: np.ndarray,
    positive_index: int,
    threshold: float | None = None,
) -> dict[str, float]:
    """The F1 half of :func:`score` (``f1``, and ``threshold`` for binary targets), for
    callers that need no AUC: a trial's pooled out-of-fold predictions are ranked by it."""
    y_codes = np.asarray(y_codes)
    n_classes = proba.shape[1]
    if n_classes == 2:
        truth = y_codes == positive_index
        if threshold is None:
            threshold, f1 = f1_threshold(truth, proba[:, positive_index])
        else:
            f1 = binary_f1(truth, decide(proba, positive_index, threshold) == positive_index)
        return {"f1": float(f1), "threshold": float(threshold)}
    labels = np.arange(n_classes)
    predicted = proba.argmax(axis=1)
    f1 = f1_score(y_codes, predicted, labels=labels, average="macro", zero_division=0.0)
    return {"f1": float(f1)}


def score(
    y_codes: np.ndarray,
    proba: np.ndarray,
    positive_index: int,
    threshold: float | None = None,
) -> dict[str, float]:
    """Score class probabilities against encoded labels (0..n_classes-1).

    Binary targets without a ``threshold`` get F1 at the threshold tuned on these very
    predictions (and ``threshold`` in the result); with one, F1 at that threshold.
    """
    y_codes = np.asarray(y_codes)
    n_classes = proba.shape[1]
    if n_classes == 2:
        truth = y_codes == positive_index
        both = truth.any() and not truth.all()
        auc = roc_auc_score(truth, proba[:, positive_index]) if both else np.nan
    else:
        labels = np.arange(n_classes)
        every_class = len(np.unique(y_codes)) == n_classes
        auc = (
            roc_auc_score(y_codes, proba, multi_class="ovr", average="macro", labels=labels)
            if every_class
            else np.nan
        )
    scores = f1_scores(y_codes, proba, positive_index, threshold)
    return {"f1": scores.pop("f1"), "auc": float(auc), **scores}  # f1, auc[, threshold]


def objective_key(scores: dict[str, float], objective: str) -> float:
    """The one number a trial is ranked by: F1, AUC, or (``both``) their mean."""
    if objective in ("f1", "auc"):
        return float(scores[objective])
    return float((scores["f1"] + scores["auc"]) / 2)
