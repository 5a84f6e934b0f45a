"""F1 and ROC-AUC, the two scores every candidate is judged by.

Binary targets: F1 and AUC of the positive class. Multi-class: macro F1 and macro
one-vs-rest AUC.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score


def score(y_codes: np.ndarray, proba: np.ndarray, positive_index: int) -> dict[str, float]:
    """Score class probabilities against encoded labels (0..n_classes-1)."""
    y_codes = np.asarray(y_codes)
    n_classes = proba.shape[1]
    predicted = proba.argmax(axis=1)
    if n_classes == 2:
        truth = y_codes == positive_index
        f1 = f1_score(truth, predicted == positive_index, zero_division=0.0)
        both = truth.any() and not truth.all()
        auc = roc_auc_score(truth, proba[:, positive_index]) if both else np.nan
    else:
        labels = np.arange(n_classes)
        f1 = f1_score(y_codes, predicted, labels=labels, average="macro", zero_division=0.0)
        every_class = len(np.unique(y_codes)) == n_classes
        auc = (
            roc_auc_score(y_codes, proba, multi_class="ovr", average="macro", labels=labels)
            if every_class
            else np.nan
        )
    return {"f1": float(f1), "auc": float(auc)}
