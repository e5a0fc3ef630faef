"""One assessment: every analysis a report needs, computed once over one scope.

:func:`assess` gathers profile, events, risk, Sendai indicators and the screen from an
:class:`~riskatlas.analyses.Analyses` (a store's tables and analyses), then runs the advice
engine and the peer search, and returns an :class:`~riskatlas.assessment.value.Assessment`.
The other functions build the parts of one that the web pages show (one unit, a screen,
the advice of a scope).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from riskatlas.advice.catalogue import CaseLibrary, Catalogue, load_cases, load_measures
from riskatlas.advice.engine import advice_frame, advise
from riskatlas.advice.peers import PeerRules, peers
from riskatlas.analysis.results import note_texts
from riskatlas.analysis.scope import LEVELS, NO_COUNTRY, UNIT_KEYS, Scope, filter_records
from riskatlas.analysis.tables import rows_in
from riskatlas.assessment.linking import LinkingSection
from riskatlas.assessment.linking import section as linking_section
from riskatlas.assessment.national import with_national
from riskatlas.assessment.peers import peer_features, unit_peers
from riskatlas.assessment.value import REPORT_METRICS, Assessment
from riskatlas.errors import AnalysisError, EmptyScopeError
from riskatlas.i18n import translate
from riskatlas.store.memo import Memo

if TYPE_CHECKING:
    from riskatlas.analyses import Analyses
    from riskatlas.analysis.methods import Methods

MIN_UNITS_FOR_LEVEL = 10
T = TypeVar("T")


# the steps of :func:`assess`, in order, as its ``progress`` callback names them (the CLI
# words each one through the catalogue key ``assess.step.<name>``)
STEPS = ("scope", "profile", "risk", "screen", "peers", "records", "indicators")
Progress = Callable[[str], None]


def assess(analyses: Analyses, scope: Scope, *, lang: str = "en", top: int = 5,
           peers_k: int = 5, measures: Sequence[Path] = (),
           cases: Sequence[Path] = (), progress: Progress | None = None) -> Assessment:
    """Run every analysis of a report over ``scope``: its datasets (all when None) of its
    country (else the only one they hold), counting its approval statuses, per unit of its
    level (None: :func:`choose_level`, the data's cities or districts). ``measures`` and
    ``cases`` are catalogue files extending the shipped ones. ``progress`` is told each of
    :data:`STEPS` as it starts. What the analyses state of a scope (its periods, the cards
    left out, the tables' schemas) is worked out once for the whole run (:func:`run_memo`)."""
    step = progress or (lambda _name: None)
    with run_memo(analyses):
        step("scope")
        country = scope.country.upper() if scope.country else only_country(analyses, scope)
        whole = analyses.ready(scope.but(country=country, level=None))
        level = scope.level if scope.level is not None else choose_level(analyses, whole)
        units = whole.but(level=level)
        if measures or cases:
            catalogue = load_measures(extra=measures)
            library = load_cases(measures=catalogue, extra=cases)
        else:  # the shipped ones, validated once per process
            catalogue, library = catalogues()
        step("profile")
        analyses.event_tags(whole)  # formed once for the profiles, risk and return levels
        profile = analyses.profile(REPORT_METRICS, lang=lang, scope=whole)
        unit_profile = analyses.profile(REPORT_METRICS, lang=lang, scope=units)
        step("risk")
        risk = analyses.risk(lang=lang, scope=units)
        return_levels = analyses.return_levels("deaths", lang=lang, scope=units)
        step("screen")
        screen, all_screen, screen_notes = screens(analyses, lang, units)
        advice = advise(screen, unit_profile, risk, catalogue, library, top=top)
        step("peers")
        features = kept(analyses, ("peer_features", scope.year_from, scope.year_to),
                        lambda: peer_features(analyses, scope.year_from, scope.year_to))
        rules = PeerRules.of(analyses.methods.get("peers"))
        peer_lists = {(u.country_iso3, u.admin_code): peers(
            features, (u.country_iso3, u.admin_code), k=peers_k, level=level, rules=rules)
            for u in screen.sort_values("rank").head(top).itertuples()}
        step("records")
        annual = annual_of(analyses, units)
        records = records_of(analyses, whole, level)
        dataset = (scope.dataset,) if isinstance(scope.dataset, int) else scope.dataset
        linking = linking_section(analyses, country, lang, dataset)
        step("indicators")
        return with_national(Assessment(
            country=country, level=level, year_from=scope.year_from, year_to=scope.year_to,
            lang=lang, datasets=in_scope(analyses.datasets(), records), profile=profile,
            unit_profile=unit_profile, risk=risk, return_levels=return_levels,
            sendai=analyses.sendai(lang=lang, scope=whole),
            unit_sendai=analyses.sendai(lang=lang, scope=units),
            events=analyses.events(lang=lang, scope=whole), annual=annual, screen=screen,
            advice=advice, peers=peer_lists, units=units_of(analyses, level, country),
            records=records, statuses=scope.statuses, all_screen=all_screen,
            outside=analyses.outside_screen(lang=lang, scope=whole),
            unit_outside=analyses.outside_screen(lang=lang, scope=units),
            dataset_scope=dataset, catalogue=catalogue, cases=library, top=top,
            quality=in_scope(analyses.quality_summary(), records),
            linking=linking, notes=[*screen_notes, *note_texts([risk.attrs, screen.attrs], lang),
                                    *linking_notes(linking, lang)]), analyses.methods)


def assess_languages(analyses: Analyses, scope: Scope, langs: Sequence[str], *,
                     top: int = 5, peers_k: int = 5, measures: Sequence[Path] = (),
                     cases: Sequence[Path] = (), progress: Progress | None = None
                     ) -> dict[str, Assessment]:
    """:func:`assess` in each of ``langs``, the analyses run once: the results differ
    between languages only in their names and notes (:func:`in_language`)."""
    first = assess(analyses, scope, lang=langs[0], top=top, peers_k=peers_k,
                   measures=measures, cases=cases, progress=progress)
    out = {langs[0]: first}
    for lang in langs[1:]:
        linking = (linking_section(analyses, first.country, lang, first.dataset_scope)
                   if first.linking is not None else None)
        out[lang] = in_language(first, lang, linking=linking, methods=analyses.methods)
    return out


def in_language(a: Assessment, lang: str, *, linking: LinkingSection | None = None,
                methods: Methods | None = None) -> Assessment:
    """``a`` in ``lang``: hazard names, country names of country-level results and notes
    worded again (every figure is the same); ``linking``: the linked-sources section in
    ``lang`` (None keeps ``a``'s); ``methods``: the profile that the national figures
    are worked out with again (None keeps ``a``'s)."""
    if lang == a.lang:
        return a
    changes: dict[str, Any] = {
        f.name: relabel(getattr(a, f.name), lang) for f in fields(a)
        if isinstance(getattr(a, f.name), pd.DataFrame)}
    changes["peers"] = {k: relabel(v, lang) for k, v in a.peers.items()}
    linking = linking if linking is not None else a.linking
    every_hazard = translate("report.screen_every_hazard", a.lang) in a.notes
    notes = [*([translate("report.screen_every_hazard", lang)] if every_hazard else []),
             *note_texts([a.risk.attrs, a.screen.attrs], lang), *linking_notes(linking, lang)]
    out = replace(a, lang=lang, linking=linking, notes=notes, **changes)
    return with_national(out, methods) if methods is not None else out


def relabel(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """A result of :mod:`riskatlas.analyses` (or a frame with ``hazard`` and
    ``hazard_name``) with its names in ``lang``, as ``labelled`` words them."""
    from riskatlas.analysis.results import hazard_name
    from riskatlas.model.countries import country_name

    country_level = "analysis" in frame.attrs and \
        frame.attrs.get("scope", {}).get("level") is None
    hazards = {"hazard", "hazard_name"} <= set(frame.columns)
    if not hazards and not (country_level and "admin_name" in frame.columns):
        return frame
    out = frame.copy()
    out.attrs = copy.deepcopy(frame.attrs)
    if hazards:
        names = {k: hazard_name(k, lang) for k in out["hazard"].unique()}
        out["hazard_name"] = out["hazard"].map(names)
    if country_level and "admin_name" in out.columns and len(out):
        out["admin_name"] = [country_name(c, lang) if c != NO_COUNTRY else c
                             for c in out["country_iso3"]]
    return out


@contextmanager
def run_memo(analyses: Analyses) -> Iterator[None]:
    """What the analyses keep of a store (its schemas, the periods and provenance of each
    scope) kept for one run of the pipeline, when the store keeps nothing itself (a served
    copy has its own memo): the store does not change while this process holds it."""
    store = analyses.store
    if store.memo is not None:
        yield
        return
    store.memo = Memo()
    try:
        yield
    finally:
        store.memo = None


def linking_notes(linking: LinkingSection | None, lang: str) -> list[str]:
    """When the scope holds both kinds of source, the figures count a disaster each holds
    once per source: a note says so and how to count one source."""
    if linking is None:
        return []
    names = sorted({str(p[k]) for p in linking.pairs for k in ("from", "to")})
    return [translate("link.report.both_counted", lang, sources=", ".join(names))]


def choose_level(analyses: Analyses, scope: Scope) -> int:
    """The shallowest admin level with at least 10 units with records (else the deepest
    level with any): the "cities or districts" of the data."""
    def count() -> dict[int, int]:  # one query for every level (kept on a served copy)
        r = filter_records(analyses.table("records"), **scope.filters())
        (row,) = r.aggregate(**{f"units{lv}": r[f"level{lv}_code"].nunique()
                                for lv in LEVELS}).to_pyarrow().to_pylist()
        return {lv: int(row[f"units{lv}"] or 0) for lv in LEVELS}

    counts = kept(analyses, ("units_per_level", *scope.filters().items()), count)
    for level in LEVELS:
        if counts[level] >= MIN_UNITS_FOR_LEVEL:
            return level
    with_units = [lv for lv, n in counts.items() if n]
    return max(with_units) if with_units else 0


def screens(analyses: Analyses, lang: str, scope: Scope, *, every_ranked: bool = False
            ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The screen of the methods profile (climate-related hazards) with each unit's
    all-hazard rank and score next to its own (``all_hazards_rank``, ``all_hazards_score``),
    the all-hazard screen, and notes. Where no climate-related hazard is recorded, the
    all-hazard screen stands in, and a note says so. ``every_ranked``: of the all-hazard
    screen, its ranks and scores only (what a page shows of it)."""
    try:
        screen = analyses.screen(lang=lang, scope=scope)
    except EmptyScopeError as exc:
        if exc.key != "analysis.no_climate_records":
            raise
        every = analyses.screen(all_hazards=True, lang=lang, scope=scope)
        return every, pd.DataFrame(), [translate("report.screen_every_hazard", lang)]
    if not screen.attrs["scope"]["climate_only"]:
        return screen, pd.DataFrame(), []
    every = (analyses.screen_ranks(all_hazards=True, scope=scope) if every_ranked
             else analyses.screen(all_hazards=True, lang=lang, scope=scope))
    # each unit's place in the other screen, looked up
    in_every, in_screen = (rows_in(a, b, UNIT_KEYS) for a, b in ((screen, every),
                                                                 (every, screen)))
    merged = screen.assign(
        all_hazards_rank=every["rank"].array.take(in_every, allow_fill=True),
        all_hazards_score=every["score"].array.take(in_every, allow_fill=True))
    every_with = every.assign(
        climate_rank=screen["rank"].array.take(in_screen, allow_fill=True))
    return merged, every_with, []


def only_country(analyses: Analyses, scope: Scope) -> str | None:
    """The one country of the scope's records (None when it holds none); several countries
    ask for ``--country``, since shares and ranks never mix countries."""
    import ibis

    r = filter_records(analyses.table("records"), **scope.filters())
    counts = r.group_by(code=r.country_iso3.fill_null(NO_COUNTRY)).aggregate(
        cards=r.count()).order_by([ibis.desc("cards"), "code"]).to_pandas()
    if len(counts) > 1:
        raise AnalysisError("assess.several_countries", countries=", ".join(
            f"{c} ({n:,})" for c, n in counts.itertuples(index=False)),
            country=counts["code"].iloc[0])
    return str(counts["code"].iloc[0]) if len(counts) else None


def in_scope(frame: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` (datasets, quality) about the datasets of ``records``."""
    return frame[frame["dataset_id"].isin(records["dataset_id"].unique())].reset_index(
        drop=True)


def annual_of(analyses: Analyses, scope: Scope) -> pd.DataFrame:
    """Per unit × hazard × year of the scope: events, deaths, houses destroyed, losses
    (from the events per unit that risk formed, when the run keeps them)."""
    return analyses.annual_series(scope=analyses.ready(scope))


def units_of(analyses: Analyses, level: int, country: str | None) -> pd.DataFrame:
    """The gazetteer of one level, with GeoJSON where boundaries are loaded (kept on a
    served copy: a copy handed out)."""
    def read() -> pd.DataFrame:
        units = analyses.table("admin_units")
        units = units.filter(units.level == level)
        if country:
            units = units.filter(units.country_iso3 == country.upper())
        return units.select("country_iso3", "code", "name", "centroid_lon", "centroid_lat",
                            "geometry").order_by(["country_iso3", "code"]).to_pandas()

    return kept(analyses, ("units", level, country and country.upper()), read,
                weigh=lambda frame: int(frame.memory_usage(deep=True).sum())).copy()


def records_of(analyses: Analyses, scope: Scope, level: int) -> pd.DataFrame:
    """Every record of ``scope`` with the keys (units of ``level``) and values the figures
    count: those dated inside the period of record (the others are in the notes:
    riskatlas periods --outside)."""
    columns = ["record_id", "dataset_id", "country_iso3", f"level{level}_code",
               f"level{level}_name", "start_date", "date_precision", "hazard_term", "hips_code",
               "hazard_group", "deaths", "missing", "injured", "directly_affected",
               "houses_destroyed", "houses_damaged", "losses_usd", "approval_status"]
    frame = analyses.records(limit=None, columns=columns, **scope.filters())
    outside = analyses.outside_period(columns=["record_id"], scope=scope)["record_id"]
    return frame[~frame["record_id"].isin(outside)].reset_index(drop=True)


# --- the parts the web pages show ---------------------------------------------------------

@cache
def catalogues() -> tuple[Catalogue, CaseLibrary]:
    """The shipped measure catalogue and case library, validated once per process."""
    catalogue = load_measures()
    return catalogue, load_cases(measures=catalogue)


def advice_table(analyses: Analyses, scope: Scope, *, top: int | None,
                 lang: str) -> pd.DataFrame:
    """The advice of :func:`assess` for the ``top`` screened units of ``scope`` (its level
    set), with the shipped catalogues."""
    catalogue, library = catalogues()
    screen = analyses.screen(lang=lang, scope=scope)
    analyses.event_tags(scope)  # formed once for the profile and the risk
    profile = analyses.profile(REPORT_METRICS, lang=lang, scope=scope)
    risk = analyses.risk(lang=lang, scope=scope)
    frame = advice_frame(advise(screen, profile, risk, catalogue, library, top=top), lang)
    frame.attrs = {**screen.attrs, "analysis": "advice", "catalogue": catalogue.version,
                   "cases": library.version}
    return frame


def unit_assessment(analyses: Analyses, scope: Scope, code: str, *, lang: str,
                    peers_k: int = 5) -> Assessment | None:
    """An :class:`Assessment` holding one unit ``code`` of ``scope``'s country and level
    (its screen row, profile, risk, annual series, return levels, Sendai indicators, advice
    and peers), so that the report's ``unit_pages`` renders it; None when the unit is not
    in the screen."""
    country = (scope.country or "").upper()
    scope = analyses.ready(scope.but(country=country))
    one = scope.but(admin=code)
    screen, _, screen_notes = kept_screens(analyses, lang, scope)
    row = screen[(screen["country_iso3"] == country) & (screen["admin_code"] == code)]
    if not len(row):
        return None
    catalogue, library = catalogues()
    unit_profile = analyses.profile(REPORT_METRICS, lang=lang, scope=one)
    risk = analyses.risk(lang=lang, scope=one)
    mine = advise(screen, unit_profile, risk, catalogue, library, only=(country, code))
    annual = analyses.annual_series(scope=one)
    peer_frame = unit_peers(analyses, country, code, level=scope.level, k=peers_k,
                            year_from=scope.year_from, year_to=scope.year_to,
                            features=kept(analyses, ("peer_features", scope.year_from,
                                                     scope.year_to), lambda: peer_features(
                                analyses, scope.year_from, scope.year_to)))
    return Assessment.of(
        lang=lang, catalogue=catalogue, cases=library, country=country,
        level=scope.level or 0, year_from=scope.year_from, year_to=scope.year_to, top=1,
        profile=unit_profile, unit_profile=unit_profile, risk=risk,
        return_levels=analyses.return_levels("deaths", lang=lang, scope=one),
        unit_sendai=analyses.sendai(lang=lang, scope=one), annual=annual, screen=row,
        advice=mine, peers={(country, code): peer_frame},
        unit_outside=analyses.outside_screen(lang=lang, scope=one),
        notes=[*screen_notes, *note_texts([risk.attrs, screen.attrs], lang)])


def kept(analyses: Analyses, key: tuple[Any, ...], compute: Callable[[], T],
         weigh: Callable[[T], int] | None = None) -> T:
    """``compute()``, kept in the store's memo when it has one (a served copy, which
    never changes: every unit page of a scope shares it); else computed each time.
    ``weigh``: the value's bytes, for values kept within the memo's weight limit."""
    memo = analyses.store.memo
    return compute() if memo is None else memo.get((analyses.engine.name, *key), compute,
                                                   weigh)


def kept_screens(analyses: Analyses, lang: str, scope: Scope
                 ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """:func:`screens` of ``scope``, the frames kept once for every language (they hold no
    names in a language; only the note is worded in ``lang``), copies handed out."""
    screen, every, notes = kept(analyses, ("screens", scope, scope.level),
                                lambda: screens(analyses, "en", scope))
    if notes:
        notes = [translate("report.screen_every_hazard", lang)]
    return screen.copy(), every.copy(), notes


def screen_assessment(analyses: Analyses, scope: Scope, *, lang: str, top: int,
                      all_hazards: bool = False) -> Assessment:
    """An :class:`Assessment` with the screen of ``scope`` (its level set) and the
    gazetteer of its level, so that the report's ``screen_rows`` and ``maps`` render it;
    of the all-hazard screen, the ranks and scores (a page shows no more of it)."""
    every, notes = pd.DataFrame(), list[str]()
    if all_hazards:
        screen = analyses.screen(all_hazards=True, lang=lang, scope=scope)
    else:
        screen, every, notes = screens(analyses, lang, scope, every_ranked=True)
    outside = (analyses.outside_screen(lang=lang, scope=scope.but(level=None)) if len(every)
               else pd.DataFrame())
    level = scope.level or 0
    catalogue, library = catalogues()
    return Assessment.of(
        lang=lang, catalogue=catalogue, cases=library, country=scope.country, level=level,
        year_from=scope.year_from, year_to=scope.year_to, top=top, screen=screen,
        units=units_of(analyses, level, scope.country), all_screen=every, outside=outside,
        notes=[*notes, *note_texts([screen.attrs], lang)])


def profile_assessment(profile: pd.DataFrame, lang: str) -> Assessment:
    """An :class:`Assessment` holding a profile, for the report's ``profile_sections``."""
    catalogue, library = catalogues()
    return Assessment.of(lang=lang, catalogue=catalogue, cases=library, profile=profile)
