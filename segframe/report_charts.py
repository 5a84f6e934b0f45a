"""The charts of ``segframe report``: Optuna's own plots and plotly figures.

Optuna draws the optimisation history, the Pareto front and the parameter importances
from the study itself; plotly draws what the winner's stored holdout predictions and
segmentation details hold. Every function returns a ``plotly`` figure; :func:`chart`
turns one into a ``<div>`` that the page's single inline copy of plotly.js draws.

Plotly reads a little HTML in text (``<b>``, ``<br>``, links), so every label that
comes from data passes through :func:`plain` first and shows literally.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
import plotly.graph_objects as go
from optuna.importance import FanovaImportanceEvaluator
from optuna.trial import FrozenTrial, TrialState
from optuna.visualization import (
    plot_optimization_history,
    plot_param_importances,
    plot_pareto_front,
)
from plotly.colors import qualitative
from plotly.subplots import make_subplots
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

#: Segment colours; a segment's card and its dots in the projection share one.
PALETTE = qualitative.D3
WINNER = "#d62728"
CURVE_POINTS = 300  # enough for a smooth curve, small enough for the page
HEIGHT = 380
CONFIG = {"displayModeBar": False, "responsive": True}  # zoom by dragging, reset by double-click


def plain(text: Any) -> str:
    """``text`` for a plotly label: its markup shown as written, not interpreted."""
    return html.escape(str(text), quote=False)


def segment_color(segment: int) -> str:
    """One colour per segment id, the same on its card and in the projection."""
    return PALETTE[segment % len(PALETTE)]


def _style(fig: go.Figure, title: str, height: int = HEIGHT) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.02, "font": {"size": 15}},
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        font={"family": "system-ui, sans-serif", "size": 12},
        legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
    )
    return fig


def chart(fig: go.Figure, div_id: str) -> str:
    """The figure as a ``<div id=div_id>`` and the script that draws it; no plotly.js."""
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config=CONFIG,
        default_width="100%",
        default_height=f"{fig.layout.height or HEIGHT}px",
    )


def _integer_trials(fig: go.Figure, trials: Sequence[FrozenTrial]) -> go.Figure:
    """Trial numbers are whole: ticks on integers only, at most about ten of them."""
    last = max((t.number for t in trials), default=0)
    step = max(1, math.ceil((last + 1) / 10))
    return fig.update_xaxes(tick0=0, dtick=step, tickformat="d", title_text="trial")


# --- from the study (Optuna's plots) -----------------------------------------------------------


def _complete(trials: Sequence[FrozenTrial], keys: Sequence[str]) -> list[FrozenTrial]:
    return [t for t in trials if t.state == TrialState.COMPLETE and set(keys) <= set(t.user_attrs)]


def history(study: optuna.Study, metrics: Mapping[str, str]) -> go.Figure:
    """Each metric (label -> trial user attribute) per trial, with its best so far.

    Optuna's :func:`plot_optimization_history` draws each metric's dots; its best-so-far
    line is drawn only for the study's own objective, so the lines are added here.
    """
    trials = study.get_trials(deepcopy=False)
    done = _complete(trials, list(metrics.values()))
    numbers = [t.number for t in done]
    fig = go.Figure()
    for i, (label, key) in enumerate(metrics.items()):
        color = qualitative.Plotly[i]
        part = plot_optimization_history(
            study, target=lambda t, key=key: t.user_attrs[key], target_name=label
        )
        for trace in part.data:
            if trace.x is None or not len(trace.x):
                continue  # an empty "infeasible trials" series
            fig.add_trace(trace.update(name=label, marker={"color": color}))
        best = np.maximum.accumulate([t.user_attrs[key] for t in done]) if done else []
        fig.add_trace(
            go.Scatter(
                x=numbers, y=best, mode="lines", line={"color": color, "shape": "hv"},
                name=f"best {label} so far",
            )
        )  # fmt: skip
    fig.update_yaxes(title_text="score")
    return _integer_trials(_style(fig, "Each trial's scores; lines: the best so far"), trials)


def pareto(study: optuna.Study, winner: int) -> go.Figure:
    """Optuna's F1–AUC Pareto front over all complete trials, with the winner ringed."""
    trials = study.get_trials(deepcopy=False)
    fig = plot_pareto_front(
        study,
        targets=lambda t: (t.user_attrs["f1"], t.user_attrs["auc"]),
        target_names=["cross-validated F1", "cross-validated ROC-AUC"],
    )
    names = {"Trial": "other trials", "Best Trial": "Pareto front"}
    for trace in fig.data:  # a legend instead of two colour bars of trial numbers
        name = names.get(trace.marker.colorbar.title.text, trace.name)
        trace.update(name=name, showlegend=True, marker_showscale=False)
    won = [t for t in _complete(trials, ["f1", "auc"]) if t.number == winner]
    if won:
        fig.add_trace(
            go.Scatter(
                x=[won[0].user_attrs["f1"]], y=[won[0].user_attrs["auc"]], mode="markers",
                marker={"symbol": "circle-open", "size": 18, "line": {"width": 3},
                        "color": WINNER},
                name=f"winner (trial {winner})", hoverinfo="name",
            )
        )  # fmt: skip
    return _style(fig, "The front: trials that no other trial beats on both F1 and AUC")


def param_importances(
    study: optuna.Study, target: Callable[[FrozenTrial], float], label: str
) -> go.Figure | str:
    """Optuna's fANOVA parameter importances for ``target``, or why there are none.

    A fixed seed keeps the report of one study the same from run to run.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a few trials: fANOVA warns, still answers
            fig = plot_param_importances(
                study, FanovaImportanceEvaluator(seed=0), target=target, target_name=label
            )
    except (ValueError, RuntimeError) as exc:
        return f"Optuna cannot rank the parameters yet: {exc}"
    bars = len(fig.data[0].y) if fig.data else 0
    if not bars:
        return "Optuna cannot rank the parameters yet: no parameter varied between trials."
    fig.update_yaxes(automargin=True, title_text="")
    fig.update_xaxes(title_text="importance (fANOVA over the trials)")
    return _style(fig, f"Search parameters by importance for {label}", 120 + 24 * bars)


# --- from the winner's holdout predictions -----------------------------------------------------


def _thin(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(xs) <= CURVE_POINTS:
        return xs, ys
    keep = np.unique(np.linspace(0, len(xs) - 1, CURVE_POINTS).astype(int))
    return xs[keep], ys[keep]


def _unit_square(fig: go.Figure, xlabel: str, ylabel: str) -> go.Figure:
    fig.update_xaxes(range=[0, 1], title_text=xlabel, constrain="domain")
    return fig.update_yaxes(range=[0, 1.02], title_text=ylabel)


def roc(positive: np.ndarray, proba: np.ndarray) -> go.Figure:
    """The ROC curve on the holdout, against the chance diagonal."""
    fpr, tpr, _ = roc_curve(positive, proba)
    fpr, tpr = _thin(fpr, tpr)
    fig = go.Figure(
        [
            go.Scatter(x=fpr, y=tpr, mode="lines",
                       name=f"model (AUC {roc_auc_score(positive, proba):.3f})"),
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                       line={"dash": "dash", "color": "#999"}),
        ]
    )  # fmt: skip
    return _unit_square(
        _style(fig, "ROC curve (holdout)"), "false positive rate", "true positive rate"
    )


def precision_recall(positive: np.ndarray, proba: np.ndarray) -> go.Figure:
    """Precision against recall on the holdout, against the base rate."""
    precision, recall, _ = precision_recall_curve(positive, proba)
    recall, precision = _thin(recall[::-1], precision[::-1])
    base = float(np.mean(positive))
    fig = go.Figure(
        [
            go.Scatter(x=recall, y=precision, mode="lines",
                       name=f"model (AP {average_precision_score(positive, proba):.3f})"),
            go.Scatter(x=[0, 1], y=[base, base], mode="lines", name=f"base rate {base:.1%}",
                       line={"dash": "dash", "color": "#999"}),
        ]
    )  # fmt: skip
    return _unit_square(_style(fig, "Precision–recall (holdout)"), "recall", "precision")


def confusion(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]) -> go.Figure:
    """Counts of true (rows) against predicted (columns) classes, shaded by row share."""
    n = len(classes)
    matrix = confusion_matrix(y_true, y_pred, labels=list(range(n)))
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    labels = [plain(c) for c in classes]
    fig = go.Figure(
        go.Heatmap(
            z=shares, x=labels, y=labels, text=matrix, texttemplate="%{text:,}",
            colorscale="Blues", zmin=0, zmax=1, showscale=False,
            hovertemplate="true %{y}, predicted %{x}: %{text:,} customers<extra></extra>",
        )
    )  # fmt: skip
    fig.update_xaxes(title_text="predicted", type="category", side="bottom")
    fig.update_yaxes(title_text="true", type="category", autorange="reversed", automargin=True)
    return _style(fig, "Confusion matrix (holdout)")


def gains(gain: Mapping[str, Sequence[float]], positive_label: str) -> go.Figure:
    """Cumulative gains (left) and lift per decile (right) of ranking customers by score.

    ``gain`` is :func:`segframe.report_summary.gains_table`'s result.
    """
    fig = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.12,
        subplot_titles=("Share of them found, contacting the top X % by score",
                        "Lift: how many times the base rate, per tenth of customers"),
    )  # fmt: skip
    contacted = np.asarray(gain["contacted"]) * 100
    found = np.asarray(gain["found"]) * 100
    fig.add_trace(
        go.Scatter(x=contacted, y=found, mode="lines", name="by model score",
                   hovertemplate="top %{x:.0f} %: %{y:.0f} % found<extra></extra>"),
        row=1, col=1,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=[0, 100], y=[0, 100], mode="lines", name="random order",
                   line={"dash": "dash", "color": "#999"}),
        row=1, col=1,
    )  # fmt: skip
    marks = [(10, gain["top10"]), (20, gain["top20"])]
    fig.add_trace(
        go.Scatter(x=[m for m, _ in marks], y=[v * 100 for _, v in marks],
                   mode="markers+text", text=[f"{v:.0%}" for _, v in marks],
                   textposition="middle right", marker={"size": 10, "color": WINNER},
                   name="top 10 % and top 20 %", hoverinfo="skip"),
        row=1, col=1,
    )  # fmt: skip
    deciles = np.arange(1, len(gain["lift"]) + 1)
    fig.add_trace(
        go.Bar(x=[f"{10 * (d - 1)}–{10 * d} %" for d in deciles], y=gain["lift"],
               name="lift per tenth", marker_color=qualitative.Plotly[0], showlegend=False,
               hovertemplate="%{x}: %{y:.2f}× the base rate<extra></extra>"),
        row=1, col=2,
    )  # fmt: skip
    fig.add_hline(y=1, line={"dash": "dash", "color": "#999"}, row=1, col=2)
    fig.update_xaxes(title_text="customers contacted, best scores first (%)", range=[0, 100],
                     row=1, col=1)  # fmt: skip
    fig.update_yaxes(title_text=f"{plain(positive_label)} found (%)", range=[0, 102], row=1, col=1)
    fig.update_xaxes(title_text="tenth of customers by score", row=1, col=2)
    fig.update_yaxes(title_text="lift", row=1, col=2)
    fig.update_annotations(font_size=13)
    return _style(fig, "", 420).update_layout(margin={"t": 40})


def feature_importance(rows: Sequence[tuple[str, float]], ensemble: bool) -> go.Figure:
    """Horizontal bars, largest on top, full feature names (an ensemble: its heaviest member,
    the one :func:`segframe.report.feature_importance` reads)."""
    names = [plain(name) for name, _ in rows][::-1]
    values = [value for _, value in rows][::-1]
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", marker_color=qualitative.Plotly[1],
                           hovertemplate="%{y}: %{x:.4g}<extra></extra>"))  # fmt: skip
    fig.update_yaxes(automargin=True, type="category")
    fig.update_xaxes(title_text="importance")
    whose = "the ensemble's heaviest member" if ensemble else "the winning model"
    return _style(fig, f"Feature importance in {whose}", 120 + 24 * len(rows))


# --- from a segmentation -----------------------------------------------------------------------


def projection(points: Mapping[str, Any], names: Mapping[str, str]) -> go.Figure:
    """Customers on the first two principal components, coloured by segment."""
    explained = list(points.get("explained", []))
    labels = [f"PC{i + 1} ({share:.0%} of variance)" for i, share in enumerate(explained)]
    labels += ["PC1", "PC2"][len(labels) :]
    segments = np.asarray(points["segment"])
    xs, ys = np.asarray(points["x"]), np.asarray(points["y"])
    fig = go.Figure()
    for segment in sorted(set(segments.tolist())):
        mask = segments == segment
        fig.add_trace(
            go.Scatter(
                x=xs[mask], y=ys[mask], mode="markers",
                marker={"size": 5, "opacity": 0.7, "color": segment_color(segment)},
                name=plain(f"{names.get(str(segment), segment)} (#{segment})"),
                hoverinfo="name",
            )
        )  # fmt: skip
    fig.update_xaxes(title_text=labels[0])
    fig.update_yaxes(title_text=labels[1])
    return _style(fig, "PCA projection of the space the segments were clustered in", 460)
