"""Peer lists in words: what makes each peer close, what differs, and why a list is empty,
in the reader's language (report, unit pages, CLI and API share these)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from riskatlas.advice.peers import normalise
from riskatlas.model.countries import country_name
from riskatlas.model.regions import area

if TYPE_CHECKING:
    from riskatlas.report.text import Text


def level_label(name: str | None, level: int, t: Text) -> str:
    """A level's name as the source gives it, else "level N"."""
    return str(name) if name and str(name).strip() else t("peers.level_n", level=level)


def tier_label(tier: int, t: Text) -> str:
    return t(f"peers.tier_{int(tier)}")


def why_texts(close_by: list[Mapping[str, Any]], t: Text) -> list[str]:
    """Each fact of ``close_by`` (advice.peers.close_by) as a phrase."""
    out: list[str] = []
    for w in close_by:
        why = w["why"]
        if why == "kind":
            own = level_label(w["own_level"], w["own_level_no"], t)
            peer = level_label(w["peer_level"], w["peer_level_no"], t)
            tier = tier_label(w["tier"], t)
            out.append(t("peers.why_kind_same", level=peer, tier=tier)
                       if normalise(own) == normalise(peer)
                       else t("peers.why_kind", own=own, peer=peer, tier=tier))
        elif why == "hazards":
            out.append(t("peers.why_hazards", hazards=t("peers.sep").join(
                t.hazard(h) for h in w["hazards"])))
        elif why == "profile":
            out.append(t("peers.why_profile", pct=w["pct"]))
        elif why == "deaths_per_year":
            out.append(t("peers.why_no_deaths") if w["own"] == w["peer"] == 0 else
                       t("peers.why_deaths", own=t.num(w["own"], 2), peer=t.num(w["peer"], 2)))
        elif why == "records_per_year":
            out.append(t("peers.why_records", own=t.num(w["own"], 2),
                         peer=t.num(w["peer"], 2)))
        elif why == "size":
            key = "peers.why_area" if w["basis"] == "area_km2" else "peers.why_population"
            out.append(t(key, own=t.num(w["own"]), peer=t.num(w["peer"])))
        elif why == "country":
            out.append(t("peers.why_country"))
        elif why == "region":
            found = area(w["region"])
            out.append(t("peers.why_region",
                         region=found.name_in(t.lang) if found else w["region"]))
    return out


def differs_text(differs_by: Mapping[str, Any], t: Text) -> str:
    if not differs_by.get("hazard"):
        return "—"
    return t("report.peer_differs", hazard=t.hazard(differs_by["hazard"]),
             metric=t.metric(differs_by["metric"]), peer=differs_by["peer_share_pct"],
             own=differs_by["own_share_pct"])


def reason_text(reason: Mapping[str, Any] | None, t: Text) -> str:
    """Why a peer list is empty (``attrs["reason"]`` of advice.peers.peers)."""
    if not reason:
        return t("report.no_peers")
    params = dict(reason["params"])
    if "tier" in params:
        params["tier"] = tier_label(params["tier"], t)
    if "level_name" in params:
        params["level"] = level_label(params.pop("level_name"), params["level"], t)
    return t(reason["key"], **params)


def peer_items(frame: pd.DataFrame, t: Text,
               anchors: Collection[tuple[str, int, str]] = ()) -> list[dict[str, Any]]:
    """The rows of a peer list for a template: unit, country, kind, similarity, why close,
    what differs, and ``anchor`` when the report has a section on that unit."""
    return [{"unit": p["admin_name"] or p["admin_code"], "code": p["admin_code"],
             "country_iso3": p["country_iso3"], "level": int(p["level"]),
             "country": country_name(p["country_iso3"], t.lang),
             "kind": level_label(p["level_name"], int(p["level"]), t),
             "similarity": f"{p['similarity']:.2f}",
             "why": t("peers.why_sep").join(why_texts(p["close_by"], t)),
             "why_short": t("peers.why_sep").join(why_texts(
                 [w for w in p["close_by"] if not _in_columns(w)], t)),
             "differs": differs_text(p["differs_by"], t),
             "anchor": f"unit-{p['admin_code']}"
             if (p["country_iso3"], int(p["level"]), p["admin_code"]) in anchors else None,
             "url": None}  # the web's unit page sets it
            for p in frame.to_dict("records")]


def _in_columns(why: Mapping[str, Any]) -> bool:
    """A fact the peer table's columns show already: the same country, the same kind of
    unit by the same name."""
    return why["why"] == "country" or (
        why["why"] == "kind"
        and normalise(why["own_level"] or "") == normalise(why["peer_level"] or ""))
