"""The command line: JSON import lines, idempotence, browsing and export.

Commands run in this process (:func:`run_cli`: ``main()`` with its argv, as the console
script runs it, under Typer's CliRunner isolation); a few end-to-end tests run the real
console script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import shared
from riskatlas.cli import main
from riskatlas.cli.options import ScopeArgs, scope_options

SCRIPT = Path(sys.executable).with_name("riskatlas")  # the console script of this venv


@dataclass
class Ran:
    """One run of ``riskatlas``: exit code, stdout and stderr."""

    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Ran:
    """``riskatlas ARGS`` in this process: ``main()`` reading ``args`` as its argv, with
    $RISKATLAS_LANG=en unless ``env`` says otherwise, stdout and stderr captured."""
    runner = CliRunner()
    argv = sys.argv
    with runner.isolation(input=input, env={"RISKATLAS_LANG": "en", **(env or {})}) as (
            out, err, _):
        sys.argv = ["riskatlas", *args]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        finally:
            sys.argv = argv
            sys.stdout.flush()
            sys.stderr.flush()
        return Ran(code, out.getvalue().decode("utf-8"), err.getvalue().decode("utf-8"))


def cli(*args, db):
    done = run_cli("--lang", "en", *args, "--db", str(db))
    assert done.code == 0, done.stderr
    return done.stdout


def script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real console script (a process of its own)."""
    return subprocess.run([str(SCRIPT), *args], capture_output=True, encoding="utf-8",
                          env={**os.environ, "RISKATLAS_LANG": "en", **(env or {})},
                          timeout=600)


def test_import_json_lines_and_idempotence(tmp_path):
    db = tmp_path / "s.duckdb"
    grd = shared("desinventar/grd/DI_export_grd.zip")
    [line] = cli("import", str(grd), "--json", db=db).splitlines()
    result = json.loads(line)
    for key in ("path", "dataset_id", "format", "records_read", "records_imported",
                "records_quarantined", "unmapped_hazards"):
        assert key in result
    assert (result["format"], result["records_imported"]) == ("desinventar-xml", 162)
    again = json.loads(cli("import", str(grd), "--json", db=db))
    assert again["status"] == "unchanged" and again["records_imported"] == 0
    assert again["dataset_id"] == result["dataset_id"]
    datasets = json.loads(cli("datasets", "--format", "json", db=db))
    assert len(datasets) == 1 and datasets[0]["records_imported"] == 162


def test_datasets_table_read_without_pandas_is_the_same(tmp_path, grenada_db):
    """``datasets`` reads its table with DuckDB alone; a terminal sees the same table as
    through the API (synthetic datasets, a dataset without a name, in both languages):
    blank where a value is missing, never "nan"."""
    import duckdb

    from riskatlas.cli import browse

    db = tmp_path / "s.duckdb"
    db.write_bytes(grenada_db.read_bytes())
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO datasets SELECT * REPLACE (dataset_id + 10 AS dataset_id, "
                "'Synthetic' AS name, true AS synthetic, 'GRD' AS country_iso3) "
                "FROM datasets")
    con.close()
    assert len(browse._dataset_rows(db) or ()) == 2
    full_path = browse._dataset_rows

    def same_both_ways(lang: str) -> str:
        light = run_cli("--lang", lang, "datasets", "--db", str(db))
        assert light.code == 0, light.stderr
        browse._dataset_rows = lambda db: None  # type: ignore[assignment]  # the API's path
        try:
            full = run_cli("--lang", lang, "datasets", "--db", str(db))
        finally:
            browse._dataset_rows = full_path  # type: ignore[assignment]
        assert light.stdout == full.stdout
        return light.stdout

    for lang in ("en", "zh-TW"):
        out = same_both_ways(lang)
        assert "GRD" in out and "Synthetic" in out
    con = duckdb.connect(str(db))
    con.execute("UPDATE datasets SET name = NULL, records_read = NULL WHERE dataset_id > 10")
    con.close()
    out = same_both_ways("en")
    assert "nan" not in out and "None" not in out and "162" in out
    missing = run_cli("datasets", "--db", str(tmp_path / "none.duckdb"))
    assert missing.code == 1 and "none.duckdb" in missing.stderr


def test_browse_and_export(tmp_path):
    db = tmp_path / "s.duckdb"
    cli("import", str(shared("desinventar/grd/DI_export_grd.zip")), db=db)
    rows = json.loads(cli("records", "--hazard", "flood", "--from", "2000", "--format", "json",
                          db=db))
    assert rows and all(r["hazard_group"] == "flood" for r in rows)
    injection = json.loads(cli("records", "--country", "GRD' OR 1=1 --", "--format", "json",
                               db=db))
    assert injection == []
    assert "review list is empty" in cli("hazards", "--unmapped", db=db)
    for fmt in ("csv", "parquet", "xlsx", "geojson"):
        out = tmp_path / f"grd.{fmt}"
        cli("export", str(out), db=db)
        assert out.stat().st_size > 0
    geo = json.loads((tmp_path / "grd.geojson").read_text())
    assert len(geo["features"]) == 162
    assert geo["features"][0]["properties"]["hazard_group_label"]
    import pandas as pd

    frame = pd.read_csv(tmp_path / "grd.csv")
    assert {"hazard_group_label", "hips_label", "country_label"} <= set(frame.columns)
    assert (frame.country_label == "Grenada").all()


@pytest.mark.slow
def test_demo_is_synthetic_and_summarised(tmp_path):
    out = cli("demo", "--folder", str(tmp_path), db=tmp_path / "s.duckdb")
    assert "SYNTHETIC" in out and "Flood" in out and "Landslide" in out
    [dataset] = json.loads(cli("datasets", "--format", "json", db=tmp_path / "s.duckdb"))
    assert dataset["synthetic"] is True and dataset["country_iso3"] == "DMO"


def test_fetch_downloads_resumably_and_imports(tmp_path):
    from httpserver import FileServer

    data = shared("desinventar/grd/DI_export_grd.zip").read_bytes()
    db = tmp_path / "s.duckdb"
    with FileServer(data) as server:
        out = cli("fetch", "desinventar", "GRD", "--base-url", server.base_url, "--dest",
                  str(tmp_path / "dl"), db=db)
        assert "162 of 162 records imported" in out
        again = cli("fetch", "desinventar", "grd", "--base-url", server.base_url, "--dest",
                    str(tmp_path / "dl"), db=db)
        assert "Using the downloaded file" in again and "already imported" in again
        assert all(r.path.endswith("/DI_export_grd.zip") for r in server.requests)
        assert len(server.requests) == 1  # the second run used the checked download


def test_unknown_hazard_goes_to_the_review_list(tmp_path):
    from test_bad_input import card, desinventar_xml

    path = tmp_path / "DI_export_dmo.xml"
    path.write_bytes(desinventar_xml([card(clave="1", evento="VOLCANIC SMOG"),
                                      card(clave="2")]))
    db = tmp_path / "s.duckdb"
    [line] = cli("import", str(path), "--json", db=db).splitlines()
    result = json.loads(line)
    assert result["records_imported"] == 2 and result["unmapped_hazards"] == ["VOLCANIC SMOG"]
    review = json.loads(cli("hazards", "--unmapped", "--format", "json", db=db))
    assert [r["term"] for r in review] == ["VOLCANIC SMOG"] and review[0]["records"] == 1
    rows = json.loads(cli("records", "--hazard", "VOLCANIC SMOG", "--format", "json", db=db))
    assert rows[0]["hazard_group"] is None  # never silently "other"


def test_population_csv(tmp_path):
    csv_path = tmp_path / "pop.csv"
    csv_path.write_text("country_iso3,level,admin_code,year,population,households\n"
                        "dmo,1,DMO0101,2020,125000,31000\nDMO,1,DMO0101,2021,126500,\n")
    db = tmp_path / "s.duckdb"
    assert "2 population rows" in cli("population", str(csv_path), db=db)
    import riskatlas

    with riskatlas.open(db) as atlas:
        rows = atlas.store.query("SELECT country_iso3, year, population, households "
                                 "FROM population ORDER BY year")
    assert rows == [("DMO", 2020, 125000.0, 31000.0), ("DMO", 2021, 126500.0, None)]


def test_every_command_has_help():
    from riskatlas.cli import app, localized

    group = localized(app, "en")
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        assert command.help and command.help.strip(), name
        assert not command.help.startswith("cli_help."), name


def test_errors_are_one_line_in_the_users_language(tmp_path):
    done = run_cli("--lang", "zh-TW", "datasets", "--db", str(tmp_path / "none.duckdb"))
    assert done.code == 1 and len(done.stderr.strip().splitlines()) == 1
    assert "none.duckdb" in done.stderr and "riskatlas:" in done.stderr
    assert done.stderr != run_cli("datasets", "--db", str(tmp_path / "none.duckdb")).stderr


def test_assess_refuses_an_unknown_paper_before_it_imports(tmp_path):
    db = tmp_path / "s.duckdb"
    done = run_cli("assess", str(tmp_path / "absent.zip"), "--paper", "a3", "--db", str(db))
    assert done.code == 1 and '"a3"' in done.stderr and "a4 or letter" in done.stderr
    assert not db.exists()  # nothing imported, no store made


# --- end to end: the console script itself ---

def test_script_help_lists_every_command():
    done = script("--help", env={"COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    for name in ("import", "datasets", "profile", "assess", "serve", "users"):
        assert name in done.stdout


def test_script_imports_and_lists(tmp_path):
    db = tmp_path / "s.duckdb"
    done = script("--lang", "en", "import", str(shared("desinventar/grd/DI_export_grd.zip")),
                  "--json", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["records_imported"] == 162
    listed = script("datasets", "--db", str(db), env={"COLUMNS": "200"})
    assert listed.returncode == 0 and "DI_export_grd.zip" in listed.stdout


def test_script_error_exit_code(tmp_path):
    done = script("--lang", "en", "datasets", "--db", str(tmp_path / "none.duckdb"))
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1
    assert "none.duckdb" in done.stderr
    usage = script("records", "--page", "0")
    assert usage.returncode == 2


def test_the_scope_options_give_one_scope_value():
    """The scope options are declared once: a command gets them as one Scope value
    (checked as it is made), in the order and with the types its --help shows."""
    import typer

    from riskatlas.analysis.scope import Scope
    from riskatlas.errors import AnalysisError

    seen: list[ScopeArgs] = []
    app = typer.Typer()
    app.command("command")(_scoped(seen.append))
    app.command("other")(lambda: None)  # two commands: the first is called by name
    runner = CliRunner()
    result = runner.invoke(app, ["command", "--country", "grd", "--level", "1", "--from",
                                 "2000", "--dataset", "3", "--include-unapproved", "--by",
                                 "hips"])
    assert result.exit_code == 0, result.output
    [args] = seen
    assert args.scope == Scope(country="grd", level=1, year_from=2000, dataset=3,
                               hazard_key="hips")
    assert args.include_unapproved
    names = [p.name for p in typer.main.get_command(app).commands["command"].params]
    assert names == ["top", "country", "admin", "level", "hazard", "year_from", "year_to",
                     "dataset", "unapproved", "by", "fmt"]
    bad = runner.invoke(app, ["command", "--from", "2010", "--to", "2001"])
    assert isinstance(bad.exception, AnalysisError)  # before any store opens
    assert runner.invoke(app, ["command", "--level", "3"]).exit_code == 2


def _scoped(record: Any) -> Any:
    @scope_options(by=True)
    def command(top: int = 1, *, scope: ScopeArgs, fmt: str = "table") -> None:
        record(scope)

    return command


@pytest.mark.parametrize("args", [["--help"], ["datasets"], ["users", "--help"]])
def test_start_up_loads_no_heavy_module(args, grenada_db):
    """``--help`` and ``datasets`` start without pandas, Ibis, pyarrow or numpy (start-up
    time: benchmarks/bench_cli.py)."""
    code = ("import sys\nfrom riskatlas.cli import main\nsys.argv = ['riskatlas', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = {'pandas', 'ibis', 'pyarrow', 'numpy'} & {m.split('.')[0] for m in "
            "sys.modules}\nprint('HEAVY', sorted(heavy), file=sys.stderr)\n")
    extra = ["--db", str(grenada_db)] if args == ["datasets"] else []
    done = subprocess.run([sys.executable, "-c", code, *args, *extra], capture_output=True,
                          encoding="utf-8", timeout=120,
                          env={**os.environ, "RISKATLAS_LANG": "en"})
    assert "HEAVY []" in done.stderr, done.stderr
