"""The report's first words: what was found, in plain language, with the numbers that matter.

A marketing analyst reads these before any chart: what was predicted, how well against
simply guessing (the base rate), at which threshold, and whom to contact first (the
share of positives in the top 10 % and top 20 % of customers by score). For a
segmentation: how many segments, the largest ones, and how much to trust them.
All text from data is HTML-escaped here.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DECILES = 10


def pct(share: float, digits: int = 0) -> str:
    """``0.6129`` -> ``"61 %"`` (with ``digits`` decimals), a no-break space before the sign."""
    return f"{share * 100:.{digits}f}\u00a0%"


def gains_table(positive: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Cumulative gains of contacting customers in order of score, best first.

    ``contacted``/``found``: the share of customers contacted and of positives among
    them, after each customer; ``top10``/``top20``: the share of positives found in the
    top 10 % / 20 % (rounded up to whole customers); ``lift``: each tenth's positive rate
    over the base rate. Ties in score keep the holdout's order.
    """
    order = np.argsort(-np.asarray(proba), kind="stable")
    hits = np.asarray(positive, dtype=float)[order]
    n, total = len(hits), max(hits.sum(), 1.0)
    found = np.concatenate([[0.0], np.cumsum(hits) / total])
    contacted = np.arange(n + 1) / n
    base = hits.mean()
    lift = [
        float(part.mean() / base) if base > 0 and len(part) else 0.0
        for part in np.array_split(hits, DECILES)
    ]
    keep = np.unique(np.linspace(0, n, min(n + 1, 201)).astype(int))  # a smooth, light curve
    return {
        "contacted": contacted[keep].round(4).tolist(),
        "found": found[keep].round(4).tolist(),
        "top10": float(found[int(np.ceil(0.1 * n))]),
        "top20": float(found[int(np.ceil(0.2 * n))]),
        "lift": [round(v, 3) for v in lift],
        "base_rate": float(base),
    }


def _strong(text: Any) -> str:
    return f"<strong>{html.escape(str(text))}</strong>"


def supervised_summary(
    details: Mapping[str, Any], holdout: Mapping[str, Any], f1: float, auc: float
) -> str:
    """The opening paragraph of a supervised report (HTML)."""
    y_true = np.asarray(holdout["y_true"])
    y_pred = np.asarray(holdout["y_pred"])
    classes = details["classes"]
    n = len(y_true)
    target = _strong(details["target"])
    if len(classes) != 2:
        largest = np.bincount(y_true, minlength=len(classes)).max() / max(n, 1)
        return (
            f'<p id="summary">segframe predicted which of {len(classes)} classes of {target} '
            f"each customer belongs to. On the {n:,} holdout customers, whom the search never "
            f"saw, the winning pipeline picks the right class for "
            f"{_strong(pct(np.mean(y_true == y_pred)))}; always guessing the largest class "
            f"would be right for {pct(largest)}. Macro-F1 {f1:.2f}, macro ROC-AUC {auc:.2f} "
            "(0.5 is chance, 1 is perfect).</p>"
        )
    index = holdout["positive_index"]
    positive = y_true == index
    called = y_pred == index
    base = positive.mean()
    precision = positive[called].mean() if called.any() else 0.0
    recall = called[positive].mean() if positive.any() else 0.0
    label = f"{details['target']} = {details['positive']}"
    threshold = details.get("threshold")
    rule = (
        f"when its score (the predicted probability of {html.escape(label)}) is at least "
        f"{_strong(f'{threshold:.2f}')}, a threshold chosen for the best F1 out of fold"
        if threshold is not None
        else "when that is its likeliest class"
    )
    ratio = f" — {precision / base:.1f} times the base rate —" if base > 0 else ""
    return (
        f'<p id="summary">segframe predicted, for each customer, whether {_strong(label)}. '
        f"Of the {n:,} holdout customers, whom the search never saw, "
        f"{_strong(pct(base, 1))} have {html.escape(label)} (the base rate). "
        f"The winning pipeline calls a customer {html.escape(label)} {rule}: that flags "
        f"{called.sum():,} customers ({pct(called.mean())}), of whom {_strong(pct(precision))} "
        f"really have {html.escape(label)}{ratio} and it finds {_strong(pct(recall))} of all "
        f"of them. F1 {f1:.2f}; ROC-AUC {auc:.2f} (the chance that a random customer with "
        f"{html.escape(label)} gets a higher score than a random one without; 0.5 is a coin "
        "toss).</p>"
    )


def gains_summary(gain: Mapping[str, Any], label: str) -> str:
    """The top-decile and top-20 % figures in words (HTML)."""
    who = f"the customers with {html.escape(label)}"
    return (
        f'<p id="gains-summary">Contact customers in order of score: the top {pct(0.1)} by '
        f"score hold {_strong(pct(gain['top10']))} of {who} ({gain['top10'] / 0.1:.1f} times "
        f"what a random {pct(0.1)} would), and the top {pct(0.2)} hold "
        f"{_strong(pct(gain['top20']))}.</p>"
    )


def segmentation_summary(details: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    """The opening paragraph of a segmentation report (HTML)."""
    scores = details["scores"]
    largest = sorted(rows, key=lambda r: -r["size"])[:2]
    biggest = " and ".join(f"{_strong(r['name'])} ({pct(r['share'])})" for r in largest)
    basis = (
        "their purchase history (recency, frequency, spend)"
        if details.get("has_events")
        else "their columns in the customer table"
    )
    silhouette, stability = scores["silhouette"], scores["stability"]
    separated = "well" if silhouette >= 0.5 else "moderately" if silhouette >= 0.25 else "weakly"
    stable = "stable" if stability >= details.get("min_stability", 0.75) else "not stable"
    return (
        f'<p id="summary">segframe split {details["n_customers"]:,} customers into '
        f"{_strong(scores['k'])} segments, described by {basis}. The largest are {biggest}. "
        "Each card below says who is in a segment and what to do with it. The segments are "
        f"{separated} separated (silhouette {silhouette:.2f} on a scale from −1 to 1) and "
        f"{stable} (refits on resampled customers agree at {stability:.2f} adjusted Rand "
        "index, 1 being identical).</p>"
    )
