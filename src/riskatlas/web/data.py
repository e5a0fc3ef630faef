"""What the web views need beyond one :class:`Atlas` call (the records browser is
:mod:`riskatlas.web.browse`): the overview's key figures, the gazetteer of a level, the
advice of a screen and the assessment of one unit. Every filter is an Ibis expression
(user text is only ever a bound literal, never SQL).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pandas as pd

from riskatlas.advice.catalogue import CaseLibrary, Catalogue, load_cases, load_measures
from riskatlas.advice.engine import advice_frame, advise
from riskatlas.analysis.results import note_texts
from riskatlas.analysis.scope import filter_records
from riskatlas.api import Atlas
from riskatlas.errors import EmptyScopeError
from riskatlas.model.countries import country_name
from riskatlas.report.assessment import (
    REPORT_METRICS,
    Assessment,
    choose_level,
    screens,
    units_of,
)


@cache
def catalogues() -> tuple[Catalogue, CaseLibrary]:
    """The shipped measure catalogue and case library, validated once per process."""
    catalogue = load_measures()
    return catalogue, load_cases(measures=catalogue)


def datasets(atlas: Atlas) -> pd.DataFrame:
    """Every import with its provenance and counts, and ``records_visible``: the records
    of each that this reader may see. For a reader restricted to published cards the
    counts read and imported are those of published cards (drafts are not announced)."""
    frame = atlas.datasets()
    r = atlas.table("records")
    visible = r.group_by("dataset_id").aggregate(records_visible=r.count()).to_pandas()
    frame = frame.merge(visible, on="dataset_id", how="left")
    frame["records_visible"] = frame["records_visible"].fillna(0).astype("int64")
    if atlas.store.published_only:
        frame["records_imported"] = frame["records_visible"]
        frame["records_read"] = frame["records_visible"] + frame["records_quarantined"]
    return frame


def hazard_terms(atlas: Atlas, *, unmapped: bool = False) -> pd.DataFrame:
    """:meth:`Atlas.hazard_terms`; for a reader restricted to published cards, only the
    terms of those cards, counted over them."""
    frame = atlas.hazard_terms(unmapped=unmapped)
    if not atlas.store.published_only:
        return frame
    r = atlas.table("records")
    seen = r.group_by(term=r.hazard_term).aggregate(
        records=r.count(), datasets=r.dataset_id.nunique()).to_pandas()
    frame = frame.drop(columns=["records", "datasets"]).merge(seen, on="term")
    return frame.sort_values(["records", "term"], ascending=[False, True],
                             ignore_index=True)


def countries(atlas: Atlas) -> list[str]:
    """The countries of the records (``XXX``: none), once per served copy."""
    def distinct() -> list[str]:
        r = atlas.table("records")
        codes = r.select(code=r.country_iso3.fill_null("XXX")).distinct().to_pandas()["code"]
        return sorted(str(c) for c in codes)

    memo = atlas.store.memo
    return distinct() if memo is None else memo.get(("countries",), distinct)


def overview(atlas: Atlas, lang: str) -> list[dict[str, Any]]:
    """Key figures per country: records, period, deaths, top hazards by deaths and records."""
    try:
        profile = atlas.profile(["records", "deaths"], lang=lang)
    except EmptyScopeError:  # an empty store: the home page says there is nothing yet
        return []
    out = []
    for iso, rows in profile.groupby("country_iso3", sort=True):
        recs = rows[rows["metric"] == "records"]
        deaths = rows[rows["metric"] == "deaths"]

        def top(part: pd.DataFrame) -> list[dict[str, Any]]:
            part = part[part["value"] > 0].sort_values("rank").head(3)
            return [{"hazard": r.hazard, "share": float(r.share_pct), "value": float(r.value)}
                    for r in part.itertuples()]

        out.append({"country": str(iso), "name": country_name(str(iso), lang),
                    "records": int(recs["value"].sum()), "deaths": float(deaths["value"].sum()),
                    "period_from": int(rows["period_from"].min()),
                    "period_to": int(rows["period_to"].max()),
                    "top_deaths": top(deaths), "top_records": top(recs)})
    return out


def level_of(atlas: Atlas, country: str, code: str) -> int | None:
    """The admin level of a unit code: from the gazetteer, else from the records."""
    units = atlas.table("admin_units")
    hit = units.filter((units.country_iso3 == country.upper()) & (units.code == code))
    levels = hit.select("level").to_pandas()["level"]
    if len(levels):
        return int(levels.min())
    r = filter_records(atlas.table("records"), country=country)
    for level in (0, 1, 2):
        if int(r.filter(r[f"level{level}_code"] == code).count().to_pandas()):
            return level
    return None


def default_level(atlas: Atlas, country: str | None, year_from: int | None,
                  year_to: int | None) -> int:
    """The level of the data's cities or districts (as ``riskatlas assess`` picks it)."""
    return choose_level(atlas, country=country, year_from=year_from, year_to=year_to)


def advice_table(atlas: Atlas, *, level: int, top: int | None, lang: str,
                 **scope: Any) -> pd.DataFrame:
    """The advice of :meth:`Atlas.assess` for the ``top`` screened units of a scope."""
    unit_scope = {**scope, "level": level}
    catalogue, library = catalogues()
    screen = atlas.screen(lang=lang, **unit_scope)
    profile = atlas.profile(REPORT_METRICS, lang=lang, **unit_scope)
    risk = atlas.risk(lang=lang, **unit_scope)
    frame = advice_frame(advise(screen, profile, risk, catalogue, library, top=top), lang)
    frame.attrs = {**screen.attrs, "analysis": "advice", "catalogue": catalogue.version,
                   "cases": library.version}
    return frame


def unit_assessment(atlas: Atlas, country: str, code: str, *, level: int,
                    year_from: int | None, year_to: int | None, lang: str,
                    peers_k: int = 5) -> Assessment | None:
    """An :class:`Assessment` holding one unit (its screen row, profile, risk, annual
    series, return levels, Sendai indicators, advice and peers), so that the report's
    ``unit_pages`` renders it; None when the unit is not in the screen."""
    country = country.upper()
    scope: dict[str, Any] = {"country": country, "year_from": year_from, "year_to": year_to,
                             "level": level}
    one = {**scope, "admin": code}
    screen, _, screen_notes = screens(atlas, lang, **scope)
    row = screen[(screen["country_iso3"] == country) & (screen["admin_code"] == code)]
    if not len(row):
        return None
    catalogue, library = catalogues()
    unit_profile = atlas.profile(REPORT_METRICS, lang=lang, **one)
    risk = atlas.risk(lang=lang, **one)
    mine = [a for a in advise(screen, unit_profile, risk, catalogue, library)
            if (a.country_iso3, a.admin_code) == (country, code)]
    annual = atlas.annual_series(**one)
    peer_frame = atlas.peers(country, code, level=level, k=peers_k, year_from=year_from,
                             year_to=year_to)
    empty = pd.DataFrame()
    return Assessment(
        country=country, level=level, year_from=year_from, year_to=year_to, lang=lang,
        datasets=empty, profile=unit_profile, unit_profile=unit_profile, risk=risk,
        return_levels=atlas.return_levels("deaths", lang=lang, **one),
        sendai=empty, unit_sendai=atlas.sendai(lang=lang, **one), events=empty,
        annual=annual, screen=row, advice=mine, peers={(country, code): peer_frame},
        units=empty, records=empty, catalogue=catalogue, cases=library, top=1,
        unit_outside=atlas.outside_screen(lang=lang, **one),
        notes=[*screen_notes, *note_texts([risk.attrs, screen.attrs], lang)])


def screen_assessment(atlas: Atlas, *, level: int, country: str | None, lang: str,
                      top: int, all_hazards: bool = False, **scope: Any) -> Assessment:
    """An :class:`Assessment` with the screen and the gazetteer of its level, so that the
    report's ``screen_rows`` and ``maps`` render it."""
    every, notes = pd.DataFrame(), list[str]()
    if all_hazards:
        screen = atlas.screen(all_hazards=True, lang=lang, country=country, level=level,
                              **scope)
    else:
        screen, every, notes = screens(atlas, lang, country=country, level=level, **scope)
    outside = (atlas.outside_screen(lang=lang, country=country, **scope) if len(every)
               else pd.DataFrame())
    empty = pd.DataFrame()
    return Assessment(
        country=country, level=level, year_from=scope.get("year_from"),
        year_to=scope.get("year_to"), lang=lang, datasets=empty, profile=empty,
        unit_profile=empty, risk=empty, return_levels=empty, sendai=empty,
        unit_sendai=empty, events=empty, annual=empty, screen=screen, advice=[], peers={},
        units=units_of(atlas, level, country), records=empty, catalogue=catalogues()[0],
        cases=catalogues()[1], top=top, all_screen=every, outside=outside,
        notes=[*notes, *note_texts([screen.attrs], lang)])


def profile_assessment(profile: pd.DataFrame, lang: str) -> Assessment:
    """An :class:`Assessment` holding a profile, for the report's ``profile_sections``."""
    empty = pd.DataFrame()
    return Assessment(
        country=None, level=0, year_from=None, year_to=None, lang=lang, datasets=empty,
        profile=profile, unit_profile=empty, risk=empty, return_levels=empty, sendai=empty,
        unit_sendai=empty, events=empty, annual=empty, screen=empty, advice=[], peers={},
        units=empty, records=empty, catalogue=catalogues()[0], cases=catalogues()[1], top=0)
