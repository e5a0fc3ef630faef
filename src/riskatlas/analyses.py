"""The read side of a store: its tables and every analysis over a :class:`Scope`, as
DataFrames that say what they are (``attrs``: analysis, scope, engine, methods, notes).

:class:`Analyses` sits beneath the Python API (:class:`riskatlas.api.Atlas` extends it with
imports and the assessment) and above ``analysis/`` (Ibis, table in, table out). Each
analysis takes its scope either as a :class:`Scope` value (``scope=``) or as the keywords
of :meth:`Analyses.scope` (country, admin, level, year_from, …).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from riskatlas.analysis import ledger, recipes
from riskatlas.analysis.engine import ENGINES, Engine, make_engine
from riskatlas.analysis.methods import Methods, load_methods
from riskatlas.analysis.period import PeriodRule, span_text
from riskatlas.analysis.profile import DEFAULT_METRICS, GROUP_KEYS
from riskatlas.analysis.results import Note, labelled, sort_rows
from riskatlas.analysis.scope import NO_COUNTRY, Scope, filter_records
from riskatlas.errors import EmptyScopeError
from riskatlas.store.store import Store

if TYPE_CHECKING:  # Ibis and pandas load on first query, not for an import
    import ibis.expr.types as ir
    import pandas as pd
    import pyarrow as pa

    from riskatlas.analysis.screen import Indicators


# for the views: the engine names, the caption of a period and of return levels
__all__ = ["DEFAULT_METRICS", "ENGINES", "OUTSIDE_COLUMNS", "PERIOD_SCHEMA", "Analyses",
           "describe_levels", "span_text"]

# the columns of Scope.periods, for the in-memory table of Analyses.scope
PERIOD_SCHEMA = {"country_iso3": "string", "period_from": "int64", "period_to": "int64",
                 "years": "int64"}
T = TypeVar("T")
# what a result states of its scope: its period stamp and the notes on cards left out
Provenance = tuple[dict[str, Any], list[Note]]

# the most cards of a country and period whose events (a row per card) a served copy or a
# pipeline run keeps in memory (Analyses.event_tags: ~60 bytes a card)
KEPT_CARDS = 300_000

# what Analyses.outside_period shows of each card by default
OUTSIDE_COLUMNS = ("record_id", "dataset_id", "country_iso3", "start_date", "start_year",
                   "date_precision", "hazard_term", "hazard_group", "level1_name", "deaths",
                   "directly_affected", "houses_destroyed")


class Analyses:
    """The tables and analyses of one store. Analyses (profile, events, risk, sendai,
    screen) run on ``engine`` ("duckdb" or "spark") with the thresholds and weights of the
    methods profile.
    """

    def __init__(self, store: Store, *, engine: str = "duckdb",
                 methods: str | Path | Methods | None = None) -> None:
        self.store = store
        self.engine_name = engine
        self.methods = methods if isinstance(methods, Methods) else load_methods(methods)
        self._engine: Engine | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        self.store.close()

    @property
    def engine(self) -> Engine:
        """The analysis engine, started on first use."""
        if self._engine is None:
            self._engine = make_engine(self.engine_name, self.store)
        return self._engine

    def table(self, name: str) -> ir.Table:
        """An Ibis table of the store (records, datasets, admin_units, ...)."""
        return self.store.table(name)

    def datasets(self) -> pd.DataFrame:
        """Every import with its provenance and reconciliation counts."""
        return self.table("datasets").order_by("dataset_id").to_pandas()

    def dataset_files(self, dataset_id: int | None = None) -> pd.DataFrame:
        files = self.table("dataset_files")
        if dataset_id is not None:
            files = files.filter(files.dataset_id == dataset_id)
        return files.to_pandas()

    def quarantine(self, dataset_id: int | None = None) -> pd.DataFrame:
        """Rows set aside, with their reason and raw values."""
        rows = self.table("quarantine")
        if dataset_id is not None:
            rows = rows.filter(rows.dataset_id == dataset_id)
        return rows.to_pandas()

    def quality_issues(self, dataset_id: int | None = None) -> pd.DataFrame:
        """Fields not taken as read, one row per record and field: raw value, rule, what was
        kept (blanked, rounded, date precision, unspecified hazard) and the message."""
        rows = self.table("quality_issues")
        if dataset_id is not None:
            rows = rows.filter(rows.dataset_id == dataset_id)
        return rows.order_by(["dataset_id", "source_file", "source_row", "field"]).to_pandas()

    def quality_summary(self, dataset_id: int | None = None) -> pd.DataFrame:
        """The issues by dataset, rule and field: how many records, what was kept, and up
        to three raw values as examples (the CLI's ``quality`` and the reports use this)."""
        rows = self.table("quality_issues")
        if dataset_id is not None:
            rows = rows.filter(rows.dataset_id == dataset_id)
        keys = ["dataset_id", "rule", "field", "source_field", "action"]
        summary = rows.group_by(keys).aggregate(
            records=rows.record_id.nunique(), examples=rows.raw_value.collect(distinct=True))
        frame = summary.order_by(["dataset_id", summary.records.desc(), "rule",
                                  "field"]).to_pandas()
        frame["examples"] = [sorted(v for v in (values or ()) if v is not None)[:3]
                             for values in frame["examples"]]
        return frame

    def hazard_terms(self, *, unmapped: bool = False) -> pd.DataFrame:
        """Source hazard terms with their HIPs code and group; ``unmapped`` = the review list."""
        import ibis

        terms = self.table("hazard_terms")
        if unmapped:
            terms = terms.filter(terms.hazard_group.isnull())
        terms = terms.group_by(["term", "hips_code", "hazard_group"]).aggregate(
            term_en=terms.term_en.max(), records=terms.records.sum(),
            datasets=terms.dataset_id.nunique())
        return terms.order_by([ibis.desc("records"), "term"]).to_pandas()

    def records(self, *, limit: int | None = 50, offset: int = 0, columns: Sequence[str] = (),
                with_extension: bool = False, **filters: Any) -> pd.DataFrame:
        """Records matching the filters (country, admin, hazard, year_from, year_to, dataset);
        ``with_extension`` adds each record's extension block."""
        table = self.table("records_full" if with_extension else "records")
        expr = filter_records(table, **filters)
        expr = expr.order_by(["start_date", "record_id"])
        if columns:
            expr = expr.select(*columns)
        if limit is not None:
            expr = expr.limit(limit, offset=offset)
        return expr.to_pandas()

    def _stated(self, scope: Scope) -> Provenance:
        """What a result of ``scope`` states (:meth:`_provenance`), once the scope holds a
        record; else :class:`EmptyScopeError` naming what the store does hold (an empty
        scope is an answer, not a crash). The cards in scope are those its period summary
        counts, so no query counts them again."""
        stated = self._provenance(scope)
        if not sum(int(r["cards"]) for r in stated[0]["by_country"]):
            raise EmptyScopeError(**self._scope_text(scope))
        return stated

    def _scope_text(self, scope: Scope) -> dict[str, str]:
        """The scope and what the store holds, as language-neutral text for messages:
        {"asked": "TWN, 2050–", "held": "GRD 1771–2014; NPL 1971–2011"}."""
        period = (f"{scope.year_from or ''}–{scope.year_to or ''}"
                  if scope.year_from is not None or scope.year_to is not None else "")
        asked = ", ".join(p for p in (scope.country, scope.admin, period,
                                      _datasets_text(scope.dataset),
                                      scope.hazard) if p) or "-"
        text = self._memo(("held",), self._held)
        level = "-" if scope.level is None else str(scope.level)
        return {"asked": asked, "held": text or "-", "level": level}

    def _held(self) -> str:
        """The countries of the store with their first and last years: "GRD 1771–2014;
        NPL 1971–2011" (a pass over every card: kept on a served copy)."""
        r = self.engine.table("records")
        r = r.filter(r.start_year.notnull())
        held = r.group_by(code=r.country_iso3.fill_null("?")).aggregate(
            first=r.start_year.min(), last=r.start_year.max()).order_by("code").to_pandas()
        return "; ".join(f"{c} {int(a)}–{int(b)}" for c, a, b in held.itertuples(index=False))

    @staticmethod
    def _left_out(scope: Scope, rows: pd.DataFrame) -> list[Note]:
        """Notes on the scope's cards that the analysis does not count: those with no year
        (none can be placed in a period) and those of approval statuses not counted
        within the scope's years (read off its ledger ``rows``)."""
        undated, other = ledger.left_out(rows, scope)
        notes: list[Note] = []
        if undated:
            notes.append(("analysis.undated_left_out", {"count": undated}))
        if other:
            notes.append(("analysis.statuses_left_out", {
                "count": other, "statuses": ", ".join(scope.statuses or ())}))
        return notes

    def _ledger(self, scope: Scope) -> pd.DataFrame:
        """The scope's cards per country, year, counted status and climate flag
        (:mod:`riskatlas.analysis.ledger`): one query per scope without its years, kept
        on a served copy (every country's at once: :meth:`_kept_for`), which every year
        window of the scope reads."""
        key = ledger.ledger_key(scope)
        kept = self._kept_for(key)
        rows: pd.DataFrame = self._memo(("ledger", kept), lambda: recipes.run(
            "to_pandas", ledger.ledger, self.engine.table("records"), kept))
        if kept is key:
            return rows
        country = str(key.country).upper()  # its rows, read off once (read-only)
        mine: pd.DataFrame = self._memo(("country_ledger", key), lambda: rows[
            rows["country_iso3"] == country].reset_index(drop=True))
        return mine

    def _kept_for(self, scope: Scope, name: str = "ledger") -> Scope:
        """The scope whose ledger or sums (``name``: :meth:`_window_sums`) a served copy
        keeps for ``scope``: that of every country, when ``scope`` names one and no unit or
        hazard, whose rows are read off it (one query for all countries, instead of one per
        country: a small country's first page ran three such queries, 4–6 ms each, mostly
        planning); else ``scope`` itself (not a served copy, the records without a
        country, a unit's or a hazard's scope, or sums of every country too large to keep:
        a store of many large countries)."""
        if (self.store.memo is None or not scope.country or scope.admin or scope.hazard
                or scope.country.upper() == NO_COUNTRY):
            return scope
        every = scope.but(country=None)
        return scope if self._peek(("too_large", name, every)) else every

    def counted_statuses(self, *, include_unapproved: bool = False) -> tuple[str, ...] | None:
        """The approval statuses analyses count: the methods profile's, or every one."""
        return None if include_unapproved else self.methods.statuses()

    def scope_of(self, **scope: Any) -> Scope:
        """The :class:`Scope` of these keywords, with the defaults of the methods profile:
        ``statuses`` its statuses (published cards), unless ``include_unapproved=True``
        counts every status; its observation-period rule. No query runs."""
        unapproved = scope.pop("include_unapproved", False)
        if unapproved or "statuses" not in scope:
            scope["statuses"] = self.counted_statuses(include_unapproved=unapproved)
        scope.setdefault("period_rule", PeriodRule.of(self.methods))
        return Scope(**scope)

    def scope(self, **scope: Any) -> Scope:
        """The :class:`Scope` of an analysis (:meth:`scope_of`), with its observation
        periods worked out (:meth:`ready`)."""
        return self.ready(self.scope_of(**scope))

    def ready(self, scope: Scope) -> Scope:
        """``scope`` with the observation period of its countries worked out once (a small
        in-memory table every query of an analysis joins)."""
        import ibis

        return scope if scope.period_table is not None else scope.but(
            period_table=ibis.memtable(self._periods(scope), schema=PERIOD_SCHEMA))

    def _scope(self, scope: Scope | None, filters: dict[str, Any]) -> Scope:
        """The scope of a call: a :class:`Scope` value, or the keywords of :meth:`scope`."""
        if scope is None:
            return self.scope(**filters)
        if filters:
            raise TypeError(f"a Scope or scope keywords, not both: {', '.join(filters)}")
        return self.ready(scope)

    def _periods(self, scope: Scope) -> pd.DataFrame:
        """The observation period per country of ``scope`` (:meth:`Scope.periods`): the
        rule applied to the cards per year of its basis, read off the basis's ledger and
        kept on a served copy. The queries of an analysis join it as a small in-memory
        table (:meth:`ready`) instead of each computing the rule again."""
        from riskatlas.analysis.period import rule_of

        if scope.period_table is not None:  # worked out already (a ready scope)
            frame: pd.DataFrame = scope.period_table.op().data.to_frame()
            return frame
        basis = scope.but(admin=None, hazard=None, climate_only=False)
        return self._memo(("periods", basis.period_key()), lambda: rule_of(
            ledger.yearly(self._ledger(basis), basis), scope.period_rule,
            year_from=scope.year_from, year_to=scope.year_to))

    def _memo(self, key: tuple[Any, ...], compute: Callable[[], T],
              weigh: Callable[[T], int] | None = None) -> T:
        """``compute()``, kept for the store's lifetime when the store is a served copy
        that never changes (``store.memo``, per reader scope); else computed each time.
        ``weigh``: the value's bytes, for values kept within the memo's weight limit."""
        memo = self.store.memo
        return compute() if memo is None else memo.get((self.engine.name, *key), compute,
                                                       weigh)

    def _peek(self, key: tuple[Any, ...]) -> Any:
        """What :meth:`_memo` keeps under ``key``, if it does now; else None."""
        memo = self.store.memo
        return None if memo is None else memo.peek((self.engine.name, *key))

    def periods(self, *, by_dataset: bool = True, scope: Scope | None = None,
                **filters: Any) -> pd.DataFrame:
        """The observation period of each country of the scope (analysis/period.py):
        ``period_from``, ``period_to``, ``years``, the ``cards`` inside and those
        ``outside`` it, with the first and last year outside. With ``by_dataset``, a row
        per country × dataset follows with the period of that dataset alone (what an
        analysis of one dataset uses); the country's row (``dataset_id`` empty) is the
        period of its datasets pooled, which analyses of the country use."""
        import pandas as pd

        from riskatlas.analysis import period

        sc = self._scope(scope, filters)
        records = self.engine.table("records")
        frames = [period.summary(ledger.yearly(self._ledger(sc), sc), self._periods(sc))]
        if by_dataset:
            keys = ("country_iso3", "dataset_id")
            cards = period.yearly(sc.selected(records, []), keys).to_pandas()
            frames.append(period.summary(
                cards, sc.periods(records, by_dataset=True).to_pandas(), keys))
        frame = pd.concat(frames, ignore_index=True)
        if "dataset_id" not in frame.columns:  # country rows only
            frame["dataset_id"] = pd.NA
        frame["dataset_id"] = frame["dataset_id"].astype("Int64")
        frame["years"] = frame["period_to"] - frame["period_from"] + 1
        for column in ("outside_from", "outside_to"):
            frame[column] = frame[column].astype("Int64")
        frame = frame.sort_values(["country_iso3", "dataset_id"], na_position="first",
                                  kind="stable").reset_index(drop=True)
        first = ["country_iso3", "dataset_id", "period_from", "period_to", "years"]
        frame = frame[first + [c for c in frame.columns if c not in first]]
        return self._result(frame, "periods", sc, "en")

    def outside_period(self, *, columns: Sequence[str] = OUTSIDE_COLUMNS,
                       scope: Scope | None = None, **filters: Any) -> pd.DataFrame:
        """The cards of the scope dated outside their country's observation period (left
        out of every analysis), with that period, by date."""
        sc = self._scope(scope, filters)
        expr = sc.outside(self.engine.table("records"), keep=[*columns, "start_date"])
        expr = expr.order_by(["country_iso3", "start_date", "record_id"])
        return expr.select(*dict.fromkeys([*columns, "period_from", "period_to"])).to_pandas()

    def count_records(self, **filters: Any) -> int:
        return int(filter_records(self.table("records"), **filters).count().to_pandas())

    def profile(self, metrics: Sequence[str] = DEFAULT_METRICS, *, top: int | None = None,
                lang: str = "en", scope: Scope | None = None,
                **filters: Any) -> pd.DataFrame:
        """Each hazard's total and share (%) of every metric, per unit of ``level``
        (country when None); hazards named at ``hazard_key`` (group, hips or term)."""
        from riskatlas.analysis.profile import (
            check_metrics,
            kept_unit_hazards,
            shaped,
            unit_hazards,
            year_sums,
        )

        metrics = check_metrics(metrics)  # a bad metric says so before an empty scope
        sc = self._scope(scope, filters)
        stated = self._stated(sc)

        def compute() -> pd.DataFrame:
            # a unit's profile shares the cards' events with its risk and return levels
            # (a unit page); a country's or a level's reads them alone, so it takes them
            # only if kept, else forms them in its query
            tags = (self.event_tags(sc, kept_only=sc.admin is None)
                    if "events" in metrics else None)
            sums = self._window_sums(year_sums, sc)
            if sums is None:  # one pass over the records
                by = recipes.run("to_pyarrow", unit_hazards, self.engine.table("records"),
                                 sc, self.methods, metrics, tags)
            else:  # a served copy: the window's sums, summed (no query), and its events
                by = kept_unit_hazards(sums, metrics)
                if "events" in metrics:
                    by = by.join(self._kept_events(sc, tags), list(GROUP_KEYS),
                                 join_type="left outer")
            return shaped(by, metrics, top, sc.level)

        frame = self._kept_result(("profile", metrics, top, sc), compute)
        return self._result(frame, "profile", sc, lang, stated=stated)

    def _kept_events(self, sc: Scope, tags: ir.Table | None) -> pa.Table:
        """On a served copy: the distinct events per unit × hazard of a profile of ``sc``
        (:func:`riskatlas.analysis.profile.unit_hazard_events`). A scope whose cards are
        its events' basis counts them over the kept groups of its periods, not its cards
        (Nepal's profile page over 1975–2017, 930,466 cards: 259 → 126 ms); over every
        year, those of every country are counted once (:meth:`_kept_for`) and each
        country's read off them: a country's first profile page runs no query."""
        import ibis
        import pyarrow.compute as pc

        from riskatlas.analysis.events import whole
        from riskatlas.analysis.profile import event_groups, unit_hazard_events

        records = self.engine.table("records")
        if tags is not None or not whole(sc):
            return recipes.run("to_pyarrow", unit_hazard_events, records, sc, self.methods,
                               tags)

        def counted(scope: Scope) -> pa.Table:
            groups = self._window_sums(event_groups, scope, self.methods)
            return recipes.run("to_pyarrow", unit_hazard_events, records, _no_years(scope),
                               self.methods, None, ibis.memtable(groups))

        name = "profile.events"
        every = self._kept_for(_no_years(sc), name)
        if sc.year_from is not None or sc.year_to is not None or every.country == sc.country:
            return counted(sc)  # a window, or no country's rows to read off every country's
        kept = self._kept_across(name, every, lambda: counted(every))
        return kept.filter(pc.equal(kept["country_iso3"], str(sc.country).upper()))

    def _kept_across(self, name: str, scope: Scope, compute: Callable[[], pa.Table]
                     ) -> pa.Table:
        """``compute()``, a table of ``scope`` kept under ``name`` within the memo's weight
        limit; one of every country (:meth:`_kept_for`) too large to keep makes each
        country keep its own from then on."""
        table = self._memo((name, scope), compute, weigh=lambda t: int(t.nbytes))
        if not scope.country and self._peek((name, scope)) is None:
            self._memo(("too_large", name, scope), lambda: True)
        return table

    def events(self, *, lang: str = "en", scope: Scope | None = None,
               **filters: Any) -> pd.DataFrame:
        """Data cards grouped into events (one row per event)."""
        from riskatlas.analysis.events import EVENT_COLUMNS, SUMMED, events, whole

        sc = self._scope(scope, filters)
        stated = self._stated(sc)
        records = self.engine.table("records")
        # events form over the whole country and period: one crossing units stays whole
        basis = None if whole(sc) else sc.but(admin=None, hazard=None, climate_only=False
                                              ).records(records, keep=EVENT_COLUMNS)
        expr = events(sc.records(records, keep=[*EVENT_COLUMNS, *SUMMED]), self.methods,
                      basis=basis, tags=self.event_tags(sc))
        frame = sort_rows(expr.to_pandas(), ["country_iso3", "start_date", "event_id"])
        return self._result(frame, "events", sc, lang, stated=stated)

    def risk(self, *, lang: str = "en", scope: Scope | None = None,
             **filters: Any) -> pd.DataFrame:
        """Regional hazard-specific risk per unit × hazard: frequency, annual averages,
        per-100,000 rates, intensive/extensive split and trends."""
        from riskatlas.analysis.risk import add_trends, annual_series, risk, unit_events

        sc = self._scope(scope, filters)
        stated = self._stated(sc)
        records = self.engine.table("records")
        population = self.engine.table("population")
        kept = self.unit_events(sc)
        if kept is not None:  # a served copy or a pipeline run: formed once per scope
            frame = recipes.run("to_pandas", risk, records, population, sc, self.methods,
                                ue=kept)
            annual = recipes.run("to_pandas", annual_series, records, sc, self.methods,
                                 ue=kept)
        else:  # the events per unit, formed once for the table and its annual series
            with unit_events(records, sc, self.methods).cache() as ue:
                frame = risk(records, population, sc, self.methods, ue=ue).to_pandas()
                annual = annual_series(records, sc, self.methods, ue=ue).to_pandas()
        if sc.admin is not None:  # one unit's series (small): the unit page shows it too
            self._memo(("annual", sc), lambda: annual)
        frame = sort_rows(frame, ["country_iso3", "admin_code", "hazard"])
        frame = add_trends(frame, annual, self.methods)
        notes = [] if frame["population"].notna().any() else ["analysis.note_no_population"]
        return self._result(frame, "risk", sc, lang, notes, stated=stated)

    def annual_series(self, *, scope: Scope | None = None, **filters: Any) -> pd.DataFrame:
        """Per unit × hazard × year: events, deaths, houses destroyed and losses (the
        series of :meth:`risk`'s trends; for one unit, kept from a ``risk`` of the same
        scope on a served copy)."""
        from riskatlas.analysis.risk import annual_series

        sc = self._scope(scope, filters)

        def series() -> pd.DataFrame:
            return annual_series(self.engine.table("records"), sc, self.methods,
                                 ue=self.unit_events(sc)).to_pandas()

        if sc.admin is None:  # a whole level's series is not kept (memory)
            return series()
        return self._memo(("annual", sc), series).copy()

    def exceedance(self, metric: str = "deaths", quantity: str = "event", *,
                   lang: str = "en", scope: Scope | None = None,
                   **filters: Any) -> pd.DataFrame:
        """Empirical exceedance curve of ``metric`` per unit × hazard: one row per event
        (``quantity`` "event"), or per year with a loss ("annual_total",
        "annual_max_event")."""
        from riskatlas.analysis.risk import exceedance

        sc = self._scope(scope, filters)
        stated = self._stated(sc)
        frame = exceedance(self.engine.table("records"), sc, self.methods, metric,
                           quantity).to_pandas()
        frame = sort_rows(frame, ["country_iso3", "admin_code", "hazard", "rank"])
        return self._result(frame, "exceedance", sc, lang, extra={"quantity": quantity},
                            stated=stated)

    def return_levels(self, metric: str = "deaths", quantity: str | None = None, *,
                      lang: str = "en", scope: Scope | None = None,
                      **filters: Any) -> pd.DataFrame:
        """The level of ``metric`` reached on average once in T years, per unit × hazard
        × T, with a bootstrap interval: ``quantity`` "annual_total" (a year's total) or
        "annual_max_event" (a year's largest event); default: the methods profile's."""
        from riskatlas.analysis.risk import annual_values, bootstrap, return_levels

        quantity = quantity or str(self.methods.get("risk.return_levels.quantity"))
        sc = self._scope(scope, filters)
        stated = self._stated(sc)
        annual = annual_values(self.engine.table("records"), sc, self.methods, metric,
                               quantity, ue=self.unit_events(sc)).to_pandas()
        frame = sort_rows(return_levels(annual, self.methods),
                          ["country_iso3", "admin_code", "hazard", "return_period_years"])
        boot = bootstrap(self.methods)
        return self._result(frame, "return_levels", sc, lang, extra={
            "metric": metric, "quantity": quantity, "confidence": boot.confidence,
            "bootstrap_draws": boot.draws, "bootstrap_seed": boot.seed,
            "plotting_position": "weibull"}, stated=stated)

    def event_tags(self, scope: Scope, *, kept_only: bool = False) -> ir.Table | None:
        """The event of every card that ``scope``'s events are formed over, its period and
        whether that event is intensive (:func:`riskatlas.analysis.events.event_tags`),
        when the store keeps a memo (a served copy, a pipeline run) and the scope's country
        and period hold at most :data:`KEPT_CARDS` cards: worked out once per country and
        period, then an in-memory table that events, a unit's profile, risk and return
        levels join, none forming the events again (a country's or a level's profile
        joins them when kept, else forms them in its query). Else None: each query forms
        them itself. ``kept_only``: the tags if the memo holds them already, else None
        (for an analysis that reads them once)."""
        import ibis

        from riskatlas.analysis.events import event_tags

        if not self._keeps(scope):
            return None
        basis = scope.but(admin=None, hazard=None, climate_only=False)
        key = ("event_tags", basis.but(year_from=None, year_to=None).period_key(),
               self._card_years(basis))
        if kept_only:
            found = self._peek(key)
            return None if found is None else ibis.memtable(found)
        # events are formed whatever the level and hazard naming: one shape for all
        return self._kept_table(key, lambda: recipes.run(
            "to_pyarrow", event_tags, self.engine.table("records"),
            basis.but(level=None, hazard_key="group"), self.methods))

    def _card_years(self, scope: Scope) -> tuple[tuple[str, int, int], ...]:
        """Per country of ``scope``: the first and last year with cards it counts inside
        its observation period (off its ledger). Two year windows of a scope with the same
        hold the same cards: those of every year from the first to the last."""
        periods = self._periods(scope)
        bounds = dict(zip(periods["country_iso3"].tolist(), zip(
            periods["period_from"].tolist(), periods["period_to"].tolist(), strict=True),
            strict=True))
        cards = ledger.yearly(self._ledger(scope), scope)
        span: dict[str, tuple[int, int]] = {}
        for country, year in zip(cards["country_iso3"].tolist(),
                                 cards["start_year"].tolist(), strict=True):
            lo, hi = bounds.get(country, (0, -1))
            if lo <= year <= hi:
                first, last = span.get(country, (year, year))
                span[country] = (min(first, year), max(last, year))
        return tuple((str(c), int(lo), int(hi)) for c, (lo, hi) in sorted(span.items()))

    def _keeps(self, scope: Scope) -> bool:
        """Whether rows per card of ``scope``'s country and period are kept in the memo:
        the store keeps one and they are at most :data:`KEPT_CARDS` (memory)."""
        if self.store.memo is None:
            return False
        basis = scope.but(admin=None, hazard=None, climate_only=False)
        cards = sum(int(r["cards"]) for r in self._provenance(basis.period_key())[0][
            "by_country"])
        return cards <= KEPT_CARDS

    def unit_events(self, scope: Scope) -> ir.Table | None:
        """The events per unit × hazard of ``scope`` (ready; :func:`riskatlas.analysis.
        risk.unit_events`) worked out once when the store keeps a memo (as
        :meth:`event_tags`), as an in-memory table that risk, its annual series and return
        levels share; else None."""
        from riskatlas.analysis.risk import unit_events

        if not self._keeps(scope):
            return None
        # the event tags only when the memo lacks the unit events (a lookup and pandas)
        return self._kept_table(("unit_events", scope), lambda: recipes.run(
            "to_pyarrow", unit_events, self.engine.table("records"), scope, self.methods,
            self.event_tags(scope)))

    def _kept_table(self, key: tuple[Any, ...], fetch: Callable[[], pa.Table]) -> ir.Table:
        """The rows ``fetch()`` gives, fetched once into the memo, as an in-memory Ibis
        table."""
        import ibis

        return ibis.memtable(self._memo(key, fetch))

    def sendai(self, *, lang: str = "en", scope: Scope | None = None,
               **filters: Any) -> pd.DataFrame:
        """Sendai Framework indicators (A, B, C, D and SDG 1.5.1) per unit × year."""
        from riskatlas.analysis.sendai import sendai

        sc = self._scope(scope, filters)
        stated = self._stated(sc)
        population = self.store.table("population").to_pandas()
        frame = sendai(self.engine.table("records"), population, sc, self.methods).to_pandas()
        frame = sort_rows(frame, ["country_iso3", "admin_code", "year"])
        notes = [] if frame["population"].notna().any() else ["analysis.note_no_population"]
        return self._result(frame, "sendai", sc, lang, notes, stated=stated)

    def screen(self, *, all_hazards: bool = False, lang: str = "en",
               scope: Scope | None = None, **filters: Any) -> pd.DataFrame:
        """Units ranked by a composite risk index with class, drivers, data quality and
        rank stability; climate-related hazards unless ``all_hazards``."""
        from riskatlas.analysis import screen as sc_mod

        sc = self._screen_scope(scope, filters, all_hazards)

        def compute() -> tuple[pd.DataFrame, list[Note], list[str]]:
            found = self._indicators(sc)
            frame = sc_mod.score_units(found, self.methods)
            frame.insert(4, "level", sc.level)
            notes: list[Note] = [] if found.per_capita else ["analysis.note_absolute"]
            return frame, notes, found.hazards

        frame, notes, hazards = self._kept_result(("screen", sc), compute)
        return self._result(frame, "screen", sc, lang, notes, extra={"hazards": [*hazards]})

    def screen_ranks(self, *, all_hazards: bool = False, scope: Scope | None = None,
                     **filters: Any) -> pd.DataFrame:
        """Each unit's ``rank`` and ``score`` in :meth:`screen` (with ``country_iso3`` and
        ``admin_code``), nothing else worked out (what a page shows of a second screen);
        read off the screen when a served copy keeps it."""
        from riskatlas.analysis import screen as sc_mod

        sc = self._screen_scope(scope, filters, all_hazards)
        kept = self._peek(("result", "screen", sc))
        if kept is not None:
            return kept[0][["rank", "country_iso3", "admin_code", "score"]]
        ranks: pd.DataFrame = self._kept_result(("screen_ranks", sc), lambda: sc_mod.unit_ranks(
            self._indicators(sc), self.methods))
        return ranks.copy(deep=False)  # not the kept frame itself

    def _screen_scope(self, scope: Scope | None, filters: dict[str, Any],
                      all_hazards: bool) -> Scope:
        """The scope of a screen (its level, climate filter and hazard naming), once an
        empty scope has said so."""
        from riskatlas.analysis import screen as sc_mod

        sc = self._scope(scope, filters)
        self._stated(sc)  # an empty scope says so
        return sc_mod.screen_scope(sc, self.methods, all_hazards)

    def _indicators(self, sc: Scope) -> Indicators:
        """The screen's indicators of the units of ``sc`` (:func:`riskatlas.analysis.
        screen.indicators`); a scope with records but none screened says why."""
        import ibis

        from riskatlas.analysis import screen as sc_mod
        from riskatlas.analysis.population import unit_population

        rows = self._unit_years(sc)
        if not rows.num_rows:  # records, none screened
            located = self._unit_years(sc.but(climate_only=False)).num_rows
            key = ("analysis.no_climate_records" if sc.climate_only and located
                   else "analysis.empty_screen")
            raise EmptyScopeError(key, **self._scope_text(sc))
        grid = sc_mod.unit_grid(rows, self._gazetteer(sc))
        population = None
        if self._memo(("population_rows", sc.level), lambda: sc_mod.population_rows(
                self.engine.table("population"), sc.level)):
            population = unit_population(self.engine.table("population"), sc.level,
                                         ibis.memtable(sc_mod.coverage(rows))).to_pyarrow()
        return sc_mod.indicators(rows, grid, self.methods, population)

    def _unit_years(self, sc: Scope) -> pa.Table:
        """The screen's one pass over the records (:func:`riskatlas.analysis.screen.
        unit_years`), fetched: a small table the indicators are worked out from; on a
        served copy read off the kept sums of every year (:meth:`_window_sums`)."""
        from riskatlas.analysis import screen as sc_mod

        kept = self._window_sums(sc_mod.every_year_sums, sc)
        if kept is None:
            return recipes.run("to_pyarrow", sc_mod.unit_years, self.engine.table("records"),
                               sc)
        return kept.select(list(sc_mod.UNIT_YEAR_COLUMNS))

    def _gazetteer(self, sc: Scope) -> pa.Table | None:
        """The gazetteer's units of the screen's level (``country_iso3``, ``code``,
        ``name``), screened at zero where they have no records: for a whole-country scope
        (else None); kept on a served copy."""
        if sc.admin is not None or sc.level is None:
            return None
        level = sc.level

        def read() -> pa.Table:
            units = self.engine.table("admin_units")
            return units.filter(units.level == level).select(
                "country_iso3", "code", "name").to_pyarrow()

        return self._memo(("gazetteer", level), read)

    def _window_sums(self, sums: Callable[..., ir.Table], sc: Scope, *args: Any
                     ) -> pa.Table | None:
        """On a served copy, ``sums(records, scope, *args)`` (a table per unit × hazard × year of
        the scope without its years: small whatever the cards) fetched once per scope
        (every country's at once: :meth:`_kept_for`) and builder, and the rows of ``sc``'s
        countries, window and observation period read off it
        (:func:`riskatlas.analysis.period.in_period`) for every window; else None."""
        from riskatlas.analysis.period import in_period

        if self.store.memo is None:
            return None
        name = f"{sums.__module__}.{sums.__qualname__}"
        every = self._kept_for(_no_years(sc), name)
        kept = self._kept_across(name, every, lambda: recipes.run(
            "to_pyarrow", sums, self.engine.table("records"), every, *args))
        # the rows of the scope's countries (those of its periods) in its window
        return in_period(kept, self._periods(sc), sc.year_from, sc.year_to)

    def outside_screen(self, *, lang: str = "en", scope: Scope | None = None,
                       **filters: Any) -> pd.DataFrame:
        """What the climate-related screen leaves out, per unit (country when ``level`` is
        None) × hazard: records, deaths, directly affected and houses destroyed of the cards
        that are not climate-related, with their share (%) of the unit's whole total."""
        from riskatlas.analysis.profile import year_sums
        from riskatlas.analysis.screen import kept_outside_sums, outside_screen, outside_sums

        sc = self._scope(scope, filters)
        stated = self._stated(sc)

        def compute() -> pd.DataFrame:
            sums = self._window_sums(year_sums, sc.but(climate_only=False))
            by = (recipes.run("to_pyarrow", outside_sums, self.engine.table("records"), sc)
                  if sums is None else kept_outside_sums(sums))
            return outside_screen(by)

        frame = self._kept_result(("outside_screen", sc), compute)
        return self._result(frame, "outside_screen", sc, lang, stated=stated)

    def _kept_result(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """``compute()`` (a result's frame before it is labelled in a language, which
        labels a new frame, alone or with its notes), kept on a served copy within the
        memo's weight limit (:meth:`_memo`)."""
        return self._memo(("result", *key), compute, weigh=_result_bytes)

    def _result(self, frame: pd.DataFrame, analysis: str, scope: Scope, lang: str,
                notes: Sequence[Note] = (), extra: dict[str, Any] | None = None,
                stated: Provenance | None = None) -> pd.DataFrame:
        """``frame`` labelled; ``stated``: the scope's :meth:`_provenance`, when the
        analysis has it already."""
        used, left_out = copy.deepcopy(stated or self._provenance(scope))
        return labelled(frame, analysis=analysis, scope=scope, methods=self.methods,
                        engine=self.engine.name, lang=lang, notes=[*notes, *left_out],
                        extra=extra, period=used)

    def _provenance(self, scope: Scope) -> Provenance:
        """What every result of ``scope`` states (the same whatever its level or hazard
        naming, so worked out once per served copy): its observation periods and the notes
        on the cards it leaves out."""
        from riskatlas.analysis import period

        def compute() -> Provenance:
            rows = self._ledger(scope)
            cards = ledger.yearly(rows, scope)
            used = period.stamp(period.summary(cards, self._periods(scope)), scope.period_rule)
            outside = period.outside_note(used)
            return used, [*self._left_out(scope, rows), *([outside] if outside else [])]

        return self._memo(("provenance", scope.period_key()), compute)


def _no_years(scope: Scope) -> Scope:
    """``scope`` without its years (nor its periods, which follow them): the key of the
    sums kept for all its windows, and the scope of a query over a window's sums, which
    neither enters (every window of a scope one shape, one recipe)."""
    return scope.but(year_from=None, year_to=None, period_table=None)


def _result_bytes(result: object) -> int:
    """About the memory a kept result (a frame, or a tuple starting with one) holds."""
    frame = cast("pd.DataFrame", result[0] if isinstance(result, tuple) else result)
    return int(frame.memory_usage(index=True, deep=False).sum()) + 64 * int(frame.size)


def _datasets_text(dataset: int | tuple[int, ...] | None) -> str:
    """"#3" or "#3, #4": the datasets of a scope, for messages."""
    if dataset is None:
        return ""
    return ", ".join(f"#{d}" for d in ((dataset,) if isinstance(dataset, int) else dataset))


def describe_levels(attrs: dict[str, Any], lang: str) -> str:
    """How return levels were computed, in ``lang`` (:func:`riskatlas.analysis.levels.
    describe`; numpy loads on first use)."""
    from riskatlas.analysis.levels import describe

    return describe(attrs, lang)
