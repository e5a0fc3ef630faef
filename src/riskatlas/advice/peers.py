"""Peer units: which units elsewhere (any dataset, any country) look like this one?

Each unit is described by its hazard profile — the share of each reporting group in each
of several metrics (records, deaths, directly affected, houses destroyed) — and by its
scale (log of records and deaths per year). Similarity = w · cosine(profile vectors) +
(1 − w) · exp(−|Δ scale|); a peer comes with what distinguishes it: the hazard and metric
whose shares differ most, and the ratio of annual records.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

UNIT = ("country_iso3", "admin_code")
PEER_METRICS = ("records", "deaths", "directly_affected", "houses_destroyed")
PROFILE_WEIGHT = 0.8


def unit_features(profile: pd.DataFrame, coverage_years: pd.Series) -> pd.DataFrame:
    """Wide table: one row per unit, share columns (metric, hazard) and scale columns.

    ``profile`` is a long hazard profile over ``PEER_METRICS`` (all units of one level);
    ``coverage_years`` maps country → years of record.
    """
    p = profile[profile["metric"].isin(PEER_METRICS) & profile["admin_code"].ne("")]
    shares = p.pivot_table(index=list(UNIT), columns=["metric", "hazard"], values="share_pct",
                           fill_value=0.0, aggfunc="first") / 100
    totals = p.groupby([*UNIT, "metric"])["value"].sum().unstack("metric").reindex(
        shares.index).fillna(0)
    names = p.groupby(list(UNIT))["admin_name"].first().reindex(shares.index)
    years = shares.index.get_level_values("country_iso3").map(coverage_years).astype(float)
    scale = pd.DataFrame({
        "records_per_year": totals.get("records", 0) / years,
        "deaths_per_year": totals.get("deaths", 0) / years}, index=shares.index)
    shares.columns = [f"{m}|{h}" for m, h in shares.columns]
    return pd.concat([names.rename("admin_name"), scale, shares], axis=1)


def peers(features: pd.DataFrame, unit: tuple[str, str], k: int = 5,
          *, other_countries_only: bool = False) -> pd.DataFrame:
    """The ``k`` most similar units to ``unit``, with similarity and what differs."""
    if unit not in features.index:
        return pd.DataFrame(columns=["country_iso3", "admin_code", "admin_name", "similarity",
                                     "profile_similarity", "scale_ratio", "differs_by"])
    share_cols = [c for c in features.columns if "|" in c]
    x = features[share_cols].to_numpy(dtype="float64")
    norms = np.linalg.norm(x, axis=1)
    i = features.index.get_loc(unit)
    cosine = np.divide(x @ x[i], norms * norms[i], out=np.zeros(len(x)),
                       where=(norms * norms[i]) > 0)
    scale = np.log10(1 + features["records_per_year"].to_numpy(dtype="float64")) + np.log10(
        1 + features["deaths_per_year"].to_numpy(dtype="float64"))
    closeness = np.exp(-np.abs(scale - scale[i]))
    similarity = PROFILE_WEIGHT * cosine + (1 - PROFILE_WEIGHT) * closeness
    frame = features.assign(similarity=similarity, profile_similarity=cosine).reset_index()
    keep = ~((frame["country_iso3"] == unit[0]) & (frame["admin_code"] == unit[1]))
    if other_countries_only:
        keep &= frame["country_iso3"] != unit[0]
    frame = frame[keep].sort_values(["similarity", "country_iso3", "admin_code"],
                                    ascending=[False, True, True]).head(k)
    own = features.loc[unit]
    rows: list[dict[str, Any]] = []
    for r in frame.to_dict("records"):
        diff = {c: r[c] - own[c] for c in share_cols}
        column = max(diff, key=lambda c: (abs(diff[c]), c)) if diff else None
        metric, hazard = column.split("|") if column else (None, None)
        rows.append({
            "country_iso3": r["country_iso3"], "admin_code": r["admin_code"],
            "admin_name": r["admin_name"], "similarity": round(float(r["similarity"]), 4),
            "profile_similarity": round(float(r["profile_similarity"]), 4),
            "scale_ratio": round(float(r["records_per_year"] / own["records_per_year"]), 3)
            if own["records_per_year"] else None,
            "differs_by": {"metric": metric, "hazard": hazard,
                           "peer_share_pct": round(100 * float(r[column]), 1) if column else None,
                           "own_share_pct": round(100 * float(own[column]), 1) if column
                           else None}})
    return pd.DataFrame(rows)
