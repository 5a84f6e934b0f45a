"""`segframe report` on the real datasets in ../shared/data, checked in headless Chromium
(slow; run by .ci/run): a Telco churn search and a CDNOW segmentation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from report_browser import check_page, check_summary_numbers, needs_chromium, render

import segframe
from segframe.storage import stored_winner

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

pytestmark = [
    pytest.mark.slow,
    needs_chromium,
    pytest.mark.skipif(not DATA.exists(), reason="../shared/data is not beside the checkout"),
]


def cli_report(study: str, storage: str, out: Path) -> Path:
    command = [sys.executable, "-m", "segframe", "report", "--study", study,
               "--storage", storage, "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_telco_report_passes_the_browser_checks(tmp_path):
    storage = f"sqlite:///{tmp_path / 'telco.db'}"
    segframe.search(
        DATA / "telco_churn" / "Telco-Customer-Churn.csv", "Churn", id_column="customerID",
        storage=storage, study="telco", trials=3, models=["logreg", "xgboost"],
    )  # fmt: skip
    dom, log = render(cli_report("telco", storage, tmp_path / "telco.html"), tmp_path / "p")
    check_page(dom, log, {"plot-gains", "plot-roc", "plot-pr", "plot-confusion", "plot-pareto"})
    check_summary_numbers(dom, stored_winner("telco", storage).details)
    assert len(re.findall(r'<article class="card" id="segment-card-\d+"', dom)) == 2


def test_cdnow_segmentation_report_passes_the_browser_checks(tmp_path):
    folder = DATA / "cdnow_transactions"
    customers = pd.read_csv(folder / "customers.csv", dtype={"customer_id": str})
    storage = f"sqlite:///{tmp_path / 'cdnow.db'}"
    segframe.segment(
        customers.drop(columns="target"), events=folder / "events_observed.csv.gz",
        id_column="customer_id", storage=storage, study="cdnow", trials=3, k=(3, 5),
    )  # fmt: skip
    dom, log = render(cli_report("cdnow", storage, tmp_path / "cdnow.html"), tmp_path / "p")
    check_page(dom, log, {"plot-history", "plot-projection"})
    rows = stored_winner("cdnow", storage).details["profiles"]
    assert len(re.findall(r'<article class="card" id="segment-card-\d+"', dom)) == len(rows)
    assert all(re.search(r"\d", row["name"]) is None for row in rows)  # words, not numbers
