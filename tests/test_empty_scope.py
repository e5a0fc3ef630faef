"""An empty or degenerate scope is an answer, never a crash: the CLI says so in one line and
exits 1, the API answers 404 with the error shape, pages show the message with a way back.

The store is synthetic: two provinces of Demoland, one of which has a single district."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import riskatlas
from cards import card, write_cards
from conftest import web_client
from riskatlas.errors import EmptyScopeError
from riskatlas.sources.registry import ReadOptions

PERIODS = ("--from", "2050")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("empty")
    cards = [card(i, "FLOOD" if i % 2 else "LANDSLIDE", 2000 + i % 10, "01", l1="0101",
                  deaths=i % 3) for i in range(1, 30)]
    cards.append(card(99, "FLOOD", 2005, "02", l1="0201", deaths=1))  # one unit alone
    path = write_cards(folder / "cards.csv", cards)
    db = folder / "s.duckdb"
    with riskatlas.open(db) as atlas:
        atlas.import_paths([path], options=ReadOptions(country="DMO"))
    return db


SCOPES = {  # name → scope arguments that hold no record
    "unknown country": {"country": "TWN"},
    "future period": {"country": "DMO", "year_from": 2050},
    "unit without records": {"country": "DMO", "admin": "0999"},
}


@pytest.mark.parametrize("scope", list(SCOPES))
@pytest.mark.parametrize("analysis", ["profile", "events", "risk", "sendai", "screen",
                                      "return_levels", "exceedance"])
def test_api_methods_say_the_scope_is_empty(store, analysis, scope):
    with riskatlas.open(store, read_only=True) as atlas, pytest.raises(EmptyScopeError) as caught:
        getattr(atlas, analysis)(level=1, **SCOPES[scope])
    for lang in ("en", "zh-TW"):
        message = caught.value.render(lang)
        assert "DMO 2000–2009" in message and "\n" not in message  # what the store holds


def test_a_country_with_a_single_unit_is_screened(store):
    with riskatlas.open(store, read_only=True) as atlas:
        frame = atlas.screen(country="DMO", level=1, admin="02")
        assert list(frame["admin_code"]) == ["0201"]
        assert frame["score"].notna().all() and (frame["score"] >= 0).all()


def test_records_not_located_at_the_level_are_an_empty_screen(store):
    with riskatlas.open(store, read_only=True) as atlas, pytest.raises(EmptyScopeError) as caught:
        atlas.screen(country="DMO", level=2)
    assert caught.value.key == "analysis.empty_screen"


def _cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "riskatlas", "--lang", "en", *args, "--db",
                           str(store)], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args", [("profile", "--country", "TWN"),
                                  ("screen", "--country", "DMO", *PERIODS),
                                  ("risk", "--country", "DMO", "--admin", "0999"),
                                  ("events", "--country", "TWN"),
                                  ("sendai", "--country", "DMO", *PERIODS)],
                         ids=lambda a: " ".join(a))
def test_cli_commands_answer_in_one_line(store, args):
    done = _cli(store, *args)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "No records in" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "Exception" not in done.stderr


def test_assess_of_an_unknown_country_answers_in_one_line(store, tmp_path):
    done = _cli(store, "assess", "--country", "TWN", "--out", str(tmp_path / "out"))
    assert done.returncode == 1 and "No records in TWN" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


API = ["/api/profile", "/api/events", "/api/risk", "/api/sendai", "/api/screen",
       "/api/advice", "/api/peers"]


EMPTY_QUERIES = ["country=XXX&level=1", "country=DMO&level=1&year_from=2050",
                 "country=DMO&level=1&admin=0999"]
API_CASES = [(path, query) for path in API for query in EMPTY_QUERIES
             if not (path == "/api/advice" and "admin=" in query)]  # advice takes no unit


@pytest.mark.parametrize(("path", "query"), API_CASES)
def test_api_answers_an_empty_scope_with_404_and_the_error_shape(store, path, query):
    if path == "/api/peers" and "admin=" not in query:
        query += "&admin=0101"
    with web_client(store) as client:
        response = client.get(f"{path}?{query}")
    assert response.status_code in (200, 404), response.text
    if response.status_code == 404:
        error = response.json()["error"]
        assert error["status"] == 404 and error["code"].startswith(("analysis.", "web."))
        assert error["message"]
    else:
        assert response.json()["rows"] == []


@pytest.mark.parametrize("page", ["/screen?country=XXX&level=1",
                                  "/profile?country=DMO&level=1&year_from=2050",
                                  "/unit/DMO/0999?level=1"])
def test_pages_show_an_empty_scope_with_a_way_back(store, page):
    with web_client(store) as client:
        response = client.get(page, headers={"accept": "text/html"})
    assert response.status_code == 404, response.text[:500]
    assert re.search(r'<a href="/(\?[^"]*)?">', response.text), "no way back home"
    assert 'class="error-message"' in response.text and "Traceback" not in response.text


COMMANDS = {  # command → its arguments besides the scope
    "profile": ["--level", "1"], "events": [], "risk": ["--level", "1"],
    "sendai": ["--level", "1"], "screen": ["--level", "1"],
    "risk --return-periods": ["--level", "1", "--return-periods", "deaths"],
    "risk --exceedance": ["--level", "1", "--exceedance", "deaths"],
}
CLI_SCOPES = {"unknown country": ["--country", "TWN"],
              "future period": ["--country", "DMO", "--from", "2050"],
              "unit without records": ["--country", "DMO", "--admin", "0999"]}


def _invoke(store: Path, command: str, args: list[str]):
    from typer.testing import CliRunner

    from riskatlas.cli import app

    return CliRunner().invoke(app, ["--lang", "en", command.split()[0], *args, "--db",
                                    str(store), "--format", "json"])


@pytest.mark.parametrize("scope", list(CLI_SCOPES))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_cli_command_answers_an_empty_scope_with_its_error(store, command, scope):
    """In process: the command raises the RiskAtlas error that ``main`` prints as one line
    (exit 1), never another exception."""
    from riskatlas.errors import RiskAtlasError

    result = _invoke(store, command, [*COMMANDS[command], *CLI_SCOPES[scope]])
    assert isinstance(result.exception, RiskAtlasError), result.exception
    for lang in ("en", "zh-TW"):
        assert "\n" not in result.exception.render(lang)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_cli_command_answers_a_country_with_a_single_unit(store, command):
    import json

    result = _invoke(store, command, [*COMMANDS[command], "--country", "DMO", "--admin", "02"])
    assert result.exit_code == 0, result.exception
    assert isinstance(json.loads(result.stdout), list)


@pytest.mark.parametrize("path", API)
def test_every_endpoint_answers_a_country_with_a_single_unit(store, path):
    query = "country=DMO&level=1&admin=0201" if path == "/api/peers" else \
        "country=DMO&level=1" + ("" if path == "/api/advice" else "&admin=02")
    with web_client(store) as client:
        response = client.get(f"{path}?{query}")
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["rows"], list)
