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
    assert "SYNTHETIC" in out and "flood" in out
