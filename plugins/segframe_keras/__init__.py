"""Deep models on Keras 3: CNN and LSTM over event sequences, and a dense autoencoder.

The autoencoder serves twice: as a model (anomaly score of the minority class, binary
targets) and as a preprocessor whose bottleneck feeds another model. Everything needs
the ``keras`` extra; Keras is imported only when a component is fitted, so without it
these components show as unavailable and the rest of segframe works as before.
"""

from __future__ import annotations

import contextlib
import json
import os
from functools import partial
from pathlib import Path
from typing import Any

from segframe.plugin import MATRIX, PREDICTION, SEQUENCES, Component, SearchContext, hookimpl
from segframe_keras.estimators import (
    AutoencoderClassifier,
    AutoencoderEmbedding,
    SequenceClassifier,
)

#: The segframe plugin contract this plugin is written for.
SEGFRAME_CONTRACT = 1

__all__ = ["AutoencoderClassifier", "AutoencoderEmbedding", "SequenceClassifier"]


def _on_gpu(context: SearchContext) -> bool:
    """Deep models join a search unasked only on a GPU: on a CPU they would eat its budget."""
    return context.device == "gpu"


#: Keras backends that can train; each lives in the package of the same name.
TRAINING_BACKENDS = frozenset({"tensorflow", "jax", "torch"})


def keras_backend() -> str:
    """The backend Keras will load, found as Keras finds it but without importing it:
    ``KERAS_BACKEND``, else the ``backend`` of ``keras.json`` in ``KERAS_HOME`` (default
    ``~/.keras``), else TensorFlow."""
    if "KERAS_BACKEND" in os.environ:
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return str(json.loads((Path(home) / "keras.json").read_text()).get("backend", "tensorflow"))
    return "tensorflow"


def _needs() -> dict[str, Any]:
    """What every component here needs: Keras and its backend's package (TensorFlow unless
    :func:`keras_backend` is ``jax`` or ``torch``), so that a machine with JAX or PyTorch
    but no TensorFlow runs these models too."""
    backend = keras_backend()
    return {
        "requires_modules": ("keras", backend if backend in TRAINING_BACKENDS else "tensorflow"),
        "extra": "keras",
        "uses_gpu": True,
        "in_default_search": _on_gpu,
    }


def _training_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {
        # a few dozen epochs at most: rates below ~5e-4 would not get anywhere in them
        "learning_rate": trial.suggest_float("learning_rate", 5e-4, 2e-2, log=True),
        "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
        "device": context.device,
    }


def _sequence_space(architecture: str, trial: Any, context: SearchContext) -> dict[str, Any]:
    params = {
        "embedding_dim": trial.suggest_int("embedding_dim", 4, 32, log=True),
        "units": trial.suggest_int("units", 8, 64, log=True),
        "layers": trial.suggest_int("layers", 1, 2),
        "side_units": trial.suggest_int("side_units", 4, 32, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "epochs": trial.suggest_int("epochs", 3, 15),
        "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
        **_training_space(trial, context),
    }
    if architecture == "cnn":
        params["kernel_size"] = trial.suggest_categorical("kernel_size", [3, 5])
    return params


def _autoencoder_space(trial: Any, context: SearchContext) -> dict[str, Any]:
    return {
        "width": trial.suggest_int("width", 16, 128, log=True),
        "depth": trial.suggest_int("depth", 1, 3),
        "bottleneck": trial.suggest_int("bottleneck", 2, 16, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        "epochs": trial.suggest_int("epochs", 5, 30, log=True),
        **_training_space(trial, context),
    }


def _binary(context: SearchContext) -> bool:
    return context.n_classes == 2


@hookimpl
def segframe_components() -> list[Component]:
    needs = _needs()
    sequence_models = [
        Component(
            "model",
            architecture,
            partial(SequenceClassifier, architecture=architecture),
            SEQUENCES,
            PREDICTION,
            space=partial(_sequence_space, architecture),
            description=f"Keras {label} over event tokens + dense branch over side features",
            **needs,
        )
        for architecture, label in (("cnn", "1-D CNN"), ("lstm", "LSTM"))
    ]
    return [
        *sequence_models,
        Component(
            "model",
            "autoencoder",
            AutoencoderClassifier,
            MATRIX,
            PREDICTION,
            space=_autoencoder_space,
            applies=_binary,
            description="Keras autoencoder of the majority class; error = score (binary only)",
            **needs,
        ),
        Component(
            "preprocessor",
            "autoencoder_embedding",
            AutoencoderEmbedding,
            MATRIX,
            MATRIX,
            space=_autoencoder_space,
            description="Keras autoencoder's bottleneck as learned features",
            **needs,
        ),
    ]
