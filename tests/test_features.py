"""Tests for the feature builders of the tabular plugin (TabularColumns, RFM, aggregates)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from segframe_tabular import EventAggregates, RFMFeatures, TabularColumns

from segframe.data import EVENTS, load_customers
from segframe.errors import DataError

BASE = pd.Timestamp("2024-01-01")
DAY = pd.Timedelta(days=1)
CUSTOMERS = [f"c{i}" for i in range(6)]
EVENT_TYPES = ["view", "cart", "purchase", "refund"]
RFM_COLUMNS = [
    "recency_days",
    "frequency",
    "monetary_total",
    "monetary_mean",
    "tenure_days",
    "n_events",
]


def load(log: pd.DataFrame, ids: list[str] = CUSTOMERS) -> pd.DataFrame:
    table = pd.DataFrame({"customer_id": ids, "x": np.arange(len(ids), dtype=float)})
    return load_customers(table, events=log).frame


def make_log(rows: list[tuple[str, int, float, str]]) -> pd.DataFrame:
    ids, seconds, amounts, kinds = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "customer_id": list(ids),
            "timestamp": (BASE + pd.to_timedelta(list(seconds), unit="s")).astype("datetime64[ns]"),
            "event": list(kinds),
            "amount": list(amounts),
        }
    )


event_rows = st.lists(
    st.tuples(
        st.sampled_from(CUSTOMERS),
        st.integers(min_value=0, max_value=400 * 86_400),
        st.one_of(st.just(float("nan")), st.floats(-50, 500, allow_nan=False)),
        st.sampled_from(EVENT_TYPES),
    ),
    min_size=1,
    max_size=60,
)


def rfm_reference(log: pd.DataFrame, reference: pd.Timestamp, has_amounts: bool) -> pd.DataFrame:
    """RFM computed the slow, obvious way with pandas."""
    log = log.assign(amount0=log["amount"].fillna(0.0))
    if has_amounts:
        log["is_purchase"] = (log["amount0"] > 0) | (log["event"] == "purchase")
    else:
        log["is_purchase"] = True
    groups = log.groupby("customer_id")
    ref = pd.DataFrame(
        {
            "recency_days": (reference - groups["timestamp"].max()) / DAY,
            "frequency": groups["is_purchase"].sum().astype(float),
            "monetary_total": groups["amount0"].sum(),
            "tenure_days": (reference - groups["timestamp"].min()) / DAY,
            "n_events": groups.size().astype(float),
        }
    ).reindex(CUSTOMERS)
    ref[["frequency", "monetary_total", "n_events"]] = ref[
        ["frequency", "monetary_total", "n_events"]
    ].fillna(0.0)
    ref["monetary_mean"] = (ref["monetary_total"] / ref["frequency"]).where(ref["frequency"] > 0)
    ref.index.name = "customer_id"
    return ref[RFM_COLUMNS]


# --------------------------------------------------------------------------- RFM


@settings(max_examples=50, deadline=None)
@given(event_rows)
def test_rfm_matches_pandas_reference(rows: list[tuple[str, int, float, str]]) -> None:
    log = make_log(rows)
    frame = load(log)
    got = RFMFeatures().fit_transform(frame)
    expected = rfm_reference(log, log["timestamp"].max(), log["amount"].notna().any())
    assert list(got.columns) == RFM_COLUMNS
    assert got.index.equals(frame.index)
    pd.testing.assert_frame_equal(got, expected, check_names=False, rtol=1e-9, atol=1e-9)
    silent = ~frame.index.isin(log["customer_id"])
    assert got.loc[silent, ["recency_days", "tenure_days", "monetary_mean"]].isna().all().all()
    assert (got.loc[silent, ["frequency", "monetary_total", "n_events"]] == 0).all().all()


def test_rfm_small_example() -> None:
    log = pd.DataFrame(
        {
            "customer_id": ["c0", "c0", "c0", "c1"],
            "timestamp": ["2024-01-01", "2024-01-05", "2024-01-03", "2024-01-11"],
            "event": ["view", "purchase", "cart", "purchase"],
            "amount": [np.nan, 30.0, np.nan, np.nan],
        }
    )
    got = RFMFeatures().fit_transform(load(log, ["c0", "c1", "c2"]))
    assert got.loc["c0"].to_dict() == {
        "recency_days": 6.0,
        "frequency": 1.0,
        "monetary_total": 30.0,
        "monetary_mean": 30.0,
        "tenure_days": 10.0,
        "n_events": 3.0,
    }
    assert got.loc["c1", "frequency"] == 1.0
    assert got.loc["c1", "monetary_total"] == 0.0
    assert got.loc["c1", "monetary_mean"] == 0.0
    assert np.isnan(got.loc["c2", "recency_days"])
    assert got.loc["c2", "n_events"] == 0.0


def test_rfm_reference_time_is_learned_at_fit() -> None:
    train = pd.DataFrame(
        {
            "customer_id": ["c0", "c1"],
            "timestamp": ["2024-01-01", "2024-01-11"],
            "event": ["purchase", "purchase"],
            "amount": [10.0, 20.0],
        }
    )
    later = train.assign(timestamp=["2024-01-21", "2024-01-31"])
    rfm = RFMFeatures().fit(load(train, ["c0", "c1"]))
    assert rfm.reference_time_ == np.datetime64("2024-01-11")
    got = rfm.transform(load(later, ["c0", "c1"]))
    assert got["recency_days"].tolist() == [-10.0, -20.0]
    assert got["tenure_days"].tolist() == [-10.0, -20.0]
    refit = RFMFeatures().fit_transform(load(later, ["c0", "c1"]))
    assert refit["recency_days"].tolist() == [10.0, 0.0]


def test_rfm_purchase_rule_is_learned_at_fit() -> None:
    """A batch whose customers have no amounts is scored by the rule learned at fit."""
    train = pd.DataFrame(
        {
            "customer_id": ["c0", "c0", "c1"],
            "timestamp": ["2024-01-01", "2024-01-02", "2024-01-03"],
            "event": ["view", "purchase", "view"],
            "amount": [np.nan, 12.0, np.nan],
        }
    )
    frame = load(train, ["c0", "c1"])
    rfm = RFMFeatures().fit(frame)
    together = rfm.transform(frame)
    alone = rfm.transform(frame.loc[["c1"]])
    assert together.loc["c1", "frequency"] == alone.loc["c1", "frequency"] == 0.0


def test_rfm_without_any_amounts_counts_every_event() -> None:
    log = pd.DataFrame(
        {
            "customer_id": ["c0", "c0", "c1"],
            "timestamp": ["2024-01-01", "2024-01-02", "2024-01-03"],
            "event": ["view", "visit", "view"],
        }
    )
    got = RFMFeatures().fit_transform(load(log, ["c0", "c1"]))
    assert got["frequency"].tolist() == [2.0, 1.0]
    assert got["monetary_mean"].tolist() == [0.0, 0.0]


def test_rfm_needs_events() -> None:
    with pytest.raises(DataError, match="--events"):
        RFMFeatures().fit(load_customers(pd.DataFrame({"id": ["a"], "x": [1]})).frame)
    log = pd.DataFrame({"customer_id": ["zz"], "timestamp": ["2024-01-01"], "event": ["view"]})
    with pytest.raises(DataError, match="no events"):
        RFMFeatures().fit(load(log))


# --------------------------------------------------------------------------- aggregates


def aggregates_reference(
    log: pd.DataFrame, vocabulary: list[str], reference: pd.Timestamp
) -> pd.DataFrame:
    kept = log[log["event"].isin(vocabulary)]
    counts = (
        kept.groupby(["customer_id", "event"])
        .size()
        .unstack(fill_value=0)
        .reindex(index=CUSTOMERS, columns=vocabulary, fill_value=0)
        .astype(float)
    )
    totals = counts.sum(axis=1)
    shares = counts.div(totals.where(totals > 0), axis=0).fillna(0.0)
    last = (
        kept.groupby(["customer_id", "event"])["timestamp"]
        .max()
        .unstack()
        .reindex(index=CUSTOMERS, columns=vocabulary)
        .astype("datetime64[ns]")
    )
    days = last.apply(lambda column: (reference - column) / DAY)
    data = {}
    for name in vocabulary:
        data[f"count_{name}"] = counts[name]
        data[f"share_{name}"] = shares[name]
        data[f"days_since_{name}"] = days[name].astype(float)
    out = pd.DataFrame(data)
    out.index.name = "customer_id"
    return out


@settings(max_examples=50, deadline=None)
@given(event_rows, event_rows)
def test_event_aggregates_match_pandas_reference(
    fit_rows: list[tuple[str, int, float, str]], new_rows: list[tuple[str, int, float, str]]
) -> None:
    fit_log = make_log(fit_rows)
    # "novel" only ever appears at transform time, so it is never part of the vocabulary.
    new_log = make_log([*new_rows, ("c0", 0, 1.0, "novel"), ("c5", 86_400, 2.0, "novel")])
    agg = EventAggregates(top=12).fit(load(fit_log))
    assert sorted(agg.vocabulary_) == sorted(fit_log["event"].unique())
    assert "novel" not in agg.vocabulary_
    reference = fit_log["timestamp"].max()
    assert agg.reference_time_ == reference.to_datetime64()
    for log in (fit_log, new_log):
        got = agg.transform(load(log))
        expected = aggregates_reference(log, agg.vocabulary_, reference)
        pd.testing.assert_frame_equal(got, expected, check_names=False, rtol=1e-9, atol=1e-9)
        assert not any("novel" in column for column in got.columns)


@settings(max_examples=50, deadline=None)
@given(event_rows, st.integers(1, 4))
def test_event_aggregates_keep_the_most_frequent_types(
    rows: list[tuple[str, int, float, str]], top: int
) -> None:
    log = make_log(rows)
    agg = EventAggregates(top=top).fit(load(log))
    counts = log["event"].value_counts()
    assert len(agg.vocabulary_) == min(top, len(counts))
    kept = counts[agg.vocabulary_]
    dropped = counts.drop(agg.vocabulary_)
    if len(dropped):
        assert kept.min() >= dropped.max()


def test_event_aggregates_small_example() -> None:
    log = pd.DataFrame(
        {
            "customer_id": ["c0", "c0", "c0", "c1"],
            "timestamp": ["2024-01-01", "2024-01-05", "2024-01-03", "2024-01-11"],
            "event": ["view", "view", "cart", "view"],
        }
    )
    got = EventAggregates().fit_transform(load(log, ["c0", "c1", "c2"]))
    assert got.loc["c0", "count_view"] == 2.0
    assert got.loc["c0", "share_view"] == pytest.approx(2 / 3)
    assert got.loc["c0", "days_since_view"] == 6.0
    assert got.loc["c1", "days_since_view"] == 0.0
    assert np.isnan(got.loc["c1", "days_since_cart"])
    assert got.loc["c2"].filter(like="count_").eq(0).all()
    assert got.loc["c2"].filter(like="share_").eq(0).all()


# --------------------------------------------------------------------------- tabular columns


def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "age": [30, 41, 52],
            "charges": ["1.5", " ", "3"],
            "plan": ["basic", None, "pro"],
            "channel": pd.array(["web", pd.NA, "shop"], dtype="string"),
        }
    )


def test_tabular_columns_types() -> None:
    frame = load_customers(
        table(),
        events=pd.DataFrame({"customer_id": ["a"], "timestamp": ["2024-01-01"], "event": ["view"]}),
    ).frame
    tab = TabularColumns().fit(frame)
    assert tab.numeric_ == ["age", "charges"]
    assert tab.categorical_ == ["plan", "channel"]
    out = tab.transform(frame)
    assert EVENTS not in out.columns
    assert list(out.columns) == ["age", "charges", "plan", "channel"]
    assert (out.dtypes[["age", "charges"]] == np.float64).all()
    assert np.isnan(out.loc["b", "charges"])
    for column in ("plan", "channel"):
        assert out[column].dtype == object
        missing = out.loc["b", column]
        assert isinstance(missing, float) and np.isnan(missing)
        assert out.loc["a", column] in {"basic", "web"}
    assert out.index.equals(frame.index)


def test_tabular_columns_missing_column_at_transform() -> None:
    frame = load_customers(table()).frame
    tab = TabularColumns().fit(frame)
    with pytest.raises(DataError, match=r"lacks columns .*\bplan\b"):
        tab.transform(frame.drop(columns="plan"))


def test_tabular_columns_only_categorical() -> None:
    frame = load_customers(table()[["customer_id", "plan"]]).frame
    out = TabularColumns().fit_transform(frame)
    assert list(out.columns) == ["plan"]
    assert out["plan"].dtype == object


def test_tabular_columns_needs_some_column() -> None:
    frame = load_customers(pd.DataFrame({"customer_id": ["a", "b"], "y": [0, 1]}), target="y")
    with pytest.raises(DataError, match="no feature columns"):
        TabularColumns().fit(frame.frame)
