"""Seconds per epoch of segframe's CNN/LSTM against the same Keras model in a plain script.

segframe adds a validation split, early stopping, a validation AUC per epoch (for
pruning) and device placement around ``model.fit``; this measures what that costs.
Both run in this process with the same TensorFlow thread settings, on the demo shop's
training customers, for the same number of epochs (early stopping cannot end either).

    .venv/bin/python benchmarks/keras_overhead.py [--epochs 6] [--customers 2000]
"""

from __future__ import annotations

import argparse
import time
from statistics import median

import numpy as np
from segframe_keras.estimators import SequenceClassifier, keras_module
from segframe_sequences import EventSequences

from segframe.data import load_customers
from segframe.demo import make_demo

SETTINGS = {"embedding_dim": 16, "units": 32, "side_units": 16, "dropout": 0.2, "batch_size": 64}


def plain_model(keras, architecture: str, n_tokens: int, length: int, n_side: int, n_classes: int):
    """The two-input model as one writes it by hand."""
    tokens = keras.Input((length,), dtype="int32")
    side = keras.Input((n_side,))
    x = keras.layers.Embedding(n_tokens, SETTINGS["embedding_dim"])(tokens)
    if architecture == "cnn":
        x = keras.layers.Conv1D(SETTINGS["units"], 3, padding="same", activation="relu")(x)
        x = keras.layers.GlobalMaxPooling1D()(x)
    else:
        x = keras.layers.LSTM(SETTINGS["units"])(x)
    s = keras.layers.Dense(SETTINGS["side_units"], activation="relu")(side)
    h = keras.layers.Dropout(SETTINGS["dropout"])(keras.layers.Concatenate()([x, s]))
    out = keras.layers.Dense(n_classes, activation="softmax")(h)
    return keras.Model([tokens, side], out)


def plain_epoch_seconds(keras, architecture: str, model, X, y: np.ndarray, epochs: int) -> list:
    """Seconds per epoch of the same model in a plain script: same split sizes, plain fit."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    rows = np.random.default_rng(0).permutation(len(y))
    cut = int(0.85 * len(y))
    fit_rows, valid_rows = rows[:cut], rows[cut:]
    plain = plain_model(
        keras, architecture, model.n_tokens_, X.tokens.shape[1], X.features.shape[1], 2
    )
    assert plain.count_params() == model.model_.count_params(), "not the same model"
    plain.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    stamps: list[float] = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: stamps.append(time.perf_counter()),
        on_epoch_end=lambda e, logs: stamps.append(time.perf_counter()),
    )
    with keras.device("cpu:0"):
        plain.fit(
            [X.tokens[fit_rows], X.features[fit_rows]],
            y[fit_rows],
            validation_data=([X.tokens[valid_rows], X.features[valid_rows]], y[valid_rows]),
            epochs=epochs,
            batch_size=SETTINGS["batch_size"],
            verbose=0,
            callbacks=[timer],
        )
    return [end - begin for begin, end in zip(stamps[::2], stamps[1::2], strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--customers", type=int, default=2000)
    args = parser.parse_args()
    customers, events = make_demo(n_customers=args.customers, seed=0)
    data = load_customers(
        customers, target="will_buy_again", id_column="customer_id", events=events
    )
    train = int(0.8 * len(data.frame))
    batch = EventSequences(length=32, token="event").fit(data.frame.iloc[:train])
    X = batch.transform(data.frame.iloc[:train])
    y = data.target.to_numpy()[:train]
    keras = keras_module()  # the same TensorFlow thread settings for both
    print(
        f"{train} customers, sequence length 32, {args.epochs} epochs; first epoch (tracing) "
        "left out of the medians"
    )
    for architecture in ("cnn", "lstm"):
        model = SequenceClassifier(
            architecture, epochs=args.epochs, patience=args.epochs, **SETTINGS
        ).fit(X, y)
        ours = median(model.epoch_seconds_[1:])
        reference = median(plain_epoch_seconds(keras, architecture, model, X, y, args.epochs)[1:])
        print(
            f"{architecture}: segframe {ours:.3f} s/epoch, plain Keras {reference:.3f} s/epoch, "
            f"ratio {ours / reference:.2f} ({model.model_.count_params()} parameters)"
        )


if __name__ == "__main__":
    main()
