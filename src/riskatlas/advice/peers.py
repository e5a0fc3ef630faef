"""Peer units: units elsewhere of the same kind whose losses look like this unit's.

A unit is compared only with units of a comparable *kind* (:func:`comparable`):

- the same administrative tier (0 the nation, 1 first-order subdivision, 2 second-order,
  3 local unit, 4 neighbourhood or village). The level's name (``admin_levels``: "Parish",
  "District", "VDC", …) gives the tiers it can mean (``data/admin_tiers.csv``, several
  languages); the level's depth below the nation picks one within that range, or alone
  gives the tier when the name is unknown;
- where the store knows them on both sides, a typical unit area (boundaries) or population
  within ``max_size_ratio`` of each other;
- a typical record density (records per unit and year of record) within
  ``max_density_ratio``: a district that reports seven cards a year is not the same kind
  of unit as a parish that reports one every six years.

Among units of the same kind, similarity = w · cosine(hazard-share vectors: records,
deaths, directly affected and houses destroyed per reporting group) + (1 − w) ·
exp(−|Δ scale|), scale = log10(1 + records/yr) + log10(1 + deaths/yr). A peer comes with
what makes it close (kind, shared top hazards, like annual deaths or records, size, place)
and what differs most. An empty list says why (``attrs["reason"]``).
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from riskatlas.model.countries import country_name
from riskatlas.model.regions import region_of

UNIT = ("country_iso3", "level", "admin_code")
PEER_METRICS = ("records", "deaths", "directly_affected", "houses_destroyed")
WITHIN = ("country", "region")
TIERS_FILE = "admin_tiers.csv"
MAX_TIER = 4
TOP_HAZARDS = 3  # "same top hazards": shared among each unit's three largest record shares
SIZE_COLUMNS = ("area_km2", "population")  # compared in this order, the first known on both
TYPICAL = {c: f"typical_{c}" for c in SIZE_COLUMNS}  # a level's median
PEER_COLUMNS = ["country_iso3", "admin_code", "admin_name", "level", "level_name", "tier",
                "similarity", "profile_similarity", "scale_ratio", "close_by", "differs_by"]
KM_PER_DEGREE = 111.32


@dataclass(frozen=True)
class PeerRules:
    """The ``peers`` section of the methods profile."""

    profile_weight: float = 0.8
    max_tier_gap: int = 0
    max_size_ratio: float = 10.0
    max_density_ratio: float = 10.0
    similar_ratio: float = 2.0

    @classmethod
    def of(cls, settings: Mapping[str, Any] | None) -> PeerRules:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (settings or {}).items() if k in names})


# ---------------------------------------------------------------------- kind of unit


def normalise(name: str) -> str:
    """Lower-case words without accents or signs: 'Sous-Préfecture' → 'sous prefecture'."""
    folded = unicodedata.normalize("NFKD", str(name).casefold())
    chars = (c if c.isalnum() else " " for c in folded if not unicodedata.combining(c))
    return " ".join("".join(chars).split())


def _is_cjk(text: str) -> bool:
    return any("\u3400" <= c <= "\u9fff" for c in text)


@cache
def tier_terms() -> dict[str, tuple[int, int]]:
    """Normalised level-name words → (lowest, highest) tier they can mean."""
    text = resources.files("riskatlas.data").joinpath(TIERS_FILE).read_text("utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    terms: dict[str, tuple[int, int]] = {}
    for n, row in enumerate(rows, start=1):
        key, low, high = normalise(row["term"]), int(row["tier_min"]), int(row["tier_max"])
        if not key or not 0 <= low <= high <= MAX_TIER or key in terms:
            raise ValueError(f"{TIERS_FILE}: row {n} ({row['term']!r}) is empty, out of "
                             f"0–{MAX_TIER} or listed twice")
        terms[key] = (low, high)
    return terms


def _forms(words: Sequence[str]) -> list[str]:
    """A run of words as written and with its last word singular (parishes → parish)."""
    last = words[-1]
    endings = [last]
    if len(last) > 3:
        endings += [last[:-3] + "y"] if last.endswith("ies") else []
        endings += [last[:-2]] if last.endswith("es") else []
        endings += [last[:-1]] if last.endswith("s") else []
    return [" ".join([*words[:-1], e]) for e in endings]


def tier_range(name: str | None) -> tuple[int, int] | None:
    """The tiers a level's name can mean: its longest run of words in the word list (all
    of them if several runs are as long), or for Chinese names the longest listed term it
    contains; None when no word is listed."""
    terms = tier_terms()
    words = normalise(name or "").split()
    found: list[tuple[int, int]] = []
    for n in range(len(words), 0, -1):
        found = [terms[f] for i in range(len(words) - n + 1)
                 for f in _forms(words[i:i + n]) if f in terms]
        if found:
            break
    if not found:
        text = "".join(words)
        cjk = [t for t in terms if _is_cjk(t) and t in text]
        longest = max((len(t) for t in cjk), default=0)
        found = [terms[t] for t in cjk if len(t) == longest]
    if not found:
        return None
    return min(r[0] for r in found), max(r[1] for r in found)


def level_tier(names: Iterable[str], depth: int) -> tuple[int, str]:
    """(tier, basis) of a level ``depth`` steps below the nation: the depth, moved into
    the range its names can mean (basis ``name``); the depth alone when no name is known
    (basis ``structure``)."""
    ranges = [r for r in map(tier_range, names) if r]
    if not ranges:
        return min(depth, MAX_TIER), "structure"
    low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
    return min(max(depth, low), high), "name"


def nation_at_zero(iso3: str, codes: int, code: str | None, name: str | None,
                   level_names: Iterable[str]) -> bool:
    """Whether a country's level 0 is the nation itself (DesInventar's "Country" level): one
    unit, coded with the country's ISO code or named after it or by a level name that can
    only mean the nation."""
    if codes != 1:
        return False
    if str(code or "").upper() == iso3.upper() or (
            name and normalise(name) == normalise(country_name(iso3))):
        return True
    ranges = [r for r in map(tier_range, level_names) if r]
    return bool(ranges) and all(r == (0, 0) for r in ranges)


def geometry_area_km2(geojson: str | Mapping[str, Any]) -> float | None:
    """Area of a GeoJSON geometry (text or mapping) in WGS84 degrees, in km² (cosine of
    the latitude at its centroid: close enough to compare units within a factor of ten)."""
    import json

    from shapely.geometry import shape

    try:
        geom = shape(json.loads(geojson) if isinstance(geojson, str) else geojson)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if geom.is_empty:
        return None
    lat = float(geom.centroid.y)
    return float(geom.area) * KM_PER_DEGREE ** 2 * float(np.cos(np.radians(lat)))


def level_kinds(units: pd.DataFrame, years: Mapping[str, int], names: pd.DataFrame,
                level0: pd.DataFrame, sizes: pd.DataFrame | None = None) -> pd.DataFrame:
    """The kind of each (country, level) holding located records.

    ``units``: country_iso3, level, admin_code, records (one row per unit with records);
    ``years``: country → years with records; ``names``: country_iso3, level, name (the
    level names of the country's datasets); ``level0``: country_iso3, codes, code, name
    (level-0 units in the records); ``sizes``: country_iso3, level, admin_code, area_km2,
    population (where known). Returns level_name, depth, tier, tier_basis, units (with
    records), density (median records per unit-year), typical_area_km2 and
    typical_population (medians of the units where known).
    """
    frame = units.assign(density=units["records"] / units["country_iso3"].map(years)
                         .astype(float).clip(lower=1))
    kinds = frame.groupby(["country_iso3", "level"]).agg(
        units=("admin_code", "nunique"), density=("density", "median"))
    if sizes is not None and len(sizes):
        typical = sizes.groupby(["country_iso3", "level"])[list(SIZE_COLUMNS)].median()
        kinds = kinds.join(typical.rename(columns=TYPICAL))
    for column in TYPICAL.values():
        if column not in kinds.columns:
            kinds[column] = np.nan
    by_level = names.dropna(subset=["name"]).groupby(["country_iso3", "level"])["name"] \
        .agg(lambda s: list(dict.fromkeys(str(v) for v in s if str(v).strip())))
    zero = level0.set_index("country_iso3")
    rows = []
    for iso3, level in kinds.index:
        own = by_level.get((iso3, level), [])
        nation = iso3 in zero.index and nation_at_zero(
            iso3, int(zero.at[iso3, "codes"]), zero.at[iso3, "code"], zero.at[iso3, "name"],
            by_level.get((iso3, 0), []))
        depth = int(level) + (0 if nation else 1)
        tier, basis = level_tier(own, depth)
        rows.append({"level_name": own[0] if own else "", "depth": depth, "tier": tier,
                     "tier_basis": basis})
    return kinds.join(pd.DataFrame(rows, index=kinds.index,
                                   columns=["level_name", "depth", "tier", "tier_basis"]))


# ------------------------------------------------------------------------- features


def unit_features(profile: pd.DataFrame, years: Mapping[str, int], kinds: pd.DataFrame,
                  sizes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Wide table, one row per located unit (index country_iso3, level, admin_code): its
    name, kind (from :func:`level_kinds`), own area and population where known, M49
    region, annual records and deaths, and the share columns ``metric|hazard``.

    ``profile`` is a long hazard profile over ``PEER_METRICS`` of every level, with a
    ``level`` column; ``years`` maps country → years of record; ``sizes`` as for
    :func:`level_kinds`.
    """
    p = profile[profile["metric"].isin(PEER_METRICS) & profile["admin_code"].ne("")]
    if not len(p):  # nothing located at any level: no unit to compare
        return pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=list(UNIT)))
    shares = p.pivot_table(index=list(UNIT), columns=["metric", "hazard"], values="share_pct",
                           fill_value=0.0, aggfunc="first") / 100
    totals = p.groupby([*UNIT, "metric"])["value"].sum().unstack("metric").reindex(
        shares.index).fillna(0)
    names = p.groupby(list(UNIT))["admin_name"].first().reindex(shares.index)
    countries = shares.index.get_level_values("country_iso3")
    span = countries.map(lambda c: years.get(c, 0)).astype(float)
    span = np.where(span > 0, span, 1.0)
    kind = kinds.reindex(pd.MultiIndex.from_arrays(
        [countries, shares.index.get_level_values("level")]))
    kind.index = shares.index
    regions = [(r.code if (r := region_of(c)) else "") for c in countries]
    scale = pd.DataFrame({
        "records": totals.get("records", 0), "deaths": totals.get("deaths", 0),
        "records_per_year": totals.get("records", 0) / span,
        "deaths_per_year": totals.get("deaths", 0) / span,
        "region": regions}, index=shares.index)
    own_size = pd.DataFrame(np.nan, index=shares.index, columns=list(SIZE_COLUMNS))
    if sizes is not None and len(sizes):
        known = sizes.drop_duplicates(list(UNIT)).set_index(list(UNIT))
        own_size = known[list(SIZE_COLUMNS)].reindex(shares.index).astype("float64")
    shares.columns = [f"{m}|{h}" for m, h in shares.columns]
    kind_columns = ["level_name", "tier", "tier_basis", "units", "density", *TYPICAL.values()]
    return pd.concat([names.rename("admin_name"), kind[kind_columns], own_size, scale,
                      shares], axis=1)


# --------------------------------------------------------------------------- peers


def _ratio_over(own: Any, values: pd.Series, limit: float) -> pd.Series:
    """Where both values are known and positive: the larger over the smaller > limit."""
    if not (pd.notna(own) and float(own) > 0):
        return pd.Series(False, index=values.index)
    v = values.astype("float64")
    known = v.notna() & (v > 0)
    safe = v.where(known, float(own))
    ratio = np.maximum(safe, float(own)) / np.minimum(safe, float(own))
    return known & (ratio > limit)


def comparable(own: pd.Series, others: pd.DataFrame, rules: PeerRules) -> pd.Series:
    """Why each unit of ``others`` is not of the same kind as ``own``: ``tier``, ``size``
    or ``density``; empty text when it is."""
    tier = (others["tier"] - own["tier"]).abs() > rules.max_tier_gap
    area, people = TYPICAL["area_km2"], TYPICAL["population"]
    area_known = others[area].notna() & pd.notna(own[area])
    size = _ratio_over(own[area], others[area], rules.max_size_ratio) | (
        ~area_known & _ratio_over(own[people], others[people], rules.max_size_ratio))
    density = _ratio_over(own["density"], others["density"], rules.max_density_ratio)
    why = np.select([tier.to_numpy(), size.to_numpy(), density.to_numpy()],
                    ["tier", "size", "density"], "")
    return pd.Series(why, index=others.index)


def locate(features: pd.DataFrame, country: str, admin: str,
           level: int | None = None) -> tuple[str, int, str] | None:
    """The feature key of a unit: at ``level``, else at the shallowest level holding it."""
    if level is not None:
        key = (country.upper(), int(level), admin)
        return key if key in features.index else None
    hits = [k for k in features.index if k[0] == country.upper() and k[2] == admin]
    return min(hits, key=lambda k: k[1]) if hits else None


def _place(others: pd.DataFrame, country: str, region: str, within: str | None
           ) -> pd.Series:
    """Which units lie ``within`` the country, the M49 region (or the country, for one M49
    does not list) or anywhere (None)."""
    same_country = pd.Series(others.index.get_level_values("country_iso3") == country,
                             index=others.index)
    if within is None:
        return pd.Series(True, index=others.index)
    if within == "country":
        return same_country
    if within == "region":
        return same_country | ((others["region"] == region) & bool(region))
    raise ValueError(f"within must be one of {WITHIN} or None, not {within!r}")


def peers(features: pd.DataFrame, unit: tuple[str, str], k: int = 5, *,
          level: int | None = None, within: str | None = None,
          rules: PeerRules | None = None) -> pd.DataFrame:
    """The ``k`` units most like ``unit`` (country, admin code) among units of its kind,
    ``within`` its country, its M49 region or anywhere (None), each with what makes it
    close (``close_by``) and what differs most (``differs_by``). When there is none,
    ``attrs["reason"]`` says why: {"key": message key, "params": {…}}."""
    rules = rules or PeerRules()
    key = locate(features, unit[0], unit[1], level)
    if key is None:
        if level is None:
            return _empty("peers.reason_unlocated", unit=unit[1], country=unit[0].upper())
        return _empty("peers.reason_unlocated_level", unit=unit[1], country=unit[0].upper(),
                      level=int(level))
    own = features.loc[key]
    others = features.drop(index=key)
    place = _place(others, key[0], str(own["region"]), within)
    why_not = comparable(own, others, rules)
    pool = others[place & (why_not == "")]
    if not len(pool):
        return _no_peers(own, key, others[place], why_not[place], within)
    share_cols = [c for c in features.columns if "|" in c]
    x = pool[share_cols].to_numpy(dtype="float64")
    mine = own[share_cols].to_numpy(dtype="float64")
    norms = np.linalg.norm(x, axis=1) * np.linalg.norm(mine)
    cosine = np.divide(x @ mine, norms, out=np.zeros(len(x)), where=norms > 0)
    closeness = np.exp(-np.abs(_scale(pool) - _scale(own)))
    similarity = rules.profile_weight * cosine + (1 - rules.profile_weight) * closeness
    ranked = pool.assign(similarity=similarity, profile_similarity=cosine).reset_index()
    ranked = ranked.sort_values(["similarity", "country_iso3", "level", "admin_code"],
                                ascending=[False, True, True, True]).head(k)
    rows = [_peer_row(own, key, r, share_cols, rules) for r in ranked.to_dict("records")]
    frame = pd.DataFrame(rows, columns=PEER_COLUMNS)
    frame.attrs["unit"] = _own(own, key)
    return frame


def _scale(f: pd.DataFrame | pd.Series) -> Any:
    return np.log10(1 + f["records_per_year"].astype("float64")) + np.log10(
        1 + f["deaths_per_year"].astype("float64"))


def _own(own: pd.Series, key: tuple[str, int, str]) -> dict[str, Any]:
    return {"country_iso3": key[0], "level": int(key[1]), "admin_code": key[2],
            "admin_name": own["admin_name"], "level_name": own["level_name"],
            "tier": int(own["tier"]), "density": round(float(own["density"]), 3)}


def _empty(reason: str, **params: Any) -> pd.DataFrame:
    frame = pd.DataFrame(columns=PEER_COLUMNS)
    frame.attrs["reason"] = {"key": reason, "params": params}
    return frame


def _no_peers(own: pd.Series, key: tuple[str, int, str], candidates: pd.DataFrame,
              why_not: pd.Series, within: str | None) -> pd.DataFrame:
    """An empty answer naming the rule that left every candidate out."""
    unit = own["admin_name"] or key[2]
    if not len(candidates):
        frame = _empty(f"peers.reason_alone_{within or 'anywhere'}", unit=unit)
    else:
        counts = why_not.value_counts()
        frame = _empty("peers.reason_no_kind", unit=unit, units=len(candidates),
                       tier=int(own["tier"]), level_name=own["level_name"] or "",
                       level=int(key[1]), tiers=int(counts.get("tier", 0)),
                       sizes=int(counts.get("size", 0)),
                       densities=int(counts.get("density", 0)))
    frame.attrs["unit"] = _own(own, key)
    return frame


def _peer_row(own: pd.Series, key: tuple[str, int, str], r: dict[str, Any],
              share_cols: list[str], rules: PeerRules) -> dict[str, Any]:
    diff = {c: r[c] - own[c] for c in share_cols}
    column = max(diff, key=lambda c: (abs(diff[c]), c)) if diff else None
    metric, hazard = column.split("|") if column else (None, None)
    return {
        "country_iso3": r["country_iso3"], "admin_code": r["admin_code"],
        "admin_name": r["admin_name"], "level": int(r["level"]),
        "level_name": r["level_name"], "tier": int(r["tier"]),
        "similarity": round(float(r["similarity"]), 4),
        "profile_similarity": round(float(r["profile_similarity"]), 4),
        "scale_ratio": round(float(r["records_per_year"] / own["records_per_year"]), 3)
        if own["records_per_year"] else None,
        "close_by": close_by(own, key, r, share_cols, rules),
        "differs_by": {"metric": metric, "hazard": hazard,
                       "peer_share_pct": round(100 * float(r[column]), 1) if column else None,
                       "own_share_pct": round(100 * float(own[column]), 1) if column
                       else None}}


def top_hazards(row: Mapping[str, Any], share_cols: Sequence[str], n: int = TOP_HAZARDS
                ) -> list[str]:
    """The ``n`` hazards with the largest shares of records (ties by name)."""
    shares = [(float(row[c]), c.split("|")[1]) for c in share_cols
              if c.startswith("records|") and float(row[c]) > 0]
    return [h for _, h in sorted(shares, key=lambda s: (-s[0], s[1]))[:n]]


def _alike(a: float, b: float, ratio: float) -> bool:
    return a > 0 and b > 0 and max(a, b) / min(a, b) <= ratio


def close_by(own: pd.Series, key: tuple[str, int, str], peer: Mapping[str, Any],
             share_cols: Sequence[str], rules: PeerRules) -> list[dict[str, Any]]:
    """What makes ``peer`` close to ``own``, as facts the views put in words: the kind of
    unit, shared top hazards, the profile's likeness, like annual deaths and records, like
    size, and the same country or region."""
    why: list[dict[str, Any]] = [{
        "why": "kind", "own_level": own["level_name"], "peer_level": peer["level_name"],
        "own_level_no": int(key[1]), "peer_level_no": int(peer["level"]),
        "tier": int(peer["tier"])}]
    mine = top_hazards(own, share_cols)
    shared = [h for h in mine if h in top_hazards(peer, share_cols)]
    if shared:
        why.append({"why": "hazards", "hazards": shared})
    why.append({"why": "profile", "pct": round(100 * float(peer["profile_similarity"]))})
    for metric in ("deaths_per_year", "records_per_year"):
        a, b = float(own[metric]), float(peer[metric])
        if _alike(a, b, rules.similar_ratio) or (metric == "deaths_per_year" and a == b == 0):
            why.append({"why": metric, "own": round(a, 2), "peer": round(b, 2)})
    for column in SIZE_COLUMNS:
        a, b = own[column], peer[column]
        if pd.notna(a) and pd.notna(b):
            if _alike(float(a), float(b), rules.similar_ratio):
                why.append({"why": "size", "basis": column, "own": round(float(a)),
                            "peer": round(float(b))})
            break
    if peer["country_iso3"] == key[0]:
        why.append({"why": "country"})
    elif own["region"] and peer["region"] == own["region"]:
        why.append({"why": "region", "region": own["region"]})
    return why
