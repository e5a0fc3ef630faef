"""Wording of assessment results that every view shares (report, web pages, CLI)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from riskatlas.analysis.results import hazard_name
from riskatlas.i18n import punctuation_in, translate


def drivers_text(drivers: Iterable[Mapping[str, Any]], lang: str, *, sep: str | None = None,
                 percent: str = " %") -> str:
    """A screened unit's drivers in ``lang``, each hazard named once with its indicators:
    "Landslide · deaths + missing 62 %, houses lost 20 %; Flood · deaths + missing 9 %"
    (zh-TW "坡地災害（含土石流）：死亡＋失蹤 62 %、房屋損失 20 %；水災：…"). ``sep`` goes
    between hazards (default: the catalogue's list separator, ``report.list_sep``; in
    zh-TW a given one is full-width, "; " → "；"); ``percent`` follows each share (a
    terminal table writes "%")."""
    between = translate("report.list_sep", lang) if sep is None else punctuation_in(sep, lang)
    shares: dict[str, list[str]] = {}  # hazard → its indicators, largest share first
    for d in drivers:
        shares.setdefault(hazard_name(d["hazard"], lang) or "—", []).append(
            f"{translate('indicator.' + d['indicator'], lang)} {d['share_pct']:.0f}{percent}")
    inner = translate("report.driver_sep", lang)
    return between.join(translate("report.driver", lang, hazard=hazard, shares=inner.join(s))
                        for hazard, s in shares.items())
