"""GPU check for the Keras plugin: seconds per LSTM epoch on the CPU and on the GPU,
then a short LSTM search with ``device="gpu"``. Run it on a machine with an NVIDIA GPU:

    .venv/bin/python benchmarks/gpu_check.py [--customers 20000] [--epochs 4]
"""

from __future__ import annotations

import argparse
import tempfile
from statistics import median

from segframe_keras.estimators import SequenceClassifier, keras_module
from segframe_sequences import EventSequences

import segframe
from segframe.data import load_customers
from segframe.demo import make_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    import tensorflow as tf

    keras_module()
    print("GPUs TensorFlow sees:", tf.config.list_physical_devices("GPU"))
    customers, events = make_demo(n_customers=args.customers, seed=0)
    data = load_customers(
        customers, target="will_buy_again", id_column="customer_id", events=events
    )
    X = EventSequences(length=64, token="event_item").fit(data.frame).transform(data.frame)
    y = data.target.to_numpy()
    for device in ("cpu", "gpu"):
        model = SequenceClassifier(
            "lstm", units=64, epochs=args.epochs, patience=args.epochs, batch_size=256,
            device=device,
        ).fit(X, y)  # fmt: skip
        seconds = median(model.epoch_seconds_[1:])  # the first epoch includes tracing
        print(f"LSTM on {device}: {seconds:.3f} s/epoch ({len(y)} customers, length 64)")
    with tempfile.TemporaryDirectory() as folder:
        result = segframe.search(
            data, storage=f"sqlite:///{folder}/gpu.db", models=["lstm"], trials=3, device="gpu"
        )
    print(f"search on the GPU: {result.best_spec.describe()}, holdout {result.holdout_scores}")


if __name__ == "__main__":
    main()
