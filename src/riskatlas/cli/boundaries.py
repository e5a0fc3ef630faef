"""``riskatlas boundaries FILE``: load admin boundaries (GeoJSON, shapefile, GeoPackage) for
the units already in the store, so reports and the web have maps.

Units are matched by code or by name (:mod:`riskatlas.services.boundaries`); the command
prints what it matched, the file's features that matched no unit and the units of the
level still without a boundary, in the user's language (``--format json``: everything,
for a script). ``--dry-run`` reports the match without writing.
"""

# no `from __future__ import annotations`: Typer reads these signatures at every run,
# and evaluating their annotations from strings cost more than defining them

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from riskatlas.cli.help import h
from riskatlas.cli.options import Db
from riskatlas.cli.output import console, print_json_line
from riskatlas.cli.state import state

if TYPE_CHECKING:
    from riskatlas.services.boundaries import BoundaryLoad

SHOWN = 12  # names listed per kind of mismatch (the rest counted; json lists them all)


def boundaries(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help=h("boundaries.file"), exists=True,
                                         dir_okay=False)],
    country: Annotated[str | None, typer.Option("--country",
                                                help=h("boundaries.country"))] = None,
    level: Annotated[int | None, typer.Option("--level", min=0, max=99,
                                              help=h("boundaries.level"))] = None,
    code_field: Annotated[str | None, typer.Option("--code-field",
                                                   help=h("boundaries.code_field"))] = None,
    name_field: Annotated[str | None, typer.Option("--name-field",
                                                   help=h("boundaries.name_field"))] = None,
    layer: Annotated[str | None, typer.Option("--layer", help=h("boundaries.layer"))] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help=h("boundaries.dry_run"))] = False,
    fmt: Annotated[str, typer.Option("--format", help=h("boundaries.format"))] = "table",
    db: Db = None,
) -> None:
    """Load admin boundaries for the store's units, matched by code or name."""
    import riskatlas
    from riskatlas.services.boundaries import load_boundaries

    with riskatlas.open(db, read_only=dry_run) as atlas:
        load = load_boundaries(atlas.store, file, country=country, level=level,
                               code_field=code_field, name_field=name_field, layer=layer,
                               dry_run=dry_run)
    if fmt == "json":
        print_json_line(load.as_dict())
        return
    for line in summary_lines(load, state(ctx).lang):
        console.print(line, highlight=False, soft_wrap=True)


def summary_lines(load: "BoundaryLoad", lang: str) -> list[str]:
    """What the command prints: the match, then what did not match, in ``lang``."""
    from riskatlas.i18n import translate

    def t(key: str, **params: object) -> str:
        return translate(key, lang, **params)

    field = " + ".join(f for f in (load.code_field, load.name_field) if f)
    lines = [t("boundaries.cli.read", path=load.path, layer=load.layer, crs=load.crs,
               features=f"{load.features:,}"),
             t("boundaries.cli.matched", matched=f"{load.matched_units:,}",
               total=f"{load.units_total:,}", country=load.country, level=load.level,
               field=field, by_code=f"{load.by_code:,}", by_name=f"{load.by_name:,}")]
    if load.replaced:
        lines.append(t("boundaries.cli.replaced", count=f"{load.replaced:,}"))
    if load.unmatched_features:
        lines.append(t("boundaries.cli.unmatched_features",
                       count=f"{len(load.unmatched_features):,}",
                       items=_listed(load.unmatched_features, lang)))
    if load.ambiguous_names:
        lines.append(t("boundaries.cli.ambiguous", count=f"{len(load.ambiguous_names):,}",
                       items=_listed(load.ambiguous_names, lang)))
    if load.units_without:
        lines.append(t("boundaries.cli.units_without", count=f"{len(load.units_without):,}",
                       items=_listed([f"{n} ({c})" if n else c for c, n in load.units_without],
                                     lang)))
    lines.append(t("boundaries.cli.written") if load.written
                 else t("boundaries.cli.dry_run") if load.matched_units
                 else t("boundaries.cli.nothing_written"))
    return lines


def _listed(items: list[str], lang: str) -> str:
    from riskatlas.i18n import translate

    shown = translate("boundaries.cli.sep", lang).join(items[:SHOWN])
    more = len(items) - SHOWN
    return shown + (translate("boundaries.cli.more", lang, count=f"{more:,}") if more > 0
                    else "")
