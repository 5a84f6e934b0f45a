"""The HTML report: content per study type, and rendering in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import segframe
from segframe.data import CustomerData
from segframe.demo import make_demo
from segframe.profiles import predicted_profiles
from segframe.report import render_report, write_report
from segframe.storage import stored_winner

SUPERVISED_PLOTS = ("plot-history", "plot-pareto", "plot-roc", "plot-pr", "plot-confusion",
                    "plot-importance")  # fmt: skip
SEGMENT_PLOTS = ("plot-history", "plot-projection")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def studies(small_demo, tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'study.db'}"
    segframe.search(small_demo, storage=url, study="sup", trials=3, models=["logreg", "xgboost"])
    unlabelled = CustomerData(small_demo.frame, None, small_demo.id_column, None)
    segframe.segment(unlabelled, storage=url, study="seg", trials=3, k=(2, 4))
    return url


def test_search_stores_compact_holdout_predictions(studies, small_demo):
    details = stored_winner("sup", studies).details
    holdout = details["holdout_predictions"]
    assert len(holdout["y_true"]) == len(holdout["positive_proba"]) == details["n_holdout"]
    assert all(round(p, 4) == p and 0 <= p <= 1 for p in holdout["positive_proba"])
    names = [name for name, _ in holdout["feature_importance"]]
    assert names and not any(re.fullmatch(r"x\d+", n) for n in names)
    values = [value for _, value in holdout["feature_importance"]]
    assert values == sorted(values, reverse=True)


def test_supervised_report_has_every_section(studies):
    page = render_report("sup", studies)
    for plot in SUPERVISED_PLOTS:
        assert f'<svg id="{plot}"' in page
    assert 'id="winner-marker"' in page and "segment-profiles" not in page


def test_segmentation_report_has_profiles_and_projection(studies):
    page = render_report("seg", studies)
    for plot in SEGMENT_PLOTS:
        assert f'<svg id="{plot}"' in page
    names = stored_winner("seg", studies).details["names"].values()
    assert 'id="segment-profiles"' in page and all(name in page for name in names)
    assert "plot-roc" not in page


def test_profiles_of_a_supervised_studys_predictions(studies):
    customers, events = make_demo(n_customers=120, seed=7)
    customers = customers.drop(columns="will_buy_again")
    profiles = predicted_profiles("sup", customers, events=events, storage=studies)
    assert set(profiles["predicted"]) <= {0, 1}
    assert profiles["size"].sum() == len(customers)
    assert {"recency_median", "monetary_median", "name"} <= set(profiles.columns)


def dump_dom(page: Path, profile: Path) -> str:
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={profile}", "--dump-dom", page.as_uri(),
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def errors_box(dom: str) -> str:
    return re.search(r'<pre id="page-errors">(.*?)</pre>', dom, re.S).group(1)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.parametrize(("study", "plots"), [("sup", SUPERVISED_PLOTS), ("seg", SEGMENT_PLOTS)])
def test_report_renders_in_chromium_without_errors(studies, tmp_path, study, plots):
    page = write_report(study, tmp_path / f"{study}.html", studies)
    dom = dump_dom(page, tmp_path / "profile")
    assert 'data-ready="yes"' in dom  # the page's script ran
    assert errors_box(dom) == ""
    for plot in plots:
        assert re.search(rf'<svg id="{plot}"[^>]*data-rendered="yes"', dom), plot


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_chromium_check_catches_script_errors(studies, tmp_path):
    page = tmp_path / "broken.html"
    html = render_report("seg", studies).replace(
        "</body>", "<script>noSuchFunction()</script></body>"
    )
    page.write_text(html, encoding="utf-8")
    assert "noSuchFunction" in errors_box(dump_dom(page, tmp_path / "profile"))


def test_cli_report(studies, tmp_path):
    out = tmp_path / "r.html"
    run = [sys.executable, "-m", "segframe", "report", "--study", "seg", "--storage", studies]
    done = subprocess.run([*run, "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    run[5] = "nope"
    done = subprocess.run([*run, "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 2 and "nope" in done.stderr
    assert np.isfinite(stored_winner("seg", studies).details["scores"]["silhouette"])
