"""``riskatlas peers COUNTRY ADMIN``: units of the same kind with a like hazard profile.

The table shows each peer with its kind of unit, similarity, what makes it close and what
differs most, in the user's language; csv and json carry every column (``close_by`` as
structured facts). An empty list prints why there is none.
"""

# no `from __future__ import annotations`: Typer reads these signatures at every run,
# and evaluating their annotations from strings cost more than defining them

import json
from typing import Annotated

import typer

from riskatlas.cli.help import h
from riskatlas.cli.options import Db, Format, Methods, YearFrom, YearTo
from riskatlas.cli.output import TABLE_FORMATS, console, err_console, print_frame
from riskatlas.cli.state import state
from riskatlas.i18n import translate

TABLE = ("admin_name", "country", "kind", "similarity", "why", "differs")
PeersLevel = Annotated[int | None, typer.Option("--level", min=0, max=2,
                                                help=h("peers.level"))]


def peers(
    ctx: typer.Context,
    country: Annotated[str, typer.Argument(help=h("peers.country"))],
    admin: Annotated[str, typer.Argument(help=h("peers.admin"))],
    level: PeersLevel = None,
    k: Annotated[int, typer.Option("--k", min=1, max=100, help=h("peers.k"))] = 5,
    within: Annotated[str | None, typer.Option("--within", help=h("peers.within"))] = None,
    year_from: YearFrom = None, year_to: YearTo = None, fmt: Format = "table",
    methods: Methods = None, db: Db = None,
) -> None:
    """Peer units of the same kind with a like hazard profile."""
    import pandas as pd

    import riskatlas
    from riskatlas.model.countries import country_name
    from riskatlas.report import peers_view
    from riskatlas.report.text import Text

    lang = state(ctx).lang
    with riskatlas.open(db, read_only=True, methods=methods) as atlas:
        frame = atlas.peers(country, admin, level=level, k=k, year_from=year_from,
                            year_to=year_to, within=within)
    text = Text(lang)
    unit = frame.attrs.get("unit")
    title = translate(
        "peers.title", lang, unit=unit["admin_name"] or unit["admin_code"],
        level=peers_view.level_label(unit["level_name"], unit["level"], text),
        tier=peers_view.tier_label(unit["tier"], text),
        country=country_name(unit["country_iso3"], lang)) if unit else ""
    reason = frame.attrs.get("reason")
    out = console if fmt in TABLE_FORMATS else err_console
    wrap = fmt not in TABLE_FORMATS  # a terminal's lines wrap between words; stderr's not
    if title:
        out.print(title, highlight=False, soft_wrap=wrap)
    if reason:
        out.print(peers_view.reason_text(reason, text), highlight=False, soft_wrap=wrap)
    view = frame.assign(
        country=[country_name(c, lang) for c in frame["country_iso3"]],
        kind=[peers_view.level_label(n, lv, text)
              for n, lv in zip(frame["level_name"], frame["level"], strict=True)],
        why=[text("peers.why_sep").join(peers_view.why_texts(c, text))
             for c in frame["close_by"]],
        differs=[peers_view.differs_text(d, text) for d in frame["differs_by"]])
    if fmt in TABLE_FORMATS:
        if len(view):
            labels = {"kind": translate("peers.column_kind", lang),
                      "similarity": translate("report.similarity", lang),
                      "why": translate("peers.column_why", lang),
                      "differs": translate("report.differs", lang)}
            view = view.assign(similarity=view["similarity"].round(2))  # a number
            print_frame(view[list(TABLE)].rename(columns=labels), fmt, lang=lang)
        return
    if fmt == "csv":
        view = view.assign(**{c: view[c].map(lambda v: json.dumps(v, ensure_ascii=False))
                              for c in ("close_by", "differs_by")})
    print_frame(pd.DataFrame(view), fmt, lang=lang)
