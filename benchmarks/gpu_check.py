r"""GPU check of segframe's GPU path: seconds per LSTM epoch on the CPU and on the GPU, then
short searches with ``device="gpu"`` whose stored winners are reloaded and applied to new
customers. Keras runs on the backend named by ``KERAS_BACKEND`` (TensorFlow by default).

On a machine with an NVIDIA GPU and the ``keras`` extra:

    .venv/bin/python benchmarks/gpu_check.py [--customers 20000] [--epochs 4] [--xgboost]

Without a GPU, ``--cpu-only`` runs the same steps on the CPU (a dry run of the script).

The figures in docs/how-to/gpu.md ("Measured") came from an NVIDIA H200 (Python 3.12, JAX
0.11.2 with CUDA, no TensorFlow; no network), with segframe's wheel and the packages that
machine lacked carried as wheels in .whl/py312/ (keras, namex, optree, optuna, alembic, Mako,
colorlog, SQLAlchemy, imbalanced-learn, sklearn-compat) and .whl/plotly/:

    I="python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site"; $I .whl/py312/*.whl .whl/plotly/*.whl && export PYTHONPATH=/tmp/site \
    || exit; KERAS_BACKEND=jax PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py

The XGBoost rows came from an earlier run with ``--xgboost`` and xgboost 3.4.1's CUDA wheel
(carried alone: it is 54 MiB).
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
import traceback
from collections.abc import Callable
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from statistics import median
from typing import Any

import numpy as np
from segframe_keras.estimators import SequenceClassifier, keras_module
from segframe_sequences import EventSequences
from sklearn.datasets import make_classification
from sklearn.metrics import roc_auc_score

import segframe
from segframe.data import CustomerData, load_customers
from segframe.demo import make_demo
from segframe.device import gpu_present, resolve_device
from segframe.predict import predict_customers

TARGET, ID = "will_buy_again", "customer_id"
PACKAGES = ("segframe", "keras", "jax", "jaxlib", "tensorflow", "torch", "numpy", "pandas")
PACKAGES += ("scikit-learn", "optuna", "xgboost")


def keras_gpus(backend: str) -> list[str]:
    """The GPUs Keras's backend sees."""
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def versions() -> str:
    found = []
    for name in PACKAGES:
        with contextlib.suppress(PackageNotFoundError):
            found.append(f"{name} {version(name)}")
    return ", ".join(found)


def demo(customers: int) -> CustomerData:
    frame, events = make_demo(n_customers=customers, seed=0)
    return load_customers(frame, target=TARGET, id_column=ID, events=events)


def lstm_seconds(data: CustomerData, device: str, epochs: int) -> float:
    """Median seconds per LSTM epoch after the first (which includes tracing)."""
    X = EventSequences(length=64, token="event_item").fit(data.frame).transform(data.frame)
    model = SequenceClassifier(
        "lstm", units=64, epochs=epochs, patience=epochs, batch_size=256, device=device
    )
    model.fit(X, data.target.to_numpy())
    seconds = median(model.epoch_seconds_[1:])
    print(f"LSTM on {device}: {seconds:.3f} s/epoch ({len(X.tokens)} customers, length 64)")
    return seconds


def xgboost_seconds(device: str, rows: int) -> None:
    """Print the seconds of one fit of segframe's XGBoost model on ``rows`` synthetic rows."""
    from segframe_xgboost import XGBoostClassifier

    X, y = make_classification(rows, 50, n_informative=20, random_state=0)
    started = time.perf_counter()
    model = XGBoostClassifier(learning_rate=0.05, max_depth=8, max_trees=200, device=device)
    model.fit(X.astype(np.float32), y)
    seconds = time.perf_counter() - started
    trees = model.model_.get_booster().num_boosted_rounds()
    print(f"XGBoost on {device}: {seconds:.2f} s for {trees} trees ({rows} rows x 50)")


def search(data: CustomerData, model: str, device: str, args: Any) -> None:
    """A short search stored in SQLite; its winner reloaded and applied to new customers."""
    with tempfile.TemporaryDirectory() as folder:
        storage = f"sqlite:///{folder}/gpu.db"
        started = time.perf_counter()
        result = segframe.search(
            data, storage=storage, study=model, models=[model], trials=args.trials,
            timeout=args.timeout, device=device,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        print(
            f"{model} search on {device} ({len(data.target)} customers): {seconds:.0f} s, "
            f"winner {result.best_spec.describe()}"
        )
        states = result.leaderboard()["state"].value_counts().to_dict()
        print(f"  trials {states}\n  cv {result.cv_scores}\n  holdout {result.holdout_scores}")
        customers, events = make_demo(n_customers=2000, seed=1)  # customers it never saw
        predicted = predict_customers(model, customers, events=events, storage=storage)
    score = predicted.filter(like="probability_").to_numpy()[:, -1]
    auc = roc_auc_score(customers[TARGET], score)
    print(f"  reloaded winner on 2000 new customers: ROC-AUC {auc:.4f}")
    fresh = load_customers(customers, id_column=ID, events=events).frame.drop(columns=TARGET)
    same = np.abs(result.best_pipeline.predict_proba(fresh)[:, 1] - score).max()
    print(f"  reloaded vs in-memory winner: largest probability difference {same:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000, help="for the epoch timings")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--search-customers", type=int, default=5_000)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60, help="seconds per search")
    parser.add_argument("--xgboost", action="store_true", help="time and search XGBoost too")
    parser.add_argument("--xgboost-rows", type=int, default=50_000)
    parser.add_argument("--cpu-only", action="store_true", help="a dry run without a GPU")
    args = parser.parse_args()
    print(f"gpu_present() {gpu_present()}, resolve_device('auto') {resolve_device('auto')!r}")
    keras = keras_module()
    backend = keras.backend.backend()
    print(f"Keras backend {backend}, GPUs it sees: {keras_gpus(backend)}")
    print("versions:", versions())
    devices = ("cpu",) if args.cpu_only else ("cpu", "gpu")
    seconds = [lstm_seconds(demo(args.customers), device, args.epochs) for device in devices]
    if len(seconds) == 2:
        print(f"LSTM epoch, CPU / GPU: {seconds[0] / seconds[1]:.1f}x")
    steps: list[tuple[str, Callable[[], None]]] = []
    if args.xgboost:
        for device in ("cpu", "cuda")[: len(devices)]:
            steps.append(
                (f"xgboost on {device}", partial(xgboost_seconds, device, args.xgboost_rows))
            )
    for model in ("xgboost", "lstm") if args.xgboost else ("lstm",):
        data = demo(args.search_customers)
        steps.append((f"{model} search", partial(search, data, model, devices[-1], args)))
    failed = []  # a failing step does not cost the later ones their run on a lent GPU
    for label, step in steps:
        try:
            step()
        except Exception:
            traceback.print_exc()
            failed.append(label)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
