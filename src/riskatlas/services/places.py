"""Where a card is: its country and admin units checked against the store's gazetteer
(``admin_units``: the units every import brings, with their parents).

The place rule (:func:`settle_place`, used by :mod:`riskatlas.services.cards`):

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

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from riskatlas.model.countries import is_iso3

if TYPE_CHECKING:
    from riskatlas.store.store import Store

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
    def of(cls, store: Store, country: str | None) -> Gazetteer:
        """``country``'s units in ``store`` (read once per served copy)."""
        if not country:
            return cls(country, [])

        def read() -> Gazetteer:
            t = store.table("admin_units")
            rows = (t.filter((t.country_iso3 == country) & t.level.isin(LEVELS)
                             & t.code.notnull())
                    .select("level", "code", "name", "name_en", "parent_code")
                    .order_by(["level", "code"]).to_pandas())
            return cls(country, [Unit(int(r.level), str(r.code),
                                      text_value(r.name) or text_value(r.name_en),
                                      text_value(r.parent_code)) for r in rows.itertuples()])

        return store.kept(("gazetteer", country), read)

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


def text_value(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def store_countries(store: Store, entered: str) -> list[str]:
    """The countries the store holds, sorted: its gazetteer's and its imported cards' (not
    those of cards entered by hand, whose ids start with ``entered``: they choose among
    these)."""
    units, records = store.table("admin_units"), store.table("records")
    imported = records.filter(~records.record_id.startswith(entered))
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
