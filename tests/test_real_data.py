"""Searches on the real datasets in ../shared/data (slow; run by .ci/run)."""

from __future__ import annotations

from pathlib import Path

import pytest

import segframe

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason="../shared/data is not beside the checkout"),
]


def test_telco_churn(tmp_path):
    result = segframe.search(
        DATA / "telco_churn" / "Telco-Customer-Churn.csv", "Churn", id_column="customerID",
        storage=f"sqlite:///{tmp_path / 'telco.db'}", trials=6, models=["logreg", "xgboost"],
    )  # fmt: skip
    assert result.best_pipeline.positive == "Yes"
    assert result.holdout_scores["auc"] > 0.8
    assert result.holdout_scores["f1"] > 0.5


def test_cdnow_with_event_log(tmp_path):
    folder = DATA / "cdnow_transactions"
    result = segframe.search(
        folder / "customers.csv", "target", id_column="customer_id",
        events=folder / "events_observed.csv.gz", storage=f"sqlite:///{tmp_path / 'cd.db'}",
        trials=6, models=["logreg", "xgboost"],
    )  # fmt: skip
    assert result.holdout_scores["auc"] > 0.7
    loaded = segframe.load_pipeline(result.study_name, f"sqlite:///{tmp_path / 'cd.db'}")
    assert list(loaded.classes_) == [0, 1]
