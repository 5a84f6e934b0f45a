"""Segment profiles and the naming rule."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from segframe.data import load_customers
from segframe.errors import SegframeError
from segframe.profiles import (
    _GRID,
    apply_names,
    midrank_percentile,
    parse_names,
    segment_name,
    segment_profiles,
    suggested_action,
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
    assert segment_name(given, ANY_RANK) == name


#: Medians that pass every absolute threshold, so the ranks alone decide.
ANY_RANK = {"recency": 0.0, "frequency": 50.0, "monetary": 1.0, "tenure": 10.0}


@pytest.mark.parametrize(
    ("medians", "name"),
    [
        ({"recency": 147.0, "frequency": 2.0}, "hibernating"),  # CDNOW's former "champions 2"
        ({"recency": 31.0, "frequency": 4.0}, "loyal"),
        ({"recency": 30.0, "frequency": 3.0}, "promising"),
        ({"recency": 91.0, "frequency": 1.0}, "lost"),
        ({"recency": 60.0, "frequency": 1.0}, "about to sleep"),
        ({"recency": float("nan"), "frequency": 0.0}, "lost"),
        ({"recency": 12.0, "frequency": 0.0}, "window shoppers"),
        ({"recency": 120.0, "frequency": 0.0}, "lost"),
    ],
)
def test_absolute_thresholds_cap_what_ranks_earn(medians, name):
    top_ranks = scores(0.95, 0.95, monetary=0.5)
    assert segment_name(top_ranks, {**ANY_RANK, **medians}) == name


def test_new_needs_a_short_tenure_in_days_too():
    recent_first_buy = scores(0.9, 0.1, tenure=0.1)
    assert segment_name(recent_first_buy, {**ANY_RANK, "frequency": 1.0}) == "new"
    long_ago = {**ANY_RANK, "frequency": 1.0, "tenure": 200.0}
    assert segment_name(recent_first_buy, long_ago) == "promising"


def test_every_name_has_a_suggested_action():
    for name in {*_GRID.values(), "champions", "window shoppers"}:
        assert suggested_action(name) and suggested_action(f"high-value {name}")
    assert suggested_action("VIP") == ""


def test_repeated_names_get_words_from_the_measure_that_differs_most():
    spend = {0: 0.2, 1: 0.9, 2: 0.5, 3: 0.5}
    given = {s: scores(0.1, 0.1, monetary=m, tenure=0.1 * s) for s, m in spend.items()}
    names = unique_names({0: "lost", 1: "lost", 2: "lost", 3: "loyal"}, given)
    assert names == {0: "lost (low spend)", 1: "lost (high spend)", 2: "lost (mid spend)",
                     3: "loyal"}  # fmt: skip
    assert not any(re.search(r"\d", n) for n in names.values())


def test_segments_alike_on_the_widest_measure_are_split_on_the_next():
    given = {0: scores(0.1, 0.1, 0.1, 0.2), 1: scores(0.1, 0.1, 0.1, 0.8),
             2: scores(0.1, 0.1, 0.9, 0.5)}  # fmt: skip
    names = unique_names(dict.fromkeys(given, "lost"), given)
    assert names[2] == "lost (high spend)"
    assert names[0] == "lost (low spend, newest)"
    assert names[1] == "lost (low spend, longest-standing)"


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
    assert best["action"] == suggested_action("champions")


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


def test_customers_with_an_empty_event_log_are_sized_not_named_by_rfm():
    frame, _ = shop()
    no_events = pd.Series([[]] * len(frame), index=frame.index, dtype=frame["events"].dtype)
    profiles = segment_profiles(frame.assign(events=no_events), np.array([0, 1] * 4))
    assert list(profiles["name"]) == ["segment 0", "segment 1"]
    assert "recency_median" not in profiles


def test_names_option_parsing_and_validation():
    assert parse_names(" 0=VIP, 3=Sleepers ") == {0: "VIP", 3: "Sleepers"}
    for bad in ("VIP", "x=VIP", "0="):
        with pytest.raises(SegframeError, match="SEGMENT=NAME"):
            parse_names(bad)
    assert apply_names({0: "lost", 1: "loyal"}, {1: "VIP"}) == {0: "lost", 1: "VIP"}
    with pytest.raises(SegframeError, match="unique"):
        apply_names({0: "lost", 1: "loyal"}, {1: "lost"})
