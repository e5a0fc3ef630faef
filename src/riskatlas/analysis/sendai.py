"""Sendai Framework indicators per admin unit and year (docs/methods.md §5).

A-1 = (deaths + missing) per 100,000; A-2 deaths; A-3 missing. B-2 injured; B-3 / B-4
people whose dwellings were damaged / destroyed = dwellings × household size; B-5
(livelihoods) is not in the canonical schema and stays empty; B-1 = B-2 + B-3 + B-4.
C-1 = direct economic loss (USD) / GDP, in percent, where a GDP series is loaded. D-1 =
D-2 health facilities + D-3 educational facilities. SDG 1.5.1 = deaths + missing +
directly affected, per 100,000. Rates use the population of the record's year and unit:
reported, interpolated or the nearest year's (``population_basis``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from riskatlas.analysis.methods import Methods
from riskatlas.analysis.population import pop_level, yearly_population
from riskatlas.analysis.scope import UNIT_KEYS, Scope, without

if TYPE_CHECKING:  # Ibis loads on first query
    import ibis.expr.types as ir

COUNTS = ("deaths", "missing", "injured", "directly_affected", "houses_damaged",
          "houses_destroyed", "schools", "hospitals")


def sendai(records: ir.Table, population: pd.DataFrame, scope: Scope, methods: Methods
           ) -> ir.Table:
    """One row per unit × year with the numerators and the indicators (Ibis).

    ``population`` is the store's population table as a DataFrame (it is small); its
    yearly series enters the expression as an in-memory table.
    """
    import ibis

    scoped = scope.records(records, keep=[*COUNTS, "losses_usd"])
    by = scoped.group_by([*UNIT_KEYS, scoped.start_year.name("year")]).aggregate(
        admin_name=scoped.admin_name.max(), records=scoped.count(),
        losses_usd=scoped.losses_usd.sum(),  # stays empty when no card reports money
        **{c: scoped[c].sum().fill_null(0).cast("float64") for c in COUNTS})
    # the records' years, for the population series: no query when there is none
    has_population = bool((population["level"] == pop_level(scope.level)).any())
    years = _year_range(scoped) if has_population else range(0)
    pop = ibis.memtable(_with_gdp(yearly_population(population, scope.level, years),
                                  population, scope.level))
    t = without(by.join(pop, [*UNIT_KEYS, "year"], how="left"),
                "country_iso3_right", "admin_code_right", "year_right")
    cfg = methods.get("sendai")
    per = float(cfg["per"])
    size = ibis.ifelse((t.households > 0) & (t.population > 0),
                       (t.population / t.households).clip(lower=cfg["household_size_min"],
                                                          upper=cfg["household_size_max"]),
                       float(cfg["household_size_default"]))
    t = t.mutate(household_size=size,
                 people_dwellings_damaged=t.houses_damaged * size,
                 people_dwellings_destroyed=t.houses_destroyed * size)

    def rate(value: ir.NumericValue) -> ir.NumericValue:
        return ibis.ifelse(t.population > 0, value * per / t.population,
                           ibis.null("float64"))

    b2, b3, b4 = (rate(t.injured), rate(t.people_dwellings_damaged),
                  rate(t.people_dwellings_destroyed))
    return t.mutate(
        level=ibis.literal(scope.level, type="int64"),
        a1=rate(t.deaths + t.missing), a2=rate(t.deaths), a3=rate(t.missing),
        b1=b2 + b3 + b4, b2=b2, b3=b3, b4=b4, b5=ibis.null("float64"),
        c1_pct_gdp=ibis.ifelse(t.gdp_usd > 0, t.losses_usd * 100.0 / t.gdp_usd,
                               ibis.null("float64")),
        d1=t.hospitals + t.schools, d2=t.hospitals, d3=t.schools,
        sdg_1_5_1=rate(t.deaths + t.missing + t.directly_affected))


def _year_range(scoped: ir.Table) -> range:
    span = scoped.aggregate(lo=scoped.start_year.min(), hi=scoped.start_year.max()).to_pyarrow()
    lo, hi = span["lo"][0].as_py(), span["hi"][0].as_py()
    if lo is None:
        return range(0)
    return range(int(lo), int(hi) + 1)


def _with_gdp(yearly: pd.DataFrame, population: pd.DataFrame,
              level: int | None) -> pd.DataFrame:
    """Add each unit-year's GDP (reported years only: GDP is not interpolated)."""
    if "gdp_usd" not in population.columns:  # a store opened read-only from before GDP
        population = population.assign(gdp_usd=float("nan"))
    reported = population["gdp_usd"].notna() & (population["level"] == pop_level(level))
    gdp = population.loc[reported,
                         ["country_iso3", "admin_code", "year", "gdp_usd"]]
    out = yearly.merge(gdp, on=["country_iso3", "admin_code", "year"], how="left")
    out["gdp_usd"] = out["gdp_usd"].astype("float64")
    return out
