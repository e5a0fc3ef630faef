"""Population of the units analysed: the per-100,000 denominators.

The ``population`` table holds reported figures by unit and year (``level`` -1 is the
whole country, with the ISO3 code as ``admin_code``). Analyses of a period use the mean of
the reported years inside it, else of all reported years; Sendai indicators need one
figure per year and interpolate between reported years (``population_basis`` says which).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # Ibis loads on first query
    import ibis.expr.types as ir

COUNTRY_LEVEL = -1


def pop_level(level: int | None) -> int:
    return COUNTRY_LEVEL if level is None else level


def unit_population(population: ir.Table, level: int | None, coverage: ir.Table
                    ) -> ir.Table:
    """Per unit: mean population and households over the period (Ibis)."""
    import ibis

    p = population.filter(population.level == pop_level(level))
    p = p.join(coverage, "country_iso3")
    inside = (p.year >= p.period_from) & (p.year <= p.period_to)
    by = p.group_by(["country_iso3", "admin_code"]).aggregate(
        pop_in=p.population.mean(where=inside), pop_all=p.population.mean(),
        hh_in=p.households.mean(where=inside), hh_all=p.households.mean(),
        pop_years=inside.cast("int64").sum())
    return by.select("country_iso3", "admin_code",
                     population=ibis.coalesce(by.pop_in, by.pop_all),
                     households=ibis.coalesce(by.hh_in, by.hh_all),
                     population_basis=ibis.ifelse(by.pop_years > 0, "period_mean",
                                                  "nearest_years"))


def yearly_population(population: pd.DataFrame, level: int | None,
                      years: range) -> pd.DataFrame:
    """One row per unit and year of ``years``: reported, interpolated or the nearest year's
    figure (``population_basis``)."""
    rows = population[population["level"] == pop_level(level)]
    out = []
    target = np.array(list(years), dtype="float64")
    for (country, code), g in rows.groupby(["country_iso3", "admin_code"], sort=True):
        g = g.sort_values("year")
        known = g["year"].to_numpy(dtype="float64")
        frame = pd.DataFrame({"country_iso3": country, "admin_code": code,
                              "year": target.astype("int64")})
        for column in ("population", "households"):
            values = g[column].to_numpy(dtype="float64")
            ok = ~np.isnan(values)
            frame[column] = (np.interp(target, known[ok], values[ok]) if ok.any()
                             else np.nan)
        inside = (target >= known.min()) & (target <= known.max())
        frame["population_basis"] = np.where(
            np.isin(target, known), "reported",
            np.where(inside, "interpolated", "nearest_year"))
        out.append(frame)
    if not out:
        return pd.DataFrame({"country_iso3": pd.Series(dtype="str"),
                             "admin_code": pd.Series(dtype="str"),
                             "year": pd.Series(dtype="int64"),
                             "population": pd.Series(dtype="float64"),
                             "households": pd.Series(dtype="float64"),
                             "population_basis": pd.Series(dtype="str")})
    return pd.concat(out, ignore_index=True)
