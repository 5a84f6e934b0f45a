"""K-Means twice: as a classifier (cluster, then label each cluster) and as the segmenter
that `segframe segment` searches.

As a model, a cluster's class probabilities are its (smoothed) class shares in the
training data, so K-Means gets an F1 and an ROC-AUC like every other model and its segments
stay readable: each customer's score is the behaviour of the group it falls into.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from segframe.plugin import (
    MATRIX,
    PREDICTION,
    SEGMENTS,
    Component,
    DataError,
    SearchContext,
    hookimpl,
)

#: The segframe plugin contract this plugin is written for.
SEGFRAME_CONTRACT = 1
#: K-Means restarts of a segmentation, the same for its fit and its bootstrap refits.
N_INIT = 3
#: OpenMP threads for K-Means. One: beside a busy core, OpenMP spin-waiting made K-Means
#: 8x slower on the 2-core machines this runs on (the same trap as XGBoost's).
KMEANS_THREADS = 1


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


class KMeansSegments(ClusterMixin, BaseEstimator):
    """The ``kmeans`` segmenter: K-Means on a standardised (optionally sign-log-compressed)
    matrix.

    RFM-like columns are heavy-tailed: a few big spenders would otherwise get clusters
    of their own. Segment ids are ordered by size (0 = largest) so they read the same
    across refits.
    """

    def __init__(
        self, n_clusters: int = 4, init: str = "k-means++", log: bool = True, seed: int = 0
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.log = log
        self.seed = seed

    def _compress(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return np.sign(X) * np.log1p(np.abs(X)) if self.log else X

    def embed(self, X: Any) -> np.ndarray:
        """The space K-Means clusters in: what silhouette and the projection use."""
        return self.scaler_.transform(self._compress(X))

    def fit(self, X: Any, y: Any = None) -> KMeansSegments:
        self.scaler_ = StandardScaler().fit(self._compress(X))
        Z = self.embed(X)
        if len(Z) <= self.n_clusters:
            raise DataError(f"{len(Z)} customers cannot form {self.n_clusters} segments.")
        kmeans = KMeans(self.n_clusters, init=self.init, n_init=N_INIT, random_state=self.seed)
        with threadpool_limits(KMEANS_THREADS, user_api="openmp"):
            self.kmeans_ = kmeans.fit(Z)
        sizes = np.bincount(self.kmeans_.labels_, minlength=self.n_clusters)
        self.order_ = np.empty(self.n_clusters, dtype=int)
        self.order_[np.argsort(-sizes, kind="stable")] = np.arange(self.n_clusters)
        self.labels_ = self.order_[self.kmeans_.labels_]
        return self

    def predict(self, X: Any) -> np.ndarray:
        with threadpool_limits(KMEANS_THREADS, user_api="openmp"):
            return self.order_[self.kmeans_.predict(self.embed(X))]


def _segments_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {
        "init": trial.suggest_categorical("init", ["k-means++", "random"]),
        "log": trial.suggest_categorical("log", [True, False]),
    }


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
        ),
        Component(
            "segmenter",
            "kmeans",
            KMeansSegments,
            MATRIX,
            SEGMENTS,
            space=_segments_space,
            description="K-Means on standardised, optionally log-compressed features",
        ),
    ]
