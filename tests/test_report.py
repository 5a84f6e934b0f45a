"""The HTML report: content per study type, and rendering in real headless Chromium."""

from __future__ import annotations

import re
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState, create_trial
from report_browser import (
    Charts,
    body_number,
    check_page,
    check_summary_numbers,
    console_lines,
    errors_box,
    needs_chromium,
    render,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import segframe
from segframe.data import CustomerData
from segframe.demo import make_demo
from segframe.profiles import predicted_profiles
from segframe.report import feature_importance, readable_feature, render_report, write_report
from segframe.storage import stored_winner

SUPERVISED_PLOTS = {"plot-gains", "plot-history", "plot-pareto", "plot-roc", "plot-pr",
                    "plot-confusion", "plot-importance"}  # fmt: skip
SEGMENT_PLOTS = {"plot-history", "plot-projection"}
#: A failure reason longer than any cut-off, with markup that must show as text.
REASON = "ValueError: <b>bold</b> & " + "a long explanation " * 30 + "END-OF-REASON"
SEGMENT_NAME = "<i>VIP</i> & co"


@pytest.fixture(scope="module")
def studies(small_demo, tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'study.db'}"
    segframe.search(small_demo, storage=url, study="sup", trials=3, models=["logreg", "xgboost"])
    failed = create_trial(state=TrialState.FAIL, user_attrs={"error": REASON, "seconds": 0.5})
    pruned = create_trial(state=TrialState.PRUNED, user_attrs={"seconds": 0.2})
    optuna.load_study(study_name="sup", storage=url).add_trials([failed, pruned])
    unlabelled = CustomerData(small_demo.frame, None, small_demo.id_column, None)
    segframe.segment(unlabelled, storage=url, study="seg", trials=3, k=(2, 4),
                     names={0: SEGMENT_NAME})  # fmt: skip
    return url


def test_search_stores_compact_holdout_predictions(studies):
    details = stored_winner("sup", studies).details
    holdout = details["holdout_predictions"]
    assert len(holdout["y_true"]) == len(holdout["positive_proba"]) == details["n_holdout"]
    assert all(round(p, 4) == p and 0 <= p <= 1 for p in holdout["positive_proba"])
    names = [name for name, _ in holdout["feature_importance"]]
    assert names and not any(re.fullmatch(r"x\d+", n) for n in names)
    values = [value for _, value in holdout["feature_importance"]]
    assert values == sorted(values, reverse=True)
    segments = holdout["segments"]
    assert sum(row["size"] for row in segments) == details["n_holdout"]
    assert {row["segment"] for row in segments} == set(holdout["y_pred"])
    assert all("recency_median" in row for row in segments)  # the demo has an event log


def test_page_is_one_offline_file_with_plotly_inlined_once(studies):
    page = render_report("sup", studies)
    assert page.count("plotly.js v") == 1  # the bundle's banner
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="', page)
    ids = re.findall(r' id="([^"]+)"', page[page.index("</head>") :])
    assert set(ids) >= SUPERVISED_PLOTS and len(ids) == len(set(ids))


def test_plain_words_and_gains_come_before_the_details(studies):
    page = render_report("sup", studies)
    order = [page.index(f'id="{i}"') for i in ("summary", "gains-summary", "plot-gains",
                                                "segments", "details", "trial-table")]  # fmt: skip
    assert order == sorted(order)


def test_trial_table_gives_the_full_failure_reason_escaped(studies):
    page = render_report("sup", studies)
    table = re.search(r'<table id="trial-table".*?</table>', page, re.S).group(0)
    assert "ValueError: &lt;b&gt;bold&lt;/b&gt; &amp; " in table and "END-OF-REASON" in table
    assert "<b>bold" not in page
    assert len(re.findall(r"<td>(COMPLETE|FAIL|PRUNED)</td>", table)) == 5
    assert "pruned: its first fold scored below the median" in table


def test_segmentation_report_has_cards_table_and_projection(studies):
    page = render_report("seg", studies)
    rows = stored_winner("seg", studies).details["profiles"]
    for row in rows:
        card = re.search(rf'<article class="card" id="segment-card-{row["segment"]}".*?</article>',
                         page, re.S).group(0)  # fmt: skip
        assert f"{row['share'] * 100:.1f}\u00a0%" in card
        assert "days ago" in card and "Customer for" in card
        assert "Suggested action:" in card
    assert "&lt;i&gt;VIP&lt;/i&gt; &amp; co" in page and SEGMENT_NAME not in page
    assert 'id="segment-table"' in page and 'id="plot-projection"' in page
    assert "plot-roc" not in page and "plot-gains" not in page


def test_multiclass_report_says_how_often_the_class_is_right(small_demo, storage):
    frame = small_demo.frame.drop(columns="channel")
    shop = CustomerData(frame, small_demo.frame["channel"], small_demo.id_column, "channel")
    segframe.search(shop, storage=storage, study="multi", trials=2, models=["logreg"])
    page = render_report("multi", storage)
    holdout = stored_winner("multi", storage).details["holdout_predictions"]
    truth, guess = np.asarray(holdout["y_true"]), np.asarray(holdout["y_pred"])
    summary = re.search(r'<p id="summary">(.*?)</p>', page, re.S).group(1)
    assert "which of 4 classes of <strong>channel</strong>" in summary
    assert f"right class for <strong>{np.mean(truth == guess) * 100:.0f}\u00a0%" in summary
    largest = np.bincount(truth).max() / len(truth)
    assert f"would be right for {largest * 100:.0f}\u00a0%" in summary
    assert 'id="plot-gains"' not in page and 'id="plot-confusion"' in page
    assert len(re.findall(r'<article class="card"', page)) == len(set(guess))


@pytest.mark.parametrize(
    ("name", "readable"),
    [
        ("tabular__PaymentMethod_Electronic check (automatic)",
         "PaymentMethod = Electronic check (automatic)"),
        ("tabular__Contract_type_Two year", "Contract_type = Two year"),
        ("tabular__tenure", "tenure"),
        ("rfm__recency_days", "recency_days (rfm)"),
        ("Contract_Month-to-month", "Contract = Month-to-month"),
    ],
)  # fmt: skip
def test_feature_names_read_as_people_say_them(name, readable):
    assert readable_feature(name, ["tenure", "Contract", "Contract_type", "PaymentMethod"]) == (
        readable
    )


def test_importance_reaches_inside_segframes_boosters():
    from segframe_xgboost import XGBoostClassifier

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"noise": rng.normal(size=300), "signal": rng.normal(size=300)})
    y = (X["signal"] + 0.3 * rng.normal(size=300) > 0).astype(int)
    scale = StandardScaler().set_output(transform="pandas")
    pipeline = Pipeline([("scale", scale), ("model", XGBoostClassifier())]).fit(X, y)
    rows = feature_importance(SimpleNamespace(pipeline_=pipeline), X)
    assert [name for name, _ in rows] == ["signal", "noise"]


def test_profiles_of_a_supervised_studys_predictions(studies):
    customers, events = make_demo(n_customers=120, seed=7)
    customers = customers.drop(columns="will_buy_again")
    profiles = predicted_profiles("sup", customers, events=events, storage=studies)
    assert set(profiles["predicted"]) <= {0, 1}
    assert profiles["size"].sum() == len(customers)
    assert {"recency_median", "monetary_median", "name", "action"} <= set(profiles.columns)


# --- in a real browser --------------------------------------------------------------------------


@needs_chromium
@pytest.mark.parametrize(("study", "plots"), [("sup", SUPERVISED_PLOTS), ("seg", SEGMENT_PLOTS)])
def test_report_draws_every_chart_offline_without_errors_at_1280px(studies, tmp_path, study, plots):
    dom, log = render(write_report(study, tmp_path / f"{study}.html", studies), tmp_path / "p")
    check_page(dom, log, plots)
    if study == "seg":
        rows = stored_winner("seg", studies).details["profiles"]
        assert len(re.findall(r'<article class="card" id="segment-card-\d+"', dom)) == len(rows)
        assert "<i>VIP" not in dom  # the name shows as text in the cards and the legend
    else:
        check_summary_numbers(dom, stored_winner("sup", studies).details)


@needs_chromium
def test_browser_checks_catch_errors_undrawn_charts_and_sideways_scrolling(studies, tmp_path):
    """Planted faults: a script error, plotly.js missing (no chart draws) and a wide block."""
    page = render_report("seg", studies)
    start = page.index('<script type="text/javascript">/**')
    page = page[:start] + page[page.index("</script>", start) + len("</script>") :]
    page = page.replace(
        "</body>",
        '<div style="width:3000px">wide</div><script>noSuchFunction()</script></body>',
    )
    broken = tmp_path / "broken.html"
    broken.write_text(page, encoding="utf-8")
    dom, log = render(broken, tmp_path / "p")
    assert "noSuchFunction" in errors_box(dom) and "Plotly is not defined" in errors_box(dom)
    assert any("noSuchFunction" in line for line in console_lines(log))
    drawn = Charts(dom).drawn
    assert set(drawn) >= SEGMENT_PLOTS and not any(drawn.values())
    assert body_number(dom, "scroll-width") > body_number(dom, "client-width")


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
