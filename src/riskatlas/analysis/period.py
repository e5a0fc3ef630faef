"""The observation period: the years a country's data cards actually cover.

A card dated far from the others (a web card of 2024 in an inventory that ends in 2016, a
chronicle's hurricane of 1771) must not stretch the years of record that frequencies and
annual averages divide by. The rule (docs/methods.md, "Years of record"; its numbers are
the methods profile's ``period``) works on the cards per year of a country, every hazard
and unit, the datasets in scope pooled:

1. **runs**: the years with cards, in order; a run breaks where more than
   ``max_gap_years`` consecutive years have none;
2. **main run**: the run with most cards (a tie goes to the later run);
3. **edges**: the period runs from the first to the last year of the main run with at
   least ``edge_share`` × the cards of the run's median year (years with cards);
4. ``--from`` / ``--to``, when given, are the start / end whatever the records say.

Cards outside the period are left out of every analysis, counted in its notes and listed
by ``Atlas.outside_period`` (``riskatlas periods --outside``). The rule is an Ibis
expression over the cards (:func:`periods`) and plain Python over their counts per year
(:func:`rule_of`, a few hundred rows a ledger holds); the tests hold the two equal.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas, Arrow and Ibis load on first use, not for an import
    import ibis.expr.types as ir
    import pandas as pd
    import pyarrow as pa

from riskatlas.analysis.methods import Methods, load_methods

KEYS = ("country_iso3",)


@dataclass(frozen=True)
class PeriodRule:
    """The numbers of the rule (methods ``period``)."""

    max_gap_years: int
    edge_share: float

    @classmethod
    def of(cls, methods: Methods) -> PeriodRule:
        return cls(max_gap_years=int(methods.get("period.max_gap_years")),
                   edge_share=float(methods.get("period.edge_share")))


@cache
def default_rule() -> PeriodRule:
    """The rule of the shipped methods profile."""
    return PeriodRule.of(load_methods())


def periods(basis: ir.Table, rule: PeriodRule, *, keys: Sequence[str] = KEYS,
            year_from: int | None = None, year_to: int | None = None) -> ir.Table:
    """Per ``keys`` (a country; or a country × dataset): ``period_from``, ``period_to`` and
    ``years`` of the rule over ``basis`` (dated records with ``start_year``); an explicit
    ``year_from`` / ``year_to`` replaces the start / end."""
    import ibis

    keys = list(keys)
    yearly = basis.group_by([*keys, "start_year"]).aggregate(cards=basis.count())
    prev = yearly.start_year.lag().over(ibis.window(group_by=keys, order_by="start_year"))
    opens = prev.isnull() | (yearly.start_year - prev - 1 > rule.max_gap_years)
    yearly = yearly.mutate(opens=opens.cast("int64"))
    yearly = yearly.mutate(run=yearly.opens.cumsum(group_by=keys, order_by="start_year"))
    runs = yearly.group_by([*keys, "run"]).aggregate(
        run_cards=yearly.cards.sum(), run_last=yearly.start_year.max(),
        median=yearly.cards.quantile(0.5))
    best = ibis.window(group_by=keys, order_by=[ibis.desc("run_cards"), ibis.desc("run_last")])
    runs = runs.mutate(pick=ibis.row_number().over(best))
    main = yearly.join(runs.filter(runs.pick == 0), [*keys, "run"])
    main = main.filter(main.cards >= main.median * rule.edge_share)
    span = main.group_by(keys).aggregate(first=main.start_year.min(),
                                         last=main.start_year.max())
    start = ibis.literal(year_from, type="int64") if year_from is not None else span.first
    end = ibis.literal(year_to, type="int64") if year_to is not None else span.last
    return span.select(*keys, period_from=start.cast("int64"), period_to=end.cast("int64"),
                       years=(end - start + 1).cast("int64"))


def yearly(basis: ir.Table, keys: Sequence[str] = KEYS) -> ir.Table:
    """Cards per ``keys`` and ``start_year`` of dated records: what the rule and the
    period summary work on."""
    return basis.group_by([*keys, "start_year"]).aggregate(cards=basis.count())


def rule_of(yearly: pd.DataFrame, rule: PeriodRule, *, keys: Sequence[str] = KEYS,
            year_from: int | None = None, year_to: int | None = None) -> pd.DataFrame:
    """The rule of :func:`periods` over ``yearly`` (``keys``, ``start_year``, ``cards``:
    one row per key and year with cards), in plain Python: a few hundred rows, where
    pandas' steps would cost more than the rule."""

    keys = list(keys)
    columns = [*keys, "period_from", "period_to", "years"]
    counts: dict[tuple[Any, ...], dict[int, int]] = {}
    for *parts, year, cards in zip(*(yearly[c].tolist() for c in [*keys, "start_year",
                                                                   "cards"]), strict=True):
        years = counts.setdefault(tuple(parts), {})
        years[int(year)] = years.get(int(year), 0) + int(cards)
    rows = []
    for key in sorted(counts):
        span = _main_span(counts[key], rule)
        if span is not None:
            first = span[0] if year_from is None else int(year_from)
            last = span[1] if year_to is None else int(year_to)
            rows.append((*key, first, last, last - first + 1))
    return _frame(rows, {**{k: yearly[k].dtype if len(yearly) else object for k in keys},
                         **{c: "int64" for c in columns[len(keys):]}})


def _main_span(cards: dict[int, int], rule: PeriodRule) -> tuple[int, int] | None:
    """The first and last year of the main run with enough cards (cards per year)."""
    years = sorted(cards)
    runs = [[years[0]]]
    for before, year in itertools.pairwise(years):
        if year - before - 1 > rule.max_gap_years:
            runs.append([year])
        else:
            runs[-1].append(year)
    # the run with most cards, a tie to the later one
    main = max(runs, key=lambda run: (sum(cards[y] for y in run), run[-1]))
    median = statistics.median(cards[y] for y in main)
    kept = [y for y in main if cards[y] >= median * rule.edge_share]
    return (kept[0], kept[-1]) if kept else None


def with_period(selected: ir.Table, table: ir.Table, keys: Sequence[str] = KEYS
                ) -> ir.Table:
    """``selected`` records with the ``period_from``, ``period_to`` of their country (or
    ``keys``) and whether they lie ``inside`` it (``table``: :func:`periods` by ``keys``)."""
    r = selected.join(table.select(*keys, "period_from", "period_to"), list(keys))
    return r.mutate(inside=(r.start_year >= r.period_from) & (r.start_year <= r.period_to))


def in_period(sums: pa.Table, table: pd.DataFrame, year_from: int | None = None,
              year_to: int | None = None) -> pa.Table:
    """The rows of ``sums`` (a fetched table per ``country_iso3`` and ``start_year``, such
    as a served copy keeps for every year window of a scope) of the years inside their
    country's period (``table``: :func:`rule_of`) and ``year_from``–``year_to``, with that
    period (``period_from``, ``period_to``): what the window's own pass over the records
    (:meth:`riskatlas.analysis.scope.Scope.records`) would sum (floats to rounding: the
    sums are added in another order)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # each row's country's period, looked up (a join of every row costs more; the table
    # of periods is small: plain lists)
    (key,) = KEYS
    countries = pa.array(table[key].tolist(), sums.schema.field(key).type)
    row = pc.index_in(sums[key], value_set=countries, skip_nulls=True)
    dated = sums.filter(row.is_valid())
    row = row.filter(row.is_valid())
    joined = dated
    for bound in ("period_from", "period_to"):
        values = pa.array(table[bound].tolist(), pa.int64())
        joined = joined.append_column(bound, values.take(row))
    year = joined["start_year"]
    inside = pc.and_(pc.greater_equal(year, joined["period_from"]),
                     pc.less_equal(year, joined["period_to"]))
    if year_from is not None:
        inside = pc.and_(inside, pc.greater_equal(year, year_from))
    if year_to is not None:
        inside = pc.and_(inside, pc.less_equal(year, year_to))
    return joined.filter(inside)


def summary(cards: pd.DataFrame, table: pd.DataFrame, keys: Sequence[str] = KEYS
            ) -> pd.DataFrame:
    """Per country (or ``keys``) with cards and a period in ``table``: the period, the
    cards inside and the cards outside it with their first and last year, from ``cards``
    per key and year (:func:`yearly`; small: plain Python)."""

    keys = list(keys)
    bounds = {tuple(key): (int(lo), int(hi)) for *key, lo, hi in zip(
        *(table[c].tolist() for c in [*keys, "period_from", "period_to"]), strict=True)}
    by: dict[tuple[Any, ...], list[Any]] = {}
    for *key, year, n in zip(*(cards[c].tolist() for c in [*keys, "start_year", "cards"]),
                             strict=True):
        period = bounds.get(tuple(key))
        if period is None:
            continue
        row = by.setdefault(tuple(key), [*period, 0, 0, None, None])
        if period[0] <= year <= period[1]:
            row[2] += int(n)
        else:
            row[3] += int(n)
            row[4] = year if row[4] is None else min(row[4], year)
            row[5] = year if row[5] is None else max(row[5], year)
    return _frame([(*key, *by[key]) for key in sorted(by)], {
        **{k: cards[k].dtype if len(cards) else object for k in keys},
        "period_from": "int64", "period_to": "int64", "cards": "int64", "outside": "int64",
        "outside_from": "Int64", "outside_to": "Int64"})


def _frame(rows: list[tuple[Any, ...]], dtypes: dict[str, Any]) -> pd.DataFrame:
    """``rows`` as a frame of the columns and types of ``dtypes``, built a column at a time
    (converting a frame's every column after costs more than the rows: a few hundred)."""
    import numpy as np
    import pandas as pd

    columns = list(zip(*rows, strict=True)) if rows else [()] * len(dtypes)
    return pd.DataFrame({name: np.array(values, dtype=dtype) if dtype in ("int64", object)
                         else pd.array(list(values), dtype=dtype)
                         for (name, dtype), values in zip(dtypes.items(), columns, strict=True)})


def stamp(summary_rows: pd.DataFrame, rule: PeriodRule) -> dict[str, Any]:
    """What a result states about its period (``attrs["period"]``): the span of its
    countries' periods, the cards left out, and each country's period."""
    rows = [_country_stamp(r) for r in summary_rows.itertuples(index=False)]
    return {"period_from": min((int(r["period_from"]) for r in rows), default=None),
            "period_to": max((int(r["period_to"]) for r in rows), default=None),
            "cards_outside": sum(int(r["cards_outside"]) for r in rows),
            "by_country": rows,
            "rule": {"max_gap_years": rule.max_gap_years, "edge_share": rule.edge_share}}


def _country_stamp(r: Any) -> dict[str, Any]:
    import pandas as pd

    def year(value: Any) -> int | None:
        return None if pd.isna(value) else int(value)

    return {"country_iso3": str(r.country_iso3), "period_from": int(r.period_from),
            "period_to": int(r.period_to), "years": int(r.period_to - r.period_from + 1),
            "cards": int(r.cards), "cards_outside": int(r.outside),
            "outside_from": year(r.outside_from), "outside_to": year(r.outside_to)}


def outside_note(period: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The note of a result that left cards out for their date, with language-neutral
    values: "GRD 1938–2014: 22 (1771–1925)" per country."""
    rows = [r for r in period["by_country"] if r["cards_outside"]]
    if not rows:
        return None
    detail = "; ".join(f"{r['country_iso3']} {r['period_from']}–{r['period_to']}: "
                       f"{r['cards_outside']} ({_span(r['outside_from'], r['outside_to'])})"
                       for r in rows)
    return ("analysis.outside_period_left_out",
            {"count": period["cards_outside"], "detail": detail})


def span_text(period: dict[str, Any]) -> str:
    """"1938–2014" for a result's period, "-" when it has none."""
    if period.get("period_from") is None:
        return "-"
    return _span(period["period_from"], period["period_to"])


def _span(first: int | None, last: int | None) -> str:
    return str(first) if first == last else f"{first}–{last}"
