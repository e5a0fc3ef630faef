"""One assessment: every analysis a report needs, computed once over one scope.

:func:`assess` runs profile, events, risk, Sendai indicators and the screen, then the
advice engine and the peer search, and returns an :class:`Assessment` that the report
writers (HTML/PDF, CSV/XLSX) and the CLI only format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from riskatlas.advice.catalogue import CaseLibrary, Catalogue, load_cases, load_measures
from riskatlas.advice.engine import Advice, advice_frame, advise
from riskatlas.advice.peers import PeerRules, peers, store_features
from riskatlas.analysis.profile import DEFAULT_METRICS
from riskatlas.analysis.results import note_texts
from riskatlas.analysis.scope import NO_COUNTRY, filter_records
from riskatlas.errors import AnalysisError, EmptyScopeError
from riskatlas.i18n import translate

if TYPE_CHECKING:
    from riskatlas.api import Atlas

REPORT_METRICS = (*DEFAULT_METRICS[:1], "events", *DEFAULT_METRICS[1:])
MIN_UNITS_FOR_LEVEL = 10


@dataclass
class Assessment:
    """The results behind one report (all frames carry their scope in ``attrs``)."""

    country: str | None
    level: int
    year_from: int | None
    year_to: int | None
    lang: str
    datasets: pd.DataFrame
    profile: pd.DataFrame          # whole scope (country level), every report metric
    unit_profile: pd.DataFrame     # per unit of ``level``
    risk: pd.DataFrame             # per unit × hazard
    return_levels: pd.DataFrame    # deaths, per unit × hazard × T
    sendai: pd.DataFrame           # per country × year
    unit_sendai: pd.DataFrame      # per unit × year
    events: pd.DataFrame
    annual: pd.DataFrame           # per unit × hazard × year: events and deaths
    screen: pd.DataFrame           # climate-related hazards (methods screen.climate_only)
    advice: list[Advice]
    peers: dict[tuple[str, str], pd.DataFrame]
    units: pd.DataFrame            # gazetteer of the level, with GeoJSON where loaded
    records: pd.DataFrame          # the records behind every figure (ids and values)
    catalogue: Catalogue
    cases: CaseLibrary
    top: int
    notes: list[str] = field(default_factory=list)  # in ``lang``
    statuses: tuple[str, ...] | None = None  # approval statuses counted (None: every one)
    # every hazard: the all-hazard screen next to the climate-related one (empty when the
    # screen already counts every hazard), and what the climate screen leaves out
    all_screen: pd.DataFrame = field(default_factory=pd.DataFrame)
    outside: pd.DataFrame = field(default_factory=pd.DataFrame)       # whole scope
    unit_outside: pd.DataFrame = field(default_factory=pd.DataFrame)  # per unit
    dataset_scope: tuple[int, ...] | None = None  # the datasets asked for (assess FILE…)
    # values not taken as read, by dataset, rule and field (Atlas.quality_summary)
    quality: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def top_units(self) -> pd.DataFrame:
        return self.screen[self.screen["rank"].notna()].sort_values("rank").head(self.top)

    @property
    def period(self) -> tuple[int | None, int | None]:
        p = self.profile
        if not len(p):
            return self.year_from, self.year_to
        return int(p["period_from"].min()), int(p["period_to"].max())

    def advice_table(self) -> pd.DataFrame:
        return advice_frame(self.advice, self.lang)

    def advice_for(self, unit: tuple[str, str]) -> list[Advice]:
        return [a for a in self.advice if (a.country_iso3, a.admin_code) == unit]


def choose_level(atlas: Atlas, **scope: Any) -> int:
    """The shallowest admin level with at least 10 units with records (else the deepest
    level with any): the "cities or districts" of the data."""
    counts = {}
    for level in (0, 1, 2):
        r = atlas.records(limit=None, columns=[f"level{level}_code"], **scope)
        counts[level] = r[f"level{level}_code"].dropna().nunique()
        if counts[level] >= MIN_UNITS_FOR_LEVEL:
            return level
    with_units = [lv for lv, n in counts.items() if n]
    return max(with_units) if with_units else 0


def assess(atlas: Atlas, *, country: str | None = None, level: int | None = None,
           year_from: int | None = None, year_to: int | None = None, lang: str = "en",
           top: int = 5, peers_k: int = 5, measures: Sequence[Path] = (),
           cases: Sequence[Path] = (), datasets: Sequence[int] = (),
           include_unapproved: bool = False) -> Assessment:
    """Run every analysis of a report over one scope: ``datasets`` (all when empty) of one
    country (``country``, else the only one they hold), counting the approval statuses of
    the methods profile, or every status with ``include_unapproved``."""
    statuses = atlas.counted_statuses(include_unapproved=include_unapproved)
    base: dict[str, Any] = {"year_from": year_from, "year_to": year_to,
                            "dataset": tuple(sorted(set(datasets))) or None,
                            "statuses": statuses}
    country = country.upper() if country else only_country(atlas, base)
    scope: dict[str, Any] = {"country": country, **base}
    if level is None:
        level = choose_level(atlas, **scope)
    unit_scope = {**scope, "level": level}
    catalogue = load_measures(extra=measures)
    library = load_cases(measures=catalogue, extra=cases)
    profile = atlas.profile(REPORT_METRICS, lang=lang, **scope)
    unit_profile = atlas.profile(REPORT_METRICS, lang=lang, **unit_scope)
    risk = atlas.risk(lang=lang, **unit_scope)
    screen, all_screen, screen_notes = screens(atlas, lang, **unit_scope)
    advice = advise(screen, unit_profile, risk, catalogue, library, top=top)
    features = peer_features(atlas, year_from, year_to)
    rules = PeerRules.of(atlas.methods.get("peers"))
    peer_lists = {(u.country_iso3, u.admin_code): peers(features, (u.country_iso3, u.admin_code),
                                                        k=peers_k, level=level, rules=rules)
                  for u in screen.sort_values("rank").head(top).itertuples()}
    annual = _annual(atlas, unit_scope)
    records = _records(atlas, unit_scope)
    return Assessment(
        country=country, level=level, year_from=year_from, year_to=year_to, lang=lang,
        datasets=in_scope(atlas.datasets(), records), profile=profile,
        unit_profile=unit_profile, risk=risk,
        return_levels=atlas.return_levels("deaths", lang=lang, **unit_scope),
        sendai=atlas.sendai(lang=lang, **scope), unit_sendai=atlas.sendai(lang=lang, **unit_scope),
        events=atlas.events(lang=lang, **scope), annual=annual, screen=screen, advice=advice,
        peers=peer_lists, units=units_of(atlas, level, country),
        records=records, statuses=statuses, all_screen=all_screen,
        outside=atlas.outside_screen(lang=lang, **scope),
        unit_outside=atlas.outside_screen(lang=lang, **unit_scope), dataset_scope=base["dataset"],
        catalogue=catalogue, cases=library, top=top,
        quality=in_scope(atlas.quality_summary(), records),
        notes=[*screen_notes, *note_texts([risk.attrs, screen.attrs], lang)])


def screens(atlas: Atlas, lang: str, **scope: Any
            ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The screen of the methods profile (climate-related hazards) with each unit's
    all-hazard rank and score next to its own (``all_hazards_rank``, ``all_hazards_score``),
    the all-hazard screen, and notes. Where no climate-related hazard is recorded, the
    all-hazard screen stands in, and a note says so."""
    try:
        screen = atlas.screen(lang=lang, **scope)
    except EmptyScopeError as exc:
        if exc.key != "analysis.no_climate_records":
            raise
        every = atlas.screen(all_hazards=True, lang=lang, **scope)
        return every, pd.DataFrame(), [translate("report.screen_every_hazard", lang)]
    if not screen.attrs["scope"]["climate_only"]:
        return screen, pd.DataFrame(), []
    every = atlas.screen(all_hazards=True, lang=lang, **scope)
    columns = every[["country_iso3", "admin_code", "rank", "score"]].rename(
        columns={"rank": "all_hazards_rank", "score": "all_hazards_score"})
    merged = screen.merge(columns, on=["country_iso3", "admin_code"], how="left")
    merged.attrs = screen.attrs
    climate = screen[["country_iso3", "admin_code", "rank"]].rename(
        columns={"rank": "climate_rank"})
    every_with = every.merge(climate, on=["country_iso3", "admin_code"], how="left")
    every_with.attrs = every.attrs
    return merged, every_with, []


def only_country(atlas: Atlas, scope: dict[str, Any]) -> str | None:
    """The one country of the scope's records (None when it holds none); several countries
    ask for ``--country``, since shares and ranks never mix countries."""
    import ibis

    r = filter_records(atlas.table("records"), **scope)
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


def peer_features(atlas: Atlas, year_from: int | None = None,
                  year_to: int | None = None) -> pd.DataFrame:
    """Peer features of every located unit of every level in the store, all countries:
    hazard shares, annual records and deaths, and the kind of unit (advice/peers.py)."""
    return store_features(atlas, year_from, year_to)


def _annual(atlas: Atlas, scope: dict[str, Any]) -> pd.DataFrame:
    from riskatlas.analysis.risk import annual_series

    return annual_series(atlas.engine.table("records"), atlas.scope(**scope),
                         atlas.methods).to_pandas()


def units_of(atlas: Atlas, level: int, country: str | None) -> pd.DataFrame:
    """The gazetteer of one level, with GeoJSON where boundaries are loaded."""
    units = atlas.table("admin_units")
    units = units.filter(units.level == level)
    if country:
        units = units.filter(units.country_iso3 == country.upper())
    return units.select("country_iso3", "code", "name", "centroid_lon", "centroid_lat",
                        "geometry").order_by(["country_iso3", "code"]).to_pandas()


def _records(atlas: Atlas, scope: dict[str, Any]) -> pd.DataFrame:
    """Every record in scope with the keys and values the figures count: those dated
    inside the period of record (the others are in the notes: riskatlas periods --outside)."""
    level = scope["level"]
    columns = ["record_id", "dataset_id", "country_iso3", f"level{level}_code",
               f"level{level}_name", "start_date", "date_precision", "hazard_term", "hips_code",
               "hazard_group", "deaths", "missing", "injured", "directly_affected",
               "houses_destroyed", "houses_damaged", "losses_usd", "approval_status"]
    filters = {k: v for k, v in scope.items() if k != "level"}
    frame = atlas.records(limit=None, columns=columns, **filters)
    outside = atlas.outside_period(columns=["record_id"], **filters)["record_id"]
    return frame[~frame["record_id"].isin(outside)].reset_index(drop=True)
