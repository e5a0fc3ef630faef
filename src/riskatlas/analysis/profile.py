"""Hazard profile: each hazard's total and share of a metric in a scope.

``share(h) = 100 · Σ m over records of hazard h / Σ m over all records in scope`` per unit,
for every metric asked. Rows always carry the metric and the period, so "floods 37 %"
never comes without "of what, when".
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
from riskatlas.errors import AnalysisError

if TYPE_CHECKING:  # Ibis loads on first query
    import ibis.expr.types as ir

SUM_METRICS = ("deaths", "missing", "injured", "directly_affected", "victims", "affected",
               "evacuated", "relocated", "houses_destroyed", "houses_damaged", "losses_local",
               "losses_usd")
METRICS = ("records", "events", *SUM_METRICS)
SUMMED_METRICS = ("records", *SUM_METRICS)  # every metric that kept year sums give
DEFAULT_METRICS = ("records", "deaths", "injured", "directly_affected", "houses_destroyed",
                   "houses_damaged")
GROUP_KEYS = (*UNIT_KEYS, "hazard")
# the prefix of the metrics ``profile(only=…)`` keeps: no such literal is one node with the
# pivot's name of that metric
ONLY = "m:"


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


def profile(records: ir.Table, scope: Scope, methods: Methods,
            metrics: Sequence[str] = DEFAULT_METRICS, top: int | None = None,
            tags: ir.Table | None = None, sums: ir.Table | None = None,
            only: Sequence[str] | None = None, groups: ir.Table | None = None) -> ir.Table:
    """Long table: one row per unit × metric × hazard with ``value``, ``share_pct``,
    ``rank`` (1 = largest in the unit) and ``records`` (cards behind the value);
    ``tags``: the cards' events (:func:`riskatlas.analysis.risk.event_tags`) if at hand;
    ``sums``: the scope's :func:`year_sums` inside its window and period, with the period
    (:func:`riskatlas.analysis.period.in_period`), if at hand: the metrics' sums are
    theirs, no pass over the records; ``only``: the rows of these metrics, each prefixed
    ``m:`` (:data:`ONLY`: one query for any of them, recipes.Values); ``groups``: the
    :func:`event_groups` of a scope without a unit, hazard or climate filter inside its
    window and period, if at hand: its events are counted over them."""
    import ibis

    metrics = check_metrics(metrics)
    summed = [m for m in metrics if m in SUM_METRICS]
    if sums is None:
        scoped = scope.records(records, keep=summed)
        name, cards = scoped.admin_name.max(), scoped.count()
    else:
        scoped = sums
        name, cards = sums.admin_name_.max(), sums.n_records.sum()
    by = scoped.group_by(GROUP_KEYS).aggregate(
        admin_name_=name, n_records=cards,
        **{m: scoped[m].sum().fill_null(0).cast("float64") for m in summed})
    if "records" in metrics:
        by = by.mutate(records=by.n_records.cast("float64"))
    if "events" in metrics:
        events = (_event_counts(records, scope, methods, tags) if groups is None
                  else counted(groups, GROUP_KEYS))
        by = by.join(events, list(GROUP_KEYS),
                     how="left")
        by = by.mutate(events=by.events.fill_null(0).cast("float64"))
    long = by.pivot_longer(list(metrics), names_to="metric", values_to="value")
    if only is not None:
        long = long.filter((ONLY + long.metric).isin(list(only)))
    unit_metric = ibis.window(group_by=[*UNIT_KEYS, "metric"])
    total = long.value.sum().over(unit_metric)
    ranked = ibis.window(group_by=[*UNIT_KEYS, "metric"],
                         order_by=[ibis.desc("value"), "hazard"])
    long = long.mutate(
        share_pct=ibis.ifelse(total > 0, long.value * 100.0 / total, ibis.null("float64")),
        rank=ibis.row_number().over(ranked) + 1)
    if top is not None:
        long = long.filter(long.rank <= top)
    cov = scope.coverage(scoped)
    out = long.join(cov, "country_iso3")
    return out.select("country_iso3", "admin_code", admin_name=out.admin_name_,
                      level=ibis.literal(scope.level, type="int64"),
                      period_from=out.period_from, period_to=out.period_to,
                      metric=out.metric, hazard=out.hazard, value=out.value,
                      share_pct=out.share_pct, rank=out.rank, records=out.n_records)


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
