"""What a web card's place and hazard are chosen from: the store's gazetteer (its
``admin_units``: the units every import brings, with their parents) and the hazard
taxonomy (the terms the store's data uses, the crosswalk's terms and the HIPs names it
maps), offered on the card form as ``<datalist>`` suggestions (no script needed).

The place rule (:func:`settle_place`) lives in :mod:`riskatlas.services.places`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from riskatlas.analysis.results import hazard_name
from riskatlas.model.countries import country_name
from riskatlas.model.hazards import Crosswalk, hips_types, match_key
from riskatlas.services import cards
from riskatlas.services.places import (  # noqa: F401  (the place rule, importable here)
    LEVELS,
    Found,
    Gazetteer,
    Unit,
    settle_country,
    settle_place,
    text_value,
)


def store_countries(atlas: Any) -> list[str]:
    """The countries of the store (see :func:`riskatlas.services.places.store_countries`)."""
    return cards.store_countries(atlas.store)



# --- what the form offers -------------------------------------------------------------------

def country_options(countries: list[str], lang: str) -> list[tuple[str, str]]:
    """(code, name) of the store's countries."""
    return [(code, country_name(code, lang)) for code in countries]


def unit_options(gazetteer: Gazetteer) -> dict[int, list[tuple[str, str]]]:
    """Per level, (code, "name — parent's name") of the country's units."""
    out: dict[int, list[tuple[str, str]]] = {}
    for n in LEVELS:
        options = []
        for u in gazetteer.at(n):
            parent = gazetteer.unit(n - 1, u.parent_code) if n else None
            label = u.name or u.code
            if parent is not None and parent.name:
                label = f"{label} — {parent.name}"
            options.append((u.code, label))
        out[n] = options
    return out


# the records page's unit filter lists a level's units only up to this many (a select of
# thousands of wards helps nobody; their records are reached from the unit pages)
UNIT_FILTER_MAX = 1000


def unit_filter_options(atlas: Any, country: str | None,
                        selected: str | None) -> list[tuple[int, list[tuple[str, str]]]]:
    """The records page's units to filter by, per level: (level, [(code, "name — parent's
    name")]) for each level of ``country``'s gazetteer with at most ``UNIT_FILTER_MAX``
    units; ``selected`` (a code the page was asked for, e.g. from a unit page) always
    among them. No country: no units (codes repeat across countries)."""
    gazetteer = Gazetteer.of(atlas.store, country.upper() if country else None)
    every = atlas.store.kept(("unit_options", gazetteer.country),
                             lambda: unit_options(gazetteer))
    out = [(level, units) for level, units in every.items()
           if units and len(units) <= UNIT_FILTER_MAX]
    if selected and not any(code == selected for _, units in out for code, _ in units):
        unit = next((gazetteer.unit(n, selected) for n in LEVELS
                     if gazetteer.unit(n, selected)), None)
        out.append((unit.level if unit else -1,
                    [(selected, unit.name if unit and unit.name else selected)]))
    return out


def hazard_group_options(atlas: Any, selected: str | None,
                         lang: str) -> list[tuple[str, str]]:
    """(group, name) of the reporting groups of the records the reader may see, by name;
    ``selected`` (a HIPs code or a term a link asked for) kept as an option of its own."""
    def distinct() -> list[str]:
        r = atlas.table("records")
        return r.select("hazard_group").distinct().to_pandas()["hazard_group"].tolist()

    groups = atlas.store.kept(("hazard_groups",), distinct)
    out = sorted(((g, hazard_name(g, lang) or g) for g in groups if isinstance(g, str) and g),
                 key=lambda o: o[1])
    if selected and selected.lower() not in {g for g, _ in out}:
        out.append((selected, hazard_name(selected, lang) or selected))
    return out


def hazard_label(term: str | None, hips_code: str | None, group: str | None,
                 lang: str) -> str:
    """A hazard as the reader knows it: its group's name, HIPs code and name."""
    parts = [hazard_name(group, lang)] if group else []
    if hips_code:
        parts.append(f"{hips_code} {hazard_name(hips_code, lang)}")
    return " · ".join(p for p in parts if p) or (term or "")


def hazard_options(atlas: Any, crosswalk: Crosswalk, lang: str,
                   unmapped: str) -> list[tuple[str, str]]:
    """(term, label): the store's terms by records, then the crosswalk's terms and the HIPs
    names it maps, each key once. ``unmapped`` labels a store term the crosswalk does not
    map (it awaits review)."""
    t = atlas.table("hazard_terms")
    used = (t.group_by("term").aggregate(records=t.records.sum(), hips=t.hips_code.max(),
                                         group=t.hazard_group.max())
            .order_by("term").to_pandas())
    used = used.sort_values("records", ascending=False, kind="stable")
    out: dict[str, tuple[str, str]] = {}
    for r in used.itertuples():
        if isinstance(r.term, str) and r.term and match_key(r.term) not in out:
            group = text_value(r.group)
            label = hazard_label(r.term, text_value(r.hips), group, lang) if group else unmapped
            out[match_key(r.term)] = (r.term, label)
    terms = sorted({m.matched_term for m in crosswalk.entries.values()}
                   | {h.name_en for h in hips_types().values()}, key=str.casefold)
    for term in terms:
        key = match_key(term)
        match = crosswalk.match(term)
        if key and key not in out and match is not None and not _classification(term):
            out[key] = (term, hazard_label(term, match.hips_code, match.group, lang))
    return list(out.values())


def _classification(term: str) -> bool:
    """EM-DAT's classification keys (nat-hyd-flo-riv): identifiers, not names."""
    return term.count("-") == 3 and term.islower() and " " not in term


def form_options(atlas: Any, country: str | None, lang: str) -> dict[str, Any]:
    """What the card form offers: the store's countries, the units of ``country`` (the
    store's only country when none is given) per level, and the hazards."""
    from riskatlas.i18n import translate

    countries = store_countries(atlas)
    if not country and len(countries) == 1:
        country = countries[0]
    gazetteer = Gazetteer.of(atlas.store, country.upper() if country else None)
    return {"country": country.upper() if country else None,
            "countries": country_options(countries, lang),
            "units": unit_options(gazetteer), "gazetteer": bool(gazetteer.units),
            "hazards": hazard_options(atlas, atlas.store.crosswalk, lang,
                                      translate("workflow.unmapped_term", lang))}


def card_display(card: Mapping[str, Any], lang: str) -> dict[str, str]:
    """A card's coded values in the reader's words: status, hazard group and HIPs type,
    country (the card page shows these instead of the codes alone)."""
    from riskatlas.i18n import translate

    out: dict[str, str] = {}
    status, group = card.get("approval_status"), card.get("hazard_group")
    code, country = card.get("hips_code"), card.get("country_iso3")
    if isinstance(status, str) and status:
        out["approval_status"] = translate(f"workflow.state.{status}", lang)
    if isinstance(group, str) and group:
        out["hazard_group"] = hazard_name(group, lang) or group
    if isinstance(code, str) and code:
        out["hips_code"] = f"{code} {hazard_name(code, lang)}"
    if isinstance(country, str) and country:
        out["country_iso3"] = f"{country} · {country_name(country, lang)}"
    return out
