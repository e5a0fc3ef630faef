"""Warnings that reading libraries raise about a file become import notes, never raw Python
warnings on the terminal (pyshp's header checks, openpyxl's and calamine's remarks)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest

from conftest import shared
from riskatlas.i18n import translate
from riskatlas.sources.library_warnings import warnings_as_notes

# A warning class that lives in a library's module, as openpyxl's and pyshp's do.
WorkbookWarning = type("WorkbookWarning", (UserWarning,), {"__module__": "openpyxl.reader"})
ShapeWarning = type("PossiblyCorruptFileHeader", (UserWarning,), {"__module__": "shapefile"})


def _notes(*raised: tuple[str, type[Warning]]) -> list[dict[str, object]]:
    notes: list[dict[str, object]] = []
    with warnings_as_notes(lambda key, **params: notes.append({"key": key, **params}), "f.xlsx"):
        for text, category in raised:
            warnings.warn(text, category, stacklevel=1)
    return notes


def test_data_warnings_become_one_note_each_with_their_count():
    notes = _notes(("Data Validation  extension\nis not supported", WorkbookWarning),
                   ("Data Validation extension is not supported", WorkbookWarning),
                   ("Declared file size in .dbf header: 270 smaller", ShapeWarning))
    assert notes == [
        {"key": "read.library_warning", "path": "f.xlsx", "library": "openpyxl",
         "detail": "Data Validation extension is not supported", "count": 2},
        {"key": "read.shapefile_warning", "path": "f.xlsx", "library": "shapefile",
         "detail": "Declared file size in .dbf header: 270 smaller", "count": 1}]
    for note in notes:
        for lang in ("en", "zh-TW"):
            text = translate(str(note["key"]), lang, **note)
            assert "f.xlsx" in text and str(note["detail"]) in text and "{" not in text


def test_warnings_about_code_pass_through_unchanged():
    with pytest.warns(DeprecationWarning, match="old call"):
        assert _notes(("old call", DeprecationWarning)) == []


def test_grenada_import_prints_no_python_warning_and_notes_the_shapefile(tmp_path):
    """pyshp 3 warns that a Grenada .dbf header declares 270 bytes for a 1,975-byte file."""
    grd = shared("desinventar/grd/DI_export_grd.zip")
    done = subprocess.run([sys.executable, "-W", "default", "-m", "riskatlas", "--lang", "en",
                           "import", str(grd), "--json", "--db", str(tmp_path / "s.duckdb")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "warn" not in done.stderr, done.stderr
    [result] = [json.loads(line) for line in done.stdout.splitlines()]
    [note] = [n for n in result["notes"] if n["key"] == "read.shapefile_warning"]
    assert "dbf header" in note["detail"] and note["path"] == "DI_export_grd.zip"
