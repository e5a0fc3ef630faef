"""What the web views need beyond one :class:`Atlas` call (the records browser is
:mod:`riskatlas.web.browse`): the overview's key figures, what the reader may see of the
datasets and hazard terms, and the level of a unit. The assessment's parts that the pages
show (one unit, a screen, the advice of a scope) are :mod:`riskatlas.assessment.pipeline`.
Every filter is an Ibis expression (user text is only ever a bound literal, never SQL).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from riskatlas.analysis.scope import Scope, filter_records
from riskatlas.api import Atlas
from riskatlas.assessment.pipeline import choose_level, units_of
from riskatlas.errors import EmptyScopeError
from riskatlas.model.countries import country_name

__all__ = ["countries", "datasets", "default_level", "hazard_terms", "level_of", "overview",
           "units_of"]


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

    return atlas.store.kept(("countries",), distinct)


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


def default_level(atlas: Atlas, scope: Scope) -> int:
    """The level of the data's cities or districts (as ``riskatlas assess`` picks it) in
    the country and period of ``scope``, over every card the reader may see."""
    return choose_level(atlas, Scope(country=scope.country, year_from=scope.year_from,
                                     year_to=scope.year_to))
