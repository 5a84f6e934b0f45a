"""Keras 3 estimators with the scikit-learn contract, trained within the search's budget.

Keras is imported inside ``fit``/``predict`` only, so this module loads without it.
Every fit clears the Keras session first (Keras leaks memory across trials otherwise),
seeds everything (deterministic on the CPU), stops early on a validation split of the
training data with the best weights restored, and reports a validation score per epoch
to :func:`segframe.plugin.report_epoch` so that the search can prune. The fitted Keras
model is pickled in Keras's own ``.keras`` format, so a stored pipeline reloads anywhere.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight

from segframe.plugin import DataError, SequenceBatch, report_epoch, roc_auc

#: Threads per TensorFlow op: parallel trials, not parallel ops, are the better use of cores.
THREADS = 2
PREDICT_BATCH = 4096


@cache
def keras_module() -> Any:
    """Keras on its configured backend (``segframe_keras.keras_backend``), set up once."""
    # TensorFlow logs C++ noise (CUDA probing, tf.data attributes) on every fit otherwise.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with contextlib.suppress(RuntimeError):  # too late once the runtime started
            tf.config.threading.set_intra_op_parallelism_threads(THREADS)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.experimental.enable_op_determinism()
    return keras


def _placement(keras: Any, device: str) -> contextlib.AbstractContextManager:
    """Run on the CPU unless the search chose the GPU (then Keras places ops itself)."""
    return keras.device("cpu:0") if device == "cpu" else contextlib.nullcontext()


def _split(n: int, fraction: float, seed: int, y: np.ndarray | None) -> tuple[Any, Any]:
    """Training and validation row positions; stratified when every class can be split."""
    rows = np.arange(n)
    stratify = y if y is not None and np.bincount(y).min(initial=n) >= 2 else None
    return train_test_split(rows, test_size=fraction, random_state=seed, stratify=stratify)


class KerasEstimator(BaseEstimator):
    """What every Keras estimator here shares: training loop, placement and pickling."""

    def _train(
        self,
        build: Callable[[Any], Any],
        data: tuple[Any, Any, Any, Any],
        loss: str,
        class_weight: dict[int, float] | None = None,
        validation_score: Callable[[], float] | None = None,
    ) -> Any:
        """Build and fit a model on ``data`` (x, y, validation x, validation y); returns it.

        While it trains the model is ``model_``, so ``validation_score`` can predict with it.
        """
        keras = keras_module()
        keras.backend.clear_session()
        keras.utils.set_random_seed(self.seed)
        x, y, x_valid, y_valid = data
        self.epoch_seconds_: list[float] = []
        started = [0.0]

        def begin(epoch: int, logs: Any) -> None:
            started[0] = time.perf_counter()

        def end(epoch: int, logs: Any) -> None:
            if validation_score is not None:
                value = validation_score()
                if np.isfinite(value):
                    report_epoch(float(value), epoch)
            self.epoch_seconds_.append(time.perf_counter() - started[0])

        with _placement(keras, self.device):
            model = self.model_ = build(keras)
            model.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss=loss)
            model.fit(
                x,
                y,
                validation_data=(x_valid, y_valid),
                epochs=self.epochs,
                batch_size=self.batch_size,
                class_weight=class_weight,
                shuffle=True,
                verbose=0,
                callbacks=[
                    keras.callbacks.EarlyStopping(
                        monitor="val_loss", patience=self.patience, restore_best_weights=True
                    ),
                    keras.callbacks.LambdaCallback(on_epoch_begin=begin, on_epoch_end=end),
                ],
            )
        return model

    def _predict(self, x: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """The model's output, in batches of a fixed size: each size is traced once per model
        (``model.predict``'s smaller last batch would trace again on every call)."""
        keras = keras_module()
        inputs = x if isinstance(x, list) else [x]
        parts = []
        with _placement(keras, self.device):
            for start in range(0, max(len(inputs[0]), 1), PREDICT_BATCH):
                batch = [a[start : start + PREDICT_BATCH] for a in inputs]
                parts.append(
                    self.model_.predict_on_batch(batch if isinstance(x, list) else batch[0])
                )
        return np.concatenate(parts)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # a copy: the live model must stay in place
        if "model_" in state:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "model.keras"
                state["model_"].save(path)
                state["model_"] = path.read_bytes()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("model_"), bytes):
            keras = keras_module()
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "model.keras"
                path.write_bytes(state["model_"])
                state["model_"] = keras.saving.load_model(path, compile=False)
        super().__setstate__(state)


class _Classifier(ClassifierMixin, KerasEstimator):
    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def _codes(estimator: Any, y: Any) -> np.ndarray:
    estimator.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
    return codes


class SequenceClassifier(_Classifier):
    """A CNN or LSTM over event tokens, beside a dense branch over the side features.

    Two inputs, as one would build it by hand: ``Embedding`` over the tokens, then
    ``Conv1D`` layers and global max pooling (``cnn``) or stacked ``LSTM`` layers
    (``lstm``); the side features pass a ``Dense`` layer; both are concatenated and a
    softmax gives the class probabilities.
    """

    def __init__(
        self,
        architecture: str = "cnn",
        embedding_dim: int = 16,
        units: int = 32,
        layers: int = 1,
        kernel_size: int = 3,
        side_units: int = 16,
        dropout: float = 0.2,
        learning_rate: float = 1e-3,
        epochs: int = 20,
        batch_size: int = 64,
        class_weight: str | None = None,
        patience: int = 3,
        validation_fraction: float = 0.15,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        self.architecture = architecture
        self.embedding_dim = embedding_dim
        self.units = units
        self.layers = layers
        self.kernel_size = kernel_size
        self.side_units = side_units
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.class_weight = class_weight
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.device = device

    def _build(self, keras: Any, length: int, n_side: int) -> Any:
        layers = keras.layers
        tokens = keras.Input((length,), dtype="int32", name="tokens")
        side = keras.Input((n_side,), name="side")
        x = layers.Embedding(self.n_tokens_, self.embedding_dim)(tokens)
        for i in range(self.layers):
            if self.architecture == "cnn":
                x = layers.Conv1D(self.units, self.kernel_size, padding="same", activation="relu")(
                    x
                )
            else:
                # On the CPU, never cuDNN's kernel: Keras's JAX backend picks it whenever a GPU
                # is JAX's default device, also inside keras.device("cpu:0"), and then fails.
                x = layers.LSTM(
                    self.units,
                    return_sequences=i < self.layers - 1,
                    use_cudnn=False if self.device == "cpu" else "auto",
                )(x)
        if self.architecture == "cnn":
            x = layers.GlobalMaxPooling1D()(x)
        s = layers.Dense(self.side_units, activation="relu")(side)
        h = layers.Dropout(self.dropout)(layers.Concatenate()([x, s]))
        out = layers.Dense(len(self.classes_), activation="softmax")(h)
        return keras.Model([tokens, side], out)

    def fit(self, X: SequenceBatch, y: Any) -> SequenceClassifier:
        if not isinstance(X, SequenceBatch):
            raise DataError(
                f"The {self.architecture} model takes event sequences (a SequenceBatch from the "
                f"event_sequence features), not {type(X).__name__}."
            )
        if self.architecture not in ("cnn", "lstm"):
            raise DataError(f"architecture must be 'cnn' or 'lstm', not {self.architecture!r}.")
        codes = _codes(self, y)
        self.n_tokens_ = int(X.tokens.max(initial=1)) + 1
        train, valid = _split(len(codes), self.validation_fraction, self.seed, codes)
        weights = None
        if self.class_weight == "balanced":
            present = np.unique(codes[train])
            balanced = compute_class_weight("balanced", classes=present, y=codes[train])
            weights = dict(zip(present.tolist(), balanced.tolist(), strict=True))
        inputs = self._inputs(X)
        part = [[a[rows] for a in inputs] for rows in (train, valid)]
        self.model_ = self._train(
            lambda keras: self._build(keras, X.tokens.shape[1], X.features.shape[1]),
            (part[0], codes[train], part[1], codes[valid]),
            "sparse_categorical_crossentropy",
            weights,
            lambda: roc_auc(codes[valid], self._predict(part[1])),
        )
        return self

    def _inputs(self, X: SequenceBatch) -> list[np.ndarray]:
        """Model inputs; tokens the model never saw in training count as unknown (1)."""
        tokens = np.where(X.tokens < self.n_tokens_, X.tokens, 1).astype(np.int32)
        return [tokens, np.asarray(X.features, dtype=np.float32)]

    def predict_proba(self, X: SequenceBatch) -> np.ndarray:
        return self._predict(self._inputs(X))


def _autoencoder(
    keras: Any, n_features: int, width: int, depth: int, bottleneck: int, dropout: float
) -> tuple[Any, Any]:
    """A dense autoencoder (halving widths down to ``bottleneck``) and its encoder."""
    layers = keras.layers
    inputs = keras.Input((n_features,), name="features")
    x = inputs
    widths = [max(width // 2**i, bottleneck) for i in range(depth)]
    for size in widths:
        x = layers.Dropout(dropout)(layers.Dense(size, activation="relu")(x))
    code = layers.Dense(bottleneck, name="bottleneck")(x)
    x = code
    for size in reversed(widths):
        x = layers.Dense(size, activation="relu")(x)
    outputs = layers.Dense(n_features)(x)
    return keras.Model(inputs, outputs), keras.Model(inputs, code)


class _Autoencoding(KerasEstimator):
    """Parameters and training shared by the autoencoder's two roles."""

    def __init__(
        self,
        width: int = 64,
        depth: int = 1,
        bottleneck: int = 8,
        dropout: float = 0.0,
        learning_rate: float = 1e-3,
        epochs: int = 30,
        batch_size: int = 64,
        patience: int = 3,
        validation_fraction: float = 0.15,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        self.width = width
        self.depth = depth
        self.bottleneck = bottleneck
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.device = device

    def _fit_autoencoder(
        self,
        X: np.ndarray,
        train: np.ndarray,
        valid: np.ndarray,
        validation_score: Callable[[], float] | None = None,
    ) -> tuple[Any, Any]:
        """Train on rows ``train`` (validated on ``valid``) of standardised ``X``.

        Returns the autoencoder and its encoder (they share layers).
        """
        encoder: list[Any] = []

        def build(keras: Any) -> Any:
            autoencoder, code = _autoencoder(
                keras, X.shape[1], self.width, self.depth, self.bottleneck, self.dropout
            )
            encoder.append(code)
            return autoencoder

        autoencoder = self._train(
            build, (X[train], X[train], X[valid], X[valid]), "mse", None, validation_score
        )
        return autoencoder, encoder[0]

    def _scaled(self, X: Any) -> np.ndarray:
        return self.scaler_.transform(np.asarray(X, dtype=np.float32)).astype(np.float32)


class AutoencoderClassifier(_Classifier, _Autoencoding):
    """Anomaly scoring: an autoencoder of the majority class; large errors mean the other.

    The log reconstruction error is centred at the training-error quantile that flags
    as many customers as the training data has minority customers, and a logistic fit
    on the training rows sets its slope, so ``predict_proba`` ranks by error (ROC-AUC)
    and its argmax flags the expected share (F1). Binary targets only.
    """

    def fit(self, X: Any, y: Any) -> AutoencoderClassifier:
        codes = _codes(self, y)
        if len(self.classes_) != 2:
            raise DataError(
                "The autoencoder scorer is for binary targets only (majority vs the rest); "
                f"this target has {len(self.classes_)} classes."
            )
        self.majority_ = int(np.bincount(codes).argmax())
        self.scaler_ = StandardScaler().fit(np.asarray(X, dtype=np.float32))
        matrix = self._scaled(X)
        train, valid = _split(len(codes), self.validation_fraction, self.seed, codes)
        unusual = (codes != self.majority_).astype(int)

        def validation_score() -> float:
            error = self._log_error(matrix[valid])
            return roc_auc(unusual[valid], np.column_stack([-error, error]))

        normal = codes == self.majority_
        self.model_, _ = self._fit_autoencoder(
            matrix, train[normal[train]], valid[normal[valid]], validation_score
        )
        error = self._log_error(matrix)
        self.threshold_ = float(np.quantile(error, 1 - unusual.mean()))
        logistic = LogisticRegression(fit_intercept=False).fit(
            (error - self.threshold_)[:, None], unusual
        )
        self.slope_ = float(logistic.coef_[0, 0])
        return self

    def _log_error(self, matrix: np.ndarray) -> np.ndarray:
        restored = self._predict(matrix)
        return np.log(np.mean((restored - matrix) ** 2, axis=1) + 1e-12)

    def predict_proba(self, X: Any) -> np.ndarray:
        matrix = self._scaled(X)
        z = self.slope_ * (self._log_error(matrix) - self.threshold_)
        unusual = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
        proba = np.empty((len(matrix), 2))
        proba[:, 1 - self.majority_] = unusual
        proba[:, self.majority_] = 1.0 - unusual
        return proba


class AutoencoderEmbedding(TransformerMixin, _Autoencoding):
    """A learned embedding: the autoencoder's bottleneck, fitted on all training rows."""

    def fit(self, X: Any, y: Any = None) -> AutoencoderEmbedding:
        self.scaler_ = StandardScaler().fit(np.asarray(X, dtype=np.float32))
        matrix = self._scaled(X)
        train, valid = _split(len(matrix), self.validation_fraction, self.seed, None)
        _, self.model_ = self._fit_autoencoder(matrix, train, valid)
        return self

    def transform(self, X: Any) -> np.ndarray:
        return self._predict(self._scaled(X))
