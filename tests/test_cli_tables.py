"""Terminal tables at 80 and 120 columns (issue 15, the terminal).

Every table fits the terminal's width without breaking a word, numbers are written as
numbers (``16,316``, not ``16316.0`` beside ``8``), dates at their precision (no
``00:00:00``), timestamps to the minute, and ``--format wide`` shows every column. The
Nepal import prints one line per dataset with its notes once, and a total. The commands
run in this process (``run_cli``) with ``$COLUMNS`` set; a snapshot pins the layout of one
constructed table at both widths.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pytest
from rich.cells import cell_len

from cards import card, store_with
from conftest import shared
from riskatlas.cli.output import column_label
from riskatlas.i18n import translate
from test_cli import Ran, run_cli

WIDTHS = (80, 120)
NUMBER = re.compile(r"-?[\d,]+(?:\.(\d+))?")
BARE_THOUSANDS = re.compile(r"(?<![\w.,:|-])\d{5,}(?![\w.,:|-])")  # "25849" for "25,849"
MINUTE = re.compile(r"\b\d{4}-\d\d-\d\d \d\d:\d\d\b(?!:)")


def run(*args: str, width: int, lang: str = "en") -> Ran:
    done = run_cli("--lang", lang, *args, env={"COLUMNS": str(width)})
    assert done.code == 0, done.stderr
    return done


def assert_fits(out: str, width: int) -> None:
    too_wide = [line for line in out.splitlines() if cell_len(line.rstrip()) > width]
    assert not too_wide, "\n".join(too_wide)


def table_lines(out: str) -> list[str]:
    """The lines of the table: its heading rule and the rows (those with a column rule)."""
    return [line for line in out.splitlines() if "│" in line or "━" in line]


def assert_numbers_consistent(out: str) -> None:
    """In each column, every number has the same decimals, and decimals only when one of
    them is not zero ("40.0" beside "8", or "16316.0", fail)."""
    rows = [[cell.strip() for cell in line.split("│")] for line in table_lines(out)
            if "━" not in line]
    for i in range(max(map(len, rows), default=0)):
        cells = [row[i] for row in rows if i < len(row) and NUMBER.fullmatch(row[i])]
        decimals = {NUMBER.fullmatch(c)[1] or "" for c in cells}  # type: ignore[index]
        assert len({len(d) for d in decimals}) <= 1, (i, cells)
        assert decimals <= {""} or any(d.strip("0") for d in decimals), (i, cells)


def assert_headings_whole(out: str, columns: list[str], lang: str) -> None:
    """Each heading's words are whole somewhere in the output: in the table, or in the
    note that names the columns left out ("Events/yea r" fails)."""
    flat = " ".join(out.split())
    for column in columns:
        for word in column_label(column, lang).split():
            if cell_len(word) <= 16:  # longer words may fold (HEADING_CAP)
                assert word in flat, (column, word, out)


# ---------------------------------------------------------------- the Nepal import

@pytest.fixture(scope="module")
def nepal_cli(tmp_path_factory) -> tuple[Path, str]:
    """The Nepal folder imported with ``riskatlas import`` at 80 columns: (store, output)."""
    db = tmp_path_factory.mktemp("nepal_cli") / "npl.duckdb"
    done = run("import", str(shared("desinventar/npl-xlsx")), "--country", "NPL",
               "--db", str(db), width=80)
    return db, done.stdout


def test_the_nepal_import_prints_one_line_per_dataset_its_notes_once_and_a_total(nepal_cli):
    db, out = nepal_cli
    assert_fits(out, 80)
    flat = " ".join(out.split())
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) <= 12, out  # was ~75 lines: a line and the notes for each of 25 files
    assert out.splitlines()[0].strip()  # no progress bar, nor its empty line, in a pipe
    assert flat.count("22 columns are not DesInventar fields") == 1
    assert flat.count("values were not taken as read") == 1
    assert "DesInventar2016-00.xlsx (+24 files): 25,849 of 25,849 records imported" in flat
    assert ("2 files in the folder are not a format RiskAtlas reads and were skipped: "
            "events_dup.csv; events_dup_sn.csv") in flat
    assert ("Total: 27 files; datasets imported: 1 (25,849 of 25,849 records imported, "
            "0 set aside)") in flat
    again = run("--lang", "zh-TW", "import", str(shared("desinventar/npl-xlsx")),
                "--country", "NPL", "--db", str(db), width=80)
    flat = " ".join(again.stdout.split())
    assert flat.count("已匯入過（資料集 1）") == 1 and "先前已匯入 25 個檔案" in flat
    assert "DesInventar2016-00.xlsx（另 24 個檔案）" in flat and "略過 2 個" in flat


# ------------------------------------------------------------ tables at 80 and 120

@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_records_fit_with_dates_at_their_precision(nepal_cli, width, lang):
    db, _ = nepal_cli
    out = run("records", "--page-size", "30", "--db", str(db), width=width, lang=lang).stdout
    assert_fits(out, width)
    assert "00:00:00" not in out and "DI-NPL:71001" in out and "1971-01-09" in out
    assert translate("browse.records_title", lang, page=1, pages="862",
                     total="25,849") in out
    assert not BARE_THOUSANDS.search("\n".join(table_lines(out))), out
    assert_headings_whole(out, ["record_id", "start_date", "level1_name", "deaths"], lang)
    hidden = translate("terminal.hidden_columns", lang, columns="").split(":")[0][:6]
    assert hidden in out  # Nepal's 15 columns do not fit 120: the note names those left out
    wide = run("records", "--page-size", "3", "--format", "wide", "--db", str(db),
               width=width, lang=lang).stdout
    for column in ("record_id", "country_iso3", "level0_name", "level2_name", "start_date",
                   "date_precision", "hazard_term", "hips_code", "hazard_group", "injured",
                   "houses_damaged"):
        assert column_label(column, lang) in wide, column
    assert hidden not in wide and "00:00:00" not in wide


def test_a_date_known_to_the_month_prints_as_a_month(tmp_path):
    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", month=3, day=0, deaths=40),
                               card(2, "FLOOD", 2002, "01", month=5, day=7, deaths=8)])
    out = run("records", "--db", str(db), width=80).stdout
    assert re.search(r"│ 2001-03 +│", out) and "2002-05-07" in out, out
    assert " 40 " in out and "40.0" not in out


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", ["en", "zh-TW"])
@pytest.mark.parametrize("command, columns", [
    (["screen", "--level", "1"], ["rank", "admin_name", "score", "class", "drivers"]),
    (["profile", "--metric", "deaths", "--metric", "records"],
     ["admin_name", "metric", "hazard_name", "value", "share_pct"]),
    (["risk", "--level", "1"], ["admin_name", "hazard_name", "events_per_year",
                                "p_event_10y", "deaths_per_year", "trend_deaths"]),
])
def test_analysis_tables_fit_with_whole_headings_and_numbers(nepal_cli, width, lang, command,
                                                             columns):
    db, _ = nepal_cli
    out = run(*command, "--db", str(db), width=width, lang=lang).stdout
    assert_fits(out, width)
    assert_headings_whole(out, columns, lang)
    assert_numbers_consistent(out)
    assert not BARE_THOUSANDS.search("\n".join(table_lines(out))), out
    if command[0] == "profile":
        assert "16,316" in out and "16316" not in out  # Nepal's deaths by epidemics
    if command[0] == "screen":  # at 80 columns the drivers are still read, not a word a line
        rule = next(line for line in table_lines(out) if "┿" in line)
        assert cell_len(rule.split("┿")[4]) >= 20  # the drivers' column: 20 cells or more


@pytest.mark.parametrize("width", WIDTHS)
def test_events_and_sendai_fit_grenada(grenada_db, width):
    for command in (["events"], ["sendai", "--level", "0"], ["periods"],
                    ["periods", "--outside"], ["quality"], ["hazards"],
                    ["peers", "GRD", "GRD01"], ["risk", "--return-periods", "deaths"]):
        out = run(*command, "--db", str(grenada_db), width=width).stdout
        assert_fits(out, width)
        assert "00:00:00" not in out
        assert_numbers_consistent(out)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_datasets_and_users_are_read_by_a_person(nepal_cli, tmp_path, width, lang):
    db, _ = nepal_cli
    out = run("datasets", "--db", str(db), width=width, lang=lang).stdout
    assert_fits(out, width)
    name = translate("import.more_files", lang, name="DesInventar2016-00.xlsx", count=24)
    assert name in out  # the format is left out first
    assert "25,849" in out and "NPL" in out
    wide = run("datasets", "--format", "wide", "--db", str(db), width=width, lang=lang).stdout
    assert column_label("imported_at", lang) in wide and MINUTE.search(wide)
    users = tmp_path / "users.duckdb"
    users.write_bytes(db.read_bytes())
    assert run_cli("users", "add", "ana", "--role", "validator", "--password-stdin",
                   "--db", str(users), input="correct horse battery\n").code == 0
    assert run_cli("users", "token", "ana", "--db", str(users)).code == 0
    listed = run("users", "list", "--db", str(users), width=width, lang=lang).stdout
    assert_fits(listed, width)
    for key in ("auth.name", "auth.role_label", "auth.state", "auth.created",
                "auth.role.validator", "auth.active"):
        assert translate(key, lang) in listed, key
    for raw in ("created_at", "token_last_used", "disabled", "False"):
        assert raw not in listed
    assert MINUTE.search(listed) and not re.search(r"\d\d:\d\d:\d\d", listed)
    assert "T" not in "".join(re.findall(r"\d{4}-\d\d-\d\d.\d\d", listed))


@pytest.mark.parametrize("width", WIDTHS)
def test_quality_keeps_the_raw_values_at_80_columns(nepal_cli, width):
    db, _ = nepal_cli
    out = run("quality", "--db", str(db), width=width).stdout
    assert_fits(out, width)
    assert "Raw values (examples)" in "\n".join(table_lines(out)) and "'1979-6-31'" in out


def test_grenada_datasets_name_their_country(grenada_db):
    out = run("datasets", "--db", str(grenada_db), width=80).stdout
    [row] = [line for line in table_lines(out) if "DI_export_grd" in line]
    assert "GRD" in row and "162" in row


# --------------------------------------------------------------- the formatter itself

def test_values_are_written_by_kind():
    from riskatlas.cli.output import cell_texts, decimals_of, kind_of

    assert kind_of([1.0, 8, None]) == "integer" and kind_of([0.5, 2]) == "number"
    assert kind_of([True, False, None]) == "bool" and kind_of([None, None]) == "text"
    assert kind_of([dt.datetime(2001, 3, 1), dt.datetime(2001, 4, 1)]) == "date"
    assert kind_of([dt.datetime(2001, 3, 1, 14, 5, 7, 474498)]) == "datetime"
    assert decimals_of([40.0, 8.0]) == 0 and decimals_of([0.5, 1.25]) == 2
    assert decimals_of([0.12345]) == 3 and decimals_of([66.3, 22.9]) == 1
    assert cell_texts("value", [16316.0, 40.0, 8, float("nan")], "en") == (
        "integer", ["16,316", "40", "8", ""])
    assert cell_texts("year", [1971.0, 2016.0], "en")[1] == ["1971", "2016"]
    assert cell_texts("dataset_id", [12345], "en")[1] == ["12345"]
    assert cell_texts("p", [1.0, 0.195, 0.0004], "en")[1] == ["1.000", "0.195", "0.000"]
    assert cell_texts("intensive", [True, False], "zh-TW")[1] == ["是", "否"]
    assert cell_texts("created_at", [dt.datetime(2026, 12, 6, 14, 0, 27, 474498)],
                      "en")[1] == ["2026-12-06 14:00"]
    dates = [dt.datetime(1971, 3, 5), dt.datetime(1972, 4, 1), dt.datetime(1973, 1, 1)]
    assert cell_texts("start_date", dates, "en", ["day", "month", "year"])[1] == [
        "1971-03-05", "1972-04", "1973"]


def test_fit_leaves_out_the_least_important_columns_never_the_first():
    from riskatlas.cli.output import Column, fit

    columns = [Column(name, name.title(), "text", [name * 3]) for name in ("a", "b", "c")]
    shown, widths, hidden = fit(columns, 8, priority=("c", "a"))
    assert [c.name for c in shown] == ["c"] and [c.name for c in hidden] == ["a", "b"]
    shown, widths, hidden = fit(columns, 2, priority=("b",))
    assert [c.name for c in shown] == ["b"] and widths == [3]  # too narrow: still one
    shown, widths, hidden = fit(columns, 200)
    assert not hidden and widths == [3, 3, 3]  # never wider than their text


SNAPSHOT_80 = """\
Losses
Unit          │ Hazard                      │    Deaths │ Start   │ Intensive
━━━━━━━━━━━━━━┿━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┿━━━━━━━━━━━┿━━━━━━━━━┿━━━━━━━━━━
Makwanpur     │ Landslide and mass movement │    16,316 │ 1971-03 │ yes
Sindhupalchok │ Flood                       │ 1,234,567 │ 2015    │ no
Not shown at this width: Events/year; Share (--format wide shows every column)
"""

SNAPSHOT_120 = """\
Losses
Unit          │ Hazard                      │    Deaths │ Start   │ Events/year │ Share │ Intensive
━━━━━━━━━━━━━━┿━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┿━━━━━━━━━━━┿━━━━━━━━━┿━━━━━━━━━━━━━┿━━━━━━━┿━━━━━━━━━━
Makwanpur     │ Landslide and mass movement │    16,316 │ 1971-03 │       1.370 │  37.9 │ yes
Sindhupalchok │ Flood                       │ 1,234,567 │ 2015    │       0.022 │   0.5 │ no
"""


@pytest.mark.parametrize("width, expected", [(80, SNAPSHOT_80), (120, SNAPSHOT_120)])
def test_snapshot(width, expected, monkeypatch):
    """One constructed table, exactly as a terminal of each width shows it."""
    from rich.console import Console

    import riskatlas.cli.output as output

    out = Console(width=width, record=True, color_system=None, file=io.StringIO())
    monkeypatch.setenv("COLUMNS", str(width))
    names = ["admin_name", "hazard_name", "deaths", "start_date", "date_precision",
             "events_per_year", "share_pct", "intensive"]
    values = [["Makwanpur", "Sindhupalchok"], ["Landslide and mass movement", "Flood"],
              [16316.0, 1234567.0], [dt.datetime(1971, 3, 1), dt.datetime(2015, 1, 1)],
              ["month", "year"], [1.37, 0.0219], [37.9, 0.5], [True, False]]
    output.print_columns(names, values, "en", title="Losses", out=out,
                         headings=["Unit", "Hazard", "Deaths", "Start", "Precision",
                                   "Events/year", "Share", "Intensive"],
                         priority=["admin_name", "hazard_name", "deaths", "start_date",
                                   "intensive", "share_pct"])
    text = "\n".join(line.rstrip() for line in out.export_text().splitlines()) + "\n"
    assert text == expected
