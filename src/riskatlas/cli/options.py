"""Options that several commands share, typed once, and the scope option set.

Each option is an ``Annotated`` type (``country: Country = None``), in the manner of
sqlite-utils' option decorators. :func:`scope_options` puts the options of an analysis's
scope in place of a command's ``scope`` parameter and gives the command one
:class:`ScopeArgs` value: a :class:`riskatlas.analysis.scope.Scope` (checked as it is
made: a period that ends before it starts is refused before any store opens) and whether
unapproved cards count.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from riskatlas.cli.help import h

if TYPE_CHECKING:
    from riskatlas.analyses import Analyses
    from riskatlas.analysis.scope import Scope


def _hazard_keys() -> str:
    from riskatlas.analysis.scope import HAZARD_KEYS

    return ", ".join(HAZARD_KEYS)


def _engines() -> str:
    from riskatlas.analyses import ENGINES

    return ", ".join(ENGINES)


Db = Annotated[Path | None, typer.Option("--db", help=h("option.db"))]
Format = Annotated[str, typer.Option("--format", help=h("option.format"))]
Methods = Annotated[Path | None, typer.Option("--methods", help=h("option.methods"))]
NoPdf = Annotated[bool, typer.Option("--no-pdf", help=h("option.no_pdf"))]
Engine = Annotated[str, typer.Option("--engine", help=h("option.engine", engines=_engines))]
# record filters shared by the browsing and analysis commands
Country = Annotated[str | None, typer.Option("--country", help=h("option.country"))]
Admin = Annotated[str | None, typer.Option("--admin", help=h("option.admin"))]
Hazard = Annotated[str | None, typer.Option("--hazard", help=h("option.hazard"))]
YearFrom = Annotated[int | None, typer.Option("--from", help=h("option.from"))]
YearTo = Annotated[int | None, typer.Option("--to", help=h("option.to"))]
Dataset = Annotated[int | None, typer.Option("--dataset", help=h("option.dataset"))]
Unapproved = Annotated[bool, typer.Option("--include-unapproved",
                                          help=h("option.include_unapproved"))]
By = Annotated[str, typer.Option("--by", help=h("option.by", keys=_hazard_keys))]


def level_option(help_key: str) -> Any:
    """``--level`` (0–2) with the help of ``help_key``: what the level means differs."""
    return Annotated[int | None, typer.Option("--level", min=0, max=2, help=h(help_key))]


@dataclass(frozen=True)
class ScopeArgs:
    """What the scope options asked: the records and their breakdown, and whether
    unapproved cards count (the methods profile's statuses otherwise)."""

    scope: Scope
    include_unapproved: bool = False

    def on(self, atlas: Analyses) -> Scope:
        """The scope with the methods profile of ``atlas`` (``Atlas.scope_of``): its
        approval statuses (every one with ``include_unapproved``) and its rule for the
        observation period."""
        defaults = atlas.scope_of(include_unapproved=self.include_unapproved)
        return self.scope.but(statuses=defaults.statuses, period_rule=defaults.period_rule)


def scope_args(*, country: str | None = None, admin: str | None = None,
               level: int | None = None, hazard: str | None = None,
               year_from: int | None = None, year_to: int | None = None,
               dataset: int | None = None, unapproved: bool = False,
               by: str = "group") -> ScopeArgs:
    """The :class:`ScopeArgs` of the scope options' values."""
    from riskatlas.analysis.scope import Scope

    return ScopeArgs(Scope(country=country, admin=admin, level=level, hazard=hazard,
                           year_from=year_from, year_to=year_to, dataset=dataset,
                           hazard_key=by), include_unapproved=unapproved)


F = TypeVar("F", bound=Callable[..., Any])


def scope_options(*, admin: bool = True, level: str | None = "option.level",
                  hazard: bool = True, dataset: bool = True, unapproved: bool = True,
                  by: bool = False) -> Callable[[F], F]:
    """Put the scope options (``--country``, and those chosen: ``--admin``, ``--level``
    with the help ``level``, ``--hazard``, ``--from``, ``--to``, ``--dataset``,
    ``--include-unapproved``, ``--by``), in that order, where the command has its
    ``scope`` parameter (keyword-only, as the parameters after it); the command gets a
    :class:`ScopeArgs` there."""
    chosen: list[tuple[str, Any, Any]] = [("country", Country, None)]
    chosen += [("admin", Admin, None)] if admin else []
    chosen += [("level", level_option(level), None)] if level else []
    chosen += [("hazard", Hazard, None)] if hazard else []
    chosen += [("year_from", YearFrom, None), ("year_to", YearTo, None)]
    chosen += [("dataset", Dataset, None)] if dataset else []
    chosen += [("unapproved", Unapproved, False)] if unapproved else []
    chosen += [("by", By, "group")] if by else []

    def decorate(function: F) -> F:
        signature = inspect.signature(function, eval_str=True)
        params: list[inspect.Parameter] = []
        for param in signature.parameters.values():
            if param.name == "scope":
                params += [inspect.Parameter(name, param.kind,
                                             default=default, annotation=annotation)
                           for name, annotation, default in chosen]
            else:
                params.append(param)

        @functools.wraps(function)
        def command(*args: Any, **kwargs: Any) -> Any:
            asked = {name: kwargs.pop(name) for name, _, _ in chosen}
            return function(*args, scope=scope_args(**asked), **kwargs)

        command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command  # type: ignore[return-value]

    return decorate
