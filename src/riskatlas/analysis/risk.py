"""Regional hazard-specific risk per admin unit × hazard.

Frequency (events per year, probability of at least one event in T years), annual
averages of the impacts (and per 100,000 where population is loaded), the intensive /
extensive split, empirical exceedance curves and return levels, and trends.
Formulas: docs/methods.md §3–4. Years of record come from the scope's coverage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskatlas.analysis.events import EVENT_COLUMNS, card_events, event_flags, event_tags, whole
from riskatlas.analysis.levels import QUANTITIES, Bootstrap
from riskatlas.analysis.methods import Methods
from riskatlas.analysis.population import unit_population
from riskatlas.analysis.scope import UNIT_KEYS, Scope, without
from riskatlas.analysis.trend import mann_kendall
from riskatlas.errors import AnalysisError, MethodsError

if TYPE_CHECKING:  # Ibis loads on first query
    import ibis.expr.types as ir

RISK_METRICS = ("deaths", "missing", "injured", "directly_affected", "houses_destroyed",
                "houses_damaged", "losses_usd")
SPLIT_METRICS = ("deaths", "directly_affected", "houses_destroyed")
PER_CAPITA = ("deaths", "missing", "injured", "directly_affected")
TREND_SERIES = ("events", "deaths", "houses_destroyed", "losses_usd")
GROUP_KEYS = (*UNIT_KEYS, "hazard")


def unit_events(records: ir.Table, scope: Scope, methods: Methods,
                tags: ir.Table | None = None) -> ir.Table:
    """One row per unit × hazard × event: the event's impacts inside the unit, its year
    and whether the whole event is intensive. ``tags``: :func:`event_tags` of the scope
    if already at hand."""
    scoped = scope.records(records, keep=[*EVENT_COLUMNS, *RISK_METRICS]
                           if tags is None else RISK_METRICS)
    if tags is None and whole(scope):  # the cards are the basis: tagged once, no join
        cards = card_events(scoped, methods, keep=[
            *GROUP_KEYS, "admin_name", "start_year", *RISK_METRICS])
        tagged = cards.join(event_flags(cards, methods), "event_id")
    else:
        tags = event_tags(records, scope, methods) if tags is None else tags
        tagged = scoped.join(tags.select("record_id", "event_id", "intensive"), "record_id")
    sums = {m: tagged[m].sum().fill_null(0).cast("float64") for m in RISK_METRICS}
    return tagged.group_by([*GROUP_KEYS, "event_id"]).aggregate(
        admin_name=tagged.admin_name.max(), intensive=tagged.intensive.max(),
        year=tagged.start_year.min(), cards=tagged.count(), **sums)


def risk(records: ir.Table, population: ir.Table, scope: Scope, methods: Methods,
         ue: ir.Table | None = None) -> ir.Table:
    """The risk table (Ibis): one row per unit × hazard; ``ue``: :func:`unit_events`
    of the scope if already at hand (e.g. cached for :func:`annual_series` too)."""
    import ibis

    ue = unit_events(records, scope, methods) if ue is None else ue
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
    out = without(out.join(pop, list(UNIT_KEYS), how="left"), "country_iso3_right",
                  "admin_code_right")
    per_100k = {f"{m}_per_100k": ibis.ifelse(out.population > 0,
                                             out[f"{m}_per_year"] * 1e5 / out.population,
                                             ibis.null("float64"))
                for m in PER_CAPITA}
    return out.mutate(**per_100k)


def annual_series(records: ir.Table, scope: Scope, methods: Methods,
                  ue: ir.Table | None = None) -> ir.Table:
    """Per unit × hazard × year: events and the trend metrics (Ibis; ``ue`` as in
    :func:`risk`)."""
    ue = unit_events(records, scope, methods) if ue is None else ue
    return ue.group_by([*GROUP_KEYS, "year"]).aggregate(
        events=ue.count(), **{m: ue[m].sum() for m in TREND_SERIES if m != "events"})


def add_trends(table: pd.DataFrame, annual: pd.DataFrame, methods: Methods) -> pd.DataFrame:
    """Mann-Kendall verdict, p-value and Sen's slope of each series, zero-filled over the
    unit's period of record."""
    min_years = int(methods.get("risk.trend.min_years"))
    alpha = float(methods.get("risk.trend.p_value"))
    series = trend_series(table, annual)
    results: dict[str, list[Any]] = {}
    for name in TREND_SERIES:
        for values in series[name]:
            trend = mann_kendall(values, min_years=min_years, alpha=alpha)
            results.setdefault(f"trend_{name}", []).append(trend.verdict)
            results.setdefault(f"trend_{name}_p", []).append(trend.p_value)
            results.setdefault(f"trend_{name}_slope", []).append(trend.slope_per_year)
    out = table.copy()
    for column, found in results.items():
        out[column] = found
    return out


def trend_series(table: pd.DataFrame, annual: pd.DataFrame) -> dict[str, list[np.ndarray]]:
    """Per series, each row's values over its years of record (``period_from`` to
    ``period_to``), 0 where ``annual`` has no value: one join for every row at once."""
    if not len(table):
        return {name: [] for name in TREND_SERIES}
    first = table["period_from"].astype("int64").to_numpy()
    lengths = table["period_to"].astype("int64").to_numpy() - first + 1
    ends = np.cumsum(lengths)
    years = np.repeat(first, lengths) + np.arange(ends[-1]) - np.repeat(ends - lengths, lengths)
    grid = pd.DataFrame({**{k: np.repeat(table[k].to_numpy(), lengths) for k in GROUP_KEYS},
                         "year": years})
    values = annual.dropna(subset=list(GROUP_KEYS))[[*GROUP_KEYS, "year", *TREND_SERIES]]
    values = values.astype({"year": "int64"})
    filled = grid.merge(values, on=[*GROUP_KEYS, "year"], how="left")
    return {name: np.split(filled[name].astype("float64").fillna(0.0).to_numpy(), ends[:-1])
            for name in TREND_SERIES}


def exceedance(records: ir.Table, scope: Scope, methods: Methods, metric: str = "deaths",
               quantity: str = "event") -> ir.Table:
    """Empirical exceedance curve per unit × hazard, largest first (Ibis).

    ``quantity`` "event": each event's ``value`` of ``metric`` in the unit, its rank r
    (1 = largest), ``exceedance_rate`` = r / Y (events a year at least this large) and
    ``return_period_years`` = Y / r. "annual_total" or "annual_max_event": each year with a
    loss, its total or its largest event, with the Weibull probability r / (Y + 1) that a
    year reaches it and T = (Y + 1) / r: the points that return levels interpolate.
    """
    import ibis

    check_quantity(metric, quantity, ("event", *QUANTITIES))
    if quantity == "event":
        ue = unit_events(records, scope, methods)
        ue = ue.filter(ue[metric] > 0)
        ranked = ibis.window(group_by=list(GROUP_KEYS),
                             order_by=[ibis.desc(metric), "event_id"])
        ue = ue.mutate(rank=ibis.row_number().over(ranked) + 1)
        cov = scope.coverage(scope.records(records))
        ue = ue.join(cov, coverage_keys(cov))
        years = ue.years.cast("float64")
        return ue.select(*GROUP_KEYS, "admin_name", "event_id", "year", "intensive",
                         metric=ibis.literal(metric), quantity=ibis.literal(quantity),
                         value=ue[metric], rank=ue.rank, years=ue.years,
                         exceedance_rate=ue.rank / years, return_period_years=years / ue.rank)
    per = annual_values(records, scope, methods, metric, quantity)
    ranked = ibis.window(group_by=list(GROUP_KEYS), order_by=[ibis.desc("value"),
                                                              ibis.desc("year")])
    per = per.mutate(rank=ibis.row_number().over(ranked) + 1)
    n = per.years.cast("float64") + 1
    return per.select(*GROUP_KEYS, "admin_name", "year", "events", "metric", "quantity",
                      "value", "rank", "years", exceedance_rate=per.rank / n,
                      return_period_years=n / per.rank)


def annual_values(records: ir.Table, scope: Scope, methods: Methods, metric: str = "deaths",
                  quantity: str = "annual_total", ue: ir.Table | None = None) -> ir.Table:
    """Per unit × hazard × year with a loss: the year's total of ``metric``
    ("annual_total") or its largest event in the unit ("annual_max_event"), the events
    behind it and the years of record (Ibis; ``ue`` as in :func:`risk`)."""
    import ibis

    check_quantity(metric, quantity, QUANTITIES)
    ue = unit_events(records, scope, methods) if ue is None else ue
    ue = ue.filter(ue[metric] > 0)
    value = ue[metric].sum() if quantity == "annual_total" else ue[metric].max()
    per = ue.group_by([*GROUP_KEYS, "year"]).aggregate(
        admin_name=ue.admin_name.max(), value=value, events=ue.count())
    cov = scope.coverage(scope.records(records))
    per = per.join(cov, coverage_keys(cov))
    return per.select(*GROUP_KEYS, "admin_name", "year", "events", "value", "years",
                      "period_from", "period_to", metric=ibis.literal(metric),
                      quantity=ibis.literal(quantity))


def return_levels(annual: pd.DataFrame, methods: Methods) -> pd.DataFrame:
    """Return levels per unit × hazard × T from :func:`annual_values` (pandas): the
    empirical level of ``risk.return_periods_years`` and of T = Y, never below the largest
    year observed from T = Y on, with a bootstrap interval (docs/methods.md)."""
    from riskatlas.analysis.levels import return_levels as levels

    keys = [*GROUP_KEYS, "metric", "quantity"]
    frame = levels(annual, keys, [float(t) for t in methods.get("risk.return_periods_years")],
                   bootstrap(methods))
    if frame["return_period_years"].map(float.is_integer).all():
        frame["return_period_years"] = frame["return_period_years"].astype("int64")
    names = annual.drop_duplicates(list(GROUP_KEYS))[[*GROUP_KEYS, "admin_name"]]
    frame = frame.merge(names, on=list(GROUP_KEYS), how="left")
    return frame[[*GROUP_KEYS[:2], "admin_name", *(c for c in frame.columns
                                                   if c not in (*GROUP_KEYS[:2], "admin_name"))]]


def bootstrap(methods: Methods) -> Bootstrap:
    """The bootstrap of return levels: draws, confidence and seed of the methods profile."""
    b = methods.get("risk.return_levels.bootstrap")
    key = "risk.return_levels.bootstrap"
    if int(b["draws"]) < 1:
        raise MethodsError("methods.bad_value", path=methods.source, key=f"{key}.draws",
                           expected="int ≥ 1")
    if not 0 < float(b["confidence"]) < 1:
        raise MethodsError("methods.bad_value", path=methods.source,
                           key=f"{key}.confidence", expected="float in (0, 1)")
    return Bootstrap(draws=int(b["draws"]), confidence=float(b["confidence"]),
                     seed=int(b["seed"]))


def check_quantity(metric: str, quantity: str, allowed: tuple[str, ...]) -> None:
    if metric not in RISK_METRICS:
        raise AnalysisError("analysis.bad_metric", metric=metric, metrics=", ".join(RISK_METRICS))
    if quantity not in allowed:
        raise AnalysisError("analysis.bad_quantity", quantity=quantity,
                            quantities=", ".join(allowed))


def coverage_keys(cov: ir.Table) -> list[str]:
    """The keys a coverage table is given by (the country; a unit or hazard if it has them)."""
    return [k for k in GROUP_KEYS if k in cov.columns]
