"""The events of one dataset, as the linker compares them.

A DesInventar dataset (XML, flat table, DesInventar 8, a mapped table) holds one card per
event and unit: its events are those of the events analysis (:func:`card_events`, the
methods profile's ``events`` rules) formed over the dataset's cards alone. A dataset whose
format is listed under ``linking.record_events_formats`` (EM-DAT) holds one record per
disaster and country: each record is an event, located by the admin units its places
match (:mod:`riskatlas.linking.places`).

Every event row carries: ``event_id``, ``dataset_id``, ``country_iso3``, ``hazard_group``,
``hips_codes`` (list), ``day_from``/``day_to`` (epoch days of its whole period),
``glides`` (list), ``units`` (set of ``level:code``, with the units above),
``deaths`` (dead + missing: EM-DAT's Total Deaths counts both), ``houses_destroyed``,
``directly_affected``, ``losses_usd`` (NaN when no card reports the figure), ``cards``,
``record_ids`` (list), ``intensive`` (methods ``intensive``) and ``seismic`` (a landslide
event with a card whose cause names an earthquake: the project's climate-flag rule).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskatlas.analysis.events import card_events
from riskatlas.analysis.methods import Methods
from riskatlas.linking.places import match_places, matched_units
from riskatlas.linking.rules import LinkRules

if TYPE_CHECKING:
    from riskatlas.analyses import Analyses

FIGURES = ("deaths", "houses_destroyed", "directly_affected", "losses_usd")
"""The figures the linker compares and a merged event carries."""
_CARD_COLUMNS = ("country_iso3", "hazard_group", "hips_code", "glide", "climate_related",
                 "level0_code",
                 "level1_code", "level2_code", "deaths", "missing", "houses_destroyed",
                 "directly_affected", "losses_usd")


def dataset_format(analyses: Analyses, dataset_id: int) -> str:
    """The format of a dataset (``datasets.format``)."""
    t = analyses.table("datasets")
    rows = t.filter(t.dataset_id == dataset_id).select("format").to_pyarrow().to_pylist()
    if not rows:
        from riskatlas.errors import RiskAtlasError

        raise RiskAtlasError("link.unknown_dataset", dataset=dataset_id)
    return str(rows[0]["format"])


def dataset_events(analyses: Analyses, dataset_id: int, methods: Methods | None = None,
                   settled: pd.DataFrame | None = None) -> pd.DataFrame:
    """The events of dataset ``dataset_id`` of a store's tables (an
    :class:`~riskatlas.analyses.Analyses`: ``table`` and ``methods``; the Python API's
    Atlas is one), one row each (see the module docstring); ``methods`` replaces the
    analyses' profile; ``settled``: places a person settled (:func:`settle`)."""
    methods = methods or analyses.methods
    rules = LinkRules.of(methods)
    records = analyses.table("records")
    records = records.filter(records.dataset_id == dataset_id)
    if dataset_format(analyses, dataset_id) in rules.record_events_formats:
        units = analyses.table("admin_units")
        levels = analyses.table("admin_levels").join(
            units.select("dataset_id", "country_iso3").distinct(), "dataset_id")
        return record_events(records, units, methods, levels, settled)
    return card_events_of(records, methods)


def card_events_of(records: Any, methods: Methods) -> pd.DataFrame:
    """Events formed from cards (an Ibis table of records of one dataset)."""
    tagged = card_events(records, methods, keep=[*_CARD_COLUMNS, "dataset_id"])
    units = [_unit_text(tagged, level) for level in range(3)]
    ev = tagged.group_by("event_id").aggregate(
        dataset_id=tagged.dataset_id.max(), country_iso3=tagged.country_iso3.max(),
        hazard_group=tagged.hazard_group.max(),
        hips_codes=tagged.hips_code.collect(distinct=True),
        day_from=tagged.day0.min(), day_to=tagged.day1.max(),
        glides=tagged.glide.collect(distinct=True),
        u0=units[0].collect(distinct=True), u1=units[1].collect(distinct=True),
        u2=units[2].collect(distinct=True),
        deaths=(tagged.deaths.fill_null(0) + tagged.missing.fill_null(0)).sum(),
        any_deaths=(tagged.deaths.notnull() | tagged.missing.notnull()).any(),
        houses_destroyed=tagged.houses_destroyed.sum(),
        directly_affected=tagged.directly_affected.sum(),
        losses_usd=tagged.losses_usd.sum(),
        cards=tagged.count(), record_ids=tagged.record_id.collect(),
        # a landslide card that is not climate-related names an earthquake as its cause
        # (model.hazards.is_climate_related)
        seismic=((tagged.hazard_group == "landslide")
                 & (tagged.climate_related == False)).any())  # noqa: E712
    frame = ev.to_pandas()
    frame["deaths"] = frame.deaths.where(frame.pop("any_deaths").astype(bool))
    frame["seismic"] = frame.seismic.fillna(False).astype(bool)
    frame["units"] = [{u for part in parts if part is not None for u in part if u}
                      for parts in zip(frame.pop("u0"), frame.pop("u1"), frame.pop("u2"),
                                       strict=True)]
    return _finish(frame, methods)


def _unit_text(t: Any, level: int) -> Any:
    code = t[f"level{level}_code"]
    return (f"{level}:" + code.strip()).nullif(f"{level}:")


def record_events(records: Any, admin_units: Any, methods: Methods,
                  admin_levels: Any | None = None, settled: pd.DataFrame | None = None
                  ) -> pd.DataFrame:
    """Events that are records already (EM-DAT): one row per record, located by the
    admin units its places match (or the unit a person settled a place on)."""
    # the events analysis gives each record its whole start period (day0 … day1)
    periods = card_events(records, methods)
    r = records.join(periods.select("record_id", "day0", "day1"), "record_id")
    frame = r.select("record_id", "dataset_id", "country_iso3", "hazard_group", "hips_code",
                     "glide", "day0", "day1", "place", "raw", "deaths", "missing",
                     "houses_destroyed", "directly_affected", "losses_usd",
                     day_end=r.end_date.epoch_days()).to_pandas()
    countries = sorted(set(frame.country_iso3.dropna()))
    units = admin_units.filter(admin_units.country_iso3.isin(countries)).select(
        "country_iso3", "level", "code", "name", "name_en", "parent_code").to_pandas()
    levels = None if admin_levels is None else admin_levels.filter(
        admin_levels.country_iso3.isin(countries)).select(
        "country_iso3", "level", "name", "name_en").to_pandas()
    matches = settle(match_places(frame, units, LinkRules.of(methods), levels), settled,
                     units)
    located = matched_units(matches, units)
    deaths = frame.deaths.astype("Float64").fillna(0) + frame.missing.astype("Float64").fillna(0)
    out = pd.DataFrame({
        "event_id": frame.record_id, "dataset_id": frame.dataset_id,
        "country_iso3": frame.country_iso3, "hazard_group": frame.hazard_group,
        "hips_codes": [[c] if isinstance(c, str) else [] for c in frame.hips_code],
        "day_from": frame.day0,
        "day_to": np.fmax(frame.day1.astype(float), frame.day_end.astype(float)),
        "glides": [[g] if isinstance(g, str) and g.strip() else [] for g in frame.glide],
        "units": [located.get(str(i), set()) for i in frame.record_id],
        "deaths": deaths.where(frame.deaths.notna() | frame.missing.notna()),
        "houses_destroyed": frame.houses_destroyed,
        "directly_affected": frame.directly_affected, "losses_usd": frame.losses_usd,
        "cards": 1, "record_ids": [[i] for i in frame.record_id], "seismic": False})
    out.attrs["places"] = matches
    return _finish(out, methods)


SETTLED = "settled"
"""The method of a place a person settled (a unit named, or none)."""


def settle(matches: pd.DataFrame, settled: pd.DataFrame | None, units: pd.DataFrame
           ) -> pd.DataFrame:
    """``matches`` with the places a person settled (``settled``: record_id, origin, text,
    settled_code; a blank code: no unit of the gazetteer) taking the unit named, method
    ``settled``, score 1."""
    if settled is None or not len(settled) or not len(matches):
        return matches
    chosen = {(str(r), str(o), str(t)): c for r, o, t, c in zip(
        settled.record_id, settled.origin, settled.text, settled.settled_code, strict=True)}
    names = {(c, str(k)): (int(lv), n) for c, k, lv, n in
             zip(units.country_iso3, units.code, units.level, units.name, strict=True)}
    out = matches.copy().astype({"level": "object", "code": "object", "unit_name": "object",
                                 "method": "object", "score": "float64"})
    for i, row in enumerate(out.itertuples(index=False)):
        key = (str(row.record_id), str(row.origin), str(row.text))
        if key not in chosen:
            continue
        code = chosen[key] if isinstance(chosen[key], str) and chosen[key] else None
        level, name = names.get((row.country_iso3, str(code)), (None, None))
        out.iloc[i, out.columns.get_loc("code")] = code
        out.iloc[i, out.columns.get_loc("level")] = level
        out.iloc[i, out.columns.get_loc("unit_name")] = name
        out.iloc[i, out.columns.get_loc("method")] = SETTLED
        out.iloc[i, out.columns.get_loc("score")] = 1.0
    return out


def _finish(frame: pd.DataFrame, methods: Methods) -> pd.DataFrame:
    """Lists without NULLs, figures as floats (NaN: not reported), the intensive flag."""
    for column in ("hips_codes", "glides"):
        frame[column] = [sorted({str(v) for v in (vals if vals is not None else [])
                                 if isinstance(v, str) and v}) for vals in frame[column]]
    for column in FIGURES:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    limits = methods.get("intensive")
    frame["intensive"] = ((frame.deaths.fillna(0) >= limits["deaths"])
                          | (frame.houses_destroyed.fillna(0) >= limits["houses_destroyed"]))
    frame = frame.dropna(subset=["day_from"]).copy()
    frame["day_from"] = frame.day_from.astype("int64")
    frame["day_to"] = frame.day_to.fillna(frame.day_from).astype("int64")
    return frame.sort_values(["country_iso3", "day_from", "event_id"]).reset_index(drop=True)
