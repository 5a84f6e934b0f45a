"""The HTML report: content per study type, and rendering in real headless Chromium."""

from __future__ import annotations

import html
import math
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState, create_trial
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
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
#: A failure reason longer than any cut-off, with markup that must show as text.
REASON = "ValueError: <b>bold</b> & " + "a long explanation " * 30 + "END-OF-REASON"
SEGMENT_NAME = "<i>VIP</i> & co"


@pytest.fixture(scope="module")
def studies(small_demo, tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'study.db'}"
    segframe.search(small_demo, storage=url, study="sup", trials=3, models=["logreg", "xgboost"])
    failed = create_trial(state=TrialState.FAIL, user_attrs={"error": REASON, "seconds": 0.5})
    optuna.load_study(study_name="sup", storage=url).add_trial(failed)
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
    assert len(re.findall(r"<td>(COMPLETE|FAIL)</td>", table)) == 4


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


class Charts(HTMLParser):
    """Plotly chart divs of a dumped DOM: whether plotly marked each drawn and put its
    ``svg.main-svg`` inside."""

    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                      "source", "track", "wbr"})  # fmt: skip

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.stack: list[tuple[str, str | None]] = []
        self.drawn: dict[str, bool] = {}
        self.classes: dict[str, list[str]] = {}
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        chart = None
        if tag == "div" and "plotly-graph-div" in classes:
            chart = attributes["id"]
            self.drawn[chart], self.classes[chart] = False, classes
        if tag == "svg" and "main-svg" in classes:
            for _, inside in self.stack:
                if inside is not None:
                    self.drawn[inside] = "js-plotly-plot" in self.classes[inside]
        if tag not in self.VOID:
            self.stack.append((tag, chart))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return


def render(page: Path, profile: Path) -> tuple[str, str]:
    """The DOM after load and Chromium's log, at 1,280 px wide, with the network cut off
    (every request goes to a dead proxy)."""
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
        "--enable-logging=stderr", "--v=0", "--window-size=1280,2000",
        "--virtual-time-budget=10000", f"--user-data-dir={profile}", "--dump-dom", page.as_uri(),
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout, out.stderr


def console_lines(log: str) -> list[str]:
    """Messages the page wrote to the console (errors, warnings, logs: the page writes none)."""
    return [line for line in log.splitlines() if ":CONSOLE" in line]


def errors_box(dom: str) -> str:
    return re.search(r'<pre id="page-errors">(.*?)</pre>', dom, re.S).group(1)


def body_number(dom: str, name: str) -> int:
    return int(re.search(rf'<body[^>]* data-{name}="(\d+)"', dom).group(1))


def text_of(dom: str, element_id: str) -> str:
    inner = re.search(rf'<p id="{element_id}">(.*?)</p>', dom, re.S).group(1)
    return html.unescape(re.sub(r"<[^>]+>", "", inner)).replace("\u00a0", " ")


@needs_chromium
@pytest.mark.parametrize(("study", "plots"), [("sup", SUPERVISED_PLOTS), ("seg", SEGMENT_PLOTS)])
def test_report_draws_every_chart_offline_without_errors_at_1280px(studies, tmp_path, study, plots):
    dom, log = render(write_report(study, tmp_path / f"{study}.html", studies), tmp_path / "p")
    assert 'data-ready="yes"' in dom  # the page's script ran
    assert errors_box(dom) == "" and console_lines(log) == []
    drawn = Charts(dom).drawn
    assert set(drawn) >= plots and all(drawn.values()), drawn
    assert body_number(dom, "scroll-width") <= body_number(dom, "client-width") <= 1280
    if study == "seg":
        rows = stored_winner("seg", studies).details["profiles"]
        assert len(re.findall(r'<article class="card" id="segment-card-\d+"', dom)) == len(rows)
        assert "<i>VIP" not in dom  # the name shows as text in the cards and the legend
    else:
        check_summary_numbers(dom, stored_winner("sup", studies).details)


def check_summary_numbers(dom: str, details: dict) -> None:
    """The plain-language numbers, recomputed here from the stored holdout predictions."""
    holdout = details["holdout_predictions"]
    positive = np.asarray(holdout["y_true"]) == holdout["positive_index"]
    ranks = pd.Series(holdout["positive_proba"]).rank(method="first", ascending=False)
    summary, gains = text_of(dom, "summary"), text_of(dom, "gains-summary")
    assert f"{len(positive):,} holdout customers" in summary
    assert f"{positive.mean() * 100:.1f} % have {details['target']} = 1" in summary
    assert f"at least {details['threshold']:.2f}" in summary
    for share in (10, 20):
        top = positive[(ranks <= math.ceil(share / 100 * len(positive))).to_numpy()]
        found = top.sum() / positive.sum()
        assert re.search(rf"top {share} % (by score )?hold {found * 100:.0f} %", gains), gains


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
