"""The benchmark datasets: the real ones in ../shared/data, the public ones that
``python -m benchmarks.prepare`` writes to ../bench-data, and any file the user names.

segframe gets the customer frame with the nested event log; the baselines and the other AutoML
tools get the customer table's own columns (the same rows, indexed by the same customer ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from benchmarks import prepare
from segframe.data import EVENTS, CustomerData, load_customers, positive_label

#: ../shared/data beside the checkout (never copied into the repository).
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
#: ../bench-data beside the checkout, written by ``python -m benchmarks.prepare``.
DEFAULT_BENCH_DATA_DIR = prepare.DEFAULT_OUT


class BenchmarkError(Exception):
    """A benchmark input problem, reported as one line instead of a traceback."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    data: Path
    target: str
    id_column: str | None = None
    events: Path | None = None
    #: what to tell the user when the files are missing
    missing_hint: str = (
        "Pass --data-dir (the shared data folder) or the right --data/--events path."
    )

    def exists(self) -> bool:
        return all(path is None or Path(path).exists() for path in (self.data, self.events))


def builtin(
    data_dir: Path, bench_data_dir: Path = DEFAULT_BENCH_DATA_DIR
) -> dict[str, DatasetSpec]:
    """The shared real datasets (target and id columns as their READMEs give) and the public
    ones prepared into ``bench_data_dir`` (see benchmarks/DATASETS.md)."""
    cdnow = data_dir / "cdnow_transactions"
    hint = (
        f"Prepare it with `python -m benchmarks.prepare --raw RAW_DIR --out {bench_data_dir}` "
        "(benchmarks/DATASETS.md says how to fetch the raw files), or pass --bench-data-dir."
    )
    prepared = {
        name: DatasetSpec(
            name,
            bench_data_dir / name / prepare.CUSTOMERS,
            recipe.target,
            recipe.id_column,
            bench_data_dir / name / prepare.EVENTS if recipe.has_events else None,
            hint,
        )
        for name, recipe in prepare.RECIPES.items()
    }
    return {
        "telco_churn": DatasetSpec(
            "telco_churn",
            data_dir / "telco_churn" / "Telco-Customer-Churn.csv",
            "Churn",
            "customerID",
        ),
        "cdnow_transactions": DatasetSpec(
            "cdnow_transactions",
            cdnow / "customers.csv",
            "target",
            "customer_id",
            cdnow / "events_observed.csv.gz",
        ),
        **prepared,
    }


@dataclass
class Dataset:
    """One loaded dataset: segframe's view, the baselines' table, and 0/1 labels."""

    name: str
    customers: CustomerData
    table: pd.DataFrame
    y: np.ndarray  # 1 = the positive class
    positive: object

    def subset(self, rows: np.ndarray) -> CustomerData:
        """segframe's view of the given row positions."""
        c = self.customers
        return CustomerData(
            c.frame.iloc[rows], c.target.iloc[rows], c.id_column, c.target_column, c.notes
        )


def load(spec: DatasetSpec, max_rows: int | None = None) -> Dataset:
    """Load ``spec``; with ``max_rows``, keep a stratified sample of that many customers."""
    for path in (spec.data, spec.events):
        if path is not None and not Path(path).exists():
            raise BenchmarkError(f"{spec.name}: {path} does not exist. {spec.missing_hint}")
    customers = load_customers(
        spec.data, target=spec.target, id_column=spec.id_column, events=spec.events
    )
    classes = sorted(customers.target.unique().tolist())
    if len(classes) != 2:
        raise BenchmarkError(
            f"{spec.name}: the target {spec.target!r} has {len(classes)} classes; the benchmark "
            "compares binary F1 and ROC-AUC, so it needs exactly two."
        )
    positive = positive_label(classes)
    if positive is None:  # the engine's rule: otherwise the minority class is positive
        positive = customers.target.value_counts().idxmin()
    if max_rows is not None and len(customers.frame) > max_rows:
        keep, _ = train_test_split(
            np.arange(len(customers.frame)),
            train_size=max_rows,
            stratify=customers.target,
            random_state=0,
        )
        keep = np.sort(keep)
        customers = CustomerData(
            customers.frame.iloc[keep],
            customers.target.iloc[keep],
            customers.id_column,
            customers.target_column,
            customers.notes,
        )
    table = customers.frame.drop(columns=[EVENTS], errors="ignore")
    y = (customers.target.to_numpy() == positive).astype(int)
    return Dataset(spec.name, customers, table, y, positive)
