"""ISO 3166 countries: codes and names (English and Traditional Chinese via pycountry)."""

from __future__ import annotations

import gettext
import unicodedata
from functools import cache
from typing import Any


def _pycountry() -> Any:
    # imported on first use: it is not needed to read a file (import workers, start-up)
    import pycountry

    return pycountry


@cache
def iso3_codes() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in _pycountry().countries)


def is_iso3(code: str | None) -> bool:
    return bool(code) and str(code).upper() in iso3_codes()


@cache
def _zh_tw() -> gettext.NullTranslations:
    return gettext.translation("iso3166-1", _pycountry().LOCALES_DIR, languages=["zh_TW"],
                               fallback=True)


def country_name(code: str, lang: str = "en") -> str:
    """The country's common name in English or Traditional Chinese (the glossary's name as
    Taiwan writes it, else ISO 3166's); for a code ISO 3166 does not assign, the message
    catalogues' ``country.<code>``, else the code itself."""
    country = _pycountry().countries.get(alpha_3=code.upper())
    if country is None:  # e.g. the synthetic demo's DMO, named in the message catalogues
        from riskatlas.i18n import catalogue

        return catalogue(lang).get(f"country.{code.upper()}", code)
    if lang == "zh-TW":
        from riskatlas.i18n import glossary

        return glossary().country_names.get(country.alpha_3) or _zh_tw().gettext(country.name)
    return getattr(country, "common_name", None) or country.name


def _words(text: str) -> str:
    """Lower-case letters with single spaces: 'Sri_Lanka-2016' → 'sri lanka'."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(c if c.isalpha() and c.isascii() else " " for c in folded
                      if not unicodedata.combining(c))
    return " ".join(letters.split())


@cache
def _names() -> dict[str, str]:
    """Normalised English names (official, common, short) → ISO3."""
    found: dict[str, str] = {}
    for c in _pycountry().countries:
        for attr in ("name", "common_name", "official_name"):
            if value := getattr(c, attr, None):
                found.setdefault(_words(value), c.alpha_3)
    return found


def country_in_name(stem: str) -> str | None:
    """The ISO3 code of a country named in a file name ('nepal_desinventar_2016' → NPL,
    'DesInventar Sri Lanka' → LKA): the longest run of words that is a country's English
    name; None when no country is named, or two are."""
    words = _words(stem).split()
    names = _names()
    spans = [(i, j, names[" ".join(words[i:j])]) for i in range(len(words))
             for j in range(i + 1, min(len(words), i + 6) + 1) if " ".join(words[i:j]) in names]
    # 'papua new guinea' holds 'guinea': only runs that no longer run contains count
    found = {code for i, j, code in spans
             if not any(a <= i and j <= b and (a, b) != (i, j) for a, b, _ in spans)}
    return found.pop() if len(found) == 1 else None
