"""National figures of an assessment: the country's yearly series and their trends per
hazard, and each unit against the national average.

They are worked out from results the assessment holds already (the events of the whole
scope, the risk table of its units, the screen), which the Analyses API computed: nothing
is queried twice. :func:`with_national` adds them to an :class:`Assessment`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskatlas.analysis.trend import mann_kendall

if TYPE_CHECKING:
    from riskatlas.analysis.methods import Methods
    from riskatlas.assessment.value import Assessment

ALL = "all"  # the hazard key of the series summed over every hazard
SERIES = ("events", "deaths", "directly_affected", "houses_destroyed")
COMPARED = ("events_per_year", "deaths_per_year", "directly_affected_per_year",
            "houses_destroyed_per_year")  # columns of the risk table, summed over hazards


def with_national(a: Assessment, methods: Methods) -> Assessment:
    """``a`` with its national series, trends and unit-versus-national-average figures."""
    annual = national_annual(a.events, a.period)
    return replace(a, national=annual, national_trends=national_trends(annual, methods),
                   unit_vs_national=unit_vs_national(a.risk, a.screen))


def national_annual(events: pd.DataFrame, period: tuple[int | None, int | None]
                    ) -> pd.DataFrame:
    """Per hazard (and :data:`ALL`) × year of the period: events (an event counts once,
    wherever it struck), deaths, directly affected and houses destroyed; years without an
    event are 0."""
    first, last = period
    columns = ["hazard", "year", *SERIES]
    if not len(events) or first is None or last is None:
        return pd.DataFrame(columns=columns)
    frame = events.assign(year=pd.to_datetime(events["start_date"]).dt.year, events=1)
    frame = frame[(frame["year"] >= first) & (frame["year"] <= last)]
    values = frame[["hazard", "year", *SERIES]].copy()
    values[list(SERIES)] = values[list(SERIES)].astype("float64").fillna(0.0)
    per = values.groupby(["hazard", "year"], as_index=False)[list(SERIES)].sum()
    total = values.groupby("year", as_index=False)[list(SERIES)].sum().assign(hazard=ALL)
    years = pd.RangeIndex(first, last + 1, name="year")
    out = []
    for hazard, rows in pd.concat([total, per]).groupby("hazard", sort=False):
        filled = rows.set_index("year")[list(SERIES)].reindex(years, fill_value=0.0)
        out.append(filled.reset_index().assign(hazard=hazard))
    return pd.concat(out, ignore_index=True)[columns]


def national_trends(annual: pd.DataFrame, methods: Methods) -> pd.DataFrame:
    """Per hazard (and :data:`ALL`) × series: total, mean per year, the Mann-Kendall
    verdict, its p-value and Sen's slope per year (methods ``risk.trend``)."""
    min_years = int(methods.get("risk.trend.min_years"))
    alpha = float(methods.get("risk.trend.p_value"))
    rows: list[dict[str, Any]] = []
    for hazard, group in annual.groupby("hazard", sort=False):
        ordered = group.sort_values("year")
        for series in SERIES:
            values = ordered[series].to_numpy(dtype="float64")
            trend = mann_kendall(values, min_years=min_years, alpha=alpha)
            rows.append({"hazard": hazard, "series": series, "total": float(values.sum()),
                         "per_year": float(values.mean()) if len(values) else 0.0,
                         "years": len(values), "trend": trend.verdict, "p": trend.p_value,
                         "slope_per_year": trend.slope_per_year})
    return pd.DataFrame(rows, columns=["hazard", "series", "total", "per_year", "years",
                                       "trend", "p", "slope_per_year"])


def unit_vs_national(risk: pd.DataFrame, screen: pd.DataFrame) -> pd.DataFrame:
    """Per unit of the level with records × figure (:data:`COMPARED`, every hazard): the
    unit's value, the national average (the mean over the units of the level with records:
    a gazetteer's units that no card names do not dilute it) and their ratio (empty when
    the average is 0)."""
    columns = ["country_iso3", "admin_code", "figure", "value", "average", "ratio"]
    if not len(screen):
        return pd.DataFrame(columns=columns)
    keys = screen[screen["cards"].fillna(0) > 0][["country_iso3", "admin_code"]]
    keys = keys.drop_duplicates()
    sums = (risk.groupby(["country_iso3", "admin_code"], as_index=False)[list(COMPARED)].sum()
            if len(risk) else pd.DataFrame(columns=["country_iso3", "admin_code", *COMPARED]))
    units = keys.merge(sums, on=["country_iso3", "admin_code"], how="left")
    units[list(COMPARED)] = units[list(COMPARED)].astype("float64").fillna(0.0)
    long = units.melt(id_vars=["country_iso3", "admin_code"], value_vars=list(COMPARED),
                      var_name="figure", value_name="value")
    long["average"] = long.groupby(["country_iso3", "figure"])["value"].transform("mean")
    long["ratio"] = np.where(long["average"] > 0,
                             long["value"] / long["average"].where(long["average"] > 0),
                             np.nan)
    return long[columns]


