"""The ledger of a scope: its cards counted per country and year, by whether the scope
counts their approval status and whether they are climate-related.

It is one small query per scope *without its years* (a country holds a few hundred rows
however many cards it has), and every year window of that scope is read off it in
plain Python: the cards per country and year that the observation-period rule works on
(analysis/period.py), the period summary a result states (cards inside and outside the
period) and the notes on the cards an analysis leaves out (undated, other statuses). A
served copy keeps the ledgers, so a new year window asks the store nothing for these.
A window only restricts ``start_year``, so reading it off the whole ledger gives what the
window's own queries gave.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

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


def _rows(rows: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    """The ledger's rows as tuples (country, year or None, counted, climate, cards)."""
    import pandas as pd

    years = [None if pd.isna(y) else int(y) for y in rows["start_year"].tolist()]
    return zip(rows["country_iso3"].tolist(), years, rows["counted"].tolist(),
               rows["climate"].tolist(), rows["cards"].tolist(), strict=True)


def _in_window(year: int | None, scope: Scope) -> bool:
    """Whether a row of ``year`` lies within the scope's years (undated rows never do)."""
    return year is not None and (scope.year_from is None or year >= scope.year_from) and (
        scope.year_to is None or year <= scope.year_to)


def yearly(rows: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    """The cards per country and year that ``scope.selected`` selects (``country_iso3``,
    ``start_year``, ``cards``), from its ledger ``rows`` (a few hundred: plain Python)."""
    import pandas as pd

    by: dict[tuple[str, int], int] = {}
    for country, year, counted, climate, cards in _rows(rows):
        if counted and _in_window(year, scope) and (climate or not scope.climate_only):
            key = (country, year)
            by[key] = by.get(key, 0) + int(cards)
    keys = sorted(by)
    return pd.DataFrame({"country_iso3": pd.array([k[0] for k in keys],
                                                  dtype=rows["country_iso3"].dtype),
                         "start_year": pd.array([k[1] for k in keys], dtype="int64"),
                         "cards": pd.array([by[k] for k in keys], dtype="int64")})


def left_out(rows: pd.DataFrame, scope: Scope) -> tuple[int, int]:
    """(undated cards, cards of statuses the scope does not count within its years; every
    year when it names none) of the scope, from its ledger ``rows``."""
    windowed = scope.year_from is not None or scope.year_to is not None
    undated = other = 0
    for _, year, counted, _, cards in _rows(rows):
        if year is None:
            undated += int(cards)
        if not counted and (_in_window(year, scope) if windowed else True):
            other += int(cards)
    return undated, other
