"""The ledger of a scope: its cards counted per country and year, by whether the scope
counts their approval status and whether they are climate-related.

It is one small query per scope *without its years* (a country holds a few hundred rows
however many cards it has), and every year window of that scope is read off it with
pandas: the cards per country and year that the observation-period rule works on
(analysis/period.py), the period summary a result states (cards inside and outside the
period) and the notes on the cards an analysis leaves out (undated, other statuses). A
served copy keeps the ledgers, so a new year window asks the store nothing for these.
A window only restricts ``start_year``, so reading it off the whole ledger gives what the
window's own queries gave.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from riskatlas.analysis.scope import NO_COUNTRY, Scope, filter_records

if TYPE_CHECKING:  # Ibis and pandas load on first query
    import ibis.expr.types as ir
    import pandas as pd


def ledger_key(scope: Scope) -> Scope:
    """What a scope's ledger depends on: its country, unit, hazard, datasets and
    statuses (not its years, level, hazard naming or climate filter)."""
    return scope.but(year_from=None, year_to=None, climate_only=False).period_key()


def ledger(records: ir.Table, scope: Scope) -> ir.Table:
    """Cards per ``country_iso3`` (``XXX``: none) × ``start_year`` (NULL: undated) ×
    ``counted`` (a status the scope counts) × ``climate`` (climate-related), of the
    records that the scope's country, unit, hazard and dataset select."""
    import ibis

    r = filter_records(records, country=scope.country, admin=scope.admin, hazard=scope.hazard,
                       dataset=scope.dataset)
    counted = (ibis.literal(True) if scope.statuses is None else
               r.approval_status.fill_null("published").isin(list(scope.statuses)))
    return r.group_by(country_iso3=r.country_iso3.fill_null(NO_COUNTRY),
                      start_year=r.start_year, counted=counted,
                      climate=r.climate_related.fill_null(False)).aggregate(cards=r.count())


def _window(rows: pd.DataFrame, scope: Scope) -> pd.Series:
    """The rows dated within the scope's years (undated rows never are)."""
    years = rows["start_year"]
    inside = years.notna()
    if scope.year_from is not None:
        inside &= years >= scope.year_from
    if scope.year_to is not None:
        inside &= years <= scope.year_to
    return inside


def yearly(rows: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    """The cards per country and year that ``scope.selected`` selects (``country_iso3``,
    ``start_year``, ``cards``), from its ledger ``rows``."""
    keep = rows["counted"] & _window(rows, scope)
    if scope.climate_only:
        keep &= rows["climate"]
    by = rows[keep].groupby(["country_iso3", "start_year"], sort=True)["cards"].sum()
    out = by.reset_index()
    return out.astype({"start_year": "int64", "cards": "int64"})


def left_out(rows: pd.DataFrame, scope: Scope) -> tuple[int, int]:
    """(undated cards, cards of statuses the scope does not count within its years; every
    year when it names none) of the scope, from its ledger ``rows``."""
    undated = int(rows.loc[rows["start_year"].isna(), "cards"].sum())
    windowed = scope.year_from is not None or scope.year_to is not None
    in_years = _window(rows, scope) if windowed else rows["cards"].notna()
    other = int(rows.loc[~rows["counted"] & in_years, "cards"].sum())
    return undated, other
