"""The advice engine: which measures of the catalogue a screened unit needs, and why.

For each unit and each hazard it suffers, every measure addressing that hazard is tested
against its triggers (any one fires it) using the assessment's own numbers: the hazard
profile (shares), the screen (hazard scores and ranks) and the risk table (annual averages,
trends, intensive vs extensive). A fired measure carries each reason with its numbers and
the peer cases that applied it. Measures are ordered by the share of the unit's score that
their hazard carries (the drivers), then specific before multi-hazard measures, then by
how many triggers fired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskatlas.advice.catalogue import Case, CaseLibrary, Catalogue, Measure, Trigger
from riskatlas.model.hazards import reporting_groups

UNIT = ("country_iso3", "admin_code")


@dataclass(frozen=True)
class Reason:
    """Why a trigger fired: its kind and the numbers behind it (rendered by the views)."""

    kind: str
    hazard: str
    values: dict[str, Any]


@dataclass
class Advice:
    """One recommended measure for one unit."""

    country_iso3: str
    admin_code: str
    admin_name: str
    unit_rank: int
    measure: Measure
    hazard: str
    priority: float  # share of the unit's score carried by the hazard (0–1)
    reasons: list[Reason] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)


class Evidence:
    """The assessment's numbers, indexed for trigger tests."""

    def __init__(self, screen: pd.DataFrame, profile: pd.DataFrame, risk: pd.DataFrame) -> None:
        self.screen = screen
        self.share = {(r.country_iso3, r.admin_code, r.hazard, r.metric): (r.share_pct, r.value)
                      for r in profile.itertuples()}
        self.risk = {(r["country_iso3"], r["admin_code"], r["hazard"]): r
                     for r in risk.to_dict("records")}
        ranked = screen[screen["rank"].notna()]  # ranks are among units with records
        scores = pd.DataFrame([
            {"country_iso3": c, "admin_code": a, "hazard": h, "hazard_score": s}
            for c, a, hs in zip(ranked["country_iso3"], ranked["admin_code"],
                                ranked["hazard_scores"], strict=True)
            for h, s in hs.items()])
        self.hazard_rank: dict[tuple[str, str, str], tuple[int, float, int]] = {}
        if len(scores):
            scores = scores.sort_values(["hazard", "hazard_score", "country_iso3", "admin_code"],
                                        ascending=[True, False, True, True])
            scores["rank"] = scores.groupby("hazard").cumcount() + 1
            total = scores.groupby("hazard")["admin_code"].transform("size")
            for r, n in zip(scores.itertuples(), total, strict=True):
                self.hazard_rank[(r.country_iso3, r.admin_code, r.hazard)] = (
                    int(r.rank), float(r.hazard_score), int(n))

    def test(self, trigger: Trigger, unit: tuple[str, str], hazard: str) -> Reason | None:
        """The reason ``trigger`` fires for the unit and hazard, or None."""
        p = trigger.params
        key = (*unit, hazard)
        if trigger.kind == "share":
            share, value = self.share.get((*key, p["metric"]), (None, None))
            if share is not None and not np.isnan(share) and share >= p["min_pct"] and value:
                return Reason("share", hazard, {"metric": p["metric"], "pct": share,
                                                "value": value, "min_pct": p["min_pct"]})
        elif trigger.kind == "hazard_rank":
            rank, score, units = self.hazard_rank.get(key, (None, 0.0, 0))
            if rank is not None and score > 0 and rank <= p["max_rank"]:
                return Reason("hazard_rank", hazard, {"rank": rank, "units": units,
                                                      "score": score})
        elif trigger.kind == "trend":
            row = self.risk.get(key)
            if row is None or row.get(f"trend_{p['series']}") != p["direction"]:
                return None
            if p.get("extensive_only") and not row["extensive_events"] > row["intensive_events"]:
                return None
            return Reason("trend", hazard, {
                "series": p["series"], "direction": p["direction"],
                "slope": row.get(f"trend_{p['series']}_slope"),
                "p": row.get(f"trend_{p['series']}_p"),
                "extensive_only": bool(p.get("extensive_only"))})
        elif trigger.kind == "annual":
            row = self.risk.get(key)
            value = None if row is None else row.get(p["metric"])
            if value is not None and not pd.isna(value) and value >= p["min"]:
                return Reason("annual", hazard, {"metric": p["metric"], "value": float(value),
                                                 "min": p["min"]})
        return None


def advise(screen: pd.DataFrame, profile: pd.DataFrame, risk: pd.DataFrame,
           catalogue: Catalogue, cases: CaseLibrary, *, top: int | None = None,
           only: tuple[str, str] | None = None) -> list[Advice]:
    """Measures for the ``top`` units of the screen (all when None), in priority order;
    ``only``: those of one unit (country, code), ranked among the whole screen."""
    evidence = Evidence(screen, profile, risk)
    groups = reporting_groups()
    units = screen[screen["rank"].notna()].sort_values("rank")  # units with records
    if top is not None:
        units = units.head(top)
    if only is not None:
        units = units[(units["country_iso3"] == only[0]) & (units["admin_code"] == only[1])]
    out: list[Advice] = []
    for unit in units.to_dict("records"):
        key = (unit["country_iso3"], unit["admin_code"])
        weight = hazard_weights(unit["hazard_scores"])
        fired: dict[str, Advice] = {}
        for hazard in sorted(weight, key=lambda h: -weight[h]):
            if hazard not in groups:  # an unmapped source term: no measure can address it
                continue
            for measure in catalogue.for_hazard(hazard):
                reasons = [r for t in measure.triggers
                           if (r := evidence.test(t, key, hazard)) is not None]
                if not reasons:
                    continue
                seen = fired.get(measure.id)
                if seen is None:
                    fired[measure.id] = Advice(
                        *key, unit.get("admin_name") or "", int(unit["rank"]),
                        measure.for_country(key[0]), hazard,
                        weight[hazard], reasons, cases.for_measure(measure.id))
                else:  # one measure serving several hazards: keep every reason
                    seen.reasons.extend(reasons)
        # the driving hazard first; among its measures, the specific before the general
        # (a landslide early warning before a multi-hazard plan), then by evidence
        out.extend(sorted(fired.values(), key=lambda a: (-round(a.priority, 9),
                                                         len(a.measure.groups),
                                                         -len(a.reasons), a.measure.id)))
    return out


def hazard_weights(hazard_scores: dict[str, float]) -> dict[str, float]:
    """Each hazard's share of a unit's composite score (as in the screen's drivers);
    hazards with a zero score get 0."""
    d = {h: -float(np.log(max(1 - s / 10, 1e-10))) for h, s in hazard_scores.items()}
    total = sum(d.values())
    return {h: (v / total if total > 0 else 0.0) for h, v in d.items() if v > 0}


def advice_frame(items: Sequence[Advice], lang: str = "en") -> pd.DataFrame:
    """The advice as a table (one row per unit × measure)."""
    rows = [{"country_iso3": a.country_iso3, "admin_code": a.admin_code,
             "admin_name": a.admin_name, "unit_rank": a.unit_rank, "measure_id": a.measure.id,
             "measure": a.measure.name_in(lang), "type": a.measure.type, "hazard": a.hazard,
             "priority": round(a.priority, 4), "triggers": len(a.reasons),
             "reasons": [{"kind": r.kind, "hazard": r.hazard, **r.values} for r in a.reasons],
             "cases": [c.id for c in a.cases], "cost_class": a.measure.cost_class,
             "sendai_targets": list(a.measure.sendai_targets)}
            for a in items]
    columns = ["country_iso3", "admin_code", "admin_name", "unit_rank", "measure_id", "measure",
               "type", "hazard", "priority", "triggers", "reasons", "cases", "cost_class",
               "sendai_targets"]
    return pd.DataFrame(rows, columns=columns)
