"""UN M49 geographic regions of countries (``data/m49_regions.yaml``), named in English and
Traditional Chinese: what ``peers --within region`` keeps together."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

REGIONS_FILE = "m49_regions.yaml"


@dataclass(frozen=True)
class Area:
    """An M49 area: a region, sub-region or intermediate region."""

    code: str
    name_en: str
    name_zh: str
    parent: str | None

    def name_in(self, lang: str) -> str:
        return self.name_zh if lang == "zh-TW" else self.name_en


@cache
def _load() -> tuple[dict[str, Area], dict[str, str]]:
    """(areas by code, country ISO3 → the code of the area that lists it)."""
    text = resources.files("riskatlas.data").joinpath(REGIONS_FILE).read_text("utf-8")
    raw = yaml.safe_load(text)["areas"]
    areas = {str(code): Area(str(code), str(a["en"]), str(a["zh-TW"]),
                             str(a["parent"]) if a.get("parent") else None)
             for code, a in raw.items()}
    members: dict[str, str] = {}
    for code, a in raw.items():
        for iso3 in a.get("countries", []):
            if iso3 in members:
                raise ValueError(f"{REGIONS_FILE}: {iso3} is listed twice")
            members[str(iso3)] = str(code)
    unknown = {a.parent for a in areas.values() if a.parent and a.parent not in areas}
    if unknown:
        raise ValueError(f"{REGIONS_FILE}: unknown parent areas {sorted(unknown)}")
    return areas, members


def region_of(iso3: str | None) -> Area | None:
    """The finest M49 grouping of a country (the Caribbean, Southern Asia, …); None for a
    code that M49 does not list (``XXX``, the demo's ``DMO``)."""
    areas, members = _load()
    code = members.get(str(iso3 or "").upper())
    return areas[code] if code else None


def area(code: str) -> Area | None:
    return _load()[0].get(code)
