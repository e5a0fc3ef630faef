"""City screening: an INFORM-style composite index per admin unit (docs/methods.md §8).

Per unit × hazard, indicators are annual averages over the period of record — per 100,000
people (per 1,000 households for houses lost) where population is loaded for every unit,
else absolute, and the result says which. Each indicator is log(1 + x), capped at a
percentile across the units in scope and scaled min–max to 0–10; a hazard's score is the
weighted mean of its indicators; hazards combine as 10 − (Π(10 − xₕ))^(1/n) so that one
extreme hazard dominates. The one pass over the records (sums per unit × hazard × year) is
Ibis, on any backend; the rest is numpy over those sums, fetched (small: units × hazards ×
years, whatever the cards), and the same code on every backend: the indicators, their
caps and min–max, and the weighted means and composite, which rank stability recomputes
for 1,000 weight draws, so the score and its stability cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskatlas.analysis.methods import Methods
from riskatlas.analysis.population import pop_level
from riskatlas.analysis.scope import UNIT_KEYS, Scope
from riskatlas.analysis.tables import floats, found, grouped, lookup, unit_codes
from riskatlas.errors import AnalysisError

if TYPE_CHECKING:  # Ibis loads on first query
    import ibis.expr.types as ir
    import pyarrow as pa

INDICATORS = ("deaths_missing", "injured", "directly_affected", "houses_lost")
CORE_COUNTS = ("deaths", "missing", "injured", "directly_affected", "houses_destroyed",
               "houses_damaged")
APPROVED = ("validated", "published")
_FLOOR = 1e-9  # keeps log(10 − x) finite when a hazard scores 10
# indicators up to which rank stability bounds scores by the corners of the weights' box
# (2^6 corners × units × hazards: the memory of 64 of its draws)
_CORNERS = 6
_DRAW_CELLS = 2_000_000  # draws × units × hazards scored at once by rank stability (16 MB)


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
    case, which :func:`indicators` then need not be given)."""
    return int(population.filter(population.level == pop_level(level)).count(
        ).to_pyarrow().as_py())


@dataclass(frozen=True, eq=False)
class Indicators:
    """The screen's indicators: per unit (``units``, in the order of their keys: name,
    period and data quality) × hazard (``hazards``, sorted) × indicator (:data:`INDICATORS`),
    the annual values ``raw`` and their normalised scores ``norm`` (0–10); ``per_capita``:
    whether the values are per 100,000 people (per 1,000 households for houses lost)."""

    units: pd.DataFrame
    hazards: list[str]
    raw: np.ndarray
    norm: np.ndarray
    per_capita: bool


def unit_grid(years: pa.Table, gazetteer: pa.Table | None = None) -> pa.Table:
    """Every unit in scope, one row each in the order of their keys, with its name (the
    largest of its names): the units of ``years`` (:func:`unit_years`) and, for a
    whole-country scope, those of ``gazetteer`` (one level of ``admin_units``: its
    ``country_iso3``, ``code`` and ``name``) in the same countries, which are screened at
    zero when they have no records."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = [years.select([*UNIT_KEYS, "unit_name"])]
    if gazetteer is not None:
        gaz = gazetteer.filter(pc.is_in(gazetteer["country_iso3"],
                                        value_set=pc.unique(years["country_iso3"])))
        parts.append(pa.table([gaz["country_iso3"], gaz["code"], gaz["name"]],
                              names=parts[0].column_names).cast(parts[0].schema))
    grid = grouped(pa.concat_tables(parts), UNIT_KEYS, [("unit_name", "max")])
    return grid.sort_by([(k, "ascending") for k in UNIT_KEYS])


def coverage(years: pa.Table) -> pa.Table:
    """Per country of ``years`` (:func:`unit_years`): the observation period
    (``period_from``, ``period_to``, ``years``)."""
    import pyarrow.compute as pc

    cov = grouped(years, ["country_iso3"], [("period_from", "min"), ("period_to", "max")])
    return cov.append_column("years", pc.add(pc.subtract(
        cov["period_to"], cov["period_from"]), 1).cast("int64"))


def indicators(years: pa.Table, grid: pa.Table, methods: Methods,
               population: pa.Table | None = None) -> Indicators:
    """Each indicator's annual value per unit of ``grid`` (:func:`unit_grid`) × hazard of
    ``years`` (:func:`unit_years`), a unit without records of a hazard at zero, and its
    score: ln(1 + value) capped at the percentile of the units' positive ones and scaled
    min–max to 0–10, per hazard. Per capita where ``population`` (per unit:
    ``population``, ``households``; :func:`riskatlas.analysis.population.unit_population`)
    holds a positive population for every unit, else absolute."""
    import pyarrow as pa
    import pyarrow.compute as pc

    units = grid.num_rows
    cov = coverage(years)
    unit_cov = lookup(grid, cov, ("country_iso3",))
    period = {c: cov[c].take(pa.array(unit_cov)) for c in ("period_from", "period_to",
                                                           "years")}
    sums = grouped(years, [*UNIT_KEYS, "hazard"], [(c, "sum") for c in CORE_COUNTS])
    sums = sums.filter(sums["hazard"].is_valid())
    hazards = sorted(set(sums["hazard"].to_pylist()))
    u = lookup(sums, grid, UNIT_KEYS)  # every unit of the sums is in the grid
    if (u < 0).any():
        raise ValueError("indicators: a unit of the sums is not in the grid")
    h = pc.index_in(sums["hazard"], value_set=pa.array(
        hazards, sums.schema.field("hazard").type)).to_numpy()
    total = {c: sums[c].to_numpy(zero_copy_only=False) for c in CORE_COUNTS}
    w_damaged = float(methods.get("screen.damaged_house_weight"))
    found = np.column_stack([
        total["deaths"] + total["missing"], total["injured"], total["directly_affected"],
        total["houses_destroyed"] + total["houses_damaged"] * w_damaged])
    raw = np.zeros((units, len(hazards), len(INDICATORS)))
    raw[u, h] = np.where(np.isnan(found), 0.0, found)  # a sum over no value is none: 0
    raw /= period["years"].to_numpy().astype("float64")[:, None, None]
    per_capita = False
    if population is not None and units:
        pop = lookup(grid, population, UNIT_KEYS)
        people = _column(population, "population", pop)
        per_capita = bool((people > 0).all())  # NaN (none loaded) is not
    if per_capita:
        size = float(methods.get("sendai.household_size_default"))
        households = _column(population, "households", pop)
        # none reported (or none: 0, which no unit with people has) → people / household
        households = np.where(np.isnan(households) | (households <= 0), people / size,
                              households)
        per = np.array([1e3 if n == "houses_lost" else 1e5 for n in INDICATORS])
        denominator = np.where(np.array(INDICATORS) == "houses_lost", households[:, None],
                               people[:, None])
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = raw * per / denominator[:, None, :]
    units_frame = _unit_rows(years, grid, period)
    return Indicators(units_frame, hazards, raw, _normalised(raw, methods), per_capita)


def _normalised(raw: np.ndarray, methods: Methods) -> np.ndarray:
    """Per hazard and indicator: x = ln(1 + raw) capped at the ``screen.cap_percentile``
    of the units' positive x (linear between order statistics; where most units have no
    losses, a gazetteer of villages, a percentile over all of them would be 0 and erase
    every value) and scaled min–max to 0–10 over the units (0 where all are equal)."""
    q = float(methods.get("screen.cap_percentile"))
    with np.errstate(invalid="ignore"):
        x = np.log(raw + 1)
    cap = np.zeros(x.shape[1:])
    for h, i in np.ndindex(*cap.shape):
        positive = x[:, h, i][x[:, h, i] > 0]
        if len(positive):
            cap[h, i] = np.quantile(positive, q)
    xc: np.ndarray = np.minimum(x, cap)
    if not len(xc):
        return xc
    lo, hi = np.fmin.reduce(xc, axis=0), np.fmax.reduce(xc, axis=0)  # NaN only if all are
    spread = hi - lo
    with np.errstate(invalid="ignore"):
        norm: np.ndarray = np.where(spread > 0, (xc - lo) * 10.0 / np.where(
            spread > 0, spread, 1.0), 0.0)
    return norm


def _unit_rows(years: pa.Table, grid: pa.Table, period: dict[str, pa.ChunkedArray]
               ) -> pd.DataFrame:
    """Per unit of ``grid``: its name, period and data quality (years with records, share
    of core counts reported as unknown, share of approved cards among those with an
    approval status; none for a unit without records)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    by = grouped(years, UNIT_KEYS, [
        ("start_year", "count_distinct"), ("cards", "sum"), ("unknown_flags", "sum"),
        ("with_status", "sum"), ("approved", "sum")])
    rows = found(grid, by, UNIT_KEYS)  # none for a unit without records
    cards, unknown = by["cards"].take(rows), by["unknown_flags"].take(rows)
    with_status = by["with_status"].take(rows)
    approved = pc.divide(by["approved"].take(rows).cast("float64"),
                         pc.if_else(pc.equal(with_status, 0), None, with_status))
    unknown_share = pc.divide(unknown.cast("float64"),
                              pc.multiply(cards, len(CORE_COUNTS)).cast("float64"))
    table = pa.table({
        **{k: grid[k] for k in (*UNIT_KEYS, "unit_name")}, **period,
        "years_covered": by["start_year"].take(rows), "cards": cards,
        "unknown_share": unknown_share, "approved_share": approved})
    return table.to_pandas()


def _column(table: pa.Table, name: str, rows: np.ndarray) -> np.ndarray:
    """``table[name]`` at ``rows`` as floats, NaN where a row is −1 or the value none."""
    values = table[name].to_numpy(zero_copy_only=False).astype("float64")
    return np.where(rows >= 0, values[np.maximum(rows, 0)] if len(values) else np.nan,
                    np.nan)


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


@dataclass(frozen=True)
class _Scored:
    """The weighted scores of the units of :class:`Indicators` and their rank order."""

    names: list[str]  # the weighted indicators, alphabetical (ties between drivers)
    w: np.ndarray  # their weights
    norm: np.ndarray  # (unit, hazard, indicator) scaled 0–10, none as 0
    raw: np.ndarray  # the same, unscaled
    by_hazard: np.ndarray  # (unit, hazard) weighted means
    score: np.ndarray  # per unit, the composite
    order: np.ndarray  # the units in rank order
    recorded: np.ndarray  # per unit in rank order: holds records (ranked)


def _scored(ind: Indicators, methods: Methods) -> _Scored:
    weights = methods.indicator_weights()
    unknown = set(weights) - set(INDICATORS)
    if unknown:
        raise AnalysisError("analysis.bad_indicator", indicator=", ".join(sorted(unknown)),
                            indicators=", ".join(INDICATORS))
    names = sorted(weights)
    columns = [INDICATORS.index(n) for n in names]
    # a value that is none (0/0) counts 0; an infinity stays one
    norm, raw = (np.where(np.isnan(a), 0.0, a) for a in (ind.norm[..., columns],
                                                          ind.raw[..., columns]))
    w = np.array([weights[n] for n in names], dtype="float64")
    by_hazard = hazard_scores(norm, w)
    score = composite(by_hazard)
    # ranks are among the units with records; a gazetteer unit without any comes after
    # them, unranked (its score of 0 says no losses were recorded, not that it is safe).
    # The units come in the order of their keys: a stable sort keeps it for equal scores.
    recorded = ind.units["cards"].fillna(0).to_numpy(dtype="float64") > 0
    order = np.lexsort((-score.round(9), ~recorded))
    return _Scored(names, w, norm, raw, by_hazard, score, order, recorded[order])


def unit_ranks(ind: Indicators, methods: Methods) -> pd.DataFrame:
    """The keys, rank and score of :func:`score_units`'s rows, alone (what a page shows of
    a second screen: no drivers, classes or stability worked out)."""
    s = _scored(ind, methods)
    units = ind.units.iloc[s.order].reset_index(drop=True)
    return pd.DataFrame({
        "rank": pd.arrays.IntegerArray(np.arange(1, len(s.order) + 1), mask=~s.recorded),
        "country_iso3": units["country_iso3"], "admin_code": units["admin_code"],
        "score": s.score[s.order]})


def score_units(ind: Indicators, methods: Methods) -> pd.DataFrame:
    """One row per unit: rank, score, class, drivers, data quality and rank stability,
    from its :func:`indicators`."""
    import pyarrow as pa

    s = _scored(ind, methods)
    order, recorded, hazards = s.order, s.recorded, ind.hazards
    stability = rank_stability(s.norm, s.w, methods)  # ties go to the earlier unit by its keys
    cards = ind.units["cards"].astype("Int64")  # none for a gazetteer unit without any
    units = ind.units.iloc[order].reset_index(drop=True)
    drivers = _drivers(s.norm[order], s.raw[order], s.by_hazard[order], s.w, hazards, s.names)
    cfg = methods.get("screen")
    out = {
        "rank": pd.arrays.IntegerArray(np.arange(1, len(order) + 1), mask=~recorded),
        "country_iso3": units["country_iso3"], "admin_code": units["admin_code"],
        "admin_name": units["unit_name"], "score": s.score[order],
        "class": score_classes(s.score[order], methods.classes()),
        "top_hazard": [d[0]["hazard"] if d else None for d in drivers],
        "drivers": drivers, "quality": _badges(units, cfg["quality"]),
        "stability": np.where(recorded, stability[order], np.nan),
        "top_n": int(cfg["top_n"]),
        **{c: units[c] for c in ("period_from", "period_to", "years", "years_covered")},
        "cards": cards.iloc[order].reset_index(drop=True),
        "unknown_share": units["unknown_share"], "approved_share": units["approved_share"],
        "hazard_scores": pa.StructArray.from_arrays(
            [pa.array(c) for c in s.by_hazard[order].round(4).T], names=hazards).to_pylist(),
        "basis": "per_capita" if ind.per_capita else "absolute"}
    return pd.DataFrame(out)


def score_classes(scores: np.ndarray, classes: list[tuple[str, float]]) -> np.ndarray:
    """The class of each of ``scores`` among ``classes`` (:meth:`Methods.classes`, highest
    lower bound first): the first whose lower bound it reaches, else the last."""
    lowers = np.array([lower for _, lower in classes])
    reached = scores[:, None] >= lowers  # NaN reaches none: the last class
    first = np.where(reached.any(axis=1), reached.argmax(axis=1), len(classes) - 1)
    return np.array([name for name, _ in classes], dtype=object)[first]


def _drivers(norm: np.ndarray, raw: np.ndarray, by_hazard: np.ndarray, w: np.ndarray,
             hazards: list[str], names: list[str]) -> list[list[dict[str, Any]]]:
    """Per unit, the three (hazard, indicator) pairs that carry most of its score.

    The composite is 10·(1 − exp(−D/n)) with D = Σₕ −ln(1 − xₕ/10), so hazard h carries
    the share −ln(1 − xₕ/10) / D; inside a hazard, indicators share by weight × value.
    """
    import pyarrow as pa

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
    shares, raws, scores = (np.take_along_axis(a, top, axis=1) for a in (flat, raw_flat, norm_flat))
    # a unit's pairs with a share, largest first: the leading ones of its row, built as
    # Arrow lists of structs (one pass in C, not a dict at a time)
    kept = (shares > 0).ravel()
    pair = top.ravel()[kept]
    offsets = np.concatenate([[0], np.cumsum((shares > 0).sum(axis=1))]).astype("int32")
    drivers = pa.StructArray.from_arrays(
        [pa.array(np.array(hazards, dtype=object)[pair // len(names)]),
         pa.array(np.array(names, dtype=object)[pair % len(names)]),
         pa.array(_rounded(shares.ravel()[kept] * 100, 1)), pa.array(raws.ravel()[kept]),
         pa.array(_rounded(scores.ravel()[kept], 2))],
        names=["hazard", "indicator", "share_pct", "value", "score"])
    listed: list[list[dict[str, Any]]] = pa.ListArray.from_arrays(
        pa.array(offsets), drivers).to_pylist()
    return listed


def _rounded(x: np.ndarray, digits: int) -> np.ndarray:
    """``x`` rounded as Python's ``round`` rounds each float (half to even, on its exact
    value), for values far below 2⁵² / 10^digits (shares, scores): numpy's scaled
    rounding, which gives the same except for a value within float noise of a half,
    which ``round`` itself rounds."""
    scaled = x * 10.0 ** digits
    out = np.round(scaled) / 10.0 ** digits
    with np.errstate(invalid="ignore"):  # an infinity is no half
        near = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    if near.any():
        out[near] = [round(v, digits) for v in x[near].tolist()]
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
    # chunks of draws bound the memory of draws × units × hazards (the draws come from the
    # generator in the same order whatever their chunks)
    step = max(1, _DRAW_CELLS // max(1, cube.shape[0] * cube.shape[1]))
    for start in range(0, draws, step):
        weights = w * rng.uniform(1 - spread, 1 + spread, size=(min(step, draws - start), len(w)))
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


OUTSIDE_METRICS = ("records", "deaths", "directly_affected", "houses_destroyed")


def outside_sums(records: ir.Table, scope: Scope,
                 metrics: Sequence[str] = OUTSIDE_METRICS) -> ir.Table:
    """Per unit × hazard of ``scope`` (every hazard, one pass over the records): the
    unit's name (``admin_name_``) and period, each metric's total and ``out_<metric>``,
    its sum over the cards that are not climate-related (the per-record flag: an
    earthquake, or a landslide an earthquake set off): what :func:`outside_screen`
    shapes."""
    r = scope.but(climate_only=False).records(
        records, keep=[m for m in metrics if m != "records"])
    r = r.mutate(n_records=1)
    left = ~r.climate_related.fill_null(False)
    summed = {m: r["n_records" if m == "records" else m] for m in metrics}
    return r.group_by([*UNIT_KEYS, "hazard"]).aggregate(
        admin_name_=r.admin_name.max(), period_from=r.period_from.min(),
        period_to=r.period_to.max(),  # in floats: no int64 overflow
        **{m: v.sum().cast("float64") for m, v in summed.items()},
        **{f"out_{m}": v.sum(where=left).cast("float64") for m, v in summed.items()})


def kept_outside_sums(sums: pa.Table, metrics: Sequence[str] = OUTSIDE_METRICS) -> pa.Table:
    """:func:`outside_sums` of ``sums``, the :func:`riskatlas.analysis.profile.year_sums`
    of a scope inside its window and period, as a served copy keeps them: no query run."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for m in metrics:
        column = sums["n_records" if m == "records" else m]
        if m == "records":
            sums = sums.append_column(m, column)
        sums = sums.append_column(f"out_{m}", pc.if_else(
            sums["climate"], pa.scalar(None, column.type), column))
    return grouped(sums, [*UNIT_KEYS, "hazard"], [
        ("admin_name_", "max"), ("period_from", "min"), ("period_to", "max"),
        *((m, "sum") for m in metrics), *((f"out_{m}", "sum") for m in metrics)])


def outside_screen(by: pa.Table, metrics: Sequence[str] = OUTSIDE_METRICS) -> pd.DataFrame:
    """What the climate-related screen leaves out, from ``by`` (:func:`outside_sums`,
    fetched): one row per unit × hazard × metric with a value left out (``value``), the
    unit's ``total`` over every hazard and the value's share of it (%), sorted by unit,
    metric and hazard. numpy over the rows, whatever summed them."""
    import pyarrow as pa

    unit = unit_codes(by)
    rows, values, totals = [], [], []
    for m in metrics:
        value = floats(by, f"out_{m}")
        total = np.bincount(unit, weights=floats(by, m)).astype("float64")[unit]
        kept = np.flatnonzero(value > 0)
        rows.append(kept)
        values.append(value[kept])
        totals.append(total[kept])
    row = pa.array(np.concatenate(rows))
    value, total = np.concatenate(values), np.concatenate(totals)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, value * 100.0 / total, 0.0)
    out = pa.table({
        **{c: by[c].take(row) for c in UNIT_KEYS}, "admin_name": by["admin_name_"].take(row),
        "hazard": by["hazard"].take(row),
        **{c: by[c].take(row).cast("int64") for c in ("period_from", "period_to")},
        "metric": pa.array(np.repeat(np.array(metrics, dtype=object),
                                     [len(r) for r in rows]), pa.string()),
        "value": value, "total": total, "share_pct": share})
    keys = (*UNIT_KEYS, "metric", "hazard")
    return out.sort_by([(c, "ascending") for c in keys]).to_pandas()
