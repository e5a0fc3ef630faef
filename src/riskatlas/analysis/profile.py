"""Hazard profile: each hazard's total and share of a metric in a scope.

``share(h) = 100 · Σ m over records of hazard h / Σ m over all records in scope`` per unit,
for every metric asked. Rows always carry the metric and the period, so "floods 37 %"
never comes without "of what, when". The one pass over the records (sums per unit ×
hazard, :func:`unit_hazards`) is Ibis, on any backend, or a served copy's kept sums; the
long form, shares and ranks are numpy over those rows (:func:`shaped`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from riskatlas.analysis.events import (
    EVENT_COLUMNS,
    card_events,
    counted,
    event_counts,
    period_groups,
    whole,
)
from riskatlas.analysis.methods import Methods
from riskatlas.analysis.scope import UNIT_KEYS, Scope
from riskatlas.analysis.tables import codes, floats, grouped, unit_codes
from riskatlas.errors import AnalysisError

if TYPE_CHECKING:  # Ibis loads on first query
    import ibis.expr.types as ir
    import pandas as pd
    import pyarrow as pa

SUM_METRICS = ("deaths", "missing", "injured", "directly_affected", "victims", "affected",
               "evacuated", "relocated", "houses_destroyed", "houses_damaged", "losses_local",
               "losses_usd")
METRICS = ("records", "events", *SUM_METRICS)
DEFAULT_METRICS = ("records", "deaths", "injured", "directly_affected", "houses_destroyed",
                   "houses_damaged")
GROUP_KEYS = (*UNIT_KEYS, "hazard")


def check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise AnalysisError("analysis.bad_metric", metric=", ".join(unknown) or "-",
                            metrics=", ".join(METRICS))
    return tuple(dict.fromkeys(metrics))


def year_sums(records: ir.Table, scope: Scope) -> ir.Table:
    """Per unit × hazard × year × climate-related or not, of ``scope`` without its years or
    observation period: the cards (``n_records``) and the sum of every summed metric.
    Small (units × hazards × years, whatever the cards): a served copy keeps it once and
    reads every year window of the scope off it (:func:`riskatlas.analysis.period.
    in_period`), for its profiles and what its screen leaves out."""
    scoped = scope.but(year_from=None, year_to=None).selected(records, keep=SUM_METRICS)
    return scoped.group_by([*GROUP_KEYS, "start_year"], climate=scoped.climate_related.
                           fill_null(False)).aggregate(
        admin_name_=scoped.admin_name.max(), n_records=scoped.count(),
        **{m: scoped[m].sum() for m in SUM_METRICS})


def event_groups(records: ir.Table, scope: Scope, methods: Methods) -> ir.Table:
    """The :func:`riskatlas.analysis.events.period_groups` of the cards of ``scope``
    without its years or observation period, per unit, hazard and year: a year window's
    events are counted over its rows (:func:`riskatlas.analysis.period.in_period`), for
    a scope whose cards are the basis of its events
    (:func:`riskatlas.analysis.events.whole`). Small (distinct periods, whatever the
    cards): a served copy keeps it once for every window."""
    scoped = scope.but(year_from=None, year_to=None).selected(records, keep=EVENT_COLUMNS)
    return period_groups(scoped, methods, [*GROUP_KEYS, "start_year"])


def unit_hazards(records: ir.Table, scope: Scope, methods: Methods,
                 metrics: Sequence[str] = DEFAULT_METRICS, tags: ir.Table | None = None
                 ) -> ir.Table:
    """Per unit × hazard of ``scope`` (one pass over the records): the unit's name
    (``admin_name_``), the cards (``n_records``), the observation period
    (``period_from``, ``period_to``), the sum of each summed metric of ``metrics`` and,
    when asked, the ``events`` (:func:`unit_hazard_events`): what :func:`shaped` makes the
    profile of. ``tags``: the cards' events (:func:`riskatlas.analysis.risk.event_tags`)
    if at hand."""
    metrics = check_metrics(metrics)
    summed = [m for m in metrics if m in SUM_METRICS]
    scoped = scope.records(records, keep=summed)
    by = scoped.group_by(GROUP_KEYS).aggregate(
        admin_name_=scoped.admin_name.max(), n_records=scoped.count(),
        period_from=scoped.period_from.min(), period_to=scoped.period_to.max(),
        **{m: scoped[m].sum().cast("float64") for m in summed})  # no int64 overflow
    if "events" in metrics:
        events = unit_hazard_events(records, scope, methods, tags)
        by = by.join(events, list(GROUP_KEYS), how="left")
    return by


def unit_hazard_events(records: ir.Table, scope: Scope, methods: Methods,
                       tags: ir.Table | None = None, groups: ir.Table | None = None
                       ) -> ir.Table:
    """Distinct events per unit × hazard of ``scope``; ``groups``: the
    :func:`event_groups` of a scope without a unit, hazard or climate filter inside its
    window and period, if at hand: its events are counted over them, not its cards."""
    if groups is not None:
        return counted(groups, GROUP_KEYS)
    return _event_counts(records, scope, methods, tags)


def kept_unit_hazards(sums: pa.Table, metrics: Sequence[str]) -> pa.Table:
    """:func:`unit_hazards` (events aside) of ``sums``, the :func:`year_sums` of a scope
    inside its window and period (:func:`riskatlas.analysis.period.in_period`), as a
    served copy keeps them: summed over the years, no query run."""
    summed = [m for m in check_metrics(metrics) if m in SUM_METRICS]
    return grouped(sums, GROUP_KEYS, [
        ("admin_name_", "max"), ("n_records", "sum"), ("period_from", "min"),
        ("period_to", "max"), *((m, "sum") for m in summed)])


def shaped(by: pa.Table, metrics: Sequence[str], top: int | None,
           level: int | None) -> pd.DataFrame:
    """The profile of ``by`` (:func:`unit_hazards`, fetched): one row per unit × metric ×
    hazard with ``value``, ``share_pct`` (of the unit's total of the metric; none when
    that is 0), ``rank`` (1 = largest in the unit, ties by hazard), ``records`` (cards
    behind the value) and the country's observation period, sorted by unit, metric and
    rank; ``top``: the first ``top`` ranks of each unit and metric. numpy and Arrow over
    the rows, whatever summed them (a frame's every step costs more on so few rows)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    metrics = check_metrics(metrics)
    n, k = by.num_rows, len(metrics)
    unit, country = unit_codes(by), codes(by["country_iso3"])
    hazard_order = pc.rank(by["hazard"], tiebreaker="dense").to_numpy()  # ties by hazard
    place = np.arange(n)
    values, shares, ranks = [], [], []
    for metric in metrics:
        value = floats(by, "n_records" if metric == "records" else metric)
        total = np.bincount(unit, weights=value)[unit] if n else value
        with np.errstate(divide="ignore", invalid="ignore"):
            shares.append(np.where(total > 0, value * 100.0 / total, np.nan))
        # rank: the place in the unit, largest value first
        order = np.lexsort((hazard_order, -value, unit))
        first = np.r_[True, unit[order][1:] != unit[order][:-1]] if n else place > 0
        rank = np.empty(n, dtype="int64")
        rank[order] = place - np.maximum.accumulate(np.where(first, place, 0)) + 1
        values.append(value)
        ranks.append(rank)
    periods = {}
    countries = country.max(initial=-1) + 1
    for bound, extreme, start in (("period_from", np.minimum, np.iinfo("int64").max),
                                  ("period_to", np.maximum, np.iinfo("int64").min)):
        years = by[bound].to_numpy(zero_copy_only=False).astype("int64")
        per_country = np.full(countries, start, dtype="int64")
        extreme.at(per_country, country, years)
        periods[bound] = np.tile(per_country[country], k)
    rows = pa.array(np.tile(place, k))
    out = pa.table({
        **{c: by[c].take(rows) for c in UNIT_KEYS},
        "admin_name": by["admin_name_"].take(rows), **periods,
        "metric": pa.array(np.repeat(np.array(metrics, dtype=object), n), pa.string()),
        "hazard": by["hazard"].take(rows),
        "value": np.concatenate(values), "share_pct": pa.array(
            np.concatenate(shares), from_pandas=True),  # NaN: none
        "rank": np.concatenate(ranks), "records": by["n_records"].take(rows).cast("int64")})
    if top is not None:
        out = out.filter(pc.less_equal(out["rank"], top))
    frame = out.sort_by([(c, "ascending") for c in (*UNIT_KEYS, "metric", "rank")]).to_pandas()
    frame.insert(3, "level", np.array([], "int64") if not len(frame)
                 else None if level is None else level)
    return frame


def _event_counts(records: ir.Table, scope: Scope, methods: Methods,
                  tags: ir.Table | None = None) -> ir.Table:
    """Distinct events per unit × hazard; events are formed over the whole country and
    period, so an event that crosses units counts once in each unit it touched."""
    scoped = scope.records(records, keep=EVENT_COLUMNS if tags is None else [])
    if tags is None and whole(scope):  # the cards are the basis: counted once, no join
        return event_counts(scoped, methods, GROUP_KEYS)
    if tags is None:
        basis = scope.but(admin=None, hazard=None, climate_only=False).records(
            records, keep=EVENT_COLUMNS)
        tags = card_events(basis, methods)
    tagged = scoped.join(tags.select("record_id", "event_id"), "record_id")
    return tagged.group_by(GROUP_KEYS).aggregate(events=tagged.event_id.nunique())
