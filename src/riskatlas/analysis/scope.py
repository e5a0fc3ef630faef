"""What an analysis looks at: which records (country, unit, period, dataset), broken down by
which admin level, and hazards named at which level of the taxonomy.

Everything here builds Ibis expressions; user text is only ever a bound literal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from riskatlas.analysis.period import KEYS, PeriodRule, default_rule, periods, with_period
from riskatlas.errors import AnalysisError
from riskatlas.model.schema import APPROVAL_STATUSES

if TYPE_CHECKING:  # Ibis loads on first query
    import ibis.expr.types as ir

HAZARD_KEYS = ("group", "hips", "term")
LEVELS = (0, 1, 2)
UNMAPPED = "unmapped:"  # prefix of a source term that the crosswalk does not map
NO_COUNTRY = "XXX"  # records imported without a country (flat exports name none)
# the columns that scoping reads
SCOPE_COLUMNS = ("record_id", "dataset_id", "country_iso3", "level0_code", "level0_name",
                 "level1_code", "level1_name", "level2_code", "level2_name", "start_year",
                 "hazard_term", "hips_code", "hazard_group", "climate_related",
                 "approval_status")


@dataclass(frozen=True)
class Scope:
    """Records of one country or admin unit over a period, per unit of ``level``.

    ``level`` None means one row set per country; 0, 1, 2 break down by that admin level.
    """

    country: str | None = None
    admin: str | None = None
    level: int | None = None
    year_from: int | None = None
    year_to: int | None = None
    dataset: int | tuple[int, ...] | None = None  # one import, or several (assess FILE…)
    hazard: str | None = None
    hazard_key: str = "group"
    climate_only: bool = False
    statuses: tuple[str, ...] | None = None  # approval statuses counted; None: every one
    # how the observation period is found (analysis/period.py; methods ``period``)
    period_rule: PeriodRule = field(default_factory=default_rule)
    # the periods of :meth:`periods` already worked out (a small table: ``Atlas.scope``
    # computes it once per scope), or None: every query works them out again
    period_table: ir.Table | None = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        if self.statuses is not None:
            wrong = sorted(set(self.statuses) - set(APPROVAL_STATUSES))
            if wrong:
                raise AnalysisError("analysis.bad_status", status=", ".join(wrong),
                                    statuses=", ".join(APPROVAL_STATUSES))
            object.__setattr__(self, "statuses", tuple(sorted(set(self.statuses))))
        if self.level is not None and self.level not in LEVELS:
            raise AnalysisError("analysis.bad_level", level=self.level)
        if self.hazard_key not in HAZARD_KEYS:
            raise AnalysisError("analysis.bad_hazard_key", key=self.hazard_key,
                                keys=", ".join(HAZARD_KEYS))
        if (self.year_from is not None and self.year_to is not None
                and self.year_from > self.year_to):
            raise AnalysisError("analysis.bad_period", year_from=self.year_from,
                                year_to=self.year_to)

    def but(self, **changes: Any) -> Scope:
        """This scope with ``changes``; a change of what the periods depend on drops the
        periods already worked out."""
        if "period_table" not in changes and any(
                getattr(self, k) != v for k, v in changes.items() if k in PERIOD_FIELDS):
            changes["period_table"] = None
        return replace(self, **changes)

    def period_key(self) -> Scope:
        """What the observation period, the cards in scope and those left out depend on:
        this scope without its level and hazard naming (a key for memos)."""
        return replace(self, level=None, hazard_key="group", period_table=None)

    def records(self, records: ir.Table, keep: Sequence[str] | None = None) -> ir.Table:
        """The records in scope with the analysis keys added: ``admin_code``,
        ``admin_name`` (the unit at ``level``, or the country) and ``hazard``; only the
        cards inside their country's observation period, with that period
        (``period_from``, ``period_to``). ``keep`` narrows the columns to those an analysis
        reads (smaller queries)."""
        r = self.selected(records, keep).join(
            self.periods(records).select(*KEYS, "period_from", "period_to"), list(KEYS))
        return r.filter(r.start_year >= r.period_from, r.start_year <= r.period_to)

    def outside(self, records: ir.Table, keep: Sequence[str] | None = None) -> ir.Table:
        """The cards of the scope dated outside their country's observation period, with
        the period: what :meth:`records` leaves out."""
        r = with_period(self.selected(records, keep), self.periods(records))
        return r.filter(~r.inside).drop("inside")

    def periods(self, records: ir.Table, *, by_dataset: bool = False) -> ir.Table:
        """The observation period per country (or country × dataset) of the scope's
        records: every hazard and unit of the country, within the scope's datasets,
        approval statuses and ``--from``/``--to`` (analysis/period.py)."""
        if self.period_table is not None and not by_dataset:
            return self.period_table
        basis = self.but(admin=None, hazard=None, climate_only=False).selected(records, [])
        keys = ("country_iso3", "dataset_id") if by_dataset else ("country_iso3",)
        return periods(basis, self.period_rule, keys=keys, year_from=self.year_from,
                       year_to=self.year_to)

    def selected(self, records: ir.Table, keep: Sequence[str] | None = None) -> ir.Table:
        """The dated records that the scope's filters select, with the analysis keys,
        before the observation period applies."""
        if keep is not None:
            records = records.select(*dict.fromkeys([*SCOPE_COLUMNS, *keep]))
        r = records
        # one filter and one mutate (each step more is a query layer to compile)
        wanted = record_filters(r, country=self.country, admin=self.admin,
                                hazard=self.hazard, year_from=self.year_from,
                                year_to=self.year_to, dataset=self.dataset,
                                statuses=self.statuses)
        # a card whose year could not be read has no place in time (riskatlas quality)
        wanted.append(r.start_year.notnull())
        if self.climate_only:
            wanted.append(r.climate_related.fill_null(False))
        r = r.filter(*wanted)
        country = r.country_iso3.fill_null(NO_COUNTRY)
        if self.level is None:
            code, name = country, country
        else:
            code, name = r[f"level{self.level}_code"], r[f"level{self.level}_name"]
        # a record not located at ``level`` gets the unit code "" (joins never see NULL keys)
        return r.mutate(country_iso3=country, admin_code=code.fill_null(""), admin_name=name,
                        hazard=hazard_expr(r, self.hazard_key))

    def coverage(self, scoped: ir.Table) -> ir.Table:
        """Per country: the observation period (``period_from``, ``period_to``, ``years``).

        ``scoped`` is :meth:`records` (or a table derived from it that kept the period
        columns): the period of the country's records of every hazard and unit by the rule
        of analysis/period.py, ``--from``/``--to`` taking precedence; never one hazard's
        first and last event. Any other table of dated records gets the rule applied to it.
        """
        if "period_from" not in scoped.columns:
            return periods(scoped, self.period_rule, year_from=self.year_from,
                           year_to=self.year_to)
        cov = scoped.group_by("country_iso3").aggregate(
            period_from=scoped.period_from.min(), period_to=scoped.period_to.max())
        return cov.mutate(years=(cov.period_to - cov.period_from + 1).cast("int64"))

    def filters(self) -> dict[str, Any]:
        """The record filters of this scope, as :func:`filter_records` takes them."""
        return {"country": self.country, "admin": self.admin, "hazard": self.hazard,
                "year_from": self.year_from, "year_to": self.year_to,
                "dataset": self.dataset, "statuses": self.statuses}

    def describe(self) -> dict[str, Any]:
        return {"country": self.country, "admin": self.admin, "level": self.level,
                "year_from": self.year_from, "year_to": self.year_to,
                "dataset": (list(self.dataset) if isinstance(self.dataset, tuple)
                            else self.dataset), "hazard_key": self.hazard_key,
                "climate_only": self.climate_only,
                "statuses": list(self.statuses) if self.statuses is not None else None}


UNIT_KEYS = ("country_iso3", "admin_code")
# the fields of a Scope that its observation periods depend on
PERIOD_FIELDS = ("country", "year_from", "year_to", "dataset", "statuses", "period_rule")


def without(table: ir.Table, *columns: str) -> ir.Table:
    """``table`` without ``columns``, the others in their order. Not ``drop``: Ibis writes
    a drop of several columns as an EXCLUDE list in an order that varies by process (with
    the hash seed), so one query shape would compile to more than one SQL text and its
    template never be kept (analysis/compiled.py)."""
    return table.select(*(c for c in table.columns if c not in columns))


def hazard_expr(r: ir.Table, key: str) -> ir.StringValue:
    """The hazard of each record at the taxonomy level ``key``; a term the crosswalk does
    not map stays visible as ``unmapped:<term>`` (never folded into "other")."""
    term = r.hazard_term.fill_null("")
    unmapped = UNMAPPED + term
    if key == "group":
        return r.hazard_group.fill_null(unmapped)
    if key == "hips":
        return r.hips_code.fill_null(unmapped)
    return term


def filter_records(records: ir.Table, *, country: str | None = None, admin: str | None = None,
                   hazard: str | None = None, year_from: int | None = None,
                   year_to: int | None = None, dataset: int | Sequence[int] | None = None,
                   statuses: Sequence[str] | None = None) -> ir.Table:
    """Records filtered as the CLI and the web app allow (all parameters bound, never SQL);
    ``statuses`` None counts every approval status."""
    wanted = record_filters(records, country=country, admin=admin, hazard=hazard,
                            year_from=year_from, year_to=year_to, dataset=dataset,
                            statuses=statuses)
    return records.filter(*wanted) if wanted else records


def record_filters(records: ir.Table, *, country: str | None = None, admin: str | None = None,
                   hazard: str | None = None, year_from: int | None = None,
                   year_to: int | None = None, dataset: int | Sequence[int] | None = None,
                   statuses: Sequence[str] | None = None) -> list[ir.BooleanValue]:
    """The predicates of :func:`filter_records` (applied at once: one query layer)."""
    out = []
    if country:
        out.append(records.country_iso3 == country.upper())
    if admin:
        out.append((records.level0_code == admin) | (records.level1_code == admin)
                   | (records.level2_code == admin))
    if hazard:
        h = hazard.strip()
        out.append((records.hazard_group == h.lower()) | (records.hips_code == h)
                   | (records.hazard_term == h))
    if year_from is not None:
        out.append(records.start_year >= year_from)
    if year_to is not None:
        out.append(records.start_year <= year_to)
    if isinstance(dataset, int):
        out.append(records.dataset_id == dataset)
    elif dataset is not None:
        out.append(records.dataset_id.isin([int(d) for d in dataset]))
    if statuses is not None:
        out.append(records.approval_status.fill_null("published").isin(list(statuses)))
    return out
