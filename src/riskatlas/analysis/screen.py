"""City screening: an INFORM-style composite index per admin unit (docs/methods.md §8).

Per unit × hazard, indicators are annual averages over the period of record — per 100,000
people (per 1,000 households for houses lost) where population is loaded for every unit,
else absolute, and the result says which. Each indicator is log(1 + x), capped at a
percentile across the units in scope and scaled min–max to 0–10; a hazard's score is the
weighted mean of its indicators; hazards combine as 10 − (Π(10 − xₕ))^(1/n) so that one
extreme hazard dominates. The Ibis part ends at the per-unit scores; classes, drivers, the
data-quality badge and rank stability are computed from that small result in Python.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from riskatlas.analysis.methods import Methods
from riskatlas.analysis.population import unit_population
from riskatlas.analysis.scope import UNIT_KEYS, Scope
from riskatlas.errors import AnalysisError

INDICATORS = ("deaths_missing", "injured", "directly_affected", "houses_lost")
CORE_COUNTS = ("deaths", "missing", "injured", "directly_affected", "houses_destroyed",
               "houses_damaged")
APPROVED = ("validated", "published")
_FLOOR = 1e-9  # keeps log(10 − x) finite when a hazard scores 10


def screen_scope(scope: Scope, methods: Methods, all_hazards: bool) -> Scope:
    level = scope.level if scope.level is not None else int(methods.get("screen.level"))
    climate = not all_hazards and bool(methods.get("screen.climate_only"))
    return scope.but(level=level, climate_only=climate, hazard_key="group")


def indicators(records: Any, population: Any, units: Any, scope: Scope,
               methods: Methods) -> tuple[Any, bool]:
    """Long table unit × hazard × indicator with ``raw`` and normalised ``norm`` (0–10);
    and whether the values are per capita (population loaded for every unit)."""
    import ibis

    scoped = scope.records(records)
    scoped = scoped.filter(scoped.admin_code != "")
    cov = scope.coverage(scoped)
    w_damaged = float(methods.get("screen.damaged_house_weight"))

    def total(column: str) -> Any:
        return scoped[column].sum().fill_null(0).cast("float64")

    by = scoped.group_by([*UNIT_KEYS, "hazard"]).aggregate(
        deaths_missing=total("deaths") + total("missing"), injured=total("injured"),
        directly_affected=total("directly_affected"),
        houses_lost=total("houses_destroyed") + w_damaged * total("houses_damaged"))
    grid = _unit_grid(scoped, units, scope).cross_join(by.select("hazard").distinct())
    by = grid.join(by, [*UNIT_KEYS, "hazard"], how="left").drop(
        "country_iso3_right", "admin_code_right", "hazard_right")
    by = by.join(cov, "country_iso3")
    pop = unit_population(population, scope.level, cov)
    by = by.join(pop, list(UNIT_KEYS), how="left").drop("country_iso3_right",
                                                          "admin_code_right")
    per_capita = _all_have_population(by)
    years = by.years.cast("float64")
    size = float(methods.get("sendai.household_size_default"))
    households = ibis.coalesce(by.households, by.population / size)
    values = {}
    for name in INDICATORS:
        annual = by[name].fill_null(0) / years
        if per_capita:
            annual = (annual * 1e3 / households if name == "houses_lost"
                      else annual * 1e5 / by.population)
        values[name] = annual
    wide = by.select(*UNIT_KEYS, "hazard", "unit_name", **values)
    long = wide.pivot_longer(list(INDICATORS), names_to="indicator", values_to="raw")
    x = (long.raw + 1).ln()
    group = ibis.window(group_by=["hazard", "indicator"])
    long = long.mutate(x=x)
    long = long.mutate(cap=long.x.quantile(float(methods.get("screen.cap_percentile")))
                       .over(group))
    long = long.mutate(xc=ibis.least(long.x, long.cap))
    lo, hi = long.xc.min().over(group), long.xc.max().over(group)
    norm = ibis.ifelse(hi > lo, (long.xc - lo) * 10.0 / (hi - lo), 0.0)
    return long.select(*UNIT_KEYS, "unit_name", "hazard", "indicator", "raw", norm=norm), \
        per_capita


def hazard_scores(long: Any, methods: Methods) -> Any:
    """Per unit × hazard: the weighted mean of the normalised indicators (Ibis)."""
    import ibis

    weights = methods.indicator_weights()
    unknown = set(weights) - set(INDICATORS)
    if unknown:
        raise AnalysisError("analysis.bad_indicator", indicator=", ".join(sorted(unknown)),
                            indicators=", ".join(INDICATORS))
    w = ibis.cases(*((long.indicator == k, v) for k, v in weights.items()), else_=0.0)
    long = long.mutate(w=w)
    by = long.group_by([*UNIT_KEYS, "hazard"]).aggregate(
        unit_name=long.unit_name.max(),
        hazard_score=(long.w * long.norm).sum() / long.w.sum())
    return by


def composite(scores: Any) -> Any:
    """Per unit: 10 − (Π(10 − xₕ))^(1/n) over the n hazards in scope (Ibis)."""
    import ibis

    n = scores.hazard.nunique().as_scalar()
    gap = ibis.greatest(10.0 - scores.hazard_score, _FLOOR).ln()
    by = scores.group_by(list(UNIT_KEYS)).aggregate(
        unit_name=scores.unit_name.max(), log_gap=gap.sum())
    return by.mutate(score=10.0 - (by.log_gap / n).exp()).drop("log_gap")


def quality(records: Any, scope: Scope) -> Any:
    """Per unit: years with records, share of core counts reported as unknown, share of
    approved cards among cards with an approval status (Ibis)."""
    scoped = scope.records(records)
    unknown = sum((scoped[f"{c}_unknown"].fill_null(False).cast("int64")
                   for c in CORE_COUNTS), start=0)
    status = scoped.approval_status
    by = scoped.group_by(list(UNIT_KEYS)).aggregate(
        years_covered=scoped.start_year.nunique(), cards=scoped.count(),
        unknown_flags=unknown.sum(), with_status=status.count(),
        approved=status.isin(APPROVED).cast("int64").sum())
    return by.mutate(
        unknown_share=by.unknown_flags / (by.cards * len(CORE_COUNTS)),
        approved_share=by.approved.cast("float64") / by.with_status.nullif(0)).drop(
        "unknown_flags", "with_status", "approved")


def finish(units: pd.DataFrame, long: pd.DataFrame, hazard: pd.DataFrame,
           quality_rows: pd.DataFrame, methods: Methods, per_capita: bool) -> pd.DataFrame:
    """Rank, class, drivers, badge and rank stability per unit."""
    cfg = methods.get("screen")
    out = units.merge(quality_rows, on=list(UNIT_KEYS), how="left")
    out = out.assign(tie=out["score"].round(9)).sort_values(
        ["tie", "country_iso3", "admin_code"], ascending=[False, True, True]).drop(
        columns="tie").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["class"] = [score_class(s, methods) for s in out["score"]]
    out["basis"] = "per_capita" if per_capita else "absolute"
    drivers = _drivers(long, hazard, methods)
    out["drivers"] = [drivers.get((c, a), []) for c, a in
                      zip(out["country_iso3"], out["admin_code"], strict=True)]
    out["top_hazard"] = [d[0]["hazard"] if d else None for d in out["drivers"]]
    out["quality"] = [_badge(r, cfg["quality"]) for r in out.itertuples()]
    out["stability"] = rank_stability(long, out, methods)
    out["top_n"] = int(cfg["top_n"])
    first = ["rank", "country_iso3", "admin_code", "admin_name", "score", "class",
             "top_hazard", "drivers", "quality", "stability", "top_n"]
    return out[first + [c for c in out.columns if c not in first]]


def score_class(score: float, methods: Methods) -> str:
    for name, lower in methods.classes():
        if score >= lower:
            return name
    return methods.classes()[-1][0]


def _drivers(long: pd.DataFrame, hazard: pd.DataFrame,
             methods: Methods) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The three (hazard, indicator) pairs that carry most of each unit's score.

    The composite is 10·(1 − exp(−D/n)) with D = Σₕ −ln(1 − xₕ/10), so hazard h carries
    the share −ln(1 − xₕ/10) / D; inside a hazard, indicators share by weight × value.
    """
    weights = methods.indicator_weights()
    h = hazard.copy()
    h["d"] = -np.log(np.maximum(1 - h["hazard_score"] / 10, _FLOOR / 10))
    h["d_share"] = h["d"] / h.groupby(list(UNIT_KEYS))["d"].transform("sum")
    frame = long.merge(h[[*UNIT_KEYS, "hazard", "d_share"]], on=[*UNIT_KEYS, "hazard"])
    frame["wx"] = frame["indicator"].map(weights).fillna(0) * frame["norm"]
    inside = frame.groupby([*UNIT_KEYS, "hazard"])["wx"].transform("sum")
    frame["share"] = np.where(inside > 0, frame["d_share"] * frame["wx"] / inside, 0.0)
    # ties (equal shares up to float noise, which differs between engines) go by name
    frame = frame[frame["share"] > 0].assign(tie=frame["share"].round(9)).sort_values(
        ["country_iso3", "admin_code", "tie", "hazard", "indicator"],
        ascending=[True, True, False, True, True])
    result: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for key, g in frame.groupby(list(UNIT_KEYS), sort=False):
        result[(str(key[0]), str(key[1]))] = [
            {"hazard": r.hazard, "indicator": r.indicator, "share_pct": round(r.share * 100, 1),
             "value": float(r.raw), "score": round(float(r.norm), 2)}
            for r in g.head(3).itertuples()]
    return result


def _badge(row: Any, bounds: dict[str, dict[str, float]]) -> str:
    """A if every "good" bound holds, C if any "poor" bound fails, B otherwise."""
    years = row.years_covered if pd.notna(row.years_covered) else 0
    unknown = row.unknown_share if pd.notna(row.unknown_share) else 0.0
    approved = row.approved_share if pd.notna(row.approved_share) else None
    good, poor = bounds["good"], bounds["poor"]
    if (years < poor["years"] or unknown > poor["unknown_share"]
            or (approved is not None and approved < poor["approved_share"])):
        return "C"
    if (years >= good["years"] and unknown <= good["unknown_share"]
            and (approved is None or approved >= good["approved_share"])):
        return "A"
    return "B"


def rank_stability(long: pd.DataFrame, ranked: pd.DataFrame, methods: Methods) -> np.ndarray:
    """Share of random weight draws (each weight × U(1 − p, 1 + p)) in which each unit of
    ``ranked`` stays in the top N."""
    cfg = methods.get("screen")
    draws = int(cfg["stability"]["draws"])
    spread = float(cfg["stability"]["weight_perturbation"])
    top_n = int(cfg["top_n"])
    weights = methods.indicator_weights()
    names = [i for i in INDICATORS if i in weights]
    keys = list(zip(ranked["country_iso3"], ranked["admin_code"], strict=True))
    if not keys:
        return np.zeros(0)
    hazards = sorted(long["hazard"].unique())
    cube = np.zeros((len(keys), len(hazards), len(names)))
    pos = {k: i for i, k in enumerate(keys)}
    hpos = {h: i for i, h in enumerate(hazards)}
    ipos = {n: i for i, n in enumerate(names)}
    for r in long.itertuples():
        u = pos.get((r.country_iso3, r.admin_code))
        if u is not None and r.indicator in ipos:
            cube[u, hpos[r.hazard], ipos[r.indicator]] = r.norm
    rng = np.random.default_rng(int(cfg["stability"]["seed"]))
    base = np.array([weights[n] for n in names])
    hits = np.zeros(len(keys))
    for start in range(0, draws, 100):  # chunks bound the memory of units × hazards × draws
        w = base * rng.uniform(1 - spread, 1 + spread, size=(min(100, draws - start), len(names)))
        hs = np.einsum("uhi,di->duh", cube, w) / w.sum(axis=1)[:, None, None]
        score = 10 - np.exp(np.log(np.maximum(10 - hs, _FLOOR)).mean(axis=2))
        order = np.argsort(-score, axis=1, kind="stable")[:, :top_n]
        np.add.at(hits, order.ravel(), 1)
    return hits / draws


def _unit_grid(scoped: Any, units: Any, scope: Scope) -> Any:
    """Every unit in scope: those with records, and — for a whole-country scope — every
    unit of the level in the gazetteer (a unit without losses is screened at zero)."""
    seen = scoped.group_by(list(UNIT_KEYS)).aggregate(unit_name=scoped.admin_name.max())
    if scope.admin is not None or scope.level is None:
        return seen
    gaz = units.filter(units.level == scope.level)
    countries = seen.select("country_iso3").distinct()
    gaz = gaz.join(countries, "country_iso3").select(
        "country_iso3", admin_code=gaz.code, unit_name=gaz.name)
    both = seen.union(gaz)
    return both.group_by(list(UNIT_KEYS)).aggregate(unit_name=both.unit_name.max())


def _all_have_population(by: Any) -> bool:
    counts = by.aggregate(n=by.count(), with_pop=(by.population > 0).cast("int64").sum())
    row = counts.to_pyarrow().to_pylist()[0]
    return bool(row["n"]) and row["with_pop"] == row["n"]
