"""Segment profiles and the naming rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segframe.data import load_customers
from segframe.errors import SegframeError
from segframe.profiles import (
    apply_names,
    midrank_percentile,
    parse_names,
    segment_name,
    segment_profiles,
    unique_names,
)


def scores(recency: float, frequency: float, monetary: float = 0.5, tenure: float = 0.5) -> dict:
    return {"recency": recency, "frequency": frequency, "monetary": monetary, "tenure": tenure}


def test_midrank_percentile_counts_ties_half():
    values = np.array([1, 1, 1, 1, 1, 1, 2, 3, 5, np.nan])
    assert midrank_percentile(values, 1) == pytest.approx(3 / 9)
    assert midrank_percentile(values, 5) == pytest.approx(8.5 / 9)
    assert np.isnan(midrank_percentile(values, np.nan))


@pytest.mark.parametrize(
    ("given", "name"),
    [
        (scores(0.9, 0.9, monetary=0.9), "champions"),
        (scores(0.9, 0.9, monetary=0.5), "loyal"),
        (scores(0.5, 0.8, monetary=0.8), "high-value loyal"),
        (scores(0.9, 0.1, tenure=0.1), "new"),
        (scores(0.9, 0.1, tenure=0.8), "promising"),
        (scores(0.9, 0.5), "promising"),
        (scores(0.5, 0.5), "need attention"),
        (scores(0.5, 0.2), "about to sleep"),
        (scores(0.1, 0.9), "at risk"),
        (scores(0.1, 0.9, monetary=0.9), "high-value at risk"),
        (scores(0.1, 0.5), "hibernating"),
        (scores(0.1, 0.1), "lost"),
    ],
)
def test_names_follow_the_recency_frequency_grid(given, name):
    assert segment_name(given) == name


def test_repeated_names_get_suffixes_in_segment_order():
    names = unique_names({3: "loyal", 0: "lost", 1: "loyal", 2: "loyal"})
    assert names == {0: "lost", 1: "loyal", 2: "loyal 2", 3: "loyal 3"}


def shop() -> tuple[pd.DataFrame, np.ndarray]:
    """Customers 0-3: bought often, lately, a lot. Customers 4-7: one small purchase long ago."""
    end = pd.Timestamp("2025-12-31")
    rows = []
    for c in range(4):
        for d in (300, 200, 100, 30, 5 + c):
            rows.append((f"c{c}", end - pd.Timedelta(days=d), "purchase", 100.0, "music"))
        rows.append((f"c{c}", end - pd.Timedelta(days=2), "view", np.nan, "books"))
    for c in range(4, 8):
        rows.append((f"c{c}", end - pd.Timedelta(days=330 + c), "purchase", 10.0, "books"))
    events = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event", "amount", "item"])
    customers = pd.DataFrame({"customer_id": [f"c{i}" for i in range(8)], "age": range(8)})
    frame = load_customers(customers, id_column="customer_id", events=events).frame
    return frame, np.array([0, 0, 0, 0, 1, 1, 1, 1])


def test_profiles_measure_rfm_and_name_segments():
    frame, segments = shop()
    profiles = segment_profiles(frame, segments)
    assert list(profiles["size"]) == [4, 4] and list(profiles["share"]) == [0.5, 0.5]
    best, lapsed = profiles.loc[0], profiles.loc[1]
    assert best["frequency_median"] == 5 and best["monetary_median"] == 500
    assert best["recency_median"] == 0  # the views are the latest events: the clock
    assert lapsed["frequency_median"] == 1 and lapsed["monetary_median"] == 10
    assert lapsed["tenure_median"] == pytest.approx(333.5)
    assert best["top_events"] == "purchase 83%, view 17%"
    assert lapsed["top_items"] == "books 100%"
    assert best["name"] == "champions" and lapsed["name"] == "lost"


def test_given_names_override_derived_ones():
    frame, segments = shop()
    profiles = segment_profiles(frame, segments, names={1: "Sleepers"})
    assert list(profiles["name"]) == ["champions", "Sleepers"]


def test_without_events_segments_are_numbered_and_sized():
    frame = load_customers(pd.DataFrame({"id": ["a", "b", "c"], "x": [1, 2, 3]})).frame
    profiles = segment_profiles(frame, np.array([1, 0, 1]))
    assert list(profiles["name"]) == ["segment 0", "segment 1"]
    assert list(profiles["size"]) == [1, 2]
    with pytest.raises(SegframeError, match="one per customer"):
        segment_profiles(frame, np.array([0, 1]))


def test_names_option_parsing_and_validation():
    assert parse_names(" 0=VIP, 3=Sleepers ") == {0: "VIP", 3: "Sleepers"}
    for bad in ("VIP", "x=VIP", "0="):
        with pytest.raises(SegframeError, match="SEGMENT=NAME"):
            parse_names(bad)
    assert apply_names({0: "lost", 1: "loyal"}, {1: "VIP"}) == {0: "lost", 1: "VIP"}
    with pytest.raises(SegframeError, match="unique"):
        apply_names({0: "lost", 1: "loyal"}, {1: "lost"})
