"""What a web card's place and hazard are chosen from: the store's gazetteer (its
``admin_units``: the units every import brings, with their parents) and the hazard
taxonomy (the terms the store's data uses, the crosswalk's terms and the HIPs names it
maps), offered on the card form as ``<datalist>`` suggestions (no script needed).

The place rule (:func:`settle_place`, used by :mod:`riskatlas.web.workflow`):

- the country is an ISO 3166 code or one the store holds; left blank it is the store's
  only country, and it is required when the store holds several or none;
- where the gazetteer has units of the country at a level, a code of that level must be
  one of them and sit under the unit given one level up (when that unit's parent is in
  the gazetteer); a blank level above a known unit takes its parent, a blank name the
  gazetteer's name, and a name given without a code the one unit of that name;
- a level the gazetteer has no unit of, for that country, takes codes and names as given
  (a country never imported, a level its data does not use).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from riskatlas.analysis.results import hazard_name
from riskatlas.model.countries import country_name, is_iso3
from riskatlas.model.hazards import Crosswalk, hips_types, match_key

LEVELS = (0, 1, 2)
# a problem found: (field, message key, message parameters)
Found = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class Unit:
    level: int
    code: str
    name: str | None
    parent_code: str | None


class Gazetteer:
    """The admin units of one country in the store, levels 0 to 2."""

    def __init__(self, country: str | None, units: list[Unit]) -> None:
        self.country = country
        self.units = {(u.level, u.code): u for u in units}
        self.levels = frozenset(u.level for u in units)

    @classmethod
    def of(cls, atlas: Any, country: str | None) -> Gazetteer:
        if not country:
            return cls(country, [])
        t = atlas.table("admin_units")
        rows = (t.filter((t.country_iso3 == country) & t.level.isin(LEVELS) & t.code.notnull())
                .select("level", "code", "name", "name_en", "parent_code")
                .order_by(["level", "code"]).to_pandas())
        return cls(country, [Unit(int(r.level), str(r.code), _text(r.name) or _text(r.name_en),
                                  _text(r.parent_code)) for r in rows.itertuples()])

    def unit(self, level: int, code: str | None) -> Unit | None:
        return self.units.get((level, code)) if code else None

    def at(self, level: int) -> list[Unit]:
        return [u for (lv, _), u in self.units.items() if lv == level]

    def named(self, level: int, name: str, parent: str | None) -> Unit | None:
        """The one unit of ``level`` called ``name`` (any case; under ``parent`` if given)."""
        key = name.casefold()
        found = [u for u in self.at(level) if u.name and u.name.casefold() == key
                 and (parent is None or u.parent_code == parent)]
        return found[0] if len(found) == 1 else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def store_countries(atlas: Any) -> list[str]:
    """The countries the store holds, sorted: its gazetteer's and its imported cards' (not
    those of cards entered on the web, which choose among these)."""
    from riskatlas.web.workflow import SOURCE_KEY

    units, records = atlas.table("admin_units"), atlas.table("records")
    imported = records.filter(~records.record_id.startswith(f"{SOURCE_KEY}:"))
    found = set(units.select("country_iso3").distinct().to_pandas()["country_iso3"])
    found |= set(imported.select("country_iso3").distinct().to_pandas()["country_iso3"])
    return sorted(c for c in found if isinstance(c, str) and c)


def settle_place(gazetteer: Gazetteer, fields: MutableMapping[str, Any]) -> list[Found]:
    """Check (and complete) a card's country and admin units; see the module's rule.
    ``gazetteer`` is the country's (after :func:`settle_country`)."""
    codes = {n: fields.get(f"level{n}_code") for n in LEVELS}
    names = {n: fields.get(f"level{n}_name") for n in LEVELS}
    g = gazetteer
    for n in LEVELS:  # a name without a code: the one unit of that name
        if codes[n] is None and names[n] and n in g.levels:
            parent = codes[n - 1] if n else None
            unit = g.named(n, str(names[n]), parent)
            if unit is not None:
                codes[n] = unit.code
    for n in (2, 1):  # a known unit fills the level above it
        unit = g.unit(n, codes[n])
        if unit is not None and codes[n - 1] is None and g.unit(n - 1, unit.parent_code):
            codes[n - 1] = unit.parent_code
    found: list[Found] = []
    for n in LEVELS:
        code, field = codes[n], f"level{n}_code"
        if n not in g.levels:
            continue
        if code is None:
            if names[n]:
                found.append((f"level{n}_name", "workflow.problem.unknown_unit_name",
                              {"name": names[n], "country": g.country}))
            continue
        unit = g.unit(n, code)
        if unit is None:
            found.append((field, "workflow.problem.unknown_unit",
                          {"code": code, "country": g.country}))
            continue
        above = codes[n - 1] if n else None
        if (above is not None and unit.parent_code != above and g.unit(n - 1, above)
                and g.unit(n - 1, unit.parent_code)):
            found.append((field, "workflow.problem.not_under",
                          {"code": code, "parent": above}))
            continue
        fields[field] = code
        if not names[n] and unit.name:
            fields[f"level{n}_name"] = unit.name
    return found


def settle_country(fields: MutableMapping[str, Any], countries: list[str]) -> list[Found]:
    """The card's country, upper case; blank: the store's only one, else required."""
    country = fields.get("country_iso3")
    if country is None:
        if len(countries) == 1:
            fields["country_iso3"] = countries[0]
            return []
        return [("country_iso3", "workflow.problem.no_country", {})]
    country = str(country).upper()
    fields["country_iso3"] = country
    if not is_iso3(country) and country not in countries:
        return [("country_iso3", "workflow.problem.unknown_country", {"code": country})]
    return []


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
            group = _text(r.group)
            label = hazard_label(r.term, _text(r.hips), group, lang) if group else unmapped
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
    gazetteer = Gazetteer.of(atlas, country.upper() if country else None)
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
