"""``segframe report``: one self-contained HTML page that a marketing analyst reads first.

The page opens with plain words for the analyst — what was predicted, how well against
the base rate, at which threshold, and whom to contact first (lift and cumulative
gains) — or, for a segmentation, what the segments are; then one card per segment with
a name and a suggested action. Details for the data scientist follow: the winner, every
trial with its full failure reason, Optuna's optimisation history, Pareto front and
parameter importances, the holdout curves and feature importance.

Charts are plotly figures (:mod:`segframe.report_charts`); plotly.js (about 4.8 MB) is
inlined once in the page head, so the file opens offline. What the holdout part needs
is stored in the winner's ``details`` at search time (:func:`holdout_summary`), so a
report never needs the data again.

A ``window.onerror`` handler (and a wrapped ``console.error``) writes script errors into
``#page-errors``; once loaded, ``<body>`` carries ``data-ready``, the number of charts
and of drawn charts, the render time and the page's scroll and client widths, so a
headless browser test can read them from the dumped DOM.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState
from plotly.offline import get_plotlyjs

from segframe import report_charts as charts
from segframe.leaderboard import load_study, trial_errors
from segframe.profiles import profiles_records, segment_profiles
from segframe.report_segments import Card, cards, segment_table, segment_views
from segframe.report_summary import (
    gains_summary,
    gains_table,
    pct,
    segmentation_summary,
    supervised_summary,
)
from segframe.storage import DEFAULT_STORAGE, StoredPipeline, redact, stored_winner
from segframe.task import task_named

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
    if not hasattr(model, "feature_importances_") and not hasattr(model, "coef_"):
        model = getattr(model, "model_", model)  # segframe's boosters wrap theirs (plugin.py)
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
    """Compact holdout predictions (probabilities to 4 decimals), feature importance and
    the profiles of the predicted segments (RFM medians when there is an event log)."""
    proba = fitted.predict_proba(X_hold)
    predicted = fitted.decide(proba).astype(int)
    return {
        "y_true": np.asarray(codes).astype(int).tolist(),
        "y_pred": predicted.tolist(),
        "positive_proba": np.round(proba[:, fitted.positive_index_], 4).tolist(),
        "positive_index": int(fitted.positive_index_),
        "feature_importance": feature_importance(fitted, X_hold),
        "segments": profiles_records(segment_profiles(X_hold, predicted)),
    }


def readable_feature(name: str, columns: Sequence[str]) -> str:
    """A model input as people say it: ``tabular__PaymentMethod_Electronic check`` ->
    ``PaymentMethod = Electronic check``; ``rfm__recency_days`` -> ``recency_days (rfm)``.

    One-hot columns are split only for the customer table's own columns (longest match).
    """
    builder, sep, rest = name.rpartition("__")
    builder = builder.rsplit("__", 1)[-1] if sep else ""
    if rest in columns or builder not in ("", "tabular"):
        return f"{rest} ({builder})" if builder and builder != "tabular" else rest
    for column in sorted(columns, key=len, reverse=True):
        if rest.startswith(f"{column}_"):
            return f"{column} = {rest[len(column) + 1 :]}"
    return rest


# --- trials -----------------------------------------------------------------------------------


#: What a trial that did not complete says when it recorded no error of its own.
STATE_NOTES = {
    TrialState.PRUNED: "pruned: its first fold scored below the median first fold of the "
    "trials before it",
    TrialState.RUNNING: "still running (or its worker died before it could say so)",
}


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:.4f}"


def trial_table(
    trials: Sequence[FrozenTrial], metrics: Mapping[str, str], rank: Sequence[str]
) -> str:
    """Every trial, best first by the ``rank`` metrics: pipeline, scores, seconds, state and
    the full failure reason (escaped, wrapped; never cut)."""
    errors = trial_errors(trials)

    def key(t: FrozenTrial) -> tuple:
        values = [t.user_attrs.get(m) for m in rank] if t.state == TrialState.COMPLETE else []
        done = bool(values) and all(v is not None for v in values)
        return (not done, -float(np.mean(values)) if done else 0.0, t.number)

    head = ["Trial", "Pipeline", *metrics, "Seconds", "State", "Failure reason"]
    rows = []
    for t in sorted(trials, key=key):
        scores = [t.user_attrs.get(m) if t.state == TrialState.COMPLETE else None
                  for m in metrics.values()]  # fmt: skip
        seconds = t.user_attrs.get("seconds")
        cells = [
            f'<td class="num">{t.number}</td>',
            f'<td class="pipeline">{html.escape(str(t.user_attrs.get("pipeline_text", "")))}</td>',
            *(f'<td class="num">{_score(v)}</td>' for v in scores),
            f'<td class="num">{"" if seconds is None else f"{seconds:,.1f}"}</td>',
            f"<td>{t.state.name}</td>",
            f'<td class="reason">{html.escape(errors.get(t.number, STATE_NOTES.get(t.state, "")))}'
            "</td>",
        ]
        rows.append(f'<tr class="state-{t.state.name.lower()}">{"".join(cells)}</tr>')
    failed = sum(t.state != TrialState.COMPLETE for t in trials)
    caption = f"{len(trials)} trials, {len(trials) - failed} complete, best first" + (
        f"; {failed} did not complete, for the reason given" if failed else ""
    )
    return (
        f'<table id="trial-table" class="fixed trials"><caption>{caption}</caption><thead><tr>'
        f"{''.join(f'<th>{html.escape(h)}</th>' for h in head)}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


# --- the page ---------------------------------------------------------------------------------

_STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0 auto;padding:1.5em 2em;max-width:1240px;
 color:#222;line-height:1.45}
h1{font-size:1.6em;margin:0 0 .2em}h2{font-size:1.25em;margin-top:1.8em;
 border-bottom:1px solid #ddd;padding-bottom:.2em}h3{margin:0 0 .3em;font-size:1.1em}
h2.part{font-size:1.4em;margin-top:2.5em;border-bottom:3px solid #4e79a7;color:#4e79a7}
.lead{color:#555;margin-top:0}#summary,#gains-summary{font-size:1.1em;max-width:68em}
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:1em 1.5em}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(270px,1fr));gap:1em}
.card{border:1px solid #ddd;border-top:6px solid #999;border-radius:6px;padding:.8em 1em;
 background:#fafafa;overflow-wrap:anywhere}.card p{margin:.3em 0}
.card .subtitle,.hint,.median{color:#666;font-size:.9em}
.share{height:6px;background:#e6e6e6;border-radius:3px}.share span{display:block;height:6px;
 border-radius:3px}.action{border-top:1px solid #ddd;padding-top:.4em}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 12px;margin:.4em 0}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;font-size:13px;width:100%}td,th{border:1px solid #ddd;
 padding:4px 6px;vertical-align:top;text-align:left}th{background:#f4f4f4}
table.fixed{table-layout:fixed}td{overflow-wrap:anywhere}td.num{text-align:right}
caption{text-align:left;color:#555;padding:.3em 0}
table.trials th:nth-child(1){width:4em}table.trials th:nth-child(2){width:34%}
table.trials td.reason{color:#a00;font-size:12px}
#segment-table th:first-child{width:3em}#segment-table th:nth-child(2){width:22%}
tr.state-complete td.reason{color:inherit}
#page-errors{color:#b00;white-space:pre-wrap}#page-errors:empty{display:none}
.note-box{background:#fff8e1;padding:.5em .8em;border-left:4px solid #e0a800}
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
window.addEventListener('load', function () {
  var plots = document.querySelectorAll('.plotly-graph-div');
  var drawn = Array.prototype.filter.call(plots, function (p) {
    return p.querySelector('svg.main-svg') !== null;
  }).length;
  var root = document.documentElement, body = document.body;
  body.setAttribute('data-charts', plots.length);
  body.setAttribute('data-drawn', drawn);
  body.setAttribute('data-render-ms', Math.round(performance.now()));
  body.setAttribute('data-scroll-width', root.scrollWidth);
  body.setAttribute('data-client-width', root.clientWidth);
  body.setAttribute('data-ready', 'yes');
});
"""


def _facts(rows: Sequence[tuple[str, Any]]) -> str:
    return (
        "<dl>"
        + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in rows)
        + "</dl>"
    )


def _section(title: str, section_id: str, content: str) -> str:
    return f'<section id="{section_id}"><h2>{html.escape(title)}</h2>{content}</section>'


def _note(text: str) -> str:
    return f'<p class="note-box">{html.escape(text)}</p>'


def _chart_or_note(figure: Any, div_id: str) -> str:
    return charts.chart(figure, div_id) if not isinstance(figure, str) else _note(figure)


def _supervised_cards(details: Mapping[str, Any], holdout: Mapping[str, Any]) -> str:
    """Cards of the segments the winner predicts on the holdout: how many really are each
    class, and for two classes whom to act on first."""
    rows = holdout["segments"]
    y_true, y_pred = np.asarray(holdout["y_true"]), np.asarray(holdout["y_pred"])
    classes, label = details["classes"], f"{details['target']} = {details['positive']}"
    positive = y_true == holdout["positive_index"]
    views = {}
    for row in rows:
        code = int(row["segment"])
        mine = y_pred == code
        right = float(np.mean(y_true[mine] == code)) if mine.any() else 0.0
        action = ""
        if len(classes) == 2 and code == holdout["positive_index"]:
            found = float(np.mean(mine[positive])) if positive.any() else 0.0
            action = (
                f"Act on these first: {pct(row['share'])} of the customers hold {pct(found)} "
                f"of all with {label}."
            )
        elif len(classes) == 2:
            action = f"Lower priority: {pct(float(np.mean(positive[mine])))} have {label}."
        profile = f"RFM profile: {row['name']}" if "recency_median" in row else ""
        views[code] = Card(
            title=f"Predicted {details['target']} = {classes[code]}",
            action=action,
            subtitle=profile,
            note=f"{pct(right)} of them really have {details['target']} = {classes[code]}.",
        )
    return cards(rows, views)


def classification_sections(
    record: StoredPipeline, study: optuna.Study
) -> tuple[list[str], list[str]]:
    """The analyst's and the data scientist's sections of a classification winner."""
    """(analyst sections, data-scientist sections) of a supervised study."""
    details = record.details
    trials = study.get_trials(deepcopy=False)
    objective = details["objective"]
    metrics = {"F1": "f1", "ROC-AUC": "auc", "Threshold": "threshold"}
    rank = ["f1", "auc"] if objective == "both" else [objective]
    label = {"both": "mean of F1 and ROC-AUC", "f1": "F1", "auc": "ROC-AUC"}[objective]
    importances = charts.param_importances(
        study, lambda t: float(np.mean([t.user_attrs[m] for m in rank])), label
    )
    science = [
        _section("Every trial", "trials", trial_table(trials, metrics, rank)),
        _section("Optimisation history", "history",
                 charts.chart(charts.history(study, {"F1": "f1", "ROC-AUC": "auc"}),
                              "plot-history")),
        _section("F1–AUC Pareto front", "pareto",
                 charts.chart(charts.pareto(study, record.trial_number), "plot-pareto")),
    ]  # fmt: skip
    holdout = details.get("holdout_predictions")
    if holdout is None:
        analyst = [
            _note(
                "This winner was stored by a segframe version that kept no holdout "
                "predictions; re-run the search for the summary, gains and holdout plots."
            )
        ]
        return analyst, [*science, _chart_or_note(importances, "plot-param-importance")]
    classes = details["classes"]
    y_true = np.asarray(holdout["y_true"])
    positive = y_true == holdout["positive_index"]
    proba = np.asarray(holdout["positive_proba"])
    intro = supervised_summary(details, holdout, record.holdout_f1, record.holdout_auc)
    curves = []
    if len(classes) == 2 and positive.any() and not positive.all():
        gain = gains_table(positive, proba)
        positive_label = f"{details['target']} = {details['positive']}"
        intro += gains_summary(gain, positive_label)
        intro += charts.chart(charts.gains(gain, positive_label), "plot-gains")
        curves = [
            charts.chart(charts.roc(positive, proba), "plot-roc"),
            charts.chart(charts.precision_recall(positive, proba), "plot-pr"),
        ]
    analyst = [_section("In short", "in-short", intro)]
    if "segments" in holdout:
        analyst.append(
            _section("Predicted segments (holdout)", "segments",
                     _supervised_cards(details, holdout))
        )  # fmt: skip
    confusion = charts.confusion(y_true, holdout["y_pred"], classes)
    features = [
        (readable_feature(name, details.get("columns", [])), value)
        for name, value in holdout.get("feature_importance", [])
    ]
    importance = (
        charts.chart(
            charts.feature_importance(features, bool(details.get("ensemble"))), "plot-importance"
        )
        if features
        else _note("This model exposes no feature importance.")
    )
    science += [
        _section("Winner on the holdout", "holdout",
                 f'<div class="grid">{"".join(curves)}{charts.chart(confusion, "plot-confusion")}'
                 "</div>"),
        _section("Importance", "importance",
                 f'<div class="grid">{importance}'
                 f'{_chart_or_note(importances, "plot-param-importance")}</div>'),
    ]  # fmt: skip
    return analyst, science


def segmentation_sections(
    record: StoredPipeline, study: optuna.Study
) -> tuple[list[str], list[str]]:
    """The analyst's and the data scientist's sections of a segmentation winner."""
    """(analyst sections, data-scientist sections) of a segmentation."""
    details = record.details
    rows = details["profiles"]
    trials = study.get_trials(deepcopy=False)
    metrics = {"Silhouette": "silhouette", "Stability": "stability", "Segments": "k"}
    analyst = [
        _section("In short", "in-short", segmentation_summary(details, rows)),
        _section("Segments", "segments", cards(rows, segment_views(rows))),
        _section("Segments side by side", "profiles", segment_table(rows)),
        _section("Customers by segment", "projection",
                 charts.chart(charts.projection(details["projection"], details["names"]),
                              "plot-projection")),
    ]  # fmt: skip
    importances = charts.param_importances(
        study, lambda t: t.user_attrs["silhouette"], "silhouette"
    )
    science = [
        _section("Every trial", "trials", trial_table(trials, metrics, ["silhouette"])),
        _section("Optimisation history", "history",
                 charts.chart(charts.history(study, {"silhouette": "silhouette",
                                                     "stability (ARI)": "stability"}),
                              "plot-history")),
        _section("Search parameters", "importance",
                 _chart_or_note(importances, "plot-param-importance")),
    ]  # fmt: skip
    return analyst, science


def segmentation_facts(record: StoredPipeline) -> list[tuple[str, Any]]:
    """A segmentation winner's lines of the report's winner facts."""
    details = record.details
    scores = details["scores"]
    return [
        ("task", "segmentation (no labels)"),
        ("segments", scores["k"]),
        ("silhouette", f"{scores['silhouette']:.4f}"),
        ("stability (mean bootstrap ARI)", f"{scores['stability']:.4f}"),
        ("Calinski–Harabasz", f"{scores['calinski_harabasz']:.1f}"),
        ("Davies–Bouldin", f"{scores['davies_bouldin']:.4f}"),
        ("customers", details["n_customers"]),
    ]


def classification_facts(record: StoredPipeline) -> list[tuple[str, Any]]:
    """A classification winner's lines of the report's winner facts."""
    details = record.details
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
    return facts


def _winner_facts(
    record: StoredPipeline, study_name: str, storage: str, trials: list, facts: list
) -> str:
    details = record.details
    complete = sum(t.state == TrialState.COMPLETE for t in trials)
    return _facts(
        [
            ("study", study_name),
            ("database", redact(storage)),
            ("winner", f"trial {record.trial_number}: {details['pipeline_text']}"),
            *facts,
            ("complete trials", f"{complete}/{len(trials)} (the others: see Every trial)"),
            ("stored", f"{record.created_at:%Y-%m-%d %H:%M} UTC, segframe "
                       f"{record.segframe_version}"),
        ]
    )  # fmt: skip


def render_report(study: str, storage: str = DEFAULT_STORAGE) -> str:
    """The report page of ``study``'s stored winner and its trials, as one HTML string."""
    record = stored_winner(study, storage)
    optuna_study = load_study(study, storage)
    task = task_named(record.task)
    analyst, science = task.report(record, optuna_study)
    trials = optuna_study.get_trials(deepcopy=False)
    facts = _winner_facts(record, study, storage, trials, task.report_facts(record))
    kind = task.report_title
    title = f"segframe report: {study}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f"<script>{_SCRIPT}</script>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f'<h1>{html.escape(title)}</h1><p class="lead">{kind} · winner: trial '
        f"{record.trial_number}</p>"
        f'<pre id="page-errors"></pre>{"".join(analyst)}'
        '<h2 class="part" id="details">Details for the data scientist</h2>'
        f"{_section('Winner', 'winner', facts)}{''.join(science)}</body></html>"
    )


def write_report(study: str, out: str | Path, storage: str = DEFAULT_STORAGE) -> Path:
    """Write :func:`render_report` to ``out`` (UTF-8) and return the path."""
    path = Path(out)
    path.write_text(render_report(study, storage), encoding="utf-8")
    return path
