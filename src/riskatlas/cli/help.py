"""The ``--help`` texts: keys of the catalogues' ``cli_help`` section, put into words
when a help is shown.

Commands declare ``help=h("import.format", formats=reader_formats)``: the text is the key
(``cli_help.import.format``) until :func:`localize` turns it into the help language's text.
A parameter may be a function (called then: the readers' formats, the engines, which
load modules that ``--help`` itself does not need) or another help key. The commands are
built with :class:`LocalizedCommand` and :class:`LocalizedGroup`, which localize what they
show just before showing it, in :func:`help_language_of` the context: the one ``main()``
read from the command line (``--lang`` anywhere in it), else the parsed ``--lang``, else
:func:`riskatlas.i18n.default_language`. :func:`localized` gives the whole command tree
in one language (for the tests and docs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from riskatlas.cli.state import CliState
from riskatlas.i18n import default_language, normalize_language, translate

PREFIX = "cli_help."
_PARAMS: dict[str, dict[str, object]] = {}  # a help key's parameters (values or functions)
_KEY = "_riskatlas_help"  # where a localized click object keeps its help key

HelpParam = str | Callable[[], str]


def h(key: str, **params: HelpParam) -> str:
    """The help text ``cli_help.<key>``, as its key: :func:`localize` words it. A
    parameter is a value, a function giving one, or another key made by :func:`h`."""
    token = PREFIX + key
    if params:
        _PARAMS[token] = dict(params)
    return token


def help_language(argv: Sequence[str]) -> str:
    """The language of the ``--help`` texts: ``--lang X`` or ``--lang=X`` in ``argv``, else
    :func:`default_language`. Read by ``main()`` before the command line is parsed, since
    a subcommand's ``--help`` may come before the options that name the language."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg.startswith("--lang="):
            return normalize_language(arg.partition("=")[2])
        if arg == "--lang" and i + 1 < len(argv):
            return normalize_language(argv[i + 1])
    return default_language()


def text(token: str, lang: str) -> str:
    """A help key made by :func:`h` in ``lang``, with its parameters; other text as is."""
    if not token.startswith(PREFIX):
        return token
    params = {}
    for name, value in _PARAMS.get(token, {}).items():
        value = value() if callable(value) else value
        params[name] = text(value, lang) if isinstance(value, str) else value
    return translate(token, lang, **params)


def _localize_one(item: Any, lang: str) -> None:
    key = getattr(item, _KEY, None) or getattr(item, "help", None)
    if isinstance(key, str) and key.startswith(PREFIX):
        setattr(item, _KEY, key)
        item.help = text(key, lang)


def localize(command: Any, lang: str, *, deep: bool = False) -> None:
    """Word the help of ``command``, of its parameters and of its subcommands (their own
    parameters too with ``deep``) in ``lang``; again in another language if called again."""
    _localize_one(command, lang)
    for param in getattr(command, "params", ()):
        _localize_one(param, lang)
    for sub in getattr(command, "commands", {}).values():
        if deep:
            localize(sub, lang, deep=True)
        else:
            _localize_one(sub, lang)


def help_language_of(ctx: Any) -> str:
    """The help language for a command's context (see the module's notes)."""
    obj = ctx.find_root().obj if ctx is not None else None
    if isinstance(obj, CliState) and obj.help_lang:
        return obj.help_lang
    return default_language()


class LocalizedCommand(TyperCommand):
    """A command whose help texts are worded when shown."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        localize(self, help_language_of(ctx))
        super().format_help(ctx, formatter)


class LocalizedGroup(TyperGroup):
    """A group whose help texts (and its commands' one-line helps) are worded when shown."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        localize(self, help_language_of(ctx))
        super().format_help(ctx, formatter)


def localized(app: typer.Typer, lang: str) -> Any:
    """The click command of ``app`` with every help worded in ``lang``."""
    command = typer.main.get_command(app)
    localize(command, lang, deep=True)
    return command
