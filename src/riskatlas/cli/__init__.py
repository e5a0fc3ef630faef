"""The ``riskatlas`` command: a thin view over the Python API.

Each command parses its arguments, calls :mod:`riskatlas.api` and formats the result.
One handler turns any :class:`RiskAtlasError` into a one-line message in the user's
language and exit code 1; tracebacks only with ``--debug``. The ``--help`` texts are the
``cli_help`` section of the catalogues (:func:`riskatlas.cli.common.h`).
"""

from __future__ import annotations

import logging
import sys

import typer

from riskatlas.cli import analysis, assess, browse, data, peers, serve, users
from riskatlas.cli.common import STATE, echo_error, h
from riskatlas.errors import RiskAtlasError
from riskatlas.i18n import LANGUAGES, default_language, normalize_language

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help=h("riskatlas.help"))


@app.callback()
def _global(
    lang: str = typer.Option(None, "--lang",
                             help=h("riskatlas.lang", languages=", ".join(LANGUAGES))),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=h("riskatlas.verbose")),
    debug: bool = typer.Option(False, "--debug", help=h("riskatlas.debug")),
) -> None:
    STATE.lang = normalize_language(lang) if lang else default_language()
    STATE.debug = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO if verbose
                        else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


data.register(app)
browse.register(app)
analysis.register(app)
assess.register(app)
peers.register(app)
serve.register(app)
users.register(app)


def main() -> None:
    """Entry point: run the app, turning RiskAtlas errors into one-line messages."""
    try:
        app()
    except RiskAtlasError as exc:
        if STATE.debug:
            raise
        echo_error(exc.render(STATE.lang))
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if STATE.debug:
            raise
        from riskatlas.i18n import translate

        echo_error(translate("error.unexpected", STATE.lang, error=f"{type(exc).__name__}: {exc}"))
        sys.exit(1)
