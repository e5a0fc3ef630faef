"""``riskatlas link`` (link the events of two datasets and store the links) and
``riskatlas links`` (list, accept, reject; the places to review): issue 17.

Decisions go through :mod:`riskatlas.services.links` (validators and admins only, audited
in the decision's transaction); ``--user`` decides as a user of the store, else as the
operator of the store file (``cli``, an administrator).
"""

# no `from __future__ import annotations`: Typer reads these signatures at every run,
# and evaluating their annotations from strings cost more than defining them

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from riskatlas.cli.help import h
from riskatlas.cli.options import Db, Format, Methods
from riskatlas.cli.output import TABLE_FORMATS, console, print_frame
from riskatlas.cli.state import state

if TYPE_CHECKING:
    import pandas as pd

PLACE_COLUMNS = ("place_id", "record_id", "country_iso3", "origin", "text", "method",
                 "candidates")

From = Annotated[str, typer.Option("--from", help=h("link.from"))]
To = Annotated[str, typer.Option("--to", help=h("link.to"))]
FromOptional = Annotated[str | None, typer.Option("--from", help=h("link.from"))]
ToOptional = Annotated[str | None, typer.Option("--to", help=h("link.to"))]
Lang = Annotated[str | None, typer.Option("--lang", help=h("link.lang"))]
Csv = Annotated[Path | None, typer.Option("--csv", help=h("link.csv"))]
LinkId = Annotated[int, typer.Argument(help=h("links.link_id"), min=1)]
Reason = Annotated[str | None, typer.Option("--reason", help=h("links.reason"))]
User = Annotated[str | None, typer.Option("--user", help=h("links.user"))]


def _lang(ctx: typer.Context, lang: str | None) -> str:
    from riskatlas.i18n import normalize_language

    return normalize_language(lang) if lang else state(ctx).lang


def _show(frame: "pd.DataFrame", fmt: str, csv: Path | None, lang: str) -> None:
    from riskatlas.services.links import links_csv

    if csv is not None:
        csv.write_text(links_csv(frame), encoding="utf-8")
    if fmt in TABLE_FORMATS:
        print_frame(_table(frame, lang), fmt, lang=lang)
    else:
        from riskatlas.services.links import export_frame

        print_frame(export_frame(frame), fmt, lang=lang)


def _table(frame: "pd.DataFrame", lang: str) -> "pd.DataFrame":
    """What a terminal shows of links, under headings in the reader's language."""
    import pandas as pd

    from riskatlas.i18n import translate

    def t(key: str) -> str:
        return translate(key, lang)

    return pd.DataFrame({
        t("link.web.link"): frame.link_id,
        t("link.web.events"): [f"{a} ↔ {b}" for a, b in zip(frame.from_event, frame.to_event,
                                                             strict=True)],
        t("link.web.status"): [t(f"link.state.{s}") for s in frame.status],
        t("link.web.score"): [f"{v:.2f}" for v in frame.score],
        t("link.web.why"): frame.why})


def link(
    ctx: typer.Context, from_dataset: From, to_dataset: To, lang: Lang = None,
    csv: Csv = None, fmt: Format = "table", methods: Methods = None, db: Db = None,
) -> None:
    """Link the events of two datasets (an id or a source key) and store the links."""
    import riskatlas

    lang = _lang(ctx, lang)
    with riskatlas.open(db, methods=methods) as atlas:
        frame = atlas.link(from_dataset, to_dataset, lang)
    counts = frame.attrs["counts"]
    _show(frame, fmt, csv, lang)
    console.print(state(ctx).t("link.cli.proposed", **counts,
                               review=len(frame.attrs["places_to_review"])), style="dim")


def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help=h("links.status"))] = None,
    from_dataset: FromOptional = None, to_dataset: ToOptional = None, lang: Lang = None,
    csv: Csv = None, fmt: Format = "table", db: Db = None,
) -> None:
    """The stored links with their score in words and their decision."""
    import riskatlas
    from riskatlas.errors import RiskAtlasError
    from riskatlas.services.links import STATUSES

    if status is not None and status not in STATUSES:
        raise RiskAtlasError("link.error.bad_status", status=status[:40],
                             statuses=", ".join(STATUSES))
    lang = _lang(ctx, lang)
    with riskatlas.open(db, read_only=True) as atlas:
        frame = atlas.links(status=status, from_dataset=from_dataset, to_dataset=to_dataset,
                            lang=lang)
    if not len(frame) and fmt in TABLE_FORMATS and csv is None:
        console.print(state(ctx).t("link.cli.none"))
        return
    _show(frame, fmt, csv, lang)


def _decide(ctx: typer.Context, link_id: int, to: str, reason: str | None,
            user: str | None, db: Path | None) -> None:
    import riskatlas
    from riskatlas.services import links

    with riskatlas.open(db) as atlas:
        decision = links.decide(atlas.store, links.operator(atlas.store, user), link_id, to,
                                reason)
    console.print(state(ctx).t("link.cli.decided", link=link_id,
                               status=state(ctx).t(f"link.state.{decision['status']}"),
                               user=decision["decided_by"]))


def accept(ctx: typer.Context, link_id: LinkId, reason: Reason = None, user: User = None,
           db: Db = None) -> None:
    """Accept a link: its events are one disaster."""
    _decide(ctx, link_id, "accept", reason, user, db)


def reject(ctx: typer.Context, link_id: LinkId, reason: Reason = None, user: User = None,
           db: Db = None) -> None:
    """Reject a link: its events are different disasters."""
    _decide(ctx, link_id, "reject", reason, user, db)


def places(
    ctx: typer.Context,
    every: Annotated[bool, typer.Option("--all", help=h("links.places_all"))] = False,
    fmt: Format = "table", db: Db = None,
) -> None:
    """The places of EM-DAT records that no single admin unit was found for."""
    import riskatlas
    from riskatlas.services import links

    with riskatlas.open(db, read_only=True) as atlas:
        frame = links.places(atlas.store, review=not every)
    if not len(frame) and fmt in TABLE_FORMATS:
        console.print(state(ctx).t("link.cli.no_places"))
        return
    print_frame(frame.reindex(columns=list(PLACE_COLUMNS)) if fmt == "table" else frame, fmt,
                lang=state(ctx).lang)  # wide, csv and json: every column
