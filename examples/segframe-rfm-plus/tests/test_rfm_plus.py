"""The plugin's own tests: its features are right on a hand-made log, and it competes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from segframe_rfm_plus import RFMRatios

import segframe
from segframe.data import load_customers
from segframe.demo import make_demo
from segframe.registry import Registry


def test_ratios_on_a_hand_made_log() -> None:
    customers = pd.DataFrame({"customer_id": ["a", "b", "c"], "age": [30, 40, 50]})
    events = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b", "a"],
            "timestamp": ["2024-01-01", "2024-01-11", "2024-01-31", "2024-01-20", "2024-02-10",
                          "2024-02-20"],
            "event": ["purchase", "purchase", "purchase", "view", "purchase", "view"],
            "amount": [10.0, 10.0, 40.0, None, 5.0, None],
        }
    )  # fmt: skip
    data = load_customers(customers, id_column="customer_id", events=events)
    out = RFMRatios(window_days=30).fit_transform(data.frame)
    a, b, c = out.loc["a"], out.loc["b"], out.loc["c"]
    assert a.interpurchase_mean_days == pytest.approx(15.0)  # gaps of 10 and 20 days
    assert a.interpurchase_std_days == pytest.approx(5.0)
    assert a.overdue_ratio == pytest.approx(20 / 15)  # last purchase 20 days before 2024-02-20
    assert a.spend_trend == pytest.approx((40 - 20) / 60)  # last 30 days 40, 30 before 20
    assert a.purchase_rate == pytest.approx(3 / 4)
    assert np.isnan(b.interpurchase_mean_days) and b.purchase_rate == pytest.approx(1 / 2)
    assert np.isnan(c.purchase_rate) and c.spend_trend == 0.0


def test_the_plugin_is_discovered_through_its_entry_point() -> None:
    registry = Registry.load()
    for kind, name in (("features", "rfm_plus"), ("model", "hist_gb")):
        assert registry.info(kind, name).plugin.distribution == "segframe-rfm-plus"


def test_hist_gb_competes_in_a_search(tmp_path: Path) -> None:
    customers, events = make_demo(n_customers=300, seed=1)
    data = load_customers(
        customers, target="will_buy_again", id_column="customer_id", events=events
    )
    result = segframe.search(
        data, storage=f"sqlite:///{tmp_path / 'study.db'}", trials=3, models=["hist_gb"]
    )
    assert set(result.best_spec.model_names) == {"hist_gb"}  # one pipeline or an ensemble
    assert 0.5 < result.holdout_scores["auc"] <= 1.0
