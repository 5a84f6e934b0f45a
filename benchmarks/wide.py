"""Wide tables: one pipeline fit on a 10,000-column customer table, beside the model's own fit.

``python benchmarks/wide.py [--rows 1000] [--columns 10000]`` prints the seconds of the whole
segframe pipeline (table columns → impute → ordinal → logistic regression) and of the same
logistic regression fitted alone on the finished matrix, and their ratio: what segframe's own
steps add on a wide table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from segframe.pipeline import PipelineSpec, StepSpec, build_features, build_pipeline, build_tail
from segframe.registry import Registry


def wide_table(rows: int, columns: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Mostly numeric columns with gaps, one in five categorical."""
    rng = np.random.default_rng(seed)
    n_categorical = columns // 5
    numbers = rng.normal(size=(rows, columns - n_categorical))
    numbers[rng.random(numbers.shape) < 0.02] = np.nan
    frame = pd.DataFrame(numbers, columns=[f"n{i}" for i in range(numbers.shape[1])])
    levels = np.array(["a", "b", "c", "d"], dtype=object)
    text = pd.DataFrame(
        levels[rng.integers(0, 4, size=(rows, n_categorical))],
        columns=[f"c{i}" for i in range(n_categorical)],
    )
    frame = pd.concat([frame, text], axis=1)
    frame.index = pd.Index(np.arange(rows), name="customer_id")
    y = pd.Series((numbers[:, 0] > 0).astype(int), index=frame.index)
    return frame, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--columns", type=int, default=10_000)
    args = parser.parse_args()
    X, y = wide_table(args.rows, args.columns)
    registry = Registry.load()
    spec = PipelineSpec(
        features=(StepSpec("features", "tabular"),),
        steps=(
            StepSpec("preprocessor", "impute"),
            StepSpec("preprocessor", "ordinal"),
            StepSpec("sampler", "none"),
            StepSpec("model", "logreg", {"C": 1.0}),
        ),
    )
    start = time.perf_counter()
    build_pipeline(spec, registry, positive=1).fit(X, y)
    whole = time.perf_counter() - start
    features = build_features(spec, registry).fit(X, y).transform(X)
    steps = build_tail(spec, registry)
    matrix = features
    for _, step in steps[:-2]:
        matrix = step.fit_transform(matrix, y)
    start = time.perf_counter()
    steps[-1][1].fit(np.asarray(matrix, dtype=float), y)
    model = time.perf_counter() - start
    print(
        f"{args.rows} rows × {args.columns} columns: pipeline fit {whole:.2f} s, the model "
        f"alone {model:.2f} s, segframe's own steps add {whole - model:.2f} s "
        f"(ratio {whole / model:.2f})"
    )


if __name__ == "__main__":
    main()
