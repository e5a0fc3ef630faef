"""``riskatlas db``: the store itself. ``upgrade`` applies the schema migrations a store
lacks (:mod:`riskatlas.store.ddl`: versioned, recorded in ``schema_migrations``; opening a
store for writing applies them too). ``copy SRC DST`` moves a whole store between a
DuckDB file and a PostgreSQL database (either way, or between two of one kind): every
table and sequence, in one transaction on the target, reconciled table by table (row
counts and content digests equal on both sides) before it is committed
(:func:`riskatlas.api.copy_store`)."""

# no `from __future__ import annotations`: Typer reads these signatures at every run,
# and evaluating their annotations from strings cost more than defining them

from collections.abc import Callable
from typing import Annotated, Any

import typer

from riskatlas.cli.help import h
from riskatlas.cli.options import Db
from riskatlas.cli.output import console
from riskatlas.cli.state import state


def copy(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help=h("db.copy.source"))],
    target: Annotated[str, typer.Argument(help=h("db.copy.target"))],
    overwrite: Annotated[bool, typer.Option("--overwrite", help=h("db.copy.overwrite"))
                         ] = False,
) -> None:
    """Copy a whole store: DuckDB file ↔ PostgreSQL URL."""
    from riskatlas.api import copy_store

    t = state(ctx).t

    def told(table: Any) -> None:
        console.print(t("db.copy.table", table=table.table, rows=f"{table.rows:,}"),
                      highlight=False)

    result = copy_store(source, target, overwrite=overwrite, on_table=told)
    console.print(t("db.copy.sequences", sequences=", ".join(
        f"{name} {value}" for name, value in result.sequences.items())), highlight=False)
    if result.left_out:
        console.print(t("db.copy.left_out", tables=", ".join(result.left_out)),
                      highlight=False)
    console.print(t("db.copy.done", source=result.source, target=result.target,
                    tables=len(result.tables), rows=f"{result.rows:,}",
                    seconds=f"{result.seconds:.1f}"), highlight=False)


def upgrade(ctx: typer.Context, db: Db = None) -> None:
    """Apply the schema migrations the store lacks (DuckDB or PostgreSQL)."""
    from riskatlas.api import upgrade_store

    t = state(ctx).t
    applied, migrations = upgrade_store(db)
    names = dict((v, n) for v, n, _at in migrations)
    for version in applied:
        console.print(t("db.upgrade.applied", version=version, name=names.get(version, "")),
                      highlight=False)
    key = "db.upgrade.done" if applied else "db.upgrade.current"
    console.print(t(key, version=max(names, default=0), count=len(applied)), highlight=False)


# (name, function): the commands of ``riskatlas db`` (cli/__init__.py assembles them)
COMMANDS: tuple[tuple[str, Callable[..., Any]], ...] = (("copy", copy), ("upgrade", upgrade))
