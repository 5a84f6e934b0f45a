"""A self-contained HTML report of a study: plots as inline SVG, no network, no libraries.

Supervised studies: optimisation history, the F1–AUC Pareto front with the winner,
ROC and precision–recall curves and the confusion matrix on the holdout, and
feature importance. Segmentations: optimisation history, the segment profile table
and a PCA projection of customers coloured by segment. What the holdout plots need
is stored in the winner's ``details`` at search time (:func:`holdout_summary`), so a
report never needs the data again.

Every plot is an ``<svg>`` with a fixed id (``plot-history``, ``plot-pareto``,
``plot-roc``, ``plot-pr``, ``plot-confusion``, ``plot-importance``,
``plot-projection``); a ``window.onerror`` handler writes script errors into
``#page-errors`` so a headless browser test can see them in the dumped DOM.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from optuna.trial import TrialState
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from segframe.leaderboard import load_study
from segframe.storage import DEFAULT_STORAGE, StoredPipeline, redact, stored_winner

PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
    "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#8c564b",
)  # fmt: skip
WIDTH, HEIGHT, MARGIN = 520, 340, 50
LEGEND = 190  # room right of each plot for its legend
CURVE_POINTS = 300
TOP_FEATURES = 20


# --- what the search stores for the report ------------------------------------------------


def _feature_names(pipeline: Any, X: pd.DataFrame) -> list[str]:
    """Names of the columns the model sees, following the fitted steps on a few rows."""
    steps = list(pipeline.steps[:-1])
    data: Any = X
    names: list[str] = []
    for _, step in steps:
        if step == "passthrough" or not hasattr(step, "transform"):
            continue  # samplers act during fit only
        before = list(data.columns) if isinstance(data, pd.DataFrame) else names
        data = step.transform(data)
        if isinstance(data, pd.DataFrame):
            names = [str(c) for c in data.columns]
        else:
            try:
                names = [str(n) for n in step.get_feature_names_out(before)]
            except Exception:  # steps without names (e.g. embeddings): positional names
                names = []
            if len(names) != np.asarray(data).shape[1]:
                names = [f"x{i}" for i in range(np.asarray(data).shape[1])]
    prefixes = ("numeric__", "categorical__")  # ColumnTransformer's own prefixes
    return [n.split("__", 1)[-1] if n.startswith(prefixes) else n for n in names]


def feature_importance(fitted: Any, X: pd.DataFrame) -> list[list[Any]]:
    """``[[feature, importance], …]`` (largest first) where the model exposes one, else ``[]``.

    Tree models give ``feature_importances_``; linear models the mean absolute coefficient
    (on standardised inputs for segframe's logistic regression).
    """
    fitted = getattr(fitted, "leading_member_", fitted)  # an ensemble: its heaviest member
    pipeline = fitted.pipeline_
    model = pipeline.steps[-1][1]
    model = model.steps[-1][1] if hasattr(model, "steps") else model
    if hasattr(model, "feature_importances_"):
        values = np.asarray(model.feature_importances_, dtype=float)
    elif hasattr(model, "coef_"):
        values = np.abs(np.atleast_2d(model.coef_)).mean(axis=0)
    else:
        return []
    names = _feature_names(pipeline, X.head(5))
    if len(names) != len(values):
        names = [f"x{i}" for i in range(len(values))]
    order = np.argsort(-values, kind="stable")[:TOP_FEATURES]
    return [[names[i], round(float(values[i]), 6)] for i in order]


def holdout_summary(fitted: Any, X_hold: pd.DataFrame, codes: np.ndarray) -> dict[str, Any]:
    """Compact holdout predictions (probabilities to 4 decimals) and feature importance."""
    proba = fitted.predict_proba(X_hold)
    return {
        "y_true": np.asarray(codes).astype(int).tolist(),
        "y_pred": fitted.decide(proba).astype(int).tolist(),
        "positive_proba": np.round(proba[:, fitted.positive_index_], 4).tolist(),
        "positive_index": int(fitted.positive_index_),
        "feature_importance": feature_importance(fitted, X_hold),
    }


# --- SVG -----------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:.3g}"


class Axes:
    """Maps data to SVG coordinates inside the margins, and draws the frame and ticks."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float], square: bool = False) -> None:
        self.x0, self.x1 = self._span(xs)
        self.y0, self.y1 = self._span(ys)
        if square:
            self.x0 = self.y0 = 0.0
            self.x1 = self.y1 = 1.0

    @staticmethod
    def _span(values: Sequence[float]) -> tuple[float, float]:
        finite = [v for v in values if v is not None and np.isfinite(v)]
        low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
        pad = (high - low) * 0.05 or abs(high) * 0.05 or 0.5
        return low - pad, high + pad

    def x(self, value: float) -> float:
        return MARGIN + (value - self.x0) / (self.x1 - self.x0) * (WIDTH - 1.5 * MARGIN)

    def y(self, value: float) -> float:
        return HEIGHT - MARGIN - (value - self.y0) / (self.y1 - self.y0) * (HEIGHT - 1.5 * MARGIN)

    def frame(self, xlabel: str, ylabel: str) -> str:
        parts = [
            f'<rect x="{MARGIN}" y="{MARGIN / 2}" width="{WIDTH - 1.5 * MARGIN}" '
            f'height="{HEIGHT - 1.5 * MARGIN}" fill="none" stroke="#999"/>'
        ]
        for t in np.linspace(self.x0, self.x1, 5):
            parts.append(
                f'<text x="{self.x(t):.1f}" y="{HEIGHT - MARGIN + 15}" class="tick" '
                f'text-anchor="middle">{_fmt(t)}</text>'
            )
        for t in np.linspace(self.y0, self.y1, 5):
            parts.append(
                f'<text x="{MARGIN - 5}" y="{self.y(t) + 4:.1f}" class="tick" '
                f'text-anchor="end">{_fmt(t)}</text>'
            )
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" text-anchor="middle">{html.escape(xlabel)}'
            "</text>"
        )
        parts.append(
            f'<text transform="translate(14,{HEIGHT / 2}) rotate(-90)" text-anchor="middle">'
            f"{html.escape(ylabel)}</text>"
        )
        return "".join(parts)


def _svg(plot_id: str, body: str, width: int = WIDTH + LEGEND, height: int = HEIGHT) -> str:
    return (
        f'<svg id="{plot_id}" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img">{body}</svg>'
    )


def _legend(labels: Sequence[tuple[str, str]]) -> str:
    return "".join(
        f'<g transform="translate({WIDTH - MARGIN / 2 + 10},{MARGIN / 2 + 6 + 14 * i})">'
        f'<rect width="10" height="10" fill="{color}"/><text x="14" y="9" class="tick">'
        f"{html.escape(label)}</text></g>"
        for i, (label, color) in enumerate(labels)
    )


def _dots(axes: Axes, xs, ys, color: str, titles=None, r: float = 3.0) -> str:
    titles = titles or [None] * len(xs)
    return "".join(
        f'<circle cx="{axes.x(x):.1f}" cy="{axes.y(y):.1f}" r="{r}" fill="{color}" '
        f'fill-opacity="0.75">{f"<title>{html.escape(t)}</title>" if t else ""}</circle>'
        for x, y, t in zip(xs, ys, titles, strict=True)
        if x is not None and y is not None
    )


def _line(axes: Axes, xs, ys, color: str, dash: str = "") -> str:
    points = " ".join(f"{axes.x(x):.1f},{axes.y(y):.1f}" for x, y in zip(xs, ys, strict=True))
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"{extra}/>'


def _thin(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(xs) <= CURVE_POINTS:
        return xs, ys
    keep = np.unique(np.linspace(0, len(xs) - 1, CURVE_POINTS).astype(int))
    return xs[keep], ys[keep]


def history_plot(numbers: list[int], series: dict[str, list[float | None]]) -> str:
    """Each metric per trial (dots) and its best so far (line)."""
    values = [v for vs in series.values() for v in vs if v is not None]
    axes = Axes(numbers or [0], values or [0.0])
    body = [axes.frame("trial", "score")]
    legend = []
    for (label, vs), color in zip(series.items(), PALETTE, strict=False):
        done = [(n, v) for n, v in zip(numbers, vs, strict=True) if v is not None]
        if not done:
            continue
        xs, ys = zip(*done, strict=True)
        best = np.maximum.accumulate(ys)
        body.append(_dots(axes, xs, ys, color, [f"trial {n}: {v:.4f}" for n, v in done]))
        body.append(_line(axes, xs, best, color))
        legend.append((f"{label} (line: best so far)", color))
    body.append(_legend(legend))
    return _svg("plot-history", "".join(body))


def pareto_plot(trials: list[tuple[int, float, float]], winner: int) -> str:
    """F1 against AUC of every completed trial; the front joined, the winner marked."""
    front = [
        t
        for t in trials
        if not any(o[1] >= t[1] and o[2] >= t[2] and (o[1] > t[1] or o[2] > t[2]) for o in trials)
    ]
    front.sort(key=lambda t: t[1])
    axes = Axes([t[1] for t in trials], [t[2] for t in trials])
    body = [axes.frame("cross-validated F1", "cross-validated ROC-AUC")]
    body.append(
        _dots(axes, [t[1] for t in trials], [t[2] for t in trials], "#bab0ac",
              [f"trial {t[0]}" for t in trials])
    )  # fmt: skip
    body.append(_line(axes, [t[1] for t in front], [t[2] for t in front], PALETTE[0]))
    body.append(_dots(axes, [t[1] for t in front], [t[2] for t in front], PALETTE[0]))
    won = [t for t in trials if t[0] == winner]
    if won:
        body.append(
            f'<circle id="winner-marker" cx="{axes.x(won[0][1]):.1f}" cy="{axes.y(won[0][2]):.1f}"'
            f' r="8" fill="none" stroke="{PALETTE[2]}" stroke-width="3">'
            f"<title>winner: trial {winner}</title></circle>"
        )
    body.append(_legend([("Pareto front", PALETTE[0]), ("winner", PALETTE[2])]))
    return _svg("plot-pareto", "".join(body))


def curve_plot(plot_id: str, xs, ys, xlabel: str, ylabel: str, label: str, diagonal: bool) -> str:
    """A ROC or precision–recall curve on the unit square."""
    axes = Axes([0, 1], [0, 1], square=True)
    xs, ys = _thin(np.asarray(xs), np.asarray(ys))
    body = [axes.frame(xlabel, ylabel), _line(axes, xs, ys, PALETTE[0])]
    if diagonal:
        body.append(_line(axes, [0, 1], [0, 1], "#999", dash="4 4"))
    body.append(_legend([(label, PALETTE[0])]))
    return _svg(plot_id, "".join(body))


def confusion_plot(matrix: np.ndarray, classes: list[str]) -> str:
    """Counts of true (rows) against predicted (columns) classes, shaded by row share."""
    n = len(classes)
    cell = min(80, 260 // max(n, 1))
    left, top = 110, 40
    size = (left + cell * n + 20, top + cell * n + 40)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    body = [
        f'<text x="{left + cell * n / 2}" y="15" text-anchor="middle">predicted</text>',
        f'<text transform="translate(14,{top + cell * n / 2}) rotate(-90)" '
        'text-anchor="middle">true</text>',
    ]
    for i in range(n):
        label = html.escape(classes[i][:12])
        body.append(
            f'<text x="{left + cell * i + cell / 2}" y="{top - 6}" text-anchor="middle" '
            f'class="tick">{label}</text>'
        )
        body.append(
            f'<text x="{left - 6}" y="{top + cell * i + cell / 2 + 4}" text-anchor="end" '
            f'class="tick">{label}</text>'
        )
        for j in range(n):
            shade = 0.1 + 0.85 * shares[i, j]
            body.append(
                f'<rect x="{left + cell * j}" y="{top + cell * i}" width="{cell}" '
                f'height="{cell}" fill="{PALETTE[0]}" fill-opacity="{shade:.2f}" stroke="#fff"/>'
                f'<text x="{left + cell * j + cell / 2}" y="{top + cell * i + cell / 2 + 4}" '
                f'text-anchor="middle">{int(matrix[i, j])}</text>'
            )
    return _svg("plot-confusion", "".join(body), *size)


def importance_plot(rows: list[list[Any]]) -> str:
    """Horizontal bars, largest importance on top."""
    bar, left = 18, 200
    width, height = WIDTH + 60, 20 + bar * max(len(rows), 1)
    top = max((r[1] for r in rows), default=1.0) or 1.0
    body = []
    for i, (name, value) in enumerate(rows):
        length = (width - left - 60) * value / top
        body.append(
            f'<text x="{left - 6}" y="{10 + bar * i + 12}" text-anchor="end" class="tick">'
            f"{html.escape(str(name)[:32])}</text>"
            f'<rect x="{left}" y="{10 + bar * i + 2}" width="{length:.1f}" height="{bar - 4}" '
            f'fill="{PALETTE[1]}"><title>{html.escape(str(name))}: {value:.4g}</title></rect>'
            f'<text x="{left + length + 4:.1f}" y="{10 + bar * i + 12}" class="tick">'
            f"{value:.3g}</text>"
        )
    if not rows:
        body.append('<text x="10" y="24">This model exposes no feature importance.</text>')
    return _svg("plot-importance", "".join(body), width, height)


def projection_plot(points: dict[str, Any], names: dict[str, str]) -> str:
    """Customers on the first two principal components of the clustering space."""
    axes = Axes(points["x"], points["y"])
    explained = points.get("explained", [])
    labels = [f"PC{i + 1} ({share:.0%} of variance)" for i, share in enumerate(explained)]
    labels += ["PC1", "PC2"][len(labels) :]
    body = [axes.frame(labels[0], labels[1])]
    segments = np.asarray(points["segment"])
    legend = []
    for segment in sorted(set(segments.tolist())):
        color = PALETTE[segment % len(PALETTE)]
        mask = segments == segment
        name = names.get(str(segment), str(segment))
        body.append(
            _dots(axes, np.asarray(points["x"])[mask].tolist(),
                  np.asarray(points["y"])[mask].tolist(), color, r=2.2)
        )  # fmt: skip
        legend.append((f"{segment}: {name}", color))
    body.append(_legend(legend))
    return _svg("plot-projection", "".join(body))


# --- the page ------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1150px;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
section{margin-bottom:1em}.grid{display:flex;flex-wrap:wrap;gap:1.5em}
svg{background:#fff;font-size:12px}svg .tick{font-size:10px;fill:#555}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:4px 8px}
th{background:#f4f4f4}td.num{text-align:right}#page-errors{color:#b00}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{font-weight:600}
"""
_SCRIPT = """
window.onerror = function (message, source, line) {
  var box = document.getElementById('page-errors');
  if (box) { box.textContent += message + ' (line ' + line + ')\\n'; }
};
(function () {
  var original = console.error;
  console.error = function () {
    var box = document.getElementById('page-errors');
    if (box) { box.textContent += Array.prototype.join.call(arguments, ' ') + '\\n'; }
    original.apply(console, arguments);
  };
})();
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('svg').forEach(function (svg) {
    svg.setAttribute('data-rendered', svg.getBBox ? 'yes' : 'no');
  });
  document.body.setAttribute('data-ready', 'yes');
});
"""


def _facts(rows: list[tuple[str, Any]]) -> str:
    return (
        "<dl>"
        + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in rows)
        + "</dl>"
    )


def _table(frame: pd.DataFrame, table_id: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for value in row:
            if isinstance(value, float | np.floating):
                text = f"{value:,.4g}" if value == value else ""
                cells.append(f'<td class="num">{text}</td>')
            elif isinstance(value, int | np.integer):
                cells.append(f'<td class="num">{value:,}</td>')
            else:
                cells.append(f"<td>{html.escape(str(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div style="overflow-x:auto"><table id="{table_id}"><tr>{head}</tr>'
        f"{''.join(rows)}</table></div>"
    )


def _section(title: str, section_id: str, content: str) -> str:
    return f'<section id="{section_id}"><h2>{html.escape(title)}</h2>{content}</section>'


def _supervised(record: StoredPipeline, trials: list) -> list[str]:
    details = record.details
    done = [t for t in trials if t.state == TrialState.COMPLETE and "f1" in t.user_attrs]
    numbers = [t.number for t in trials]
    sections = [
        _section(
            "Optimisation history",
            "history",
            history_plot(
                numbers,
                {
                    "F1": [t.user_attrs.get("f1") for t in trials],
                    "ROC-AUC": [t.user_attrs.get("auc") for t in trials],
                },
            ),
        ),
        _section(
            "F1–AUC Pareto front",
            "pareto",
            pareto_plot(
                [(t.number, t.user_attrs["f1"], t.user_attrs["auc"]) for t in done],
                record.trial_number,
            ),
        ),
    ]
    holdout = details.get("holdout_predictions")
    if holdout is None:
        sections.append(
            _section(
                "Holdout",
                "holdout",
                "<p>This winner was stored by a segframe version that kept no holdout "
                "predictions; re-run the search to get ROC, precision–recall and confusion "
                "plots.</p>",
            )
        )
        return sections
    y_true = np.asarray(holdout["y_true"])
    positive = y_true == holdout["positive_index"]
    proba = np.asarray(holdout["positive_proba"])
    classes = details["classes"]
    label = f"positive class {classes[holdout['positive_index']]!r}"
    curves = []
    if positive.any() and not positive.all():
        fpr, tpr, _ = roc_curve(positive, proba)
        precision, recall, _ = precision_recall_curve(positive, proba)
        curves.append(curve_plot("plot-roc", fpr, tpr, "false positive rate",
                                 "true positive rate", label, diagonal=True))  # fmt: skip
        curves.append(curve_plot("plot-pr", recall[::-1], precision[::-1], "recall",
                                 "precision", label, diagonal=False))  # fmt: skip
    matrix = confusion_matrix(y_true, holdout["y_pred"], labels=list(range(len(classes))))
    sections.append(
        _section(
            "Winner on the holdout",
            "holdout",
            f'<div class="grid">{"".join(curves)}{confusion_plot(matrix, classes)}</div>',
        )
    )
    sections.append(
        _section(
            "Feature importance",
            "importance",
            importance_plot(holdout.get("feature_importance", [])),
        )
    )
    return sections


def _segmentation(record: StoredPipeline, trials: list) -> list[str]:
    details = record.details
    numbers = [t.number for t in trials]
    profiles = pd.DataFrame(details["profiles"])
    return [
        _section(
            "Optimisation history",
            "history",
            history_plot(
                numbers,
                {
                    "silhouette": [t.user_attrs.get("silhouette") for t in trials],
                    "stability (ARI)": [t.user_attrs.get("stability") for t in trials],
                },
            ),
        ),
        _section("Segment profiles", "profiles", _table(profiles, "segment-profiles")),
        _section(
            "Customers by segment (PCA projection)",
            "projection",
            projection_plot(details["projection"], details["names"]),
        ),
    ]


def render_report(study: str, storage: str = DEFAULT_STORAGE) -> str:
    """The report page of ``study``'s stored winner and its trials, as one HTML string."""
    record = stored_winner(study, storage)
    trials = load_study(study, storage).get_trials(deepcopy=False)
    details = record.details
    if record.task == "segmentation":
        scores = details["scores"]
        facts = [
            ("task", "segmentation (no labels)"),
            ("segments", scores["k"]),
            ("silhouette", f"{scores['silhouette']:.4f}"),
            ("stability (mean bootstrap ARI)", f"{scores['stability']:.4f}"),
            ("Calinski–Harabasz", f"{scores['calinski_harabasz']:.1f}"),
            ("Davies–Bouldin", f"{scores['davies_bouldin']:.4f}"),
            ("customers", details["n_customers"]),
        ]
        sections = _segmentation(record, trials)
    else:
        facts = [
            ("task", f"classification of {details['target']!r}"),
            ("objective", details["objective"]),
            ("cross-validated F1 / AUC", f"{details['cv']['f1']:.4f} / {details['cv']['auc']:.4f}"),
            ("holdout F1 / AUC", f"{record.holdout_f1:.4f} / {record.holdout_auc:.4f}"),
            ("training / holdout customers", f"{details['n_train']} / {details['n_holdout']}"),
        ]
        if details.get("threshold") is not None:
            facts.append(
                (
                    "decision threshold",
                    f"{details['threshold']:.3f} (probability of {details['positive']!r} from "
                    "which a customer is called positive; chosen for F1 out of fold)",
                )
            )
        if "n_fit" in details:
            facts.append(("stored model fitted on", f"{details['n_fit']} customers"))
        sections = _supervised(record, trials)
    facts = [
        ("study", study),
        ("database", redact(storage)),
        ("winner", f"trial {record.trial_number}: {details['pipeline_text']}"),
        *facts,
        ("complete trials", f"{sum(t.state == TrialState.COMPLETE for t in trials)}/{len(trials)}"),
        ("stored", f"{record.created_at:%Y-%m-%d %H:%M} UTC, segframe {record.segframe_version}"),
    ]
    title = f"segframe report: {study}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f"<script>{_SCRIPT}</script></head><body>"
        f'<h1>{html.escape(title)}</h1><pre id="page-errors"></pre>'
        f"{_section('Winner', 'summary', _facts(facts))}{''.join(sections)}</body></html>"
    )


def write_report(study: str, out: str | Path, storage: str = DEFAULT_STORAGE) -> Path:
    """Write :func:`render_report` to ``out`` (UTF-8) and return the path."""
    path = Path(out)
    path.write_text(render_report(study, storage), encoding="utf-8")
    return path
