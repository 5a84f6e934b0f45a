"""Turn the fetched raw files into the benchmark datasets: ``python -m benchmarks.prepare``.

``--raw DIR`` holds the raw files under the names benchmarks/DATASETS.md gives (with the
commands that extract them from their public repositories); ``--out DIR`` (default: the
``bench-data`` folder beside the checkout) gets one folder per dataset with ``customers.csv``
and, for a dataset with a log, ``events.csv.gz`` (events on or before the cutoff only).

Every raw file's sha256 is checked before it is read, and the output bytes are reproducible
(fixed row order, rounding, ``\\n`` line ends, gzip mtime 0), so the prepared files' sha256
in DATASETS.md can be checked too. Needs only pandas and pyarrow (segframe's own dependencies).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: ../bench-data beside the checkout (never inside the repository).
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "bench-data"

CUSTOMERS = "customers.csv"
EVENTS = "events.csv.gz"


class PrepareError(Exception):
    """A missing or changed raw file, reported as one line."""


@dataclass(frozen=True)
class Raw:
    """One raw file as fetched: its name in ``--raw DIR`` and its sha256."""

    name: str
    sha256: str


@dataclass(frozen=True)
class Recipe:
    """How one benchmark dataset is made: its raw files and the function that reads them."""

    name: str
    raws: tuple[Raw, ...]
    build: Callable[[Path], tuple[pd.DataFrame, pd.DataFrame | None]]
    target: str
    id_column: str = "customer_id"
    has_events: bool = False


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checked(raw_dir: Path, raw: Raw) -> Path:
    """The raw file's path, after checking it exists and is the file DATASETS.md describes."""
    path = raw_dir / raw.name
    if not path.is_file():
        raise PrepareError(
            f"{path} is missing. Extract it as benchmarks/DATASETS.md says, then run again."
        )
    found = sha256(path)
    if found != raw.sha256:
        raise PrepareError(
            f"{path} has sha256 {found}, expected {raw.sha256}: not the file DATASETS.md "
            "describes (another copy or version). Extract it from the listed commit."
        )
    return path


# --- UCI Bank Marketing (bank-additional-full.csv) -------------------------------------------

BANK_ZIP = Raw(
    "bank-additional.zip", "e689f38cc6bd689f64f031e7a1fbe0849aabb7ad57544fc75068e30129bbd514"
)
BANK_MEMBER = "bank-additional/bank-additional-full.csv"
BANK_MEMBER_SHA256 = "74adfc578bf77a7ff4bb1ba4a9f8709d9e3c6907342959c2c8416847e0afb4d8"


def bank_marketing(raw_dir: Path) -> tuple[pd.DataFrame, None]:
    with zipfile.ZipFile(checked(raw_dir, BANK_ZIP)) as archive:
        payload = archive.read(BANK_MEMBER)
    if hashlib.sha256(payload).hexdigest() != BANK_MEMBER_SHA256:
        raise PrepareError(f"{BANK_ZIP.name}: {BANK_MEMBER} is not the expected file.")
    table = pd.read_csv(io.BytesIO(payload), sep=";")
    # `duration` is the length of the call whose outcome is the target: unknown before the
    # call, and a duration of 0 means y is "no". The UCI notes say to drop it for a realistic
    # model.
    table = table.drop(columns=["duration"])
    # No id in the file: number the rows in file order (the file is sorted by call date).
    table.insert(0, "customer_id", [f"B{i:05d}" for i in range(1, len(table) + 1)])
    return table, None


# --- Telecom churn (BigML's 80/20 split of the MLC++ "churn" data) ---------------------------

CHURN_80 = Raw(
    "churn-bigml-80.csv", "a983501ae5b7b2bb7fdd73dd216af800cc0861fa648fa4b12f7d1ad6e962d44a"
)
CHURN_20 = Raw(
    "churn-bigml-20.csv", "c73bb8e7a47c8fced62ddef54741bbbc4005243fb40a65996360337844fd17f7"
)


def telecom_churn(raw_dir: Path) -> tuple[pd.DataFrame, None]:
    parts = [pd.read_csv(checked(raw_dir, raw)) for raw in (CHURN_80, CHURN_20)]
    table = pd.concat(parts, ignore_index=True)
    table["Churn"] = table["Churn"].map({True: "yes", False: "no"})
    table.insert(0, "customer_id", [f"T{i:04d}" for i in range(1, len(table) + 1)])
    return table, None


# --- COIL 2000 / Insurance Company Benchmark (CARAVAN policy owners) -------------------------

TIC_TRAIN = Raw(
    "ticdata2000.txt", "f6a7fe083ccedb3776bc30f5e000bdd34bfd25f625d2b4672f84afa6b70cb178"
)
TIC_EVAL = Raw(
    "ticeval2000.txt", "880f3b7dbc1174ddd10e7a20ef1e4bc3a8e345400d4b553744c5ef0c71493837"
)
TIC_TARGETS = Raw(
    "tictgts2000.txt", "42274a9b6d1ced5fcb35e2c103869060118ceaa7e5c5fac1a652e1f1a5806da8"
)

#: The 86 attribute names of the UCI data dictionary (dictionary.txt), in file order.
TIC_NAMES = (
    "MOSTYPE MAANTHUI MGEMOMV MGEMLEEF MOSHOOFD MGODRK MGODPR MGODOV MGODGE MRELGE MRELSA "
    "MRELOV MFALLEEN MFGEKIND MFWEKIND MOPLHOOG MOPLMIDD MOPLLAAG MBERHOOG MBERZELF MBERBOER "
    "MBERMIDD MBERARBG MBERARBO MSKA MSKB1 MSKB2 MSKC MSKD MHHUUR MHKOOP MAUT1 MAUT2 MAUT0 "
    "MZFONDS MZPART MINKM30 MINK3045 MINK4575 MINK7512 MINK123M MINKGEM MKOOPKLA PWAPART "
    "PWABEDR PWALAND PPERSAUT PBESAUT PMOTSCO PVRAAUT PAANHANG PTRACTOR PWERKT PBROM PLEVEN "
    "PPERSONG PGEZONG PWAOREG PBRAND PZEILPL PPLEZIER PFIETS PINBOED PBYSTAND AWAPART AWABEDR "
    "AWALAND APERSAUT ABESAUT AMOTSCO AVRAAUT AAANHANG ATRACTOR AWERKT ABROM ALEVEN APERSONG "
    "AGEZONG AWAOREG ABRAND AZEILPL APLEZIER AFIETS AINBOED ABYSTAND CARAVAN"
)
TIC_COLUMNS = TIC_NAMES.split()


def insurance_caravan(raw_dir: Path) -> tuple[pd.DataFrame, None]:
    def read(raw: Raw, names: list[str]) -> pd.DataFrame:
        return pd.read_csv(checked(raw_dir, raw), sep="\t", header=None, names=names)

    train = read(TIC_TRAIN, TIC_COLUMNS)
    evaluation = read(TIC_EVAL, TIC_COLUMNS[:-1])
    evaluation["CARAVAN"] = read(TIC_TARGETS, ["CARAVAN"])["CARAVAN"].to_numpy()
    table = pd.concat([train, evaluation], ignore_index=True)
    # The customer subtype (L0) and main type (L2) are codes of unordered classes.
    for column in ("MOSTYPE", "MOSHOOFD"):
        table[column] = "type_" + table[column].astype(str)
    table.insert(0, "customer_id", [f"C{i:05d}" for i in range(1, len(table) + 1)])
    return table, None


# --- iFood marketing campaign response (ml_project1_data.csv) --------------------------------

IFOOD = Raw(
    "ml_project1_data.csv", "0aafe07cf235ffe67f0e69e264bdd2cef38aa562fb0ec89d9c22c02d8336d60c"
)


def ifood_response(raw_dir: Path) -> tuple[pd.DataFrame, None]:
    table = pd.read_csv(checked(raw_dir, IFOOD))
    # Z_CostContact and Z_Revenue are the same for every customer (3 and 11): no information.
    table = table.drop(columns=["Z_CostContact", "Z_Revenue"])
    # The enrolment date as a number: days before the latest enrolment in the file. A raw
    # date string would be one category per day to the table baselines.
    enrolled = pd.to_datetime(table["Dt_Customer"], format="%Y-%m-%d")
    table["Dt_Customer"] = (enrolled.max() - enrolled).dt.days
    table = table.rename(columns={"ID": "customer_id", "Dt_Customer": "days_since_enrolment"})
    table["customer_id"] = table["customer_id"].astype(str)
    return table, None


# --- UCI Online Retail: a transaction log -> buys again within 90 days -----------------------

RETAIL = Raw(
    "Online Retail.parquet", "518b36c8452f511e938535aebce2c3ea051432fe999bd85e81720ebb07af5931"
)
RETAIL_CUTOFF = pd.Timestamp("2011-09-09")  # features see events on or before this day
RETAIL_HORIZON_DAYS = 90  # target window: 2011-09-10 .. 2011-12-08 inclusive


def online_retail(raw_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = pd.read_parquet(checked(raw_dir, RETAIL))
    log = raw[raw["CustomerID"].notna()].copy()
    log["customer_id"] = log["CustomerID"].astype("int64").astype(str)
    log["returned"] = log["InvoiceNo"].astype(str).str.startswith("C")
    log["amount"] = (log["Quantity"] * log["UnitPrice"]).round(4)
    start_of_window = RETAIL_CUTOFF + pd.Timedelta(days=1)
    end_of_window = start_of_window + pd.Timedelta(days=RETAIL_HORIZON_DAYS)
    observed = log[log["InvoiceDate"] < start_of_window]
    future = log[
        (log["InvoiceDate"] >= start_of_window)
        & (log["InvoiceDate"] < end_of_window)
        & ~log["returned"]
    ]
    customers = retail_customers(observed, set(future["customer_id"]))
    # A few customers only returned goods before the cutoff: they are not in the table, so
    # their events are left out too.
    kept = observed[observed["customer_id"].isin(customers["customer_id"])]
    return customers, retail_events(kept)


def retail_customers(observed: pd.DataFrame, buyers: set[str]) -> pd.DataFrame:
    """RFM-style features of every customer with a purchase on or before the cutoff."""
    purchases = observed[~observed["returned"]]
    returns = observed[observed["returned"]]
    invoices = purchases.groupby(["customer_id", "InvoiceNo"], as_index=False).agg(
        day=("InvoiceDate", lambda t: t.min().normalize()), amount=("amount", "sum")
    )
    per_invoice = invoices.groupby("customer_id")
    per_line = purchases.groupby("customer_id")
    days = invoices.groupby("customer_id")["day"]
    table = pd.DataFrame(
        {
            "recency_days": (RETAIL_CUTOFF - days.max()).dt.days,
            "tenure_days": (RETAIL_CUTOFF - days.min()).dt.days,
            "frequency": per_invoice.size(),
            "purchase_days": days.nunique(),
            "monetary_total": per_invoice["amount"].sum(),
            "monetary_mean": per_invoice["amount"].mean(),
            "monetary_max": per_invoice["amount"].max(),
            "quantity_total": per_line["Quantity"].sum(),
            "distinct_items": per_line["StockCode"].nunique(),
        }
    )
    span = (days.max() - days.min()).dt.days
    repeat = table["purchase_days"] > 1
    table["mean_interpurchase_days"] = (span / (table["purchase_days"] - 1)).where(repeat)
    returned = returns.groupby("customer_id")
    table["return_invoices"] = returned["InvoiceNo"].nunique()
    table["returned_amount"] = -returned["amount"].sum()
    table[["return_invoices", "returned_amount"]] = table[
        ["return_invoices", "returned_amount"]
    ].fillna(0)
    table["return_invoices"] = table["return_invoices"].astype("int64")
    # Country of the first purchase line (a handful of customers appear under two).
    first = purchases.sort_values(["customer_id", "InvoiceDate"], kind="stable")
    table["country"] = first.groupby("customer_id")["Country"].first()
    table["target"] = table.index.isin(buyers).astype(int)
    table = table.round(4).rename_axis("customer_id").reset_index()
    return table.sort_values("customer_id", key=lambda s: s.astype(int), ignore_index=True)


def retail_events(observed: pd.DataFrame) -> pd.DataFrame:
    """One event per invoice line on or before the cutoff, in segframe's event shape."""
    events = pd.DataFrame(
        {
            "customer_id": observed["customer_id"],
            "timestamp": observed["InvoiceDate"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "event_type": np.where(observed["returned"], "return", "purchase"),
            "amount": observed["amount"],
            "quantity": observed["Quantity"],
            "item": observed["StockCode"].astype(str),
        }
    )
    order = np.lexsort((events["timestamp"].to_numpy(), events["customer_id"].astype(int)))
    return events.iloc[order]


RECIPES = {
    recipe.name: recipe
    for recipe in (
        Recipe("bank_marketing", (BANK_ZIP,), bank_marketing, "y"),
        Recipe("telecom_churn", (CHURN_80, CHURN_20), telecom_churn, "Churn"),
        Recipe(
            "insurance_caravan", (TIC_TRAIN, TIC_EVAL, TIC_TARGETS), insurance_caravan, "CARAVAN"
        ),
        Recipe("ifood_response", (IFOOD,), ifood_response, "Response"),
        Recipe("online_retail", (RETAIL,), online_retail, "target", has_events=True),
    )
}


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def write_gzip_csv(frame: pd.DataFrame, path: Path) -> None:
    payload = frame.to_csv(index=False, lineterminator="\n").encode()
    with (
        path.open("wb") as handle,
        gzip.GzipFile(fileobj=handle, mode="wb", mtime=0, filename="") as archive,
    ):
        archive.write(payload)


def prepare(recipe: Recipe, raw_dir: Path, out_dir: Path) -> dict[str, object]:
    """Build one dataset into ``out_dir/<name>``; returns its summary line's facts."""
    for raw in recipe.raws:  # every file present and unchanged before any is read
        checked(raw_dir, raw)
    customers, events = recipe.build(raw_dir)
    if not customers[recipe.id_column].is_unique:
        raise PrepareError(f"{recipe.name}: the customer ids are not unique.")
    folder = out_dir / recipe.name
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(customers, folder / CUSTOMERS)
    written = [folder / CUSTOMERS]
    if events is not None:
        write_gzip_csv(events, folder / EVENTS)
        written.append(folder / EVENTS)
    else:
        (folder / EVENTS).unlink(missing_ok=True)
    labels = customers[recipe.target]
    positive = labels.isin([1, "yes", True]).mean()
    return {
        "name": recipe.name,
        "rows": len(customers),
        "positive_rate": round(float(positive), 4),
        "events": None if events is None else len(events),
        "sha256": {path.name: sha256(path) for path in written},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.prepare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--raw", type=Path, required=True, help="folder with the raw files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="bench-data folder")
    parser.add_argument(
        "--datasets", default=",".join(RECIPES), help="comma-separated (default: all)"
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        parser.error(f"unknown dataset(s) {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    failed = 0
    for name in names:
        try:
            facts = prepare(RECIPES[name], args.raw, args.out)
        except PrepareError as exc:
            print(f"{name}: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        hashes = " ".join(f"{file}={digest}" for file, digest in facts["sha256"].items())
        events = "" if facts["events"] is None else f" events={facts['events']}"
        print(
            f"{name}: rows={facts['rows']} positive_rate={facts['positive_rate']}{events} {hashes}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
