"""Segment cards and the side-by-side segment table of ``segframe report`` (HTML).

One card per segment says, in the analyst's units, who is in it (size, share, the
median customer's last purchase in days, purchases, total spend in the data's own
currency, tenure in days, top events and items), what it is called and what to do.
Rows are :func:`segframe.profiles.profiles_records` rows. All text from data is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from segframe.report_charts import segment_color
from segframe.report_summary import pct

#: (label, profile column, format) of the median customer's RFM, in the analyst's units.
RFM_FACTS = (
    ("Last purchase", "recency_median", "{:,.0f} days ago"),
    ("Purchases", "frequency_median", "{:,.3g}"),
    ("Total spend", "monetary_median", "{:,.2f}"),
    ("Customer for", "tenure_median", "{:,.0f} days"),
)
SPEND_NOTE = "Spend is in the currency of the event log's amounts."


def _number(value: Any, template: str) -> str:
    return "—" if value is None or value != value else template.format(value)


@dataclass(frozen=True)
class Card:
    """What one card shows besides a profile row's numbers (text, not yet escaped)."""

    title: str
    action: str = ""
    subtitle: str = ""
    note: str = ""


def card(row: Mapping[str, Any], view: Card) -> str:
    """One segment's card."""
    segment = int(row["segment"])
    color = segment_color(segment)
    facts = "".join(
        f"<dt>{label}</dt><dd>{_number(row.get(column), template)}</dd>"
        for label, column, template in RFM_FACTS
        if column in row
    )
    tops = "".join(
        f"<p><b>{label}:</b> {escape(str(row[column]))}</p>"
        for label, column in (("Top events", "top_events"), ("Top items", "top_items"))
        if row.get(column)
    )
    parts = [
        f"<h3>{escape(view.title)}</h3>",
        f'<p class="subtitle">{escape(view.subtitle)}</p>' if view.subtitle else "",
        f'<p class="size"><b>{row["size"]:,}</b> customers · <b>{pct(row["share"], 1)}</b></p>',
        f'<div class="share"><span style="width:{row["share"] * 100:.1f}%;background:{color}">'
        "</span></div>",
        f'<p class="note">{escape(view.note)}</p>' if view.note else "",
        f'<p class="median">Median customer</p><dl class="rfm">{facts}</dl>' if facts else "",
        tops,
        f'<p class="action"><b>Suggested action:</b> {escape(view.action)}</p>'
        if view.action
        else "",
    ]
    return (
        f'<article class="card" id="segment-card-{segment}" '
        f'style="border-top-color:{color}">{"".join(parts)}</article>'
    )


def cards(rows: Sequence[Mapping[str, Any]], views: Mapping[int, Card]) -> str:
    """The cards of ``rows``, largest segment first, in a grid that wraps to the page."""
    ordered = sorted(rows, key=lambda r: (-r["size"], r["segment"]))
    body = "".join(card(row, views[int(row["segment"])]) for row in ordered)
    note = f'<p class="hint">{SPEND_NOTE}</p>' if any("monetary_median" in r for r in rows) else ""
    return f'<div class="cards" id="segment-cards">{body}</div>{note}'


def segment_views(rows: Sequence[Mapping[str, Any]]) -> dict[int, Card]:
    """A segmentation's cards: the stored name and suggested action of each segment."""
    return {
        int(r["segment"]): Card(title=str(r["name"]), action=str(r.get("action") or ""))
        for r in rows
    }


def segment_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The segments side by side; fixed layout, so it wraps instead of scrolling sideways."""
    columns = [("#", "segment", "{:d}"), ("Name", "name", "{}"), ("Customers", "size", "{:,}")]
    columns += [("Share", "share", "")]
    columns += [(label, column, template) for label, column, template in RFM_FACTS]
    columns = [c for c in columns if any(c[1] in r for r in rows)]
    head = "".join(f"<th>{label}</th>" for label, _, _ in columns)
    body = []
    for row in sorted(rows, key=lambda r: r["segment"]):
        cells = []
        for _, column, template in columns:
            if column == "name":
                cells.append(f"<td>{escape(str(row[column]))}</td>")
            elif column == "share":
                cells.append(f'<td class="num">{pct(row[column], 1)}</td>')
            else:
                cells.append(f'<td class="num">{_number(row.get(column), template)}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table id="segment-table" class="fixed"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
