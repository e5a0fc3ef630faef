"""The ``riskatlas`` command: a thin view over the Python API.

One module per command group (data, demo, browse, analysis, assess, peers, serve, users),
each a set of plain functions that parse their arguments, call :mod:`riskatlas.api` and
format the result; this module puts them in one Typer app. The run's settings (language,
``--debug``) live in Typer's context object (:class:`~riskatlas.cli.state.CliState`).
Modules load only Typer and Rich: a command imports what it needs (pandas, Ibis, the
store) when it runs, so ``riskatlas --help`` starts fast. One handler turns any
:class:`RiskAtlasError` into a one-line message in the user's language and exit code 1;
tracebacks only with ``--debug``. The ``--help`` texts are the ``cli_help`` section of
the catalogues, worded when shown (:mod:`riskatlas.cli.help`).
"""

# no `from __future__ import annotations`: Typer reads these signatures at every run,
# and evaluating their annotations from strings cost more than defining them

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from riskatlas.cli import (
    analysis,
    assess,
    boundaries,
    browse,
    data,
    db,
    demo,
    links,
    peers,
    serve,
    users,
)
from riskatlas.cli.help import LocalizedCommand, LocalizedGroup, h, help_language, localized
from riskatlas.cli.output import echo_error
from riskatlas.cli.state import CliState
from riskatlas.errors import RiskAtlasError
from riskatlas.i18n import LANGUAGES, default_language, normalize_language, translate

__all__ = ["app", "localized", "main"]

# (name, function): the commands in the order --help lists them; each one's help is
# ``cli_help.<name>.help``
COMMANDS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("import", data.import_), ("fetch", data.fetch), ("demo", demo.demo),
    ("population", data.population), ("boundaries", boundaries.boundaries),
    ("datasets", browse.datasets), ("quality", browse.quality), ("hazards", browse.hazards),
    ("records", browse.records), ("periods", browse.periods), ("export", browse.export),
    ("profile", analysis.profile), ("events", analysis.events), ("risk", analysis.risk),
    ("sendai", analysis.sendai), ("screen", analysis.screen),
    ("assess", assess.assess), ("peers", peers.peers), ("link", links.link),
    ("serve", serve.serve),
)
USERS_COMMANDS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("add", users.add), ("list", users.list_), ("set", users.set_), ("role", users.role),
    ("password", users.password), ("disable", users.disable), ("enable", users.enable),
    ("token", users.token), ("revoke", users.revoke),
)
LINKS_COMMANDS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("list", links.list_), ("accept", links.accept), ("reject", links.reject),
    ("places", links.places),
)


def _settings(
    ctx: typer.Context,
    lang: Annotated[str | None, typer.Option(
        "--lang", help=h("riskatlas.lang", languages=", ".join(LANGUAGES)))] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=h("riskatlas.verbose"))
                       ] = False,
    debug: Annotated[bool, typer.Option("--debug", help=h("riskatlas.debug"))] = False,
    lake: Annotated[str | None, typer.Option("--lake", help=h("riskatlas.lake"))] = None,
    spark_master: Annotated[str | None, typer.Option(
        "--spark-master", help=h("riskatlas.spark_master"))] = None,
) -> None:
    """The options before the command: language, logging, tracebacks, and where the data
    is read and analysed (a lake, a Spark master: as their environment variables, which
    ``riskatlas.open`` and the Spark engine read)."""
    if not isinstance(ctx.obj, CliState):
        ctx.obj = CliState()
    ctx.obj.lang = normalize_language(lang) if lang else default_language()
    ctx.obj.debug = debug
    ctx.obj.help_lang = ctx.obj.help_lang or ctx.obj.lang
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO if verbose
                        else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for variable, value in (("RISKATLAS_LAKE", lake), ("RISKATLAS_SPARK_MASTER", spark_master)):
        if value:  # for this command only (several run in one process under tests)
            ctx.call_on_close(functools.partial(_restore, variable, os.environ.get(variable)))
            os.environ[variable] = value


def _restore(variable: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(variable, None)
    else:
        os.environ[variable] = value


def _group(help_key: str, commands: tuple[tuple[str, Callable[..., Any]], ...],
           prefix: str = "", **options: Any) -> typer.Typer:
    group = typer.Typer(cls=LocalizedGroup, no_args_is_help=True, help=h(help_key),
                        **options)
    for name, function in commands:
        group.command(name, help=h(f"{prefix}{name}.help"), cls=LocalizedCommand)(function)
    return group


app = _group("riskatlas.help", COMMANDS, add_completion=False, pretty_exceptions_enable=False)
app.callback()(_settings)
app.add_typer(_group("users.help", USERS_COMMANDS, prefix="users."), name="users")
app.add_typer(_group("links.help", LINKS_COMMANDS, prefix="links."), name="links")
app.add_typer(_group("db.help", db.COMMANDS, prefix="db."), name="db")


def main() -> None:
    """Entry point: run the app, turning RiskAtlas errors into one-line messages."""
    # the help language is read first: `riskatlas import --help --lang zh-TW` shows the
    # help before the options are parsed
    settings = CliState(lang=default_language(), help_lang=help_language(sys.argv[1:]))
    try:
        app(obj=settings)
    except RiskAtlasError as exc:
        if settings.debug:
            raise
        echo_error(exc.render(settings.lang))
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if settings.debug:
            raise
        echo_error(translate("error.unexpected", settings.lang,
                             error=f"{type(exc).__name__}: {exc}"))
        sys.exit(1)
