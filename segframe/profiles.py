"""Segment profiles: who is in each segment, in RFM terms, and a plain-language name.

Profiles always describe customers by recency, frequency, monetary value and tenure
computed from the event log (:mod:`segframe.rfm`, the numbers of the ``rfm`` feature
builder), whatever features the segmentation itself used, so segments of different
pipelines read the same way.

Naming rule (:func:`name_segments`). For each segment take the median recency,
frequency, monetary total and tenure of its customers and place each median in the
distribution over *all* customers as a mid-rank percentile (ties count half, so a
median of 1 purchase where most customers bought once lands in the middle of those
ties, not at the top). Recency is flipped so that a high score means "bought
recently". Each score is then low (< 1/3), mid or high (>= 2/3).

Ranks alone flatter the best of a weak lot (on CDNOW, customers who bought twice, last
147 days ago, ranked "high"), so recency and frequency must also pass absolute
thresholds, and a segment takes the *lower* of its rank level and its absolute level:

=========  ==========================  ===============================  ==============
measure    high needs                  mid needs                        otherwise low
=========  ==========================  ===============================  ==============
recency    last purchase <= 30 days    last purchase <= 90 days         > 90 days ago
frequency  >= 4 purchases              >= 2 purchases                   1 purchase
=========  ==========================  ===============================  ==============

Monetary value is ranked only, since amounts come in any currency and price level.
"New" also needs a median tenure of at most 90 days. The grid of recency and frequency:

============  ==============  ==============  ==================================
recency       frequency low   frequency mid   frequency high
============  ==============  ==============  ==================================
high          new*            promising       champions (monetary high) / loyal
mid           about to sleep  need attention  loyal
low           lost            hibernating     at risk
============  ==============  ==============  ==================================

\\* "new" when tenure is also low (a recent first purchase), else "promising".
A segment whose median customer never bought (events, but no purchases) is "window
shoppers", or "lost" when its recency is low.
Segments whose monetary score is high get the prefix "high-value" (except champions).
When several segments earn the same name, each gets a distinguishing word in brackets
from the measure on which they differ most — "lost (high spend)" and "lost (low
spend)" — never a number (:func:`unique_names`). Every name comes with a one-line
suggested action (:data:`ACTIONS`). Without an event log there is no RFM, so segments
are named "segment <id>".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segframe.data import EVENTS, event_arrays
from segframe.errors import SegframeError
from segframe.rfm import FREQUENCY, MONETARY, RECENCY, TENURE, customer_rfm
from segframe.storage import DEFAULT_STORAGE, stored_winner, update_details

#: Profile measure -> column of :func:`segframe.rfm.rfm_table`.
RFM_MEASURES = {"recency": RECENCY, "frequency": FREQUENCY, "monetary": MONETARY, "tenure": TENURE}
LOW, HIGH = 1 / 3, 2 / 3
LEVELS = ("low", "mid", "high")
#: Absolute thresholds (module docstring): recency in days since the last purchase ...
RECENT_DAYS, LAPSED_DAYS = 30, 90
#: ... frequency in purchases ...
FREQUENT, REPEAT = 4, 2
#: ... and the longest median tenure, in days, of a "new" segment.
NEW_DAYS = 90
_GRID = {
    ("high", "low"): "new",
    ("high", "mid"): "promising",
    ("high", "high"): "loyal",
    ("mid", "low"): "about to sleep",
    ("mid", "mid"): "need attention",
    ("mid", "high"): "loyal",
    ("low", "low"): "lost",
    ("low", "mid"): "hibernating",
    ("low", "high"): "at risk",
}
#: One-line suggested action per name (a "high-value" name shares its base name's).
ACTIONS = {
    "champions": "Reward them: early access, loyalty perks; ask for reviews and referrals.",
    "loyal": "Upsell and cross-sell; invite them to the loyalty programme.",
    "promising": "Build the habit: recommendations and a reason to come back within weeks.",
    "new": "Onboard them: a welcome series and an incentive for the second purchase.",
    "need attention": "Win the next purchase with a limited-time, personalised offer.",
    "about to sleep": "Re-engage now with bestsellers and reminders, before they lapse.",
    "at risk": "Win them back personally: they used to buy often; a strong offer pays here.",
    "hibernating": "Cheap reactivation only: a reminder campaign, no costly incentives.",
    "lost": "Leave out of paid campaigns; at most a low-cost win-back attempt.",
    "window shoppers": "Convert them: remind them of what they viewed; a first-order offer.",
}
#: Distinguishing words for segments that earn the same name, from the measure on which
#: they differ most: (lowest, middle, highest) score among them.
QUALIFIERS = {
    "monetary": ("low spend", "mid spend", "high spend"),
    "frequency": ("rare buyers", "regular buyers", "frequent buyers"),
    "recency": ("long gone", "fading", "most recent"),
    "tenure": ("newest", "established", "longest-standing"),
}
TOP = 3


def _level(score: float) -> str:
    return "low" if score < LOW else "high" if score >= HIGH else "mid"


def _absolute_level(measure: str, median: float) -> str:
    """The level a median earns on its own; NaN (no purchases) is low."""
    if measure == "recency":
        return "high" if median <= RECENT_DAYS else "mid" if median <= LAPSED_DAYS else "low"
    return "high" if median >= FREQUENT else "mid" if median >= REPEAT else "low"


def _lower(a: str, b: str) -> str:
    return min(a, b, key=LEVELS.index)


def midrank_percentile(values: np.ndarray, point: float) -> float:
    """Share of ``values`` below ``point``, counting ties as half (NaN ignored)."""
    values = values[~np.isnan(values)]
    if not len(values) or np.isnan(point):
        return float("nan")
    below = np.count_nonzero(values < point)
    tied = np.count_nonzero(values == point)
    return float((below + 0.5 * tied) / len(values))


def rfm_scores(medians: Mapping[str, float], rfm: pd.DataFrame) -> dict[str, float]:
    """Percentile scores of one segment's medians; high recency score = bought recently."""
    scores = {
        measure: midrank_percentile(rfm[column].to_numpy(float), medians[measure])
        for measure, column in RFM_MEASURES.items()
    }
    scores["recency"] = 1.0 - scores["recency"]
    return scores


def segment_name(scores: Mapping[str, float], medians: Mapping[str, float]) -> str:
    """The plain-language name for one segment's RFM scores and medians (module docstring)."""
    recency = _lower(_level(scores["recency"]), _absolute_level("recency", medians["recency"]))
    frequency = _lower(
        _level(scores["frequency"]), _absolute_level("frequency", medians["frequency"])
    )
    monetary = _level(scores["monetary"])
    if medians["frequency"] < 1:  # active, perhaps, but the median customer never bought
        return "lost" if recency == "low" else "window shoppers"
    name = _GRID[(recency, frequency)]
    if name == "new" and not (_level(scores["tenure"]) == "low" and medians["tenure"] <= NEW_DAYS):
        name = "promising"
    if recency == "high" and frequency == "high" and monetary == "high":
        return "champions"
    return f"high-value {name}" if monetary == "high" else name


def suggested_action(name: str) -> str:
    """The one-line action for a name :func:`segment_name` gives ("" for other names)."""
    return ACTIONS.get(name.removeprefix("high-value "), "")


def unique_names(
    names: Mapping[int, str], scores: Mapping[int, Mapping[str, float]]
) -> dict[int, str]:
    """Names made unique with distinguishing words, never numbers.

    Segments sharing a name are told apart by the measure of :data:`QUALIFIERS` on which
    their scores spread most; those still alike get a word from the next measure too
    ("lost (low spend, newest)"). Only segments alike on every measure fall back to their id.
    """
    groups: dict[str, list[int]] = {}
    for segment, name in names.items():
        groups.setdefault(name, []).append(segment)
    words: dict[int, list[str]] = {s: [] for s in names}
    for members in groups.values():
        if len(members) > 1:
            _tell_apart(sorted(members), scores, list(QUALIFIERS), words)
    return {s: f"{name} ({', '.join(words[s])})" if words[s] else name for s, name in names.items()}


def _tell_apart(
    members: list[int],
    scores: Mapping[int, Mapping[str, float]],
    measures: list[str],
    words: dict[int, list[str]],
) -> None:
    """Add to ``words`` until the ``members`` (all of one name) differ."""
    values = {m: [np.nan_to_num(scores[s][m], nan=-1.0) for s in members] for m in measures}
    usable = [m for m in measures if max(values[m]) > min(values[m])]
    if not usable:
        for s in members:
            words[s].append(f"segment {s}")
        return
    measure = max(usable, key=lambda m: max(values[m]) - min(values[m]))  # first of equals
    distinct = sorted(set(values[measure]))
    k = len(distinct)
    by_word: dict[str, list[int]] = {}
    for s, value in zip(members, values[measure], strict=True):
        i = distinct.index(value)
        word = QUALIFIERS[measure][2 * i // (k - 1) if k <= 3 else 3 * i // k]
        words[s].append(word)
        by_word.setdefault(word, []).append(s)
    rest = [m for m in measures if m != measure]
    for alike in by_word.values():
        if len(alike) > 1:
            _tell_apart(alike, scores, rest, words)


def name_segments(profiles: pd.DataFrame, rfm: pd.DataFrame | None) -> pd.DataFrame:
    """Unique ``name`` and suggested ``action`` for the segments of ``profiles``
    (indexed by segment id)."""
    ids = [int(s) for s in profiles.index]
    if rfm is None:
        return pd.DataFrame(
            {"name": [f"segment {s}" for s in ids], "action": ""}, index=profiles.index
        )
    medians = {
        int(s): {m: row[f"{m}_median"] for m in RFM_MEASURES} for s, row in profiles.iterrows()
    }
    scores = {s: rfm_scores(medians[s], rfm) for s in ids}
    names = {s: segment_name(scores[s], medians[s]) for s in ids}
    unique = unique_names(names, scores)
    return pd.DataFrame(
        {"name": [unique[s] for s in ids], "action": [suggested_action(names[s]) for s in ids]},
        index=profiles.index,
    )


def _top_values(values: np.ndarray, segments: np.ndarray, ids: list[int]) -> dict[int, str]:
    """The ``TOP`` most frequent values per segment, as "value 45%, other 30%"."""
    table = pd.DataFrame({"segment": segments, "value": values}).dropna()
    if table.empty:
        return dict.fromkeys(ids, "")
    counts = table.groupby(["segment", "value"], observed=True).size()
    out = {}
    present = set(counts.index.get_level_values(0))
    for segment in ids:
        if segment not in present:
            out[segment] = ""
            continue
        part = counts.loc[segment]
        top = part.sort_values(ascending=False).head(TOP) / part.sum()
        out[segment] = ", ".join(f"{value} {share:.0%}" for value, share in top.items())
    return out


def segment_profiles(
    frame: pd.DataFrame,
    segments: np.ndarray | pd.Series,
    names: Mapping[int, str] | None = None,
) -> pd.DataFrame:
    """One row per segment: name, suggested action, size, share, RFM means/medians, top
    event types and items.

    ``names`` overrides the derived names (e.g. after a rename); the action still follows
    the segment's RFM profile.
    """
    segments = np.asarray(segments)
    if len(segments) != len(frame):
        raise SegframeError(
            f"Got {len(segments)} segment labels for {len(frame)} customers; pass one per customer."
        )
    ids = sorted(int(s) for s in np.unique(segments))
    sizes = pd.Series(segments).value_counts()
    profiles = pd.DataFrame(index=pd.Index(ids, name="segment"))
    profiles["size"] = [int(sizes[s]) for s in ids]
    profiles["share"] = profiles["size"] / len(segments)
    rfm = None
    events = event_arrays(frame) if EVENTS in frame.columns else None
    if events is not None and len(events.timestamp):  # customers without any event: no RFM
        rfm = customer_rfm(frame)
        grouped = rfm.groupby(segments)
        for measure, column in RFM_MEASURES.items():
            profiles[f"{measure}_mean"] = grouped[column].mean().reindex(ids)
            profiles[f"{measure}_median"] = grouped[column].median().reindex(ids)
        owner_segment = segments[events.owner]
        profiles["top_events"] = pd.Series(_top_values(events.event, owner_segment, ids))
        profiles["top_items"] = pd.Series(_top_values(events.item, owner_segment, ids))
    derived = name_segments(profiles, rfm)
    profiles.insert(0, "name", [(names or {}).get(s, derived.at[s, "name"]) for s in ids])
    profiles.insert(1, "action", derived["action"])
    return profiles


def profiles_records(profiles: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-able rows (segment id included), floats rounded for storage and display."""
    table = profiles.reset_index().round(4)
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in table.to_dict(orient="records")
    ]


def parse_names(text: str) -> dict[int, str]:
    """``"0=VIP,3=Sleepers"`` -> ``{0: "VIP", 3: "Sleepers"}``; a clear error otherwise."""
    mapping: dict[int, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, name = part.partition("=")
        if not sep or not key.strip().isdigit() or not name.strip():
            raise SegframeError(
                f"Cannot read the segment name {part!r}: write SEGMENT=NAME pairs separated by "
                "commas, e.g. --names '0=VIP,3=Sleepers'."
            )
        mapping[int(key)] = name.strip()
    return mapping


def apply_names(current: Mapping[int, str], mapping: Mapping[int, str]) -> dict[int, str]:
    """``current`` with ``mapping`` applied; refuses unknown segments and duplicate names."""
    unknown = sorted(set(mapping) - set(current))
    if unknown:
        raise SegframeError(
            f"There is no segment {', '.join(map(str, unknown))} (segments: "
            f"{', '.join(map(str, sorted(current)))}). Rename existing segments only."
        )
    names = {**current, **mapping}
    repeated = sorted({n for n in names.values() if list(names.values()).count(n) > 1})
    if repeated:
        raise SegframeError(
            f"Segment names must be unique; {', '.join(map(repr, repeated))} would name several "
            "segments. Choose distinct names."
        )
    return dict(sorted(names.items()))


def rename_segments(
    study: str, storage: str = DEFAULT_STORAGE, mapping: Mapping[int, str] | None = None
) -> dict[int, str]:
    """Rename segments of a stored segmentation; the verified artifact is left untouched.

    Returns the new names of all segments.
    """
    record = stored_winner(study, storage)
    if record.task != "segmentation":
        raise SegframeError(
            f"Study {study!r} holds a {record.task} winner; only segmentations have segment "
            "names to change."
        )
    current = {int(k): v for k, v in record.details["names"].items()}
    names = apply_names(current, mapping or {})
    details = dict(record.details)
    details["names"] = {str(k): v for k, v in names.items()}
    for row in details.get("profiles", []):
        row["name"] = names[int(row["segment"])]
    update_details(study, storage, record.sha256, details)
    return names


def predicted_profiles(
    study: str,
    data: str | Path | pd.DataFrame,
    *,
    events: str | Path | pd.DataFrame | None = None,
    storage: str = DEFAULT_STORAGE,
) -> pd.DataFrame:
    """Profiles of the segments a stored winner (supervised or not) predicts for ``data``."""
    from segframe.predict import load_for_prediction, predictions

    record, pipeline, frame = load_for_prediction(study, data, events=events, storage=storage)
    predicted = predictions(record, pipeline, frame)
    labels = predicted["segment"].to_numpy()
    codes, classes = pd.factorize(labels, sort=True)
    profiles = segment_profiles(frame, codes)
    profiles.insert(0, "predicted", [classes[i] for i in profiles.index])
    if "segment_name" in predicted:
        profiles["name"] = (
            predicted.groupby("segment")["segment_name"].first().reindex(classes).to_numpy()
        )
    return profiles
