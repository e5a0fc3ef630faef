"""Candidate links between the events of two datasets, each scored and explained.

A candidate pair is two events (:mod:`riskatlas.linking.sides`) of the same country whose
hazards are compatible and whose periods lie at most the window of their
reporting groups apart (``linking.window_days``; the stricter of the two for related
groups: a cyclone's floods follow it within its own window). Each pair gets four feature scores in
[0, 1] and a GLIDE term (methods profile ``linking``; docs/methods.md, "Linking sources"):

- ``hazard``: the same HIPs code, the same HIPs cluster, the same reporting group, an
  earthquake and landslides whose cards name an earthquake as their cause (``caused_by``),
  or groups one disaster brings together (``related_groups``: a cyclone's floods);
- ``date``: 1 when the periods overlap, falling linearly to 1 / (window + 1) at the window;
- ``place``: the share of units in common at the finest level both sides are located at
  (of the smaller side), else one level up × ``parent_place`` per level; ``unknown_place``
  when a side is located only by its country; 0 when they share no unit;
- ``impacts``: deaths (dead + missing) within ``impact_factor`` of each other score 1,
  further apart factor / ratio (counts + 1); ``unknown_impacts`` when a side reports none;
- ``glide``: ``glide.equal`` is added when both carry the same GLIDE number (year and
  number; the hazard prefix and country suffix are not compared), ``glide.differ`` when
  both carry numbers and none agrees.

score = clip(Σ weight × feature + glide term, 0, 1); at ``link_score`` or more the pair is a
proposed ``link``, from ``review_score`` a ``possible`` one (below: left out).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from riskatlas.i18n import translate
from riskatlas.linking.rules import LinkRules

LINK, POSSIBLE, UNLIKELY = "link", "possible", "unlikely"
PAIR_COLUMNS = ["from_event", "to_event", "country_iso3", "from_group", "to_group",
                "hazard", "hazard_basis", "date", "gap_days", "window_days", "place",
                "place_basis", "place_level", "shared_units", "of_units", "glide",
                "glide_from", "glide_to", "impacts", "deaths_from", "deaths_to", "score",
                "status"]
_GLIDE = re.compile(r"(\d{4})\s*-\s*0*(\d+)")


def candidate_pairs(left: pd.DataFrame, right: pd.DataFrame, rules: LinkRules
                    ) -> pd.DataFrame:
    """Index pairs (``i`` into ``left``, ``j`` into ``right``) of the same country whose
    hazards are compatible and whose periods lie within the pair's window."""
    out: list[pd.DataFrame] = []
    widest = max([rules.default_window_days, *rules.window_days.values()])  # a bound
    for country, lg in left.groupby("country_iso3", sort=True):
        rg = right[right.country_iso3 == country].sort_values("day_from")
        if rg.empty:
            continue
        r_from = rg.day_from.to_numpy()
        longest = int((rg.day_to - rg.day_from).max())
        lo = np.searchsorted(r_from, lg.day_from.to_numpy() - widest - longest, "left")
        hi = np.searchsorted(r_from, lg.day_to.to_numpy() + widest, "right")
        counts = hi - lo
        i = np.repeat(lg.index.to_numpy(), counts)
        j = rg.index.to_numpy()[np.concatenate(
            [np.arange(a, b) for a, b in zip(lo, hi, strict=True)] or [np.array([], int)]
        ).astype(int)]
        out.append(pd.DataFrame({"i": i, "j": j}))
    pairs = pd.concat(out, ignore_index=True) if out else pd.DataFrame({"i": [], "j": []})
    pairs = pairs.astype({"i": "int64", "j": "int64"})
    basis = [_hazard_basis(a, b, ca, cb, rules, sa or sb) for a, b, ca, cb, sa, sb in zip(
        left.hazard_group.to_numpy()[pairs.i], right.hazard_group.to_numpy()[pairs.j],
        left.hips_codes.to_numpy()[pairs.i], right.hips_codes.to_numpy()[pairs.j],
        _seismic(left)[pairs.i], _seismic(right)[pairs.j], strict=True)]
    pairs["hazard_basis"] = basis
    window = np.array([min(rules.window(a), rules.window(b)) for a, b in zip(
        left.hazard_group.to_numpy()[pairs.i], right.hazard_group.to_numpy()[pairs.j],
        strict=True)], dtype="int64")
    gap = np.maximum(0, np.maximum(left.day_from.to_numpy()[pairs.i],
                                   right.day_from.to_numpy()[pairs.j])
                     - np.minimum(left.day_to.to_numpy()[pairs.i],
                                  right.day_to.to_numpy()[pairs.j]))
    pairs["window_days"], pairs["gap_days"] = window, gap
    keep = pairs.hazard_basis.notna() & (pairs.gap_days <= pairs.window_days)
    return pairs[keep].reset_index(drop=True)


def _seismic(events: pd.DataFrame) -> Any:
    column = events.get("seismic")
    return (np.zeros(len(events), bool) if column is None
            else column.fillna(False).to_numpy(bool))


def _hazard_basis(a: Any, b: Any, codes_a: Sequence[str], codes_b: Sequence[str],
                  rules: LinkRules, seismic: bool = False) -> str | None:
    if set(codes_a) & set(codes_b):
        return "same_code"
    if {c[:4] for c in codes_a} & {c[:4] for c in codes_b}:
        return "same_cluster"
    if isinstance(a, str) and a == b:
        return "same_group"
    if seismic and {a, b} == {"earthquake", "landslide"}:
        return "caused_by"
    if rules.related(a if isinstance(a, str) else None, b if isinstance(b, str) else None):
        return "related_group"
    return None


def place_score(a: Iterable[str], b: Iterable[str], rules: LinkRules
                ) -> tuple[float, str, int | None, int, int]:
    """(score, basis, level, units in common, units of the smaller side) of two sets of
    ``level:code`` units; basis units, parent, country or apart."""
    by_a, by_b = _by_level(a), _by_level(b)
    common = sorted(set(by_a) & set(by_b), reverse=True)
    if not by_a or not by_b or not common:
        return rules.unknown_place, "country", None, 0, 0
    finest = common[0]
    for level in common:
        shared = len(by_a[level] & by_b[level])
        if shared:
            of = min(len(by_a[level]), len(by_b[level]))
            factor = rules.parent_place ** (finest - level)
            return (shared / of * factor, "units" if level == finest else "parent", level,
                    shared, of)
    return 0.0, "apart", finest, 0, min(len(by_a[finest]), len(by_b[finest]))


def _by_level(units: Iterable[str]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for unit in units:
        level, _, code = str(unit).partition(":")
        if level.lstrip("-").isdigit() and code:
            out.setdefault(int(level), set()).add(code)
    return out


def glide_key(glide: str) -> tuple[str, int] | None:
    """The year and number of a GLIDE number: 'TC-2004-000089-GRD' → ('2004', 89)."""
    found = _GLIDE.search(glide or "")
    return (found.group(1), int(found.group(2))) if found else None


def impacts_score(a: float, b: float, rules: LinkRules) -> float:
    """1 when two death counts are within ``impact_factor``; else factor / ratio of
    (count + 1); ``unknown_impacts`` when either is not reported."""
    if pd.isna(a) or pd.isna(b):
        return rules.unknown_impacts
    ratio = (max(a, b) + 1) / (min(a, b) + 1)
    return 1.0 if ratio <= rules.impact_factor else rules.impact_factor / ratio


def link_events(left: pd.DataFrame, right: pd.DataFrame, rules: LinkRules, *,
                keep_unlikely: bool = False) -> pd.DataFrame:
    """The scored candidate pairs between the events ``left`` (from) and ``right`` (to):
    one row per pair with its features (see the module docstring) and ``status``."""
    left, right = left.reset_index(drop=True), right.reset_index(drop=True)
    pairs = candidate_pairs(left, right, rules)
    rows = [_features(left.iloc[p.i], right.iloc[p.j], p, rules)
            for p in pairs.itertuples(index=False)]
    frame = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    if not keep_unlikely:
        frame = frame[frame.status != UNLIKELY]
    return frame.sort_values(["from_event", "score", "to_event"],
                             ascending=[True, False, True]).reset_index(drop=True)


def _features(a: pd.Series, b: pd.Series, p: Any, rules: LinkRules) -> dict[str, Any]:
    hazard = rules.hazard_scores[p.hazard_basis]
    date = 1.0 - p.gap_days / (p.window_days + 1)
    place, place_basis, level, shared, of = place_score(a.units, b.units, rules)
    impacts = impacts_score(a.deaths, b.deaths, rules)
    keys_a = {glide_key(g) for g in a.glides} - {None}
    keys_b = {glide_key(g) for g in b.glides} - {None}
    glide = ("none" if not keys_a or not keys_b
             else "equal" if keys_a & keys_b else "differ")
    w = rules.weights
    score = (w["hazard"] * hazard + w["date"] * date + w["place"] * place
             + w["impacts"] * impacts + rules.glide.get(glide, 0.0))
    score = float(min(1.0, max(0.0, score)))
    status = (LINK if score >= rules.link_score else
              POSSIBLE if score >= rules.review_score else UNLIKELY)
    return {"from_event": a.event_id, "to_event": b.event_id, "country_iso3": a.country_iso3,
            "from_group": a.hazard_group, "to_group": b.hazard_group, "hazard": hazard,
            "hazard_basis": p.hazard_basis, "date": round(date, 4),
            "gap_days": int(p.gap_days), "window_days": int(p.window_days),
            "place": round(place, 4), "place_basis": place_basis, "place_level": level,
            "shared_units": shared, "of_units": of, "glide": glide,
            "glide_from": ", ".join(a.glides) or None, "glide_to": ", ".join(b.glides) or None,
            "impacts": round(impacts, 4), "deaths_from": a.deaths, "deaths_to": b.deaths,
            "score": round(score, 4), "status": status}


# ----------------------------------------------------------------------- words


def explain(pair: Any, lang: str = "en") -> str:
    """A pair's score in words, in English or Traditional Chinese (``link.why.*``)."""
    from riskatlas.model.hazards import reporting_groups

    groups = reporting_groups()

    def group(name: Any) -> str:
        g = groups.get(str(name))
        return g.name(lang) if g else str(name)

    t = _get(pair)
    parts = [translate(f"link.why.hazard_{t('hazard_basis')}", lang,
                       a=group(t("from_group")), b=group(t("to_group")))]
    gap = int(t("gap_days"))
    parts.append(translate("link.why.date_overlap", lang) if gap == 0 else
                 translate("link.why.date_gap", lang, days=gap, window=int(t("window_days"))))
    basis = t("place_basis")
    parts.append(translate(f"link.why.place_{basis}", lang, shared=t("shared_units"),
                           of=t("of_units"), level=t("place_level")))
    if t("glide") == "equal":
        parts.append(translate("link.why.glide_equal", lang, glide=t("glide_from")))
    elif t("glide") == "differ":
        parts.append(translate("link.why.glide_differ", lang, a=t("glide_from"),
                               b=t("glide_to")))
    a, b = t("deaths_from"), t("deaths_to")
    if pd.isna(a) or pd.isna(b):
        parts.append(translate("link.why.deaths_unknown", lang))
    else:
        key = "deaths_consistent" if t("impacts") >= 1 else "deaths_apart"
        parts.append(translate(f"link.why.{key}", lang, a=f"{a:,.0f}", b=f"{b:,.0f}"))
    status = translate(f"link.status.{t('status')}", lang)
    return translate("link.why.summary", lang, score=f"{t('score'):.2f}", status=status,
                     reasons=translate("link.why.sep", lang).join(parts))


def _get(pair: Any) -> Any:
    if isinstance(pair, dict):
        return pair.__getitem__
    return lambda name: getattr(pair, name)


def explained(links: pd.DataFrame, lang: str = "en") -> pd.DataFrame:
    """``links`` with a ``why`` column: each score in words."""
    out = links.copy()
    out["why"] = [explain(p, lang) for p in links.itertuples(index=False)]
    return out
