"""The event-sequence feature builder: tokens, vocabulary, truncation, side features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from segframe_sequences import PADDING, UNKNOWN, EventSequences
from segframe_tabular import RFMFeatures, TabularColumns
from sklearn.base import BaseEstimator, ClassifierMixin

from segframe import Component, hookimpl
from segframe.components import SEQUENCES, SearchContext, SequenceBatch
from segframe.data import load_customers
from segframe.errors import DataError
from segframe.pipeline import FeatureConcat, build_pipeline
from segframe.registry import Registry
from segframe.space import PipelineSpace


def shop(events: list[tuple[str, str, str, float | None, str | None]]) -> pd.DataFrame:
    """Customers a, b, c (c without events) and their events (id, day, event, amount, item)."""
    customers = pd.DataFrame({"customer_id": ["a", "b", "c"], "age": [30.0, None, 50.0]})
    log = pd.DataFrame(events, columns=["customer_id", "timestamp", "event", "amount", "item"])
    return load_customers(customers, id_column="customer_id", events=log).frame


TRAIN = shop(
    [
        ("a", "2025-01-05", "cart", None, "books"),
        ("a", "2025-01-01", "view", None, "books"),  # out of order: sorted by time on load
        ("a", "2025-01-03", "view", None, "toys"),
        ("a", "2025-01-09", "purchase", 20.0, "books"),
        ("a", "2025-01-07", "view", None, "toys"),
        ("b", "2025-01-02", "view", None, "books"),
        ("b", "2025-01-04", "purchase", 80.0, "toys"),
    ]
)


def test_keeps_the_last_events_most_recent_last_left_padded() -> None:
    builder = EventSequences(length=3, token="event", min_count=1).fit(TRAIN)
    tokens = builder.transform(TRAIN).tokens
    assert tokens.dtype == np.int32 and tokens.shape == (3, 3)
    view, purchase, cart = tokens[1, 1], tokens[1, 2], tokens[0, 0]
    assert len({view, cart, purchase}) == 3 and PADDING not in (view, cart, purchase)
    # a by time: view view cart view purchase → the last three
    assert tokens[0].tolist() == [cart, view, purchase]
    assert tokens[1].tolist() == [PADDING, view, purchase]
    assert tokens[2].tolist() == [PADDING] * 3  # no events at all
    # a longer sequence reaches further back, then pads in front
    longer = EventSequences(length=6, token="event", min_count=1).fit(TRAIN).transform(TRAIN)
    assert longer.tokens[0].tolist() == [PADDING, view, view, cart, view, purchase]


def test_vocabulary_is_learned_on_training_data_only() -> None:
    train = TRAIN.iloc[:1]  # customer a only: view, cart, purchase; books and toys
    builder = EventSequences(length=5, token="event_item", min_count=1).fit(train)
    new = shop(
        [
            ("a", "2025-02-01", "view", None, "books"),
            ("b", "2025-02-01", "refund", None, "books"),  # unseen event type
            ("b", "2025-02-02", "view", None, "garden"),  # unseen item category
            ("b", "2025-02-03", "purchase", 5.0, "toys"),  # pair never seen together
        ]
    )
    tokens = builder.transform(new).tokens
    assert tokens[1].tolist()[-3:] == [UNKNOWN, UNKNOWN, UNKNOWN]
    seen = builder.transform(train).tokens
    assert tokens[0, -1] == seen[0, 0]  # (view, books) keeps its token
    assert UNKNOWN not in seen and seen.max() == builder.n_tokens_ - 1


def test_rare_tokens_become_unknown() -> None:
    tokens = EventSequences(length=5, token="event", min_count=2).fit(TRAIN).transform(TRAIN)
    view, purchase = tokens.tokens[1, 3:]
    # cart occurs once in training: below min_count, so it is the unknown token
    assert tokens.tokens[0].tolist() == [view, view, UNKNOWN, view, purchase]


def test_token_kinds_split_events_by_item_and_amount_bucket() -> None:
    by_event = EventSequences(length=5, token="event", min_count=1).fit(TRAIN).transform(TRAIN)
    by_item = EventSequences(length=5, token="event_item", min_count=1).fit(TRAIN).transform(TRAIN)
    # a's views: books, toys, toys → one token by event, two by event × item
    assert len(set(by_event.tokens[0, [0, 1, 3]])) == 1
    assert by_item.tokens[0, 0] != by_item.tokens[0, 1] == by_item.tokens[0, 3]
    amounts = EventSequences(length=5, token="event_amount", amount_buckets=2, min_count=1)
    amounts.fit(TRAIN)
    assert amounts.amount_edges_.tolist() == [50.0]  # the median purchase, learned at fit
    tokens = amounts.transform(TRAIN).tokens
    assert tokens[0, -1] != tokens[1, -1]  # purchases of 20 and 80 fall in different buckets


def test_side_features_are_complete_standardised_float32() -> None:
    builder = EventSequences(length=4).fit(TRAIN)
    features = builder.transform(TRAIN).features
    assert features.dtype == np.float32 and features.shape[0] == 3
    assert np.isfinite(features).all()
    np.testing.assert_allclose(features.mean(axis=0), 0.0, atol=1e-6)
    # the table's own column (age) and RFM: one age column + six RFM columns
    assert features.shape[1] == 7


def test_matches_a_per_customer_reference(small_demo) -> None:
    """Tokens agree with the slow obvious way: per customer, the last L event types."""
    frame = small_demo.frame
    builder = EventSequences(length=8, token="event", min_count=1).fit(frame)
    tokens = builder.transform(frame).tokens
    names: dict[int, str] = {}
    for i, events in enumerate(frame["events"].head(150)):
        recent = [e["event"] for e in events][-8:]
        row = tokens[i][tokens[i] != PADDING].tolist()
        assert len(row) == len(recent)
        assert (tokens[i, : 8 - len(recent)] == PADDING).all()
        for token, name in zip(row, recent, strict=True):
            assert names.setdefault(token, name) == name
    assert len(set(names.values())) == len(names)  # one token per event type


def test_needs_an_event_log(small_demo) -> None:
    with pytest.raises(DataError, match="--events"):
        EventSequences().fit(small_demo.frame.drop(columns="events"))


class SequenceSpy(ClassifierMixin, BaseEstimator):
    """A sequence model that records what it was given."""

    def fit(self, X, y):
        self.seen_ = X
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))


class SpyPlugin:
    @hookimpl
    def segframe_components(self):
        return [Component("model", "sequence_spy", SequenceSpy, SEQUENCES, "prediction")]


def test_search_space_chains_sequences_straight_to_the_model(small_demo) -> None:
    """No preprocessor or sampler sits between the sequence builder and the model."""
    import optuna

    registry = Registry.load(extra=[SpyPlugin()])
    context = SearchContext(
        n_rows=400,
        n_classes=2,
        min_class_count=40,
        minority_ratio=0.2,
        has_events=True,
        n_tabular_columns=5,
    )
    space = PipelineSpace(registry, context, models=["sequence_spy"])
    study = optuna.create_study()
    for _ in range(5):
        spec = space.sample(study.ask())
        assert [s.name for s in spec.features] == ["event_sequence"]
        assert [s.name for s in spec.steps] == ["none", "sequence_spy"]
    fitted = build_pipeline(spec, registry).fit(small_demo.frame, small_demo.target)
    seen = fitted.pipeline_.named_steps["model"].seen_
    assert isinstance(seen, SequenceBatch) and len(seen) == len(small_demo.frame)
    assert fitted.predict_proba(small_demo.frame).shape == (400, 2)


def test_frame_builders_still_concatenate(small_demo) -> None:
    features = FeatureConcat([("tabular", TabularColumns()), ("rfm", RFMFeatures())])
    out = features.fit(small_demo.frame).transform(small_demo.frame)
    assert isinstance(out, pd.DataFrame)
    assert {"tabular__age", "rfm__recency_days"} <= set(out.columns)
