"""ISO 3166 countries: codes and names (English and Traditional Chinese via pycountry)."""

from __future__ import annotations

import gettext
from functools import cache

import pycountry


@cache
def iso3_codes() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.countries)


def is_iso3(code: str | None) -> bool:
    return bool(code) and str(code).upper() in iso3_codes()


@cache
def _zh_tw() -> gettext.NullTranslations:
    return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["zh_TW"],
                               fallback=True)


def country_name(code: str, lang: str = "en") -> str:
    """The country's common name in English or Traditional Chinese; for a code ISO 3166 does
    not assign, the message catalogues' ``country.<code>``, else the code itself."""
    country = pycountry.countries.get(alpha_3=code.upper())
    if country is None:  # e.g. the synthetic demo's DMO, named in the message catalogues
        from riskatlas.i18n import catalogue

        return catalogue(lang).get(f"country.{code.upper()}", code)
    name = getattr(country, "common_name", None) or country.name
    return _zh_tw().gettext(country.name) if lang == "zh-TW" else name
