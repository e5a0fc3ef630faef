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
    screen: pd.DataFrame
    advice: list[Advice]
    peers: dict[tuple[str, str], pd.DataFrame]
    units: pd.DataFrame            # gazetteer of the level, with GeoJSON where loaded
    records: pd.DataFrame          # the records behind every figure (ids and values)
    catalogue: Catalogue
    cases: CaseLibrary
    top: int
    notes: list[str] = field(default_factory=list)
    # values not taken as read, by dataset, rule and field (Atlas.quality_summary)
    quality: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def top_units(self) -> pd.DataFrame:
        return self.screen.sort_values("rank").head(self.top)

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
           cases: Sequence[Path] = ()) -> Assessment:
    """Run every analysis of a report over one scope (the store's only country when it
    holds one and ``country`` is not given)."""
    if country is None:
        countries = atlas.table("records").country_iso3.fill_null("").nunique()
        if int(countries.to_pandas()) == 1:
            country = str(atlas.table("records").country_iso3.max().to_pandas() or "") or None
    scope: dict[str, Any] = {"country": country, "year_from": year_from, "year_to": year_to}
    if level is None:
        level = choose_level(atlas, **scope)
    unit_scope = {**scope, "level": level}
    catalogue = load_measures(extra=measures)
    library = load_cases(measures=catalogue, extra=cases)
    profile = atlas.profile(REPORT_METRICS, lang=lang, **scope)
    unit_profile = atlas.profile(REPORT_METRICS, lang=lang, **unit_scope)
    risk = atlas.risk(lang=lang, **unit_scope)
    screen = atlas.screen(lang=lang, **unit_scope)
    advice = advise(screen, unit_profile, risk, catalogue, library, top=top)
    features = peer_features(atlas, year_from, year_to)
    rules = PeerRules.of(atlas.methods.get("peers"))
    peer_lists = {(u.country_iso3, u.admin_code): peers(features, (u.country_iso3, u.admin_code),
                                                        k=peers_k, level=level, rules=rules)
                  for u in screen.sort_values("rank").head(top).itertuples()}
    annual = _annual(atlas, unit_scope)
    return Assessment(
        country=country, level=level, year_from=year_from, year_to=year_to, lang=lang,
        datasets=atlas.datasets(), profile=profile, unit_profile=unit_profile, risk=risk,
        return_levels=atlas.return_levels("deaths", lang=lang, **unit_scope),
        sendai=atlas.sendai(lang=lang, **scope), unit_sendai=atlas.sendai(lang=lang, **unit_scope),
        events=atlas.events(lang=lang, **scope), annual=annual, screen=screen, advice=advice,
        peers=peer_lists, units=units_of(atlas, level, country),
        records=_records(atlas, unit_scope),
        catalogue=catalogue, cases=library, top=top, quality=atlas.quality_summary(),
        notes=sorted({n for f in (risk, screen) for n in f.attrs.get("notes", [])}))


def peer_features(atlas: Atlas, year_from: int | None = None,
                  year_to: int | None = None) -> pd.DataFrame:
    """Peer features of every located unit of every level in the store, all countries:
    hazard shares, annual records and deaths, and the kind of unit (advice/peers.py)."""
    return store_features(atlas, year_from, year_to)


def _annual(atlas: Atlas, scope: dict[str, Any]) -> pd.DataFrame:
    from riskatlas.analysis.risk import annual_series
    from riskatlas.analysis.scope import Scope

    return annual_series(atlas.engine.table("records"), Scope(**scope),
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
    """Every record in scope with the keys and values the figures count."""
    level = scope["level"]
    columns = ["record_id", "dataset_id", "country_iso3", f"level{level}_code",
               f"level{level}_name", "start_date", "date_precision", "hazard_term", "hips_code",
               "hazard_group", "deaths", "missing", "injured", "directly_affected",
               "houses_destroyed", "houses_damaged", "losses_usd", "approval_status"]
    filters = {k: v for k, v in scope.items() if k != "level"}
    return atlas.records(limit=None, columns=columns, **filters)
