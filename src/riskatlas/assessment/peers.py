"""Peers from a store: the features of every located unit (gathered through
:class:`~riskatlas.analyses.Analyses`), and the peers of one unit. The comparison itself
is :mod:`riskatlas.advice.peers` (pandas, no store)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from riskatlas.advice.peers import (
    PEER_METRICS,
    SIZE_COLUMNS,
    UNIT,
    WITHIN,
    PeerRules,
    geometry_area_km2,
    level_kinds,
    peers,
    unit_features,
)
from riskatlas.analysis.scope import LEVELS, NO_COUNTRY
from riskatlas.errors import AnalysisError

if TYPE_CHECKING:
    from riskatlas.analyses import Analyses


def unit_peers(analyses: Analyses, country: str, admin: str, *, level: int | None = None,
               k: int = 5, year_from: int | None = None, year_to: int | None = None,
               within: str | None = None, features: pd.DataFrame | None = None
               ) -> pd.DataFrame:
    """The ``k`` units of the same kind most like (country, admin) across every dataset,
    or ``within`` its "country" or M49 "region" (:func:`riskatlas.advice.peers.peers`),
    with the analysis stamp in ``attrs``; ``features``: :func:`peer_features` of the same
    years, when the caller has them."""
    if within is not None and within not in WITHIN:
        raise AnalysisError("peers.bad_within", within=within, choices=", ".join(WITHIN))
    if features is None:
        features = peer_features(analyses, year_from, year_to)
    frame = peers(features, (country.upper(), admin), k=k,
                  level=level, within=within, rules=PeerRules.of(analyses.methods.get("peers")))
    frame.attrs.update({
        "analysis": "peers", "engine": analyses.engine.name, **analyses.methods.stamp(),
        "scope": {"country": country.upper(), "admin": admin, "level": level,
                  "year_from": year_from, "year_to": year_to, "within": within, "k": k},
        "notes": []})
    return frame


def peer_features(analyses: Analyses, year_from: int | None = None,
                  year_to: int | None = None) -> pd.DataFrame:
    """:func:`~riskatlas.advice.peers.unit_features` of every located unit of every level
    in the store (all countries and datasets), with the kind of each level
    (:func:`~riskatlas.advice.peers.level_kinds`); a year of record is a year of the
    country's observation period (as every analysis counts it)."""
    profile = pd.concat([analyses.profile(PEER_METRICS, level=lv, year_from=year_from,
                                          year_to=year_to).assign(level=lv) for lv in LEVELS],
                        ignore_index=True)
    located = profile[profile["admin_code"].ne("") & profile["metric"].eq("records")]
    units = located.groupby(list(UNIT), as_index=False).agg(
        records=("value", "sum"), admin_name=("admin_name", "first"))
    period = profile.groupby("country_iso3").agg(first=("period_from", "min"),
                                                 last=("period_to", "max"))
    years = {str(c): int(r.last - r.first + 1) for c, r in period.iterrows()}
    top = units[units["level"] == 0]
    level0 = top.groupby("country_iso3", as_index=False).agg(
        codes=("admin_code", "nunique"), code=("admin_code", "first"),
        name=("admin_name", "first"))
    sizes = unit_sizes(analyses)
    kinds = level_kinds(units, years, level_names(analyses), level0, sizes)
    return unit_features(profile, years, kinds, sizes)


def level_names(analyses: Analyses) -> pd.DataFrame:
    """country_iso3, level, name: the level names of the datasets holding each country's
    records (``admin_levels``; English name where the source gives one, and the other)."""
    r = analyses.table("records")
    held = r.select(dataset_id=r.dataset_id,
                    country_iso3=r.country_iso3.fill_null(NO_COUNTRY)).distinct().to_pandas()
    levels = analyses.table("admin_levels").to_pandas()
    names = pd.concat([levels[["dataset_id", "level", c]].rename(columns={c: "name"})
                       for c in ("name_en", "name")]).dropna(subset=["name"])
    return held.merge(names, on="dataset_id")[["country_iso3", "level", "name"]]


def unit_sizes(analyses: Analyses) -> pd.DataFrame:
    """country_iso3, level, admin_code, area_km2 (from loaded boundaries), population
    (the latest year loaded): where known."""
    units = analyses.table("admin_units")
    shapes = units.filter(units.geometry.notnull()).select(
        "country_iso3", "level", "code", geometry=units.geometry.cast("string")).to_pandas()
    area = pd.DataFrame({"country_iso3": shapes["country_iso3"], "level": shapes["level"],
                         "admin_code": shapes["code"],
                         "area_km2": pd.array([geometry_area_km2(g) for g in shapes["geometry"]],
                                              dtype="float64")})
    pop = analyses.table("population")
    pop = pop.filter(pop.population.notnull() & (pop.level >= 0)).select(
        "country_iso3", "level", "admin_code", "year", "population").to_pandas()
    latest = pop.sort_values("year").drop_duplicates(
        ["country_iso3", "level", "admin_code"], keep="last").drop(columns="year")
    known = [f.astype({"level": "int64"}).set_index(list(UNIT)) for f in (area, latest)
             if len(f)]
    if not known:
        return pd.DataFrame(columns=[*UNIT, *SIZE_COLUMNS])
    return pd.concat(known, axis=1).reindex(columns=list(SIZE_COLUMNS)).reset_index()
