"""``riskatlas peers COUNTRY ADMIN``: units of the same kind with a like hazard profile.

The table shows each peer with its kind of unit, similarity, what makes it close and what
differs most, in the user's language; csv and json carry every column (``close_by`` as
structured facts). An empty list prints why there is none.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

import riskatlas
from riskatlas.cli.common import (
    DB_OPTION,
    FMT_OPTION,
    FROM_OPTION,
    METHODS_OPTION,
    STATE,
    TO_OPTION,
    console,
    err_console,
    h,
    print_frame,
    t,
)
from riskatlas.model.countries import country_name

TABLE = ("admin_name", "country", "kind", "similarity", "why", "differs")


def register(app: typer.Typer) -> None:
    @app.command(help=h("peers.help"))
    def peers(
        country: str = typer.Argument(..., help=h("peers.country")),
        admin: str = typer.Argument(..., help=h("peers.admin")),
        level: int = typer.Option(None, "--level", min=0, max=2, help=h("peers.level")),
        k: int = typer.Option(5, "--k", min=1, max=100, help=h("peers.k")),
        within: str = typer.Option(None, "--within", help=h("peers.within")),
        year_from: int = FROM_OPTION, year_to: int = TO_OPTION, fmt: str = FMT_OPTION,
        methods: Path = METHODS_OPTION, db: Path = DB_OPTION,
    ) -> None:
        """Peer units of the same kind with a like hazard profile."""
        from riskatlas.report import peers_view
        from riskatlas.report.html import Text

        with riskatlas.open(db, read_only=True, methods=methods) as atlas:
            frame = atlas.peers(country, admin, level=level, k=k, year_from=year_from,
                                year_to=year_to, within=within)
        text = Text(STATE.lang)
        unit = frame.attrs.get("unit")
        title = t("peers.title", unit=unit["admin_name"] or unit["admin_code"],
                  level=peers_view.level_label(unit["level_name"], unit["level"], text),
                  tier=peers_view.tier_label(unit["tier"], text),
                  country=country_name(unit["country_iso3"], STATE.lang)) if unit else ""
        reason = frame.attrs.get("reason")
        out = console if fmt == "table" else err_console
        if title:
            out.print(title, highlight=False, soft_wrap=True)
        if reason:
            out.print(peers_view.reason_text(reason, text), highlight=False, soft_wrap=True)
        view = frame.assign(
            country=[country_name(c, STATE.lang) for c in frame["country_iso3"]],
            kind=[peers_view.level_label(n, lv, text)
                  for n, lv in zip(frame["level_name"], frame["level"], strict=True)],
            why=[text("peers.why_sep").join(peers_view.why_texts(c, text))
                 for c in frame["close_by"]],
            differs=[peers_view.differs_text(d, text) for d in frame["differs_by"]])
        if fmt == "table":
            if len(view):
                labels = {"kind": t("peers.column_kind"), "similarity": t("report.similarity"),
                          "why": t("peers.column_why"), "differs": t("report.differs")}
                view = view.assign(similarity=[f"{v:.2f}" for v in view["similarity"]])
                print_frame(view[list(TABLE)].rename(columns=labels))
            return
        if fmt == "csv":
            view = view.assign(**{c: view[c].map(lambda v: json.dumps(v, ensure_ascii=False))
                                  for c in ("close_by", "differs_by")})
        import pandas as pd

        print_frame(pd.DataFrame(view), fmt)
