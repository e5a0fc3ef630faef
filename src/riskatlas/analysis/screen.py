"""City screening: an INFORM-style composite index per admin unit (docs/methods.md §8).

Per unit × hazard, indicators are annual averages over the period of record — per 100,000
people (per 1,000 households for houses lost) where population is loaded for every unit,
else absolute, and the result says which. Each indicator is log(1 + x), capped at a
percentile across the units in scope and scaled min–max to 0–10; a hazard's score is the
weighted mean of its indicators; hazards combine as 10 − (Π(10 − xₕ))^(1/n) so that one
extreme hazard dominates. Everything that reads the records or compares units (sums,
percentile caps, min–max) is Ibis; the weighted means and the composite are numpy over the
small normalised table, the same code that recomputes them for 1,000 weight draws (rank
stability), so the score and its stability cannot drift apart.
"""

from __future__ import annotations

from itertools import product
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskatlas.analysis.methods import Methods
from riskatlas.analysis.population import pop_level, unit_population
from riskatlas.analysis.scope import UNIT_KEYS, Scope, without
from riskatlas.errors import AnalysisError

if TYPE_CHECKING:  # Ibis loads on first query
    import ibis.expr.types as ir

INDICATORS = ("deaths_missing", "injured", "directly_affected", "houses_lost")
CORE_COUNTS = ("deaths", "missing", "injured", "directly_affected", "houses_destroyed",
               "houses_damaged")
APPROVED = ("validated", "published")
_FLOOR = 1e-9  # keeps log(10 − x) finite when a hazard scores 10
# indicators up to which rank stability bounds scores by the corners of the weights' box
# (2^6 corners × units × hazards: the memory of 64 of its draws)
_CORNERS = 6


def screen_scope(scope: Scope, methods: Methods, all_hazards: bool) -> Scope:
    level = scope.level if scope.level is not None else int(methods.get("screen.level"))
    climate = not all_hazards and bool(methods.get("screen.climate_only"))
    return scope.but(level=level, climate_only=climate, hazard_key="group")


# the columns of :func:`unit_years`, in order
UNIT_YEAR_COLUMNS = (*UNIT_KEYS, "hazard", "start_year", "unit_name", "cards", "unknown_flags",
                     "with_status", "approved", "period_from", "period_to", *CORE_COUNTS)
_SUMMED_COLUMNS = [*CORE_COUNTS, *(f"{c}_unknown" for c in CORE_COUNTS), "approval_status"]


def unit_years(records: ir.Table, scope: Scope) -> ir.Table:
    """The one pass over the records: per unit × hazard × year, the sums the indicators
    and the data-quality badge need (small; cache it)."""
    scoped = scope.records(records, keep=_SUMMED_COLUMNS)
    return _year_sums(scoped, period_from=scoped.period_from.max(),  # coverage
                      period_to=scoped.period_to.max())


def every_year_sums(records: ir.Table, scope: Scope) -> ir.Table:
    """:func:`unit_years` of ``scope`` without its years or observation period: every
    dated year, and no ``period_from``/``period_to``. A year window of the scope is a
    selection of its rows (:func:`riskatlas.analysis.period.in_period`), so a served copy
    keeps it once for every window."""
    scoped = scope.but(year_from=None, year_to=None).selected(records, keep=_SUMMED_COLUMNS)
    return _year_sums(scoped)


def _year_sums(scoped: ir.Table, **period: ir.Value) -> ir.Table:
    scoped = scoped.filter(scoped.admin_code != "")
    unknown = sum((scoped[f"{c}_unknown"].fill_null(False).cast("int64")
                   for c in CORE_COUNTS), start=0)
    status = scoped.approval_status
    return scoped.group_by([*UNIT_KEYS, "hazard", "start_year"]).aggregate(
        unit_name=scoped.admin_name.max(), cards=scoped.count(),
        unknown_flags=unknown.sum(), with_status=status.count(),
        approved=status.isin(APPROVED).cast("int64").sum(), **period,
        **{c: scoped[c].sum().fill_null(0).cast("float64") for c in CORE_COUNTS})


def population_rows(population: ir.Table, level: int | None) -> int:
    """The population rows loaded for units of ``level`` (a query; none is the common
    case, which :func:`per_capita` then need not ask)."""
    return int(population.filter(population.level == pop_level(level)).count(
        ).to_pyarrow().as_py())


def per_capita(years_table: ir.Table, population: ir.Table, units: ir.Table,
               scope: Scope, methods: Methods) -> bool:
    """Whether :func:`indicators` are per capita: population loaded for every unit
    (``years_table`` is :func:`unit_years`; a query)."""
    by = _unit_totals(years_table, population, units, scope, methods)
    counts = by.aggregate(n=by.count(), with_pop=(by.population > 0).cast("int64").sum())
    row = counts.to_pyarrow().to_pylist()[0]
    return bool(row["n"]) and row["with_pop"] == row["n"]


def _unit_totals(uy: ir.Table, population: ir.Table, units: ir.Table, scope: Scope,
                 methods: Methods) -> ir.Table:
    """Per unit × hazard: the indicators' totals, the unit's period and population."""
    cov = scope.coverage(uy)
    w_damaged = float(methods.get("screen.damaged_house_weight"))
    by = uy.group_by([*UNIT_KEYS, "hazard"]).aggregate(
        deaths_missing=uy.deaths.sum() + uy.missing.sum(), injured=uy.injured.sum(),
        directly_affected=uy.directly_affected.sum(),
        houses_lost=uy.houses_destroyed.sum() + w_damaged * uy.houses_damaged.sum())
    grid = _unit_grid(uy, units, scope).cross_join(by.select("hazard").distinct())
    by = without(grid.join(by, [*UNIT_KEYS, "hazard"], how="left"),
                 "country_iso3_right", "admin_code_right", "hazard_right")
    by = by.join(cov, "country_iso3")
    pop = unit_population(population, scope.level, cov)
    return without(by.join(pop, list(UNIT_KEYS), how="left"), "country_iso3_right",
                   "admin_code_right")


def indicators(years_table: ir.Table, population: ir.Table, units: ir.Table,
               scope: Scope, methods: Methods, per_capita: bool) -> ir.Table:
    """One row per unit × hazard: each indicator's annual value ``raw_<indicator>`` and
    its normalised ``norm_<indicator>`` (0–10), the unit's period and data quality, per
    capita or not (:func:`per_capita`). ``years_table`` is :func:`unit_years`."""
    import ibis

    uy = years_table
    by = _unit_totals(uy, population, units, scope, methods)
    years = by.years.cast("float64")
    size = float(methods.get("sendai.household_size_default"))
    households = ibis.coalesce(by.households, by.population / size)
    values = {}
    for name in INDICATORS:
        annual = by[name].fill_null(0) / years
        if per_capita:
            annual = (annual * 1e3 / households if name == "houses_lost"
                      else annual * 1e5 / by.population)
        values[f"raw_{name}"] = annual
    wide = by.select(*UNIT_KEYS, "hazard", "unit_name", "period_from", "period_to", "years",
                     **values)
    wide = wide.mutate(**{f"x_{n}": (wide[f"raw_{n}"] + 1).ln() for n in INDICATORS})
    # per hazard, for each indicator: aggregated and joined back (a window partitioned by
    # hazard sorts every row). The cap is a percentile of the units with losses: where most
    # units have none (a gazetteer of villages), a percentile over all of them would be 0
    # and erase every value.
    q = float(methods.get("screen.cap_percentile"))
    caps = wide.group_by("hazard").aggregate(**{
        f"cap_{n}": ibis.ifelse(wide[f"x_{n}"] > 0, wide[f"x_{n}"], ibis.null("float64"))
        .quantile(q).fill_null(0.0) for n in INDICATORS})
    wide = wide.join(caps, "hazard")
    wide = wide.mutate(**{f"xc_{n}": ibis.least(wide[f"x_{n}"], wide[f"cap_{n}"])
                          for n in INDICATORS})
    bounds = wide.group_by("hazard").aggregate(**{
        k: agg for n in INDICATORS for k, agg in ((f"lo_{n}", wide[f"xc_{n}"].min()),
                                                  (f"hi_{n}", wide[f"xc_{n}"].max()))})
    wide = wide.join(bounds, "hazard")
    norms = {}
    for n in INDICATORS:
        xc, lo, hi = wide[f"xc_{n}"], wide[f"lo_{n}"], wide[f"hi_{n}"]
        norms[f"norm_{n}"] = ibis.ifelse(hi > lo, (xc - lo) * 10.0 / (hi - lo), 0.0)
    wide = wide.select(*UNIT_KEYS, "unit_name", "period_from", "period_to", "years", "hazard",
                       *values, **norms)
    joined = wide.join(quality(uy), list(UNIT_KEYS), how="left")
    return without(joined, "country_iso3_right", "admin_code_right")


def quality(years_table: ir.Table) -> ir.Table:
    """Per unit: years with records, share of core counts reported as unknown, share of
    approved cards among cards with an approval status (from :func:`unit_years`)."""
    uy = years_table
    by = uy.group_by(list(UNIT_KEYS)).aggregate(
        years_covered=uy.start_year.nunique(), cards=uy.cards.sum(),
        unknown_flags=uy.unknown_flags.sum(), with_status=uy.with_status.sum(),
        approved=uy.approved.sum())
    return without(by.mutate(
        unknown_share=by.unknown_flags / (by.cards * len(CORE_COUNTS)),
        approved_share=by.approved.cast("float64") / by.with_status.nullif(0)),
        "unknown_flags", "with_status", "approved")


def hazard_scores(cube: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted means over the indicator axis: cube (unit, hazard, indicator) and weights
    (..., indicator) → (..., unit, hazard)."""
    # optimize: a matrix product (BLAS), 4–5× faster than einsum's own loop over 1,000 draws
    means: np.ndarray = (np.einsum("uhi,...i->...uh", cube, weights, optimize=True)
                         / weights.sum(axis=-1)[..., None, None])
    return means


def composite(scores: np.ndarray) -> np.ndarray:
    """10 − (Π(10 − xₕ))^(1/n) over the last (hazard) axis, within 0–10 (rounding leaves
    no −0.0 or −1.8e-15 for an all-zero unit)."""
    value = 10 - np.exp(np.log(np.maximum(10 - scores, _FLOOR)).mean(axis=-1))
    clipped: np.ndarray = np.clip(value, 0.0, 10.0) + 0.0
    return clipped


def score_units(rows: pd.DataFrame, methods: Methods, per_capita: bool) -> pd.DataFrame:
    """One row per unit: rank, score, class, drivers, data quality and rank stability,
    from the rows (unit × hazard) of :func:`indicators`."""
    weights = methods.indicator_weights()
    unknown = set(weights) - set(INDICATORS)
    if unknown:
        raise AnalysisError("analysis.bad_indicator", indicator=", ".join(sorted(unknown)),
                            indicators=", ".join(INDICATORS))
    names = sorted(weights)  # alphabetical: ties between drivers go by name
    hazards = sorted(rows["hazard"].unique())
    per_row = ["hazard", *(f"{kind}_{n}" for kind in ("raw", "norm") for n in INDICATORS)]
    # each row's unit, numbered in the units' order (by their keys); a unit's first row
    # holds its period and data quality
    unit_of = rows.groupby(list(UNIT_KEYS), sort=True, dropna=False).ngroup().to_numpy()
    first_rows = np.unique(unit_of, return_index=True)[1]
    units = rows.iloc[first_rows].drop(columns=per_row).reset_index(drop=True)
    units["cards"] = units["cards"].astype("Int64")  # none for a gazetteer unit without any
    norm, raw = _cubes(rows, unit_of, len(units), hazards, names, ("norm", "raw"))
    w = np.array([weights[n] for n in names], dtype="float64")
    by_hazard = hazard_scores(norm, w)
    units = units.rename(columns={"unit_name": "admin_name"})
    units["score"] = composite(by_hazard)
    units["hazard_scores"] = [dict(zip(hazards, row, strict=True))
                              for row in by_hazard.round(4).tolist()]
    units["drivers"] = _drivers(norm, raw, by_hazard, w, hazards, names)
    units["stability"] = rank_stability(norm, w, methods)
    cfg = methods.get("screen")
    # ranks are among the units with records; a gazetteer unit without any comes after
    # them, unranked (its score of 0 says no losses were recorded, not that it is safe)
    recorded = units["cards"].fillna(0) > 0
    out = units.assign(tie=units["score"].round(9), recorded=recorded).sort_values(
        ["recorded", "tie", "country_iso3", "admin_code"],
        ascending=[False, False, True, True]).drop(columns="tie").reset_index(drop=True)
    ranks = np.arange(1, len(out) + 1)
    out.insert(0, "rank", pd.array(np.where(out["recorded"], ranks, 0), dtype="Int64"))
    out.loc[~out["recorded"], ["rank", "stability"]] = [pd.NA, np.nan]
    out = out.drop(columns="recorded")
    classes = methods.classes()
    out["class"] = score_classes(out["score"].to_numpy(dtype="float64"), classes)
    out["top_hazard"] = [d[0]["hazard"] if d else None for d in out["drivers"]]
    out["quality"] = _badges(out, cfg["quality"])
    out["basis"] = "per_capita" if per_capita else "absolute"
    out["top_n"] = int(cfg["top_n"])
    first = ["rank", "country_iso3", "admin_code", "admin_name", "score", "class",
             "top_hazard", "drivers", "quality", "stability", "top_n"]
    return out[first + [c for c in out.columns if c not in first]]


def score_classes(scores: np.ndarray, classes: list[tuple[str, float]]) -> np.ndarray:
    """The class of each of ``scores`` among ``classes`` (:meth:`Methods.classes`, highest
    lower bound first): the first whose lower bound it reaches, else the last."""
    lowers = np.array([lower for _, lower in classes])
    reached = scores[:, None] >= lowers  # NaN reaches none: the last class
    first = np.where(reached.any(axis=1), reached.argmax(axis=1), len(classes) - 1)
    return np.array([name for name, _ in classes], dtype=object)[first]


def _cubes(rows: pd.DataFrame, unit_of: np.ndarray, units: int, hazards: list[str],
           names: list[str], kinds: tuple[str, ...]) -> list[np.ndarray]:
    """Each of ``kinds`` ("norm", "raw": the columns ``<kind>_<indicator>`` of the rows of
    :func:`indicators`) as an array (unit, hazard, indicator), the ``units`` numbered as
    ``unit_of`` numbers each row's (−1: none) and the others in the given orders; 0 where
    a unit has no row of a hazard or a value is missing (the first row of a unit × hazard
    given twice)."""
    u = unit_of
    h = _positions(rows["hazard"], hazards)
    located = np.flatnonzero((u >= 0) & (h >= 0))
    cells = u[located] * len(hazards) + h[located]
    if len(cells) and np.bincount(cells).max() > 1:  # a cell's first row
        cells, first = np.unique(cells, return_index=True)
        located = located[first]
    out = []
    for kind in kinds:
        values = rows[[f"{kind}_{n}" for n in names]].to_numpy(dtype="float64",
                                                                 na_value=np.nan)
        cube = np.zeros((units * len(hazards), len(names)))
        found = values[located]
        cube[cells] = np.where(np.isnan(found), 0.0, found)  # an infinity stays one
        out.append(cube.reshape(units, len(hazards), len(names)))
    return out


def _positions(values: pd.Series, among: list[str]) -> np.ndarray:
    """Each value's position in ``among`` (−1 where absent): looked up once per distinct
    value (a few hazards over tens of thousands of rows)."""
    codes, distinct = pd.factorize(values)
    found: np.ndarray = np.append(pd.Index(among).get_indexer(distinct), -1)[codes]
    return found  # a missing value's code −1 takes the appended −1


def _drivers(norm: np.ndarray, raw: np.ndarray, by_hazard: np.ndarray, w: np.ndarray,
             hazards: list[str], names: list[str]) -> list[list[dict[str, Any]]]:
    """Per unit, the three (hazard, indicator) pairs that carry most of its score.

    The composite is 10·(1 − exp(−D/n)) with D = Σₕ −ln(1 − xₕ/10), so hazard h carries
    the share −ln(1 − xₕ/10) / D; inside a hazard, indicators share by weight × value.
    """
    d = -np.log(np.maximum(1 - by_hazard / 10, _FLOOR / 10))
    total = d.sum(axis=1, keepdims=True)
    d_share = np.divide(d, total, out=np.zeros_like(d), where=total > 0)
    wx = norm * w
    inside = wx.sum(axis=2, keepdims=True)
    share = d_share[:, :, None] * np.divide(wx, inside, out=np.zeros_like(wx), where=inside > 0)
    flat, norm_flat, raw_flat = (a.reshape(len(a), -1) for a in (share, norm, raw))
    # per unit, largest first; equal shares (up to float noise, which differs between
    # engines) in the order hazard, indicator
    pairs = np.broadcast_to(np.arange(flat.shape[1]), flat.shape)
    top = np.lexsort((pairs, -flat.round(9)), axis=-1)[:, :3]
    labels = [(hazards[k // len(names)], names[k % len(names)]) for k in range(flat.shape[1])]
    shares, raws, scores = (np.take_along_axis(a, top, axis=1).tolist()
                            for a in (flat, raw_flat, norm_flat))
    out = []
    for unit, order in enumerate(top.tolist()):
        out.append([{"hazard": labels[k][0], "indicator": labels[k][1],
                     "share_pct": round(share * 100, 1), "value": value,
                     "score": round(score, 2)}
                    for k, share, value, score in zip(order, shares[unit], raws[unit],
                                                      scores[unit], strict=True)
                    if share > 0])
    return out


def _badges(units: pd.DataFrame, bounds: dict[str, dict[str, float]]) -> np.ndarray:
    """Per unit: A if every "good" bound holds, C if any "poor" bound fails, B otherwise
    (no years or unknown share count as 0; no approved share passes its bounds)."""
    years, unknown, approved = (units[c].to_numpy(dtype="float64", na_value=np.nan)
                                for c in ("years_covered", "unknown_share", "approved_share"))
    years, unknown, no_status = np.nan_to_num(years), np.nan_to_num(unknown), np.isnan(approved)
    good, poor = bounds["good"], bounds["poor"]
    fails = ((years < poor["years"]) | (unknown > poor["unknown_share"])
             | (approved < poor["approved_share"]))  # NaN compares False
    holds = ((years >= good["years"]) & (unknown <= good["unknown_share"])
             & (no_status | (approved >= good["approved_share"])))
    return np.where(fails, "C", np.where(holds, "A", "B"))


def rank_stability(norm: np.ndarray, w: np.ndarray, methods: Methods) -> np.ndarray:
    """Per unit (in the cube's order): the share of random weight draws, each weight ×
    U(1 − p, 1 + p), in which the unit stays in the top N."""
    cfg = methods.get("screen")
    draws = int(cfg["stability"]["draws"])
    spread = float(cfg["stability"]["weight_perturbation"])
    top_n = int(cfg["top_n"])
    rng = np.random.default_rng(int(cfg["stability"]["seed"]))
    hits = np.zeros(len(norm))
    # only units that can reach the top N in some draw are scored (the others never do)
    rows = contenders(norm, top_n, w, spread)
    cube = norm[rows]
    for start in range(0, draws, 100):  # chunks bound the memory of draws × units × hazards
        weights = w * rng.uniform(1 - spread, 1 + spread, size=(min(100, draws - start), len(w)))
        scores = composite(hazard_scores(cube, weights)).round(9)
        hits[rows] += top_of(scores, top_n).sum(axis=0)
    return hits / draws if draws else hits


def contenders(norm: np.ndarray, n: int, w: np.ndarray | None = None, spread: float = 0.0,
               margin: float = 1e-6) -> np.ndarray:
    """The units (indices, in order) that may be in the top ``n`` under some draw of the
    weights ``w`` × U(1 − ``spread``, 1 + ``spread``) (any positive weights when ``w`` is
    None; every unit when a draw may weigh negatively). A hazard's score is a weighted
    mean of its indicators, a linear-fractional function of the weights: over the box of
    drawn weights it is smallest and largest at one of the box's corners (2^indicators of
    them, up to 2^:data:`_CORNERS`; with more, or no ``w``, between its smallest and
    largest indicator). The composite grows with every hazard's score, so a unit scores
    between the composites of its hazards' smallest and of their largest scores, and one
    whose highest stays below the ``n``-th largest lowest (by ``margin``, far above float
    noise and the 9-decimal rounding of the ranks) is beaten by ``n`` units in every
    draw. Every unit when ``norm`` holds NaN or has at most ``n`` units."""
    units = len(norm)
    if units <= n or n <= 0 or norm.size == 0 or np.isnan(norm).any():
        return np.arange(units)
    if w is not None and not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0
                              and 0 <= spread <= 1):
        return np.arange(units)  # draws may weigh negatively: no bound holds
    low, high = norm.min(axis=2), norm.max(axis=2)
    if w is not None and spread < 1 and len(w) <= _CORNERS:
        corners = w * np.array(list(product((1 - spread, 1 + spread), repeat=len(w))))
        means = hazard_scores(norm, corners)  # (corner, unit, hazard)
        low, high = means.min(axis=0), means.max(axis=0)
    low, high = composite(low), composite(high)
    nth = -np.partition(-low, n - 1)[n - 1]
    rows: np.ndarray = np.flatnonzero(high >= nth - margin)
    return rows


def top_of(scores: np.ndarray, n: int) -> np.ndarray:
    """Per row of ``scores`` (draws × units): the ``n`` largest, ties to the earlier unit
    (as a stable sort of the row, largest first, would take them), as a boolean mask; a
    partition per row, not a sort (a level of thousands of units × 1,000 draws)."""
    units = scores.shape[1]
    if n <= 0 or units == 0:
        return np.zeros(scores.shape, dtype=bool)
    if n >= units or np.isnan(scores).any():  # every unit, or NaN: the sort decides
        order = np.argsort(-scores, axis=1, kind="stable")[:, :n]
        mask = np.zeros(scores.shape, dtype=bool)
        np.put_along_axis(mask, order, True, axis=1)
        return mask
    nth = -np.partition(-scores, n - 1, axis=1)[:, n - 1:n]  # the n-th largest of each row
    above, tied = scores > nth, scores == nth
    room = n - above.sum(axis=1, keepdims=True)
    top: np.ndarray = above | (tied & (np.cumsum(tied, axis=1) <= room))
    return top


def _unit_grid(uy: ir.Table, units: ir.Table, scope: Scope) -> ir.Table:
    """Every unit in scope: those with records, and — for a whole-country scope — every
    unit of the level in the gazetteer (a unit without losses is screened at zero)."""
    seen = uy.group_by(list(UNIT_KEYS)).aggregate(unit_name=uy.unit_name.max())
    if scope.admin is not None or scope.level is None:
        return seen
    gaz = units.filter(units.level == scope.level)
    countries = seen.select("country_iso3").distinct()
    gaz = gaz.join(countries, "country_iso3").select(
        "country_iso3", admin_code=gaz.code, unit_name=gaz.name)
    both = seen.union(gaz)
    return both.group_by(list(UNIT_KEYS)).aggregate(unit_name=both.unit_name.max())


OUTSIDE_METRICS = ("records", "deaths", "directly_affected", "houses_destroyed")


def outside_screen(records: ir.Table, scope: Scope,
                   metrics: tuple[str, ...] = OUTSIDE_METRICS,
                   sums: ir.Table | None = None) -> ir.Table:
    """Per unit × hazard: what the climate-related screen leaves out — each metric summed
    over the unit's cards that are not climate-related (the per-record flag: an earthquake,
    or a landslide an earthquake set off) and its share (%) of the unit's whole total over
    every hazard (long table: ``metric``, ``value``, ``total``, ``share_pct``; Ibis).
    ``sums``: the scope's :func:`riskatlas.analysis.profile.year_sums` in its window and
    period, if at hand: no pass over the records."""
    import ibis

    if sums is None:
        r = scope.but(climate_only=False).records(
            records, keep=[m for m in metrics if m != "records"])
        r = r.mutate(climate=r.climate_related.fill_null(False), n_records=1,
                     admin_name_=r.admin_name)
    else:
        r = sums
    left = ~r.climate
    summed = {m: r["n_records" if m == "records" else m] for m in metrics}
    total = {m: v.sum().fill_null(0) for m, v in summed.items()}
    outs = {f"out_{m}": v.sum(where=left).fill_null(0) for m, v in summed.items()}
    by = r.group_by([*UNIT_KEYS, "hazard"]).aggregate(
        admin_name=r.admin_name_.max(), period_from=r.period_from.min(),
        period_to=r.period_to.max(), **total, **outs)
    unit = ibis.window(group_by=list(UNIT_KEYS))
    parts = [by.select(*UNIT_KEYS, "admin_name", "hazard", "period_from", "period_to",
                       metric=ibis.literal(m), value=by[f"out_{m}"].cast("float64"),
                       total=by[m].sum().over(unit).cast("float64")) for m in metrics]
    long = ibis.union(*parts)
    long = long.filter(long.value > 0)
    return long.mutate(share_pct=ibis.ifelse(long.total > 0, long.value * 100.0 / long.total,
                                             0.0))
