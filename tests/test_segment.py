"""Unsupervised segmentation: the search, stability scoring, the stored winner, predict, rename."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from segframe_kmeans import KMeansSegments

import segframe
from segframe.data import CustomerData
from segframe.demo import make_demo
from segframe.errors import SegframeError
from segframe.predict import predict_customers
from segframe.profiles import rename_segments
from segframe.segmentation import PROJECTION_POINTS, parse_k, stability
from segframe.storage import load_pipeline, stored_winner


def unlabelled(data: CustomerData) -> CustomerData:
    return CustomerData(data.frame, None, data.id_column, None)


@pytest.fixture(scope="module")
def segmented(small_demo, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('seg') / 'study.db'}"
    result = segframe.segment(
        unlabelled(small_demo), storage=url, study="shop", trials=5, k=(2, 4), seed=1
    )
    return result, url


def test_stability_tells_real_structure_from_arbitrary_cuts():
    rng = np.random.default_rng(0)
    centres = [(0, 0), (6, 6), (0, 6)]
    blobs = np.concatenate([rng.normal(c, 0.3, (200, 2)) for c in centres])
    noise = rng.normal(size=(600, 6))
    on_blobs = KMeansSegments(3, log=False).fit(blobs)
    on_noise = KMeansSegments(8, init="random", log=False).fit(noise)
    stable, _ = stability(on_blobs, blobs, on_blobs.labels_, seed=0)
    arbitrary, _ = stability(on_noise, noise, on_noise.labels_, seed=0)
    assert stable > 0.95
    assert arbitrary < 0.6


def test_search_records_internal_validity_and_stability(segmented):
    result, url = segmented
    study = optuna.load_study(study_name="shop", storage=url)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(study.trials) == 5 and complete
    for trial in complete:
        attrs = trial.user_attrs
        assert -1 <= attrs["silhouette"] <= 1 and trial.value == attrs["silhouette"]
        assert attrs["calinski_harabasz"] > 0 and attrs["davies_bouldin"] > 0
        assert -1 <= attrs["stability"] <= 1 and 2 <= attrs["k"] <= 4
    board = result.leaderboard()
    assert board.trial.iloc[0] == max(complete, key=lambda t: t.value).number
    assert result.best_spec.describe().endswith("> kmeans")


def test_winner_is_stored_as_a_segmentation(segmented, small_demo):
    result, url = segmented
    record = stored_winner("shop", url)
    assert record.task == "segmentation"
    assert record.holdout_f1 is None and record.holdout_auc is None
    details = record.details
    assert details["scores"]["k"] == len(details["names"]) == len(details["profiles"])
    assert sum(row["size"] for row in details["profiles"]) == len(small_demo.frame)
    assert len(details["projection"]["x"]) == min(PROJECTION_POINTS, len(small_demo.frame))
    assert list(result.profiles["name"]) == list(details["names"].values())
    refit = load_pipeline("shop", url).predict(small_demo.frame)
    np.testing.assert_array_equal(refit, result.best_pipeline.labels_)


def test_predict_assigns_new_customers_to_named_segments(segmented):
    result, url = segmented
    customers, events = make_demo(n_customers=60, seed=21)
    predictions = predict_customers(
        "shop", customers.drop(columns="will_buy_again"), events=events, storage=url
    )
    assert list(predictions.columns) == ["customer_id", "segment", "segment_name"]
    assert list(predictions.customer_id) == customers.customer_id.astype(str).tolist()
    assert set(predictions.segment) <= set(result.names)
    assert (predictions.segment_name == predictions.segment.map(result.names)).all()


def test_rename_changes_names_but_not_the_verified_artifact(small_demo, storage):
    segframe.segment(unlabelled(small_demo), storage=storage, study="r", trials=2, k=(3, 3))
    before = stored_winner("r", storage)
    names = rename_segments("r", storage, {0: "VIP"})
    after = stored_winner("r", storage)
    assert names[0] == "VIP" and after.details["names"]["0"] == "VIP"
    assert after.details["profiles"][0]["name"] == "VIP"
    assert after.sha256 == before.sha256 and after.artifact == before.artifact
    load_pipeline("r", storage)  # still verifies
    with pytest.raises(SegframeError, match="no segment 7"):
        rename_segments("r", storage, {7: "x"})
    with pytest.raises(SegframeError, match="unique"):
        rename_segments("r", storage, {1: "VIP"})


def test_a_supervised_study_is_not_continued_as_a_segmentation(small_demo, storage):
    segframe.search(small_demo, storage=storage, study="s", trials=1, models=["logreg"])
    with pytest.raises(SegframeError, match="was started with"):
        segframe.segment(unlabelled(small_demo), storage=storage, study="s", trials=1)


@pytest.mark.parametrize("text", ["1-3", "5-2", "a-b", "2-3-4"])
def test_bad_k_ranges_are_refused(text):
    with pytest.raises(SegframeError, match="--k"):
        parse_k(text)


def test_k_cannot_exceed_the_customers(small_demo, storage):
    tiny = CustomerData(small_demo.frame.head(5), None, "customer_id", None)
    with pytest.raises(SegframeError, match="lower --k"):
        segframe.segment(tiny, storage=storage, trials=1, k=(2, 8))


@pytest.mark.slow
def test_cli_segment_then_predict(tmp_path: Path):
    customers, events = make_demo(n_customers=80, seed=5)
    customers.drop(columns="will_buy_again").to_csv(tmp_path / "new.csv", index=False)
    events.to_csv(tmp_path / "new_events.csv", index=False)

    def cli(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "segframe", *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)

    out = cli("segment", "--demo", "--trials", "3", "--k", "3-4", "--names", "0=VIP")
    assert out.returncode == 0, out.stderr
    assert "VIP" in out.stdout and "Stored as study 'demo-segments'" in out.stdout
    out = cli("predict", "--study", "demo-segments", "--data", "new.csv",
              "--events", "new_events.csv", "--out", "segments.csv")  # fmt: skip
    assert out.returncode == 0, out.stderr
    predictions = pd.read_csv(tmp_path / "segments.csv")
    assert len(predictions) == 80 and predictions.segment.between(0, 3).all()
    assert predictions.segment_name.notna().all()
    out = cli("segment", "--demo", "--k", "zero")
    assert out.returncode == 2 and "--k" in out.stderr
