"""The ``--help`` texts of ``riskatlas`` come from the catalogues, in English and zh-TW.

The texts are the ``cli_help`` section of the message catalogues; the language is the one
of ``--lang`` on the command line, else $RISKATLAS_LANG or the locale. Helps are shown
in this process (``main()`` with its argv, tests/test_cli.py's ``run_cli``); one test per
language runs the console script.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from typer.main import get_command

from riskatlas.cli import app, localized
from riskatlas.cli.help import help_language
from riskatlas.i18n import LANGUAGES, catalogue
from test_cli import run_cli, script

CJK = re.compile(r"[\u4e00-\u9fff]")
BOX = re.compile(r"[│╭╮╰╯─]")
# texts used only inside another text, not as a help of their own
EMBEDDED = {"cli_help.users.roles"}


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of the root, of every group and of every command."""
    paths = [path]
    for name, sub in getattr(command, "commands", {}).items():
        paths += _commands(sub, (*path, name))
    return paths


ROOT = get_command(app)
PATHS = _commands(ROOT)


def _help_key(path: tuple[str, ...]) -> str:
    return "cli_help." + ".".join(path or ("riskatlas",)) + ".help"


def _section(lang: str) -> dict[str, str]:
    return {k: v for k, v in catalogue(lang).items() if k.startswith("cli_help.")}


def _placeholders(template: str) -> set[str]:
    return set(re.findall(r"{(\w+)}", template))


def _pattern(template: str) -> re.Pattern[str]:
    """A template as a regular expression: its placeholders match any text."""
    parts = re.split(r"{\w+}", template)
    return re.compile(".+".join(re.escape(p) for p in parts), re.S)


def _flat(text: str) -> str:
    """Help output without the boxes and the line wrapping of Rich."""
    return " ".join(BOX.sub(" ", text).split())


def _help(path: tuple[str, ...], env_lang: str, argv_lang: str | None = None) -> str:
    """The help of ``path``, with $RISKATLAS_LANG ``env_lang`` and ``--lang argv_lang``."""
    lang = ["--lang", argv_lang] if argv_lang else []
    done = run_cli(*lang, *path, "--help", env={"RISKATLAS_LANG": env_lang, "COLUMNS": "200",
                               "NO_COLOR": "1"})
    assert done.code == 0, done.stderr
    return done.stdout


def test_every_help_key_is_in_both_catalogues():
    en, zh = _section("en"), _section("zh-TW")
    assert len(en) > 80
    assert set(en) == set(zh)
    for key in en:
        assert en[key].strip() and zh[key].strip(), key
        assert _placeholders(en[key]) == _placeholders(zh[key]), key
        assert CJK.search(zh[key]), key


def test_help_language_comes_from_the_command_line(monkeypatch):
    monkeypatch.setenv("RISKATLAS_LANG", "en")
    assert help_language(["--lang", "zh-TW", "import", "--help"]) == "zh-TW"
    assert help_language(["users", "add", "--lang=zh_TW.UTF-8"]) == "zh-TW"
    assert help_language(["import", "--help"]) == "en"
    assert help_language(["import", "--", "--lang", "zh-TW"]) == "en"
    assert help_language(["--lang"]) == "en"
    monkeypatch.setenv("RISKATLAS_LANG", "zh-Hant")
    assert help_language(["import", "--help"]) == "zh-TW"
    assert help_language(["--lang", "en", "import", "--help"]) == "en"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_help_in_the_app_is_a_catalogue_text(lang):
    """Every command and parameter help is a text of the catalogue (in either language),
    and every catalogue text is used."""
    texts = _section(lang)
    patterns = {key: _pattern(text) for key, text in texts.items()}
    used: set[str] = set()
    root = localized(app, lang)
    for path in PATHS:
        command = root
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        assert command.help == texts[_help_key(path)], path
        used.add(_help_key(path))
        for param in command.params:
            if param.name == "help":  # Click's own --help
                continue
            help_text = getattr(param, "help", None)
            assert help_text, (path, param.name)
            keys = [k for k, p in patterns.items() if p.fullmatch(help_text)]
            assert keys, (path, param.name, help_text)
            used.update(keys)
    assert set(texts) - used == EMBEDDED


def test_every_help_is_chinese_in_zh_tw():
    """In zh-TW, every command and parameter help has Chinese text."""
    def walk(command: Any, path: str) -> Any:
        yield path, command.help
        for param in command.params:
            if param.name != "help":
                yield f"{path}/{param.name}", getattr(param, "help", None)
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    helps = dict(walk(localized(app, "zh-TW"), "riskatlas"))
    assert len(helps) > 100
    english = [where for where, text in helps.items() if not CJK.search(text or "")]
    assert not english


def test_help_texts_are_worded_when_shown_not_when_imported():
    """Importing the CLI words no help (the language is not known yet): the app holds
    catalogue keys until a help is shown or :func:`localized` words them."""
    command = get_command(app)
    assert command.help == "cli_help.riskatlas.help"
    assert command.commands["import"].params[1].help == (  # type: ignore[attr-defined]
        "cli_help.import.format")
    assert "desinventar-xml" in localized(app, "en").commands[  # type: ignore[attr-defined]
        "import"].params[1].help


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "riskatlas")
def test_help_in_chinese(path):
    """$RISKATLAS_LANG=zh-TW, and --lang zh-TW over $RISKATLAS_LANG=en: Chinese help."""
    outputs = [_help(path, "zh-TW"), _help(path, "en", "zh-TW")]
    en = _section("en")
    english = [en[_help_key(path)]]
    english += [t for k, t in en.items() if k not in EMBEDDED and not _placeholders(t)
                and len(t) >= 5]
    for output in outputs:
        flat = _flat(output)
        assert CJK.search(output), output
        assert _section("zh-TW")[_help_key(path)].replace(" ", "") in flat.replace(" ", "")
        for text in english:
            assert text not in flat, (text, output)


@pytest.mark.parametrize("args", [("--help", "--lang", "zh-TW"),
                                  ("assess", "--lang", "zh-TW", "--help")])
def test_help_language_after_the_help_option(args):
    """A --help shown before the --lang that follows it is parsed is in that language
    too (``main()`` reads it from the command line first)."""
    flat = _flat(run_cli(*args, env={"COLUMNS": "200"}).stdout)
    key = "cli_help.assess.help" if "assess" in args else "cli_help.riskatlas.help"
    assert _section("zh-TW")[key].replace(" ", "") in flat.replace(" ", "")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_console_script_help(lang):
    """End to end: the console script shows its help in the language of --lang."""
    done = script("--lang", lang, "import", "--help", env={"COLUMNS": "200",
                                                           "NO_COLOR": "1"})
    assert done.returncode == 0, done.stderr
    flat = _flat(done.stdout)
    assert _section(lang)["cli_help.import.help"].replace(" ", "") in flat.replace(" ", "")
    assert "desinventar-xml" in flat  # the readers' formats, worded when shown
    assert bool(CJK.search(flat)) == (lang == "zh-TW")


@pytest.mark.parametrize("path", [(), ("users",), ("import",), ("risk",), ("users", "add")],
                         ids=lambda p: " ".join(p) or "riskatlas")
def test_help_in_english(path):
    """$RISKATLAS_LANG=en: the English help, with no Chinese."""
    flat = _flat(_help(path, "en"))
    en = _section("en")
    assert en[_help_key(path)] in flat
    assert not CJK.search(flat), flat
    if path and path != ("users",):
        assert en["cli_help.option.db"] in flat


def test_flags_show_no_value_placeholder():
    """A flag takes no value, so its help names none (typer 0.29 prints '<bool>' beside
    every flag, which reads as 'give true or false': pyproject keeps typer below 0.29)."""
    flat = _flat(_help(("import",), "en"))
    assert "--json One JSON object per file" in flat, flat
