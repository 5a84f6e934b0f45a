"""Segmenters are a plugin component kind: K-Means comes from the kmeans plugin, and a third
party's Gaussian mixture is searched by ``segframe segment`` like it."""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import replace
from typing import Any

import numpy as np
import optuna
import pytest
from segframe_kmeans import KMeansSegments
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

import segframe
import segframe.segmentation
from segframe.checks import check_component
from segframe.data import CustomerData
from segframe.errors import PluginError
from segframe.plugin import MATRIX, SEGMENTS, Component, hookimpl
from segframe.registry import Registry, component_problems
from segframe.signing import signature
from segframe.storage import deserialise, stored_winner


class GaussianSegments(ClusterMixin, BaseEstimator):
    """A Gaussian mixture on standardised features, as a third party would write it."""

    def __init__(self, n_clusters: int = 3, covariance: str = "diag", seed: int = 0) -> None:
        self.n_clusters = n_clusters
        self.covariance = covariance
        self.seed = seed

    def embed(self, X: Any) -> np.ndarray:
        return self.scaler_.transform(np.asarray(X, dtype=float))

    def fit(self, X: Any, y: Any = None) -> GaussianSegments:
        self.scaler_ = StandardScaler().fit(np.asarray(X, dtype=float))
        self.mixture_ = GaussianMixture(
            self.n_clusters, covariance_type=self.covariance, random_state=self.seed
        ).fit(self.embed(X))
        self.labels_ = self.mixture_.predict(self.embed(X))
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.mixture_.predict(self.embed(X))


class NoEmbedding(GaussianSegments):
    embed = None  # type: ignore[assignment]


class MixturePlugin:
    @hookimpl
    def segframe_components(self) -> list[Component]:
        space = lambda trial, context: {  # noqa: E731
            "covariance": trial.suggest_categorical("covariance", ["diag", "spherical"])
        }
        return [Component("segmenter", "gmm", GaussianSegments, MATRIX, SEGMENTS, space=space)]


def unlabelled(data: CustomerData) -> CustomerData:
    return CustomerData(data.frame, None, data.id_column, None)


def test_kmeans_is_a_segmenter_of_the_kmeans_plugin() -> None:
    info = Registry.load().info("segmenter", "kmeans")
    assert info.plugin.name == "kmeans" and info.component.factory is KMeansSegments
    assert not hasattr(segframe.segmentation, "KMeansSegments")  # no longer hard-wired


def test_a_third_party_gaussian_mixture_is_searched(small_demo, storage) -> None:
    registry = Registry.load(extra=[MixturePlugin()])
    assert check_component(registry.get("segmenter", "gmm")).ok
    result = segframe.segment(
        unlabelled(small_demo), storage=storage, study="gmm", trials=3, k=(2, 3),
        registry=registry, include=["gmm"],
    )  # fmt: skip
    assert result.best_spec.steps[-1].name == "gmm"
    assert isinstance(result.best_pipeline.pipeline_[-1], GaussianSegments)
    assert set(result.profiles.index) <= {0, 1, 2}
    board = result.leaderboard()
    assert board["pipeline"].str.endswith("gmm").all()


def test_both_segmenters_are_one_choice_of_the_search(small_demo, storage) -> None:
    registry = Registry.load(extra=[MixturePlugin()])
    result = segframe.segment(
        unlabelled(small_demo), storage=storage, study="both", trials=4, k=(2, 3),
        registry=registry, include=["rfm", "gmm", "kmeans"],
    )  # fmt: skip
    trials = optuna.load_study(study_name="both", storage=storage).trials
    assert {t.params["segmenter"] for t in trials} <= {"gmm", "kmeans"}
    assert result.best_spec.steps[-1].name in {"gmm", "kmeans"}


def test_segmenter_rules_name_the_component() -> None:
    wrong = Component("segmenter", "odd", GaussianSegments, MATRIX, "prediction")
    assert any("a segmenter accepts 'matrix' and produces 'segments'" in p
               for p in component_problems(wrong))  # fmt: skip
    report = check_component(
        Component("segmenter", "flat", NoEmbedding, MATRIX, SEGMENTS), raise_on_problems=False
    )
    assert [(p.component, p.rule) for p in report.problems] == [("segmenter 'flat'", "methods")]
    assert "embed" in report.problems[0].message


def test_a_search_cannot_include_a_segmenter(small_demo, storage) -> None:
    with pytest.raises(PluginError, match="the segmenter 'kmeans', but a search chooses only"):
        segframe.search(small_demo, storage=storage, trials=1, include=["segmenter:kmeans"])


def test_a_winner_stored_before_the_move_still_loads(monkeypatch, small_demo, storage) -> None:
    """Winners pickled when KMeansSegments lived in segframe.segmentation load as the
    plugin's class; their bytes, hash and signature stay as stored."""
    data = unlabelled(small_demo)
    segframe.segment(data, storage=storage, study="shop", trials=2, k=(2, 3))
    record = stored_winner("shop", storage)
    fitted = deserialise(record)
    monkeypatch.setattr(KMeansSegments, "__module__", "segframe.segmentation")
    monkeypatch.setattr(segframe.segmentation, "KMeansSegments", KMeansSegments, raising=False)
    old = pickle.dumps(fitted, protocol=pickle.HIGHEST_PROTOCOL)  # as the old core pickled it
    monkeypatch.undo()
    assert b"segframe.segmentation" in old and b"segframe_kmeans" not in old
    before = replace(record, artifact=old, sha256=hashlib.sha256(old).hexdigest())
    loaded = deserialise(replace(before, signature=signature(before)))
    assert isinstance(loaded.pipeline_[-1], KMeansSegments)
    np.testing.assert_array_equal(loaded.predict(data.frame), fitted.predict(data.frame))
