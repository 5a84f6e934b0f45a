"""Headless Chromium for the report tests: render a page offline at 1,280 px and read
what plotly and the page wrote into the DOM."""

from __future__ import annotations

import html
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


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


def check_page(dom: str, log: str, plots: set[str]) -> None:
    """Loaded with no script error or console output, every chart drawn (at least
    ``plots``), and nothing wider than the 1,280 px window."""
    assert 'data-ready="yes"' in dom  # the page's script ran
    assert errors_box(dom) == "" and console_lines(log) == []
    drawn = Charts(dom).drawn
    assert set(drawn) >= plots and all(drawn.values()), drawn
    assert body_number(dom, "scroll-width") <= body_number(dom, "client-width") <= 1280


def check_summary_numbers(dom: str, details: dict) -> None:
    """The plain-language numbers, recomputed here from the stored holdout predictions."""
    holdout = details["holdout_predictions"]
    positive = np.asarray(holdout["y_true"]) == holdout["positive_index"]
    ranks = pd.Series(holdout["positive_proba"]).rank(method="first", ascending=False)
    summary, gains = text_of(dom, "summary"), text_of(dom, "gains-summary")
    assert f"{len(positive):,} holdout customers" in summary
    assert (
        f"{positive.mean() * 100:.1f} % have {details['target']} = {details['positive']}" in summary
    )
    assert f"at least {details['threshold']:.2f}" in summary
    for share in (10, 20):
        top = positive[(ranks <= math.ceil(share / 100 * len(positive))).to_numpy()]
        found = top.sum() / positive.sum()
        assert re.search(rf"top {share} % (by score )?hold {found * 100:.0f} %", gains), gains
