"""The command line: JSON import lines, idempotence, browsing and export."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import shared


def cli(*args, db):
    done = subprocess.run([sys.executable, "-m", "riskatlas", "--lang", "en", *args, "--db",
                           str(db)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


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
    from typer.main import get_command

    from riskatlas.cli import app

    group = get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        assert command.help and command.help.strip(), name
