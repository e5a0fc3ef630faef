"""Regional hazard-specific risk per admin unit × hazard.

Frequency (events per year, probability of at least one event in T years), annual
averages of the impacts (and per 100,000 where population is loaded), the intensive /
extensive split, empirical exceedance curves and return levels, and trends.
Formulas: docs/methods.md §3–4. Years of record come from the scope's coverage.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from riskatlas.analysis.events import card_events, intensive_expr
from riskatlas.analysis.methods import Methods
from riskatlas.analysis.population import unit_population
from riskatlas.analysis.scope import UNIT_KEYS, Scope
from riskatlas.analysis.trend import mann_kendall
from riskatlas.errors import AnalysisError

RISK_METRICS = ("deaths", "missing", "injured", "directly_affected", "houses_destroyed",
                "houses_damaged", "losses_usd")
SPLIT_METRICS = ("deaths", "directly_affected", "houses_destroyed")
PER_CAPITA = ("deaths", "missing", "injured", "directly_affected")
TREND_SERIES = ("events", "deaths", "houses_destroyed", "losses_usd")
GROUP_KEYS = (*UNIT_KEYS, "hazard")


def unit_events(records: Any, scope: Scope, methods: Methods) -> Any:
    """One row per unit × hazard × event: the event's impacts inside the unit, its year
    and whether the whole event is intensive."""
    scoped = scope.records(records)
    basis = scope.but(admin=None, hazard=None, climate_only=False).records(records)
    tags = card_events(basis, methods).select("record_id", "event_id")
    whole = basis.join(tags, "record_id")
    whole = whole.group_by("event_id").aggregate(deaths=whole.deaths.sum(),
                                                 houses_destroyed=whole.houses_destroyed.sum())
    flags = whole.select("event_id", intensive=intensive_expr(whole, methods))
    tagged = scoped.join(tags, "record_id").join(flags, "event_id")
    sums = {m: tagged[m].sum().fill_null(0).cast("float64") for m in RISK_METRICS}
    return tagged.group_by([*GROUP_KEYS, "event_id"]).aggregate(
        admin_name=tagged.admin_name.max(), intensive=tagged.intensive.max(),
        year=tagged.start_year.min(), cards=tagged.count(), **sums)


def risk(records: Any, population: Any, scope: Scope, methods: Methods) -> Any:
    """The risk table (Ibis): one row per unit × hazard."""
    import ibis

    ue = unit_events(records, scope, methods)
    split = {f"{m}_{kind}": ue[m].sum(where=ue.intensive == (kind == "intensive"))
             .fill_null(0) for m in SPLIT_METRICS for kind in ("intensive", "extensive")}
    per = ue.group_by(GROUP_KEYS).aggregate(
        admin_name=ue.admin_name.max(), events=ue.count(), cards=ue.cards.sum(),
        intensive_events=ue.intensive.cast("int64").sum(),
        **{m: ue[m].sum() for m in RISK_METRICS}, **split)
    cov = scope.coverage(scope.records(records))
    per = per.join(cov, "country_iso3")
    years = per.years.cast("float64")
    rate = per.events / years
    out = per.mutate(
        level=ibis.literal(scope.level, type="int64"),
        extensive_events=per.events - per.intensive_events,
        events_per_year=rate,
        **{f"p_event_{t}y": 1 - (-rate * t).exp()
           for t in methods.get("risk.horizons_years")},
        **{f"{m}_per_year": per[m] / years for m in RISK_METRICS})
    out = out.mutate(aal_usd=out.losses_usd_per_year)
    pop = unit_population(population, scope.level, cov)
    out = out.join(pop, list(UNIT_KEYS), how="left").drop("country_iso3_right",
                                                            "admin_code_right")
    per_100k = {f"{m}_per_100k": ibis.ifelse(out.population > 0,
                                             out[f"{m}_per_year"] * 1e5 / out.population,
                                             ibis.null("float64"))
                for m in PER_CAPITA}
    return out.mutate(**per_100k)


def annual_series(records: Any, scope: Scope, methods: Methods) -> Any:
    """Per unit × hazard × year: events and the trend metrics (Ibis)."""
    ue = unit_events(records, scope, methods)
    return ue.group_by([*GROUP_KEYS, "year"]).aggregate(
        events=ue.count(), **{m: ue[m].sum() for m in TREND_SERIES if m != "events"})


def add_trends(table: pd.DataFrame, annual: pd.DataFrame, methods: Methods) -> pd.DataFrame:
    """Mann-Kendall verdict, p-value and Sen's slope of each series, zero-filled over the
    unit's period of record."""
    min_years = int(methods.get("risk.trend.min_years"))
    alpha = float(methods.get("risk.trend.p_value"))
    grouped = {key: g.set_index("year") for key, g in annual.groupby(list(GROUP_KEYS))}
    results: dict[str, list[Any]] = {}
    for row in table.itertuples(index=False):
        series = grouped.get((row.country_iso3, row.admin_code, row.hazard))
        years = range(int(row.period_from), int(row.period_to) + 1)
        for name in TREND_SERIES:
            values = (series[name].reindex(years, fill_value=0).fillna(0).to_numpy()
                      if series is not None else np.zeros(len(years)))
            trend = mann_kendall(values, min_years=min_years, alpha=alpha)
            results.setdefault(f"trend_{name}", []).append(trend.verdict)
            results.setdefault(f"trend_{name}_p", []).append(trend.p_value)
            results.setdefault(f"trend_{name}_slope", []).append(trend.slope_per_year)
    out = table.copy()
    for column, values in results.items():
        out[column] = values if len(table) else pd.Series(dtype="object")
    return out


def exceedance(records: Any, scope: Scope, methods: Methods, metric: str = "deaths") -> Any:
    """Empirical exceedance curve per unit × hazard: each event's ``value`` of ``metric``
    in the unit, its rank (1 = largest), ``exceedance_rate`` = rank / years and
    ``return_period_years`` = years / rank (Ibis)."""
    import ibis

    if metric not in RISK_METRICS:
        raise AnalysisError("analysis.bad_metric", metric=metric, metrics=", ".join(RISK_METRICS))
    ue = unit_events(records, scope, methods)
    ue = ue.filter(ue[metric] > 0)
    ranked = ibis.window(group_by=list(GROUP_KEYS), order_by=[ibis.desc(metric), "event_id"])
    ue = ue.mutate(rank=ibis.row_number().over(ranked) + 1)
    cov = scope.coverage(scope.records(records))
    ue = ue.join(cov, "country_iso3")
    years = ue.years.cast("float64")
    return ue.select(*GROUP_KEYS, "admin_name", "event_id", "year", "intensive",
                     metric=ibis.literal(metric), value=ue[metric], rank=ue.rank,
                     years=ue.years, exceedance_rate=ue.rank / years,
                     return_period_years=years / ue.rank)


def return_levels(curve: pd.DataFrame, methods: Methods) -> pd.DataFrame:
    """From an exceedance curve: the empirical level exceeded once in T years for every T
    of ``risk.return_periods_years`` that the record can support (T ≤ years)."""
    rows = []
    for key, g in curve.groupby([*GROUP_KEYS, "metric"], sort=True):
        g = g.sort_values("rank")
        years = int(g["years"].iloc[0])
        for period in methods.get("risk.return_periods_years"):
            rank = int(years // period)
            level = float(g["value"].iloc[rank - 1]) if 1 <= rank <= len(g) else (
                0.0 if rank > len(g) else None)
            rows.append((*key, period, level, years))
    return pd.DataFrame(rows, columns=[*GROUP_KEYS, "metric", "return_period_years",
                                       "level", "years"])
