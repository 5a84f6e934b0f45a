"""Keras models: two-input CNN/LSTM, the autoencoder in both roles, pruning, persistence,
and segframe without TensorFlow. Real TensorFlow training on tiny data, few epochs."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from segframe_keras import AutoencoderClassifier, AutoencoderEmbedding, SequenceClassifier
from segframe_sequences import EventSequences
from sklearn.base import clone

import segframe
from segframe.components import SearchContext, SequenceBatch
from segframe.errors import DataError
from segframe.metrics import score
from segframe.pipeline import PipelineSpec, StepSpec, build_pipeline
from segframe.progress import epoch_reporting
from segframe.registry import Registry

TINY = {"embedding_dim": 4, "units": 8, "side_units": 4, "batch_size": 64}


@pytest.fixture(scope="module")
def sequences(small_demo) -> tuple[SequenceBatch, np.ndarray, SequenceBatch, np.ndarray]:
    """Tokens and side features of 300 training and 100 new demo customers."""
    frame, y = small_demo.frame, small_demo.target.to_numpy()
    builder = EventSequences(length=16, token="event_item").fit(frame.iloc[:300])
    train, new = builder.transform(frame.iloc[:300]), builder.transform(frame.iloc[300:])
    return train, y[:300], new, y[300:]


@pytest.fixture(scope="module")
def rfm_matrix(small_demo) -> tuple[np.ndarray, np.ndarray]:
    rfm = Registry.load().get("features", "rfm").factory()
    matrix = rfm.fit(small_demo.frame).transform(small_demo.frame).fillna(0.0).to_numpy()
    return matrix, small_demo.target.to_numpy()


@pytest.mark.parametrize("architecture", ["cnn", "lstm"])
def test_sequence_models_take_tokens_and_side_features(sequences, architecture) -> None:
    train, y, new, _ = sequences
    model = SequenceClassifier(architecture, epochs=2, **TINY).fit(train, y)
    assert [tuple(i.shape) for i in model.model_.inputs] == [
        (None, 16),
        (None, train.features.shape[1]),
    ]
    assert len(model.epoch_seconds_) == 2
    proba = model.predict_proba(new)
    assert proba.shape == (100, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(model.predict(new)) <= set(model.classes_)
    # tokens beyond the trained vocabulary are read as unknown, not an index error
    unseen = SequenceBatch(np.full_like(new.tokens, 10_000), new.features)
    assert np.isfinite(model.predict_proba(unseen)).all()


def test_sequence_models_are_sklearn_estimators(sequences) -> None:
    model = SequenceClassifier("lstm", units=12, class_weight="balanced")
    assert clone(model).get_params() == model.get_params()
    assert not hasattr(model, "model_")  # __init__ only stores parameters
    with pytest.raises(DataError, match="event_sequence"):
        model.fit(np.zeros((10, 3)), np.arange(10) % 2)


def test_training_is_deterministic_under_a_seed(sequences) -> None:
    train, y, new, _ = sequences
    first = SequenceClassifier("cnn", epochs=2, **TINY).fit(train, y).predict_proba(new)
    again = SequenceClassifier("cnn", epochs=2, **TINY).fit(train, y).predict_proba(new)
    other = SequenceClassifier("cnn", epochs=2, seed=1, **TINY).fit(train, y).predict_proba(new)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_early_stopping_ends_training_before_the_epoch_budget(sequences) -> None:
    train, y, _, _ = sequences
    model = SequenceClassifier("cnn", epochs=60, patience=1, learning_rate=0.05, **TINY)
    assert len(model.fit(train, y).epoch_seconds_) < 60


def test_each_epoch_reports_validation_auc_and_pruning_stops_the_fit(sequences) -> None:
    train, y, _, _ = sequences
    reported: list[tuple[float, int]] = []

    def reporter(value: float, epoch: int) -> None:
        reported.append((value, epoch))
        if epoch == 1:
            raise optuna.TrialPruned()

    model = SequenceClassifier("cnn", epochs=10, **TINY)
    with epoch_reporting(reporter), pytest.raises(optuna.TrialPruned):
        model.fit(train, y)
    assert [epoch for _, epoch in reported] == [0, 1]
    assert all(0.0 <= value <= 1.0 for value, _ in reported)


def test_autoencoder_scores_the_minority_by_reconstruction_error(rfm_matrix) -> None:
    X, y = rfm_matrix
    model = AutoencoderClassifier(epochs=15, width=16, bottleneck=3).fit(X[:300], y[:300])
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()
    # the threshold flags about as many training customers as there are positives
    flagged = (model.predict(X[:300]) == 1).mean()
    assert abs(flagged - (y[:300] == 1).mean()) < 0.05
    scores = score(y[300:], proba[300:], 1)
    assert np.isfinite(scores["f1"]) and scores["auc"] > 0.55
    with pytest.raises(DataError, match="binary"):
        AutoencoderClassifier(epochs=1).fit(X[:300], np.arange(300) % 3)


def test_autoencoder_model_is_offered_for_binary_targets_only() -> None:
    component = Registry.load().get("model", "autoencoder")

    def context(n_classes: int) -> SearchContext:
        return SearchContext(
            n_rows=400,
            n_classes=n_classes,
            min_class_count=40,
            minority_ratio=0.2,
            has_events=True,
            n_tabular_columns=5,
        )

    assert component.applies(context(2))
    assert not component.applies(context(3))


def test_autoencoder_embedding_feeds_kmeans(small_demo) -> None:
    spec = PipelineSpec(
        features=(StepSpec("features", "rfm"),),
        steps=(
            StepSpec("preprocessor", "impute"),
            StepSpec("preprocessor", "ordinal"),
            StepSpec("preprocessor", "autoencoder_embedding", {"bottleneck": 3, "epochs": 5}),
            StepSpec("sampler", "none"),
            StepSpec("model", "kmeans", {"n_clusters": 4}),
        ),
    )
    fitted = build_pipeline(spec, Registry.load(), positive=1)
    fitted.fit(small_demo.frame, small_demo.target)
    embedding = fitted.pipeline_.named_steps["autoencoder_embedding"]
    assert isinstance(embedding, AutoencoderEmbedding)
    matrix = fitted.pipeline_[:-2].transform(small_demo.frame)
    assert matrix.shape == (400, 3) and np.isfinite(matrix).all()
    assert fitted.predict_proba(small_demo.frame).shape == (400, 2)


def test_keras_estimators_pickle_with_their_models(sequences, rfm_matrix) -> None:
    train, y, new, _ = sequences
    X, labels = rfm_matrix
    fitted = [
        (SequenceClassifier("lstm", epochs=1, **TINY).fit(train, y), new),
        (AutoencoderClassifier(epochs=2).fit(X, labels), X),
        (AutoencoderEmbedding(epochs=2).fit(X), X),
    ]
    for estimator, data in fitted:
        before = (
            estimator.transform(data)
            if isinstance(estimator, AutoencoderEmbedding)
            else estimator.predict_proba(data)
        )
        blob = pickle.dumps(estimator)
        assert b"model.weights.h5" in blob  # the model travels in Keras's own format
        assert hasattr(estimator.model_, "predict")  # pickling left the live model alone
        restored = pickle.loads(blob)
        after = (
            restored.transform(data)
            if isinstance(restored, AutoencoderEmbedding)
            else restored.predict_proba(data)
        )
        np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def lstm_search(small_demo, tmp_path_factory) -> tuple[Any, Path]:
    folder = tmp_path_factory.mktemp("keras_search")
    result = segframe.search(
        small_demo,
        storage=f"sqlite:///{folder / 'study.db'}",
        study="lstm",
        objective="auc",
        models=["lstm"],
        trials=1,
        cv=2,
        device="cpu",
    )
    return result, folder


@pytest.mark.slow
def test_single_objective_search_gets_an_intermediate_value_per_epoch(lstm_search) -> None:
    result, _ = lstm_search
    study = optuna.load_study(study_name="lstm", storage=result.storage_url)
    steps = sorted(study.trials[0].intermediate_values)
    # fold 0's epochs report at steps 0, 1, …, fold 1's from step 10_000 on; fold scores
    # are no intermediate values (segframe's first-fold rule stops trials, not Optuna)
    assert steps[:2] == [0, 1]
    assert 10_000 in steps and 9_999 not in steps
    assert np.isfinite(result.holdout_scores["auc"]) and np.isfinite(result.holdout_scores["f1"])


@pytest.mark.slow
def test_stored_lstm_winner_predicts_the_same_in_a_new_process(lstm_search, small_demo) -> None:
    result, folder = lstm_search
    expected = result.best_pipeline.predict_proba(small_demo.frame)
    np.save(folder / "expected.npy", expected)
    script = textwrap.dedent(
        f"""
        import numpy as np
        import segframe
        from segframe.data import load_customers
        from segframe.demo import make_demo

        customers, events = make_demo(n_customers=400, seed=3)
        data = load_customers(customers, id_column="customer_id", events=events)
        pipeline = segframe.load_pipeline("lstm", {result.storage_url!r})
        assert type(pipeline.pipeline_.named_steps["model"]).__name__ == "SequenceClassifier"
        np.save({str(folder / "reloaded.npy")!r}, pipeline.predict_proba(data.frame))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    np.testing.assert_allclose(np.load(folder / "reloaded.npy"), expected, atol=1e-5)


def test_without_tensorflow_keras_components_are_unavailable_and_the_rest_works(tmp_path) -> None:
    hide = tmp_path / "hide"
    hide.mkdir()
    # Every process started here (the CLI and any trial it spawns) sees no TensorFlow or Keras.
    (hide / "sitecustomize.py").write_text(
        "import sys\nsys.modules['tensorflow'] = None\nsys.modules['keras'] = None\n"
    )
    env = {**os.environ, "PYTHONPATH": str(hide)}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "segframe", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
        )

    listed = cli("plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)["components"]}
    for name in ("cnn", "lstm", "autoencoder", "autoencoder_embedding"):
        assert rows[name]["status"] == "unavailable"
        assert "pip install 'segframe[keras]'" in rows[name]["reason"]
        assert "tensorflow" in rows[name]["reason"]
    assert rows["event_sequence"]["status"] == "available"  # needs no TensorFlow
    assert rows["xgboost"]["status"] == "available"
    searched = cli("search", "--demo", "--models", "logreg", "--trials", "2", "--cv", "2")
    assert searched.returncode == 0, searched.stderr[-3000:]
    assert "holdout" in searched.stdout


@pytest.mark.parametrize(
    ("backend", "package"), [("jax", "jax"), ("torch", "torch"), (None, "tensorflow")]
)
def test_keras_components_need_the_backend_keras_runs_on(
    monkeypatch, tmp_path, backend, package
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no keras.json: the variable decides
    if backend is None:
        monkeypatch.delenv("KERAS_BACKEND", raising=False)
    else:
        monkeypatch.setenv("KERAS_BACKEND", backend)
    import segframe_keras

    needs = {c.requires_modules for c in segframe_keras.segframe_components()}
    assert needs == {("keras", package)}
    if backend == "jax" and importlib.util.find_spec("jax") is None:
        info = Registry.load().infos("model", available_only=False)
        lstm = next(i for i in info if i.component.name == "lstm")
        assert not lstm.available and "jax" in lstm.unavailable


@pytest.mark.parametrize(
    ("config", "package"),
    [
        ('{"backend": "jax"}', "jax"),
        ('{"floatx": "float32"}', "tensorflow"),
        ("not json", "tensorflow"),
    ],
)
def test_keras_components_read_the_backend_from_keras_json_too(
    monkeypatch, tmp_path, config, package
) -> None:
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "keras.json").write_text(config)
    import segframe_keras

    assert {c.requires_modules for c in segframe_keras.segframe_components()} == {
        ("keras", package)
    }


@pytest.mark.parametrize(("device", "cudnn"), [("cpu", False), ("gpu", "auto")])
def test_an_lstm_placed_on_the_cpu_never_asks_for_cudnn(device, cudnn) -> None:
    # Keras's JAX backend takes cuDNN's LSTM whenever JAX's default device is a GPU, also
    # for a model placed on the CPU, and fails there.
    from segframe_keras.estimators import keras_module

    model = SequenceClassifier("lstm", layers=2, device=device, **TINY)
    model.n_tokens_, model.classes_ = 5, np.array([0, 1])
    built = model._build(keras_module(), length=16, n_side=3)
    lstms = [layer for layer in built.layers if type(layer).__name__ == "LSTM"]
    assert len(lstms) == 2
    assert {layer.use_cudnn for layer in lstms} == {cudnn}
