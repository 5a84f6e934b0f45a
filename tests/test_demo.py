"""Tests for the built-in demo shop simulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from segframe.demo import CATEGORIES, EVENT_TYPES, WINDOW_END, WINDOW_START, make_demo

CUSTOMER_COLUMNS = [
    "customer_id",
    "age",
    "country",
    "channel",
    "newsletter",
    "device",
    "will_buy_again",
]
EVENT_COLUMNS = ["customer_id", "timestamp", "event", "amount", "item"]


@pytest.fixture(scope="module")
def demo() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_demo(2000, seed=0)


def rfm(customers: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Simple per-customer recency / frequency / monetary features plus abandoned carts."""
    by_customer = events.groupby("customer_id")
    purchases = events[events["event"] == "purchase"].groupby("customer_id")
    carts = events[events["event"] == "cart"].groupby("customer_id")
    feats = pd.DataFrame(index=pd.Index(customers["customer_id"]))
    feats["recency"] = (WINDOW_END - by_customer["timestamp"].max()).dt.days
    feats["frequency"] = purchases.size()
    feats["monetary"] = purchases["amount"].sum()
    feats["n_events"] = by_customer.size()
    feats["n_cart"] = carts.size()
    return feats.fillna({"recency": 730.0}).fillna(0.0).astype(float)


def test_shapes_columns_dtypes(demo: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    customers, events = demo
    assert list(customers.columns) == CUSTOMER_COLUMNS
    assert list(events.columns) == EVENT_COLUMNS
    assert len(customers) == 2000
    assert customers["customer_id"].is_unique
    assert customers["customer_id"].iloc[0] == "C00001"
    assert 8 * 2000 < len(events) < 25 * 2000

    for col in ["customer_id", "country", "channel", "device"]:
        assert pd.api.types.is_string_dtype(customers[col]), col
    for col in ["customer_id", "event", "item"]:
        assert pd.api.types.is_string_dtype(events[col]), col
    assert customers["age"].dtype == np.float64
    assert customers["newsletter"].dtype == np.int64
    assert customers["will_buy_again"].dtype == np.int64
    assert pd.api.types.is_datetime64_any_dtype(events["timestamp"])
    assert events["amount"].dtype == np.float64

    assert 0.02 < customers["age"].isna().mean() < 0.09
    assert set(customers["newsletter"].unique()) == {0, 1}
    assert set(customers["will_buy_again"].unique()) == {0, 1}
    assert set(customers["channel"].unique()) == {"organic", "ads", "referral", "email"}
    assert set(customers["device"].unique()) == {"mobile", "desktop", "tablet"}
    assert 5 <= customers["country"].nunique() <= 6
    assert set(events["event"].unique()) == set(EVENT_TYPES)
    assert set(events["item"].unique()) == set(CATEGORIES)
    assert events["timestamp"].min() >= WINDOW_START
    assert events["timestamp"].max() < WINDOW_END


def test_events_realistic(demo: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    customers, events = demo
    counts = events.groupby("customer_id").size().reindex(customers["customer_id"], fill_value=0)
    assert (counts <= 2).mean() > 0.05  # some barely active customers
    assert counts.max() > 60  # and a heavy tail
    assert counts.max() <= 200
    share = events["event"].value_counts(normalize=True)
    assert share["view"] > share["cart"] > share["purchase"]  # a funnel
    # Rows are shuffled, not grouped by customer.
    assert not events["customer_id"].is_monotonic_increasing


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_positive_rate(seed: int) -> None:
    for n in (500, 2000):
        customers, _ = make_demo(n, seed=seed)
        assert 0.10 <= customers["will_buy_again"].mean() <= 0.20


def test_deterministic_per_seed() -> None:
    c1, e1 = make_demo(300, seed=3)
    c2, e2 = make_demo(300, seed=3)
    pd.testing.assert_frame_equal(c1, c2)
    pd.testing.assert_frame_equal(e1, e2)
    c3, e3 = make_demo(300, seed=4)
    assert not c1.equals(c3)
    assert len(e1) != len(e3) or not e1.equals(e3)


def test_referential_integrity(demo: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    customers, events = demo
    assert events["customer_id"].isin(customers["customer_id"]).all()
    assert events["customer_id"].notna().all()


def test_amount_only_for_purchases(demo: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, events = demo
    is_purchase = events["event"] == "purchase"
    assert events.loc[is_purchase, "amount"].notna().all()
    assert events.loc[~is_purchase, "amount"].isna().all()
    assert (events.loc[is_purchase, "amount"] > 0).all()


def test_small_and_invalid_sizes() -> None:
    customers, events = make_demo(1, seed=0)
    assert len(customers) == 1
    assert events["customer_id"].isin(customers["customer_id"]).all()
    with pytest.raises(ValueError):
        make_demo(0)


@pytest.mark.parametrize("seed", [0, 1])
def test_label_learnable_but_not_trivial(seed: int) -> None:
    customers, events = make_demo(2000, seed=seed)
    x = rfm(customers, events)
    y = customers.set_index("customer_id").loc[x.index, "will_buy_again"].to_numpy()
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)

    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    auc_lr = cross_val_score(logreg, np.log1p(x), y, cv=cv, scoring="roc_auc").mean()
    hgb = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.05, random_state=0)
    auc_hgb = cross_val_score(hgb, x, y, cv=cv, scoring="roc_auc").mean()

    for auc in (auc_lr, auc_hgb):
        assert 0.70 <= auc <= 0.95, (auc_lr, auc_hgb)
