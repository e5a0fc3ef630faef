"""What the ``riskatlas`` options decide for every command: Typer's context object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from riskatlas.i18n import DEFAULT_LANGUAGE, translate


@dataclass
class CliState:
    """The run's settings, in ``ctx.obj``: set by the root callback (``--lang``,
    ``--debug``) and read by the commands and by ``main()``'s error handler."""

    lang: str = DEFAULT_LANGUAGE  # messages and tables
    debug: bool = False  # tracebacks instead of one-line messages
    help_lang: str | None = None  # the --help texts' (``main()`` reads it first)

    def t(self, key: str, **params: Any) -> str:
        """A message in the user's language."""
        return translate(key, self.lang, **params)


def state(ctx: Any) -> CliState:
    """The :class:`CliState` of a command's context (a new one when none was made, as for a
    command invoked without the root callback)."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        obj = ctx.find_root().obj = CliState()
    return obj
