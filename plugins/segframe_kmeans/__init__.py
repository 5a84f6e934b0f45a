"""K-Means as a classifier: cluster the customers, then label each cluster.

A cluster's class probabilities are its (smoothed) class shares in the training data,
so K-Means gets an F1 and an ROC-AUC like every other model and its segments stay
readable: each customer's score is the behaviour of the group it falls into.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from segframe.plugin import MATRIX, PREDICTION, Component, SearchContext, hookimpl

#: The segframe plugin contract this plugin is written for.
SEGFRAME_CONTRACT = 1


class ClusterThenLabel(ClassifierMixin, BaseEstimator):
    """K-Means clusters whose predicted probabilities are smoothed class shares.

    Inputs are standardised first: K-Means distances are meaningless across raw scales.
    """

    def __init__(self, n_clusters: int = 8, init: str = "k-means++", smoothing: float = 1.0):
        self.n_clusters = n_clusters
        self.init = init
        self.smoothing = smoothing

    def fit(self, X: Any, y: Any) -> ClusterThenLabel:
        self.scaler_ = StandardScaler().fit(np.asarray(X, dtype=float))
        X = self.scaler_.transform(np.asarray(X, dtype=float))
        y = np.asarray(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        n_clusters = min(self.n_clusters, len(X))
        self.kmeans_ = KMeans(n_clusters, init=self.init, n_init=3, random_state=0).fit(X)
        counts = np.zeros((n_clusters, len(self.classes_)))
        np.add.at(counts, (self.kmeans_.labels_, codes), 1.0)
        prior = np.bincount(codes, minlength=len(self.classes_)) / len(codes)
        smoothed = counts + self.smoothing * prior
        self.cluster_proba_ = smoothed / smoothed.sum(axis=1, keepdims=True)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        X = self.scaler_.transform(np.asarray(X, dtype=float))
        return self.cluster_proba_[self.kmeans_.predict(X)]

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def _space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {
        "n_clusters": trial.suggest_int("n_clusters", 2, 64, log=True),
        "init": trial.suggest_categorical("init", ["k-means++", "random"]),
        "smoothing": trial.suggest_float("smoothing", 0.1, 50.0, log=True),
    }


@hookimpl
def segframe_components() -> list[Component]:
    return [
        Component(
            "model",
            "kmeans",
            ClusterThenLabel,
            MATRIX,
            PREDICTION,
            space=_space,
            description="K-Means, cluster-then-label (probability = smoothed cluster share)",
            # Cluster-then-label is for readable segments, not for accuracy: it rarely wins a
            # supervised search and its trials would crowd out the boosters, so it joins
            # only when named (--models kmeans).
            in_default_search=lambda context: False,
        )
    ]
