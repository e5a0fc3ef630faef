"""Wording of assessment results that every view shares (report, web pages, CLI)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from riskatlas.analysis.results import hazard_name
from riskatlas.i18n import translate


def drivers_text(drivers: Iterable[Mapping[str, Any]], lang: str, *, sep: str | None = None,
                 percent: str = " %") -> str:
    """A screened unit's drivers in ``lang``: "Flood · Deaths 62 %; Storm · …". ``sep``
    goes between drivers (default: the catalogue's list separator, ``report.list_sep``);
    ``percent`` follows each share (a terminal table writes "%")."""
    between = translate("report.list_sep", lang) if sep is None else sep
    return between.join(
        f"{hazard_name(d['hazard'], lang) or '—'} · "
        f"{translate('indicator.' + d['indicator'], lang)} {d['share_pct']:.0f}{percent}"
        for d in drivers)
