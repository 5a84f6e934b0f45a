"""Time the ``event_sequence`` builder on synthetic customers with many events each.

    .venv/bin/python benchmarks/sequence_features.py [--customers 1000000] [--events 50]

Builds the nested event column directly in Arrow (the CSV loader is not what is timed),
then times fit and transform, and the side features (tabular + RFM) on their own.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd
import pyarrow as pa
from segframe_sequences import EventSequences

from segframe.data import EVENT_FIELDS, EVENTS


def synthetic(customers: int, per_customer: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = customers * per_customer
    offsets = np.arange(0, n + 1, per_customer, dtype=np.int64)
    seconds = rng.integers(0, 365 * 86_400, n).reshape(customers, per_customer)
    stamps = np.datetime64("2025-01-01", "s") + np.sort(seconds, axis=1).ravel()

    def labels(names: list[str]) -> pa.Array:
        codes = pa.array(rng.integers(0, len(names), n).astype(np.int8))
        return pa.DictionaryArray.from_arrays(codes, pa.array(names)).cast(pa.string())

    amount = np.where(rng.random(n) < 0.2, rng.lognormal(3, 1, n), np.nan)
    struct = pa.StructArray.from_arrays(
        [
            pa.array(stamps.astype("datetime64[ns]"), type=pa.timestamp("ns")),
            labels(["view", "search", "cart", "purchase"]),
            pa.array(amount),
            labels([f"category{i}" for i in range(8)]),
        ],
        names=list(EVENT_FIELDS),
    )
    nested = pa.LargeListArray.from_arrays(pa.array(offsets), struct)
    index = pd.Index([f"C{i}" for i in range(customers)], name="customer_id")
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, customers).astype(float),
            EVENTS: pd.arrays.ArrowExtensionArray(nested),
        },
        index=index,
    )


def timed(what: str, call) -> object:
    wall, cpu = time.perf_counter(), time.process_time()
    out = call()
    print(f"{what}: {time.perf_counter() - wall:.2f} s wall, {time.process_time() - cpu:.2f} s CPU")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--length", type=int, default=32)
    args = parser.parse_args()
    frame = synthetic(args.customers, args.events)
    print(f"{args.customers} customers × {args.events} events, length {args.length}")
    builder = EventSequences(length=args.length, token="event_item_amount")
    timed("fit", lambda: builder.fit(frame))
    timed("transform", lambda: builder.transform(frame))
    timed("  side features alone (tabular + RFM)", lambda: builder.side_.transform(frame))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak memory {peak:.1f} GB")


if __name__ == "__main__":
    main()
