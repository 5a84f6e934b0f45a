"""Scale of unsupervised segmentation: 1M customers, 10M events, one machine.

Generates a synthetic shop with numpy (vectorised; ``make_demo`` is not built for this
size), then times each stage of one segmentation trial and the winner's profiles:
loading (nesting events per customer), RFM and event-aggregate features, the
preprocessing chain and K-Means, the scores (silhouette on a sample, Calinski–Harabasz,
Davies–Bouldin, bootstrap stability) and the segment profiles. Peak memory is the
process's maximum resident set size (``resource.getrusage``), read after each stage.

    .venv/bin/python benchmarks/scale.py [--customers 1000000] [--events 10000000]

Timings are noisy on a shared machine; run it when the machine is quiet, and twice.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings

import numpy as np
import pandas as pd

from segframe.data import load_customers
from segframe.pipeline import PipelineSpec, StepSpec
from segframe.profiles import segment_profiles
from segframe.registry import default_registry
from segframe.segmentation import build_segmenter, evaluate

EVENTS = np.array(["view", "search", "cart", "purchase"])
ITEMS = np.array(["books", "music", "fashion", "home", "toys", "garden", "food", "tech"])


def synthetic_shop(n_customers: int, n_events: int, seed: int = 0):
    """Customers with a skewed activity level; events spread over one year."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("c", np.arange(n_customers).astype(str))
    activity = rng.gamma(0.7, 1.0, n_customers)
    owner = rng.choice(n_customers, size=n_events, p=activity / activity.sum())
    start = np.datetime64("2025-01-01T00:00:00", "s")
    seconds = rng.integers(0, 365 * 86_400, n_events)
    kind = rng.choice(4, size=n_events, p=[0.55, 0.25, 0.12, 0.08])
    amount = np.where(kind == 3, np.round(rng.lognormal(3.5, 0.8, n_events), 2), np.nan)
    customers = pd.DataFrame(
        {"customer_id": ids, "age": rng.integers(18, 80, n_customers).astype(float)}
    )
    events = pd.DataFrame(
        {
            "customer_id": ids[owner],
            "timestamp": (start + seconds.astype("timedelta64[s]")).astype("datetime64[ns]"),
            "event": EVENTS[kind],
            "amount": amount,
            "item": ITEMS[rng.integers(0, len(ITEMS), n_events)],
        }
    )
    return customers, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    stages: dict[str, dict[str, float]] = {}
    clock = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
        stages[name] = {"seconds": round(now - clock, 2), "peak_rss_gib": round(peak, 2)}
        print(f"{name:<34} {now - clock:8.2f} s   peak RSS {peak:6.2f} GiB", flush=True)
        clock = time.perf_counter()

    customers, events = synthetic_shop(args.customers, args.events)
    stage("generate (numpy)")
    frame = load_customers(customers, id_column="customer_id", events=events).frame
    del customers, events
    stage("load + nest events")
    registry = default_registry()
    rfm = registry.get("features", "rfm").factory().fit(frame)
    rfm.transform(frame)
    stage("rfm features")
    aggregates = registry.get("features", "event_aggregates").factory().fit(frame)
    aggregates.transform(frame)
    stage("event aggregate features")
    spec = PipelineSpec(
        features=(StepSpec("features", "rfm"), StepSpec("features", "event_aggregates")),
        steps=(
            StepSpec("preprocessor", "impute"),
            StepSpec("preprocessor", "onehot"),
            StepSpec("segmenter", "kmeans", {"n_clusters": args.k, "init": "k-means++"}),
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        segmenter = build_segmenter(spec, registry)
        matrix = segmenter.fit_matrix(frame)
    stage(f"features + chain + K-Means (k={args.k})")
    scores = evaluate(segmenter, matrix, seed=0)
    stage("scores (silhouette, CH, DB, stability)")
    profiles = segment_profiles(frame, segmenter.labels_, registry=registry)
    stage("segment profiles")
    total = sum(s["seconds"] for s in stages.values())
    print(f"{'total':<34} {total:8.2f} s")
    print(json.dumps({"customers": args.customers, "events": args.events, "stages": stages,
                      "scores": scores}, indent=1))  # fmt: skip
    print(profiles[["name", "size", "recency_median", "frequency_median"]].to_string())


if __name__ == "__main__":
    main()
