"""Bounded resources on any input (riskatlas.sources.limits): zip and xlsx bombs, giant values,
a million columns, deep XML and damaged files are refused within seconds with one line naming
the file and the limit, at a peak RSS under 500 MB, leaving the store as it was; a bad map
layer costs only its boundaries. Every input is built here, in tmp_path."""

from __future__ import annotations

import csv
import io
import os
import pickle
import random
import shutil
import sqlite3
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

import riskatlas
from conftest import TEST_DATA, shared
from riskatlas.errors import LimitError
from riskatlas.sources import limits
from riskatlas.sources.registry import ReadOptions
from riskatlas.sources.tables import TextLines, csv_rows

RSS_LIMIT_MB = 500
SECONDS = 15  # "within seconds": a run takes ~1 s; room for a loaded 2-core machine
HANG = 90  # a run still going after this is killed and reported as a hang
MB = 1024 * 1024


# -- running the CLI ----------------------------------------------------------------------
@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float

    @property
    def line(self) -> str:
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        return lines[0]


# The CLI in a child that writes its own peak RSS when it exits: the high-water mark of its
# memory (VmHWM, which starts afresh at exec) and of the processes it waited for. A child's
# ru_maxrss from wait4 would not do: Linux carries the parent's RSS at fork into it, so a
# test run grown to 500 MB would show every child at 500 MB.
CLI_MEASURED = """
import atexit, os, resource, sys
def _report():
    with open("/proc/self/status") as fh:
        hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with open(os.environ["RISKATLAS_TEST_RSS"], "w") as fh:
        fh.write(str(max(hwm, kids)))
atexit.register(_report)
sys.argv[0] = "riskatlas"
from riskatlas.cli import main
main()
"""


def run_import(tmp_path: Path, *args: str) -> Run:
    """``riskatlas import`` in a child process, with its peak RSS (see CLI_MEASURED)."""
    out, err, rss = tmp_path / "stdout.txt", tmp_path / "stderr.txt", tmp_path / "rss.txt"
    env = {**os.environ, "COLUMNS": "200", "RISKATLAS_TEST_RSS": str(rss)}
    with out.open("wb") as stdout, err.open("wb") as stderr:
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", CLI_MEASURED, "--lang", "en", "import",
                                 *args, "--db", str(tmp_path / "store.duckdb")],
                                stdout=stdout, stderr=stderr, env=env)
        try:
            proc.wait(timeout=HANG)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"riskatlas import {' '.join(args)} hung (> {HANG} s)")
        seconds = time.monotonic() - start
    return Run(proc.returncode, out.read_text(), err.read_text(), seconds,
               int(rss.read_text()) / 1024)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one small dataset: what every failed import must leave as it was."""
    db = tmp_path_factory.mktemp("baseline") / "store.duckdb"
    with riskatlas.open(db) as atlas:
        atlas.import_paths([TEST_DATA / "desinventar_flat_en.csv"],
                           options=ReadOptions(country="LKA"))
    return db


def store_state(db: Path) -> tuple[object, ...]:
    with riskatlas.open(db) as atlas:
        counts = tuple(atlas.store.query(f"SELECT count(*) FROM {table}")[0][0] for table in
                       ("datasets", "dataset_files", "records", "quarantine", "admin_units",
                        "source_tables"))
    return counts


@pytest.fixture
def store(baseline: Path, tmp_path: Path) -> Path:
    shutil.copy(baseline, tmp_path / "store.duckdb")
    return tmp_path / "store.duckdb"


def assert_refused(run: Run, file_name: str, limit: str, store: Path, before: object) -> None:
    """Exit 1 with one line naming the file and the limit; quick, bounded, store unchanged."""
    assert run.returncode == 1, run.stdout + run.stderr
    assert file_name in run.line and f"(limit on {limit})" in run.line, run.line
    assert "Traceback" not in run.stderr and "Unexpected error" not in run.stderr
    assert run.seconds < SECONDS, run.seconds
    assert run.peak_rss_mb < RSS_LIMIT_MB, run.peak_rss_mb
    assert store_state(store) == before
    assert not list(store.parent.glob(".store.duckdb.import-*"))  # staging removed


# -- building bad inputs ---------------------------------------------------------------------
HEAD = (b'<?xml version="1.0" encoding="UTF-8" ?>\n<DESINVENTAR>\n<eventos>\n<TR><serial>1'
        b"</serial><nombre>FLOOD</nombre><nombre_en>FLOOD</nombre_en></TR>\n</eventos>\n")
CARD = ("<TR><serial>{n}</serial><level0>DMO01</level0><evento>FLOOD</evento><lugar>x</lugar>"
        "<fechano>2001</fechano><fechames>5</fechames><fechadia>0</fechadia><muertos>{deaths}"
        "</muertos><hay_muertos>-1</hay_muertos><clave>{n}</clave></TR>\n")
FLAT = "Serial,Event,Year,Month,Day,Deaths,Level0,Comments\n1,FLOOD,2001,5,1,2,D01,x\n"
EMDAT = ("DisNo.,Classification Key,ISO,Start Year,Comments\n"
         "2001-0001-NPL,nat-hyd-flo-riv,NPL,2001,x\n")


def card(n: int = 1, deaths: str = "2") -> bytes:
    return CARD.format(n=n, deaths=deaths).encode()


def repeated(path: Path, prefix: bytes, block: bytes, times: int, suffix: bytes) -> Path:
    """A plain file prefix + block × times + suffix, written block by block."""
    with path.open("wb") as fh:
        fh.write(prefix)
        for _ in range(times):
            fh.write(block)
        fh.write(suffix)
    return path


def deflated(pieces: Iterable[tuple[bytes, int]], wbits: int = -15
             ) -> tuple[list[tuple[bytes, int]], int, int]:
    """A deflate (or gzip) stream of ``b"".join(data * times)`` as (compressed block, times)
    pairs, with its CRC and size: each block is compressed once, since after a full flush a
    deflate stream may repeat itself. This is how a small file unpacks to gigabytes."""
    comp = zlib.compressobj(9, zlib.DEFLATED, wbits)
    out, crc, size = [], 0, 0
    for data, times in pieces:
        block = comp.compress(data) + comp.flush(zlib.Z_FULL_FLUSH)
        if times > 1:
            assert comp.compress(data) + comp.flush(zlib.Z_FULL_FLUSH) == block
        out.append((block, times))
        for _ in range(times):
            crc = zlib.crc32(data, crc)
        size += len(data) * times
    out.append((comp.flush(), 1))
    return out, crc, size


def bomb_zip(path: Path, members: list[tuple[str, list[tuple[bytes, int]]]],
             declared: dict[str, int] | None = None) -> Path:
    """A zip of deflated members (see :func:`deflated`), written by hand so a member's
    declared size can lie (``declared``)."""
    entries = []
    with path.open("wb") as fh:
        for name, pieces in members:
            blocks, crc, size = deflated(pieces)
            packed = sum(len(b) * t for b, t in blocks)
            size = (declared or {}).get(name, size)
            at, raw = fh.tell(), name.encode()
            fh.write(struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, packed,
                                 size, len(raw), 0) + raw)
            for block, times in blocks:
                for _ in range(times):
                    fh.write(block)
            entries.append((raw, crc, packed, size, at))
        start = fh.tell()
        for raw, crc, packed, size, at in entries:
            fh.write(struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc,
                                 packed, size, len(raw), 0, 0, 0, 0, 0, at) + raw)
        fh.write(struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                             fh.tell() - start, start, 0))
    return path


def xlsx(path: Path, sheet: list[tuple[bytes, int]],
         shared_strings: list[tuple[bytes, int]] | None = None) -> Path:
    """A minimal xlsx whose first sheet is ``sheet`` (header row Serial, Event, Year ...)."""
    main = "http://schemas.openxmlformats.org"
    rel = f"{main}/officeDocument/2006/relationships"
    types = (f'<Types xmlns="{main}/package/2006/content-types"><Default Extension="rels" '
             f'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
             '<Default Extension="xml" ContentType="application/xml"/><Override '
             'PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
             'officedocument.spreadsheetml.sheet.main+xml"/></Types>')
    rels = (f'<Relationships xmlns="{main}/package/2006/relationships"><Relationship Id="r1" '
            f'Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    book = (f'<workbook xmlns="{main}/spreadsheetml/2006/main" xmlns:r="{rel}"><sheets>'
            '<sheet name="Sheet1" sheetId="1" r:id="r1"/></sheets></workbook>')
    book_rels = (f'<Relationships xmlns="{main}/package/2006/relationships"><Relationship '
                 f'Id="r1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
                 f'<Relationship Id="r2" Type="{rel}/sharedStrings" '
                 'Target="sharedStrings.xml"/></Relationships>')
    header = "".join(f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{h}</t></is></c>'
                     for i, h in enumerate(("Serial", "Event", "Year", "Deaths", "Level0")))
    start = (f'<worksheet xmlns="{main}/spreadsheetml/2006/main"><sheetData>'
             f'<row r="1">{header}</row>').encode()
    members = [("[Content_Types].xml", [(types.encode(), 1)]),
               ("_rels/.rels", [(rels.encode(), 1)]), ("xl/workbook.xml", [(book.encode(), 1)]),
               ("xl/_rels/workbook.xml.rels", [(book_rels.encode(), 1)]),
               ("xl/worksheets/sheet1.xml",
                [(start, 1), *sheet, (b"</sheetData></worksheet>", 1)])]
    if shared_strings:
        members.append(("xl/sharedStrings.xml", shared_strings))
    return bomb_zip(path, members)


def di8_database() -> bytes:
    with tarfile.open(shared("desinventar8/bol-gran-chaco/seed.tar.gz")) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("desinventar.db"))
        return archive.extractfile(member).read()  # type: ignore[union-attr]


# -- archives -----------------------------------------------------------------------------
def test_zip_of_whitespace_is_refused_by_its_ratio(store, tmp_path):
    """The fuzzer's 1.7 MB zip holding 1.6 GB of whitespace hung; refused unread."""
    path = bomb_zip(tmp_path / "DI_export_ws.zip", [("DI_export_ws.xml", [
        (HEAD + b"<fichas>\n", 1), (b" " * (16 * MB), 100), (b"</fichas>\n</DESINVENTAR>\n", 1)])])
    assert path.stat().st_size < 2 * MB
    before = store_state(store)
    run = run_import(tmp_path, str(path))
    assert_refused(run, "DI_export_ws.zip", "the compression ratio", store, before)
    assert "member DI_export_ws.xml" in run.line


def test_a_member_that_lies_about_its_size_is_read_no_further(store, tmp_path):
    """Declared 1 MB (so within every limit), inflating to 1.6 GB: reading stops at 1 MB."""
    path = bomb_zip(tmp_path / "DI_export_lie.zip", [("DI_export_lie.xml", [
        (HEAD + b"<fichas>\n", 1), (b" " * (16 * MB), 100), (b"</fichas>\n</DESINVENTAR>\n", 1)])],
        declared={"DI_export_lie.xml": MB})
    before = store_state(store)
    run = run_import(tmp_path, str(path))
    assert run.returncode == 1 and "DI_export_lie.zip: not a readable zip file" in run.line
    assert run.seconds < SECONDS and run.peak_rss_mb < RSS_LIMIT_MB
    assert store_state(store) == before


def test_a_zip_of_too_many_entries_is_refused(store, tmp_path):
    path = tmp_path / "DI_export_many.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(limits.MAX_MEMBERS + 1):
            archive.writestr(f"m{i}.txt", b"")
        archive.writestr("DI_export_many.xml", HEAD + b"<fichas>\n" + card() +
                         b"</fichas>\n</DESINVENTAR>\n")
    before = store_state(store)
    assert_refused(run_import(tmp_path, str(path)), "DI_export_many.zip",
                   "the entries of an archive", store, before)


def test_tar_gz_bomb_is_refused_while_streaming(store, tmp_path):
    """A DesInventar 8 tree whose second member unpacks to 1.6 GB of zeros: tar headers
    declare honest sizes, so the gzip stream's ratio is what gives it away."""
    db = di8_database()
    pad = b"\0" * (-len(db) % 512)
    junk = tarfile.TarInfo("database/TEST/junk.bin")
    junk.size = 1600 * MB
    head = tarfile.TarInfo("database/TEST/desinventar.db")
    head.size = len(db)
    blocks, _, _ = deflated([(head.tobuf() + db + pad + junk.tobuf(), 1), (b"\0" * (16 * MB), 100),
                             (b"\0" * 1024, 1)], wbits=31)
    path = tmp_path / "region.tar.gz"
    with path.open("wb") as fh:  # the gzip trailer is wrong, and never reached
        for block, times in blocks:
            fh.write(block * times)
    before = store_state(store)
    assert_refused(run_import(tmp_path, str(path)), "region.tar.gz", "the compression ratio",
                   store, before)


# -- workbooks ------------------------------------------------------------------------------
def test_xlsx_bomb_is_refused_before_the_workbook_reader_sees_it(store, tmp_path):
    """2 MB of xlsx, 4,000 rows of 16,384 cells (the fuzzer's 2 MB xlsx reached 7.2 GB)."""
    row = b"<row>" + b"<c><v>1</v></c>" * 16384 + b"</row>"
    path = xlsx(tmp_path / "bomb.xlsx", [(row, 4000)])
    assert path.stat().st_size < 3 * MB
    before = store_state(store)
    run = run_import(tmp_path, str(path))
    assert_refused(run, "bomb.xlsx", "the compression ratio", store, before)
    assert "member xl/worksheets/sheet1.xml" in run.line


@pytest.mark.parametrize("fmt", [None, "emdat", "mapped"])
def test_sparse_xlsx_is_refused_by_its_cells(store, tmp_path, fmt):
    """Two cells, A1 and XFD1048576: a 1 KB file that asks for 17 billion cells (calamine
    aborted the process). Refused by detection, whatever the format asked for."""
    path = xlsx(tmp_path / "sparse.xlsx",
                [(b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>', 1)])
    before = store_state(store)
    args = ["--format", fmt] if fmt else []
    run = run_import(tmp_path, str(path), *args)
    assert_refused(run, "sparse.xlsx", "the cells of a sheet", store, before)
    assert "1,048,576 rows × 16,384 columns" in run.line


def test_xlsx_repeating_a_long_shared_string_is_refused(store, tmp_path):
    """3,000 cells of one 1 MB shared string: 0.7 MB on disk, 3 GB once each cell has its copy."""
    rng = random.Random(0)
    text = bytes(rng.choice(b"abcdefghij ") for _ in range(MB - 100))
    strings = [(b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                b"<si><t>" + text + b"</t></si></sst>", 1)]
    path = xlsx(tmp_path / "shared.xlsx", [(b"<row>" + b'<c t="s"><v>0</v></c>' * 10 +
                                            b"</row>", 300)], strings)
    before = store_state(store)
    assert_refused(run_import(tmp_path, str(path)), "shared.xlsx", "the text of a sheet",
                   store, before)


@pytest.mark.parametrize("fmt", ["desinventar-flat", "emdat", "mapped"])
def test_damaged_xlsx_gives_one_line(store, tmp_path, fmt):
    source = shared("desinventar/npl-xlsx/DesInventar2016-00.xlsx")
    data = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 1000
    for i in range(start, start + 2000, 7):
        data[i] ^= 0x5A
    path = tmp_path / "damaged.xlsx"
    path.write_bytes(bytes(data))
    before = store_state(store)
    args = ["--mapping", str(TEST_DATA / "mapped_example.yaml")] if fmt == "mapped" else []
    run = run_import(tmp_path, str(path), "--format", fmt, *args)
    assert run.returncode == 1 and "damaged.xlsx" in run.line
    assert "cannot be read" in run.line or "not a readable" in run.line, run.line
    assert "Unexpected error" not in run.stderr and "Traceback" not in run.stderr
    assert store_state(store) == before


# -- giant values, rows and columns ----------------------------------------------------------
def test_giant_xml_value_is_refused_after_a_megabyte(store, tmp_path):
    """A single 512 MB value hung; now refused once a value passes the limit."""
    path = repeated(tmp_path / "DI_export_gv.xml", HEAD + b"<fichas>\n" + card(1) +
                    b"<TR><serial>2</serial><lugar>", b"a" * (16 * MB), 32,
                    b"</lugar></TR>\n</fichas>\n</DESINVENTAR>\n")
    before = store_state(store)
    run = run_import(tmp_path, str(path))
    assert_refused(run, "DI_export_gv.xml", "the length of one value", store, before)
    assert "fichas row 2, field lugar" in run.line


@pytest.mark.parametrize("kind", ["flat", "emdat", "mapped"])
def test_giant_csv_value_is_refused(store, tmp_path, kind):
    mapped = (TEST_DATA / "mapped_example.csv").read_text("utf-8").splitlines()
    header, first = {"flat": FLAT.splitlines(), "emdat": EMDAT.splitlines(),
                     "mapped": mapped[:2]}[kind]
    delimiter = ";" if kind == "mapped" else ","
    path = repeated(tmp_path / f"{kind}.csv", f"{header}\n{first}\n2{delimiter}".encode(),
                    b"a" * (16 * MB), 4, b"\n")
    args = ["--country", "LKA"] if kind == "flat" else []
    args += ["--mapping", str(TEST_DATA / "mapped_example.yaml")] if kind == "mapped" else []
    before = store_state(store)
    run = run_import(tmp_path, str(path), *args)
    assert_refused(run, f"{kind}.csv", "the length of one value", store, before)
    assert "line 3" in run.line


@pytest.mark.parametrize("kind", ["flat", "emdat"])
def test_a_million_columns_are_refused(store, tmp_path, kind):
    """The flat reader took 49 s and 450 MB to import one row of a million columns."""
    header, first = (FLAT if kind == "flat" else EMDAT).splitlines()
    path = tmp_path / f"wide_{kind}.csv"
    path.write_text(header + "," + ",".join(f"c{i}" for i in range(1_000_000)) + "\n" +
                    first + "\n")
    before = store_state(store)
    run = run_import(tmp_path, str(path), *(["--country", "LKA"] if kind == "flat" else []))
    assert_refused(run, path.name, "the number of columns", store, before)
    assert "line 1: 1,000,00" in run.line


def test_deeply_nested_xml_is_refused(store, tmp_path):
    depth = 100_000
    path = tmp_path / "DI_export_deep.xml"
    path.write_bytes(HEAD + b"<fichas>\n" + card(1) + b"<TR><lugar>" + b"<a>" * depth + b"x" +
                     b"</a>" * depth + b"</lugar></TR>\n</fichas>\n</DESINVENTAR>\n")
    before = store_state(store)
    run = run_import(tmp_path, str(path))
    assert_refused(run, "DI_export_deep.xml", "XML depth", store, before)
    assert "fichas row 2" in run.line


def test_a_long_value_inside_a_chunk_is_refused(atlas, tmp_path):
    """A 2 MB value that arrives whole in the scanner's buffer (no reading on) goes to the
    row parser, which refuses it; from a pool worker the error keeps its key (pickled)."""
    path = tmp_path / "DI_export_dmo.xml"
    path.write_bytes(HEAD + b"<fichas>\n" + card(1) + b"</fichas>\n<extension>\n<TR><clave_ext>1"
                     b"</clave_ext><deaths_female>" + b"z" * (2 * MB) + b"</deaths_female></TR>"
                     b"\n</extension>\n</DESINVENTAR>\n")
    with pytest.raises(LimitError) as error:
        atlas.import_paths([path])
    assert "extension row 1, field deaths_female: a value longer than" in str(error.value)
    copy = pickle.loads(pickle.dumps(error.value))
    assert copy.key == "limit.value" and "單一值長度上限" in copy.render("zh-TW")
    assert atlas.count_records() == 0


def test_di8_giant_value_is_refused(store, tmp_path):
    path = tmp_path / "desinventar.db"
    path.write_bytes(di8_database())
    with sqlite3.connect(path) as con:
        con.execute("UPDATE Disaster SET EventNotes = ? WHERE rowid = 1", ("x" * (64 * MB),))
    con.close()
    before = store_state(store)
    run = run_import(tmp_path, str(path))
    assert_refused(run, "desinventar.db", "the length of one value", store, before)
    assert "table Disaster" in run.line


def test_whitespace_in_a_plain_xml_streams_by(tmp_path):
    """32 MB of blank space inside a section and between sections: read within bounded
    memory (the scanner's buffer used to grow with it, and read a section's blank space as
    an endless row)."""
    path = tmp_path / "DI_export_blank.xml"
    blank = b" \n" * (8 * MB)
    with path.open("wb") as fh:
        fh.write(HEAD + blank * 2 + b"<fichas>\n" + card(1) + blank * 2 + card(2) +
                 b"</fichas>\n" + blank * 2 + b"</DESINVENTAR>\n")
    run = run_import(tmp_path, str(path))
    assert run.returncode == 0, run.stderr
    assert "2 of 2 records imported" in " ".join(run.stdout.split())
    assert run.seconds < SECONDS and run.peak_rss_mb < RSS_LIMIT_MB


# -- damaged files beside good ones ---------------------------------------------------------
def _grenada_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "grd"
    with zipfile.ZipFile(shared("desinventar/grd/DI_export_grd.zip")) as archive:
        archive.extractall(folder)
    return folder


def _boundaries(db: Path) -> dict[int, int]:
    with riskatlas.open(db) as atlas:
        return dict(atlas.store.query(
            "SELECT level, count(*) FROM admin_units WHERE geometry IS NOT NULL GROUP BY 1"))


def test_junk_shapefile_beside_a_valid_xml_costs_only_its_layer(tmp_path):
    folder = _grenada_folder(tmp_path)
    (folder / "GRD_Parishes.shp").write_bytes(random.Random(1).randbytes(5000))
    run = run_import(tmp_path, str(folder / "DI_export_grd.xml"))
    assert run.returncode == 0, run.stderr
    out = " ".join(run.stdout.split())
    assert "162 of 162 records imported" in out
    assert "the map layer GRD_Parishes.shp cannot be read" in out
    assert "Traceback" not in run.stderr
    assert _boundaries(tmp_path / "store.duckdb") == {0: 1, 1: 2}  # country, islands; no parishes


def test_bad_crc_in_a_shapefile_member_costs_only_its_layer(tmp_path):
    source = shared("desinventar/grd/DI_export_grd.zip")
    with zipfile.ZipFile(source) as archive:
        crc = archive.getinfo("GRD_Parishes.shp").CRC
    data = source.read_bytes()
    good, bad = struct.pack("<I", crc), struct.pack("<I", crc ^ 0xFFFFFFFF)
    assert data.count(good) == 2  # the local header and the central directory
    path = tmp_path / "DI_export_grd.zip"
    path.write_bytes(data.replace(good, bad))
    run = run_import(tmp_path, str(path))
    assert run.returncode == 0, run.stderr
    out = " ".join(run.stdout.split())
    assert "162 of 162 records imported" in out
    assert "GRD_Parishes.shp cannot be read (BadZipFile: Bad CRC-32" in out
    assert _boundaries(tmp_path / "store.duckdb") == {0: 1, 1: 2}


def test_corrupted_di8_database_gives_one_line(store, tmp_path):
    data = bytearray(di8_database())
    middle = len(data) // 2
    data[middle:middle + 8 * 4096] = b"\xff" * (8 * 4096)
    path = tmp_path / "desinventar.db"
    path.write_bytes(bytes(data))
    before = store_state(store)
    run = run_import(tmp_path, str(path))
    assert run.returncode == 1
    assert run.line == ("riskatlas: desinventar.db: not a readable DesInventar 8 database "
                        "(database disk image is malformed)")
    assert store_state(store) == before


# -- huge numbers: a reader never crashes on one ---------------------------------------------
HUGE = ("12345678901234567890123", "1e300", "1e400")


@pytest.mark.parametrize("value", HUGE)
def test_huge_numbers_in_emdat_and_mapped_amounts(atlas, tmp_path, value):
    """EM-DAT's thousands and a mapping's scale multiplied them with Decimal and crashed
    (InvalidOperation); a mapping's event count crashed the commit."""
    rows = list(csv.reader(io.StringIO((TEST_DATA / "emdat_2023.csv").read_text("utf-8-sig"))))
    for column in ("Total Damage ('000 US$)", "Total Deaths"):
        rows[1][rows[0].index(column)] = value
    emdat = tmp_path / "emdat.csv"
    with emdat.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    lines = (TEST_DATA / "mapped_example.csv").read_text("utf-8").splitlines()
    cells = lines[1].split(";")
    cells[11] = cells[12] = value  # loss_thousands (scaled), events (counted)
    mapped = tmp_path / "mapped.csv"
    mapped.write_text("\n".join([lines[0], ";".join(cells), *lines[2:]]) + "\n", "utf-8")
    [first] = atlas.import_paths([emdat])
    [second] = atlas.import_paths([mapped], options=ReadOptions(
        mapping=TEST_DATA / "mapped_example.yaml"))
    assert first.records_read == first.records_imported + first.records_quarantined > 0
    assert second.records_read == second.records_imported + second.records_quarantined > 0


@pytest.mark.parametrize("value", [*HUGE, "-3", "level"])
def test_junk_admin_levels_in_xml_and_di8_are_skipped(atlas, tmp_path, value):
    """A level_maps row or a DI8 Geography/GeoCarto level of 1e300 or 23 digits crashed."""
    xml = tmp_path / "DI_export_dmo.xml"
    xml.write_bytes(HEAD + b"<fichas>\n" + card(1) + b"</fichas>\n<level_maps>\n<TR><map_level>"
                    + value.encode() + b"</map_level><filename>x.shp</filename><lev_code>C"
                    b"</lev_code></TR>\n</level_maps>\n</DESINVENTAR>\n")
    (tmp_path / "x.shp").write_bytes(b"")
    (tmp_path / "x.dbf").write_bytes(b"")
    db = tmp_path / "desinventar.db"
    db.write_bytes(di8_database())
    number = float(value) if value.startswith("1e") else value
    with sqlite3.connect(db) as con:
        con.execute("UPDATE Geography SET GeographyLevel = ? WHERE rowid = 1", (number,))
        con.execute("UPDATE GeoCarto SET GeoLevelId = ? WHERE rowid = 1", (number,))
        con.execute("UPDATE GeoLevel SET GeoLevelId = ? WHERE rowid = 1", (number,))
    con.close()
    results = atlas.import_paths([xml, db])
    assert [r.records_imported for r in results] == [1, 109]


# -- the guards themselves (in process) -------------------------------------------------------
@pytest.fixture
def csv_field_limit():
    """The csv module's field limit is process-wide (csv_rows sets it): restored after."""
    saved = csv.field_size_limit()
    yield
    csv.field_size_limit(saved)


def test_limits_are_read_when_a_check_runs(monkeypatch, tmp_path, csv_field_limit):
    monkeypatch.setattr(limits, "MAX_VALUE_CHARS", 10)
    monkeypatch.setattr(limits, "MAX_ROW_CHARS", 20)
    monkeypatch.setattr(limits, "MAX_COLUMNS", 3)
    path = tmp_path / "t.csv"

    def rows(text: str) -> list[list[str]]:
        path.write_text(text)
        with path.open(newline="") as fh:
            return list(csv_rows(TextLines(fh, path), ","))

    assert rows("a,b,c\n1,2,3\n") == [["a", "b", "c"], ["1", "2", "3"]]
    with pytest.raises(LimitError, match=r"t\.csv, line 2: a value longer than 10 characters"):
        rows('a,b\n1,"' + "x" * 11 + '"\n')
    with pytest.raises(LimitError, match="line 3: 4 columns, more than 3"):
        rows("a,b\n1,2\n1,2,3,4\n")
    with pytest.raises(LimitError, match="line 2: a value longer than 10"):  # over many lines
        rows('a\n"' + "xx\n" * 10 + '"\n')
    with pytest.raises(LimitError) as error:  # short values, but many (read before csv splits)
        rows("a\n" + "x," * 15 + "\n")
    assert "line 2: a row longer than 20 characters" in error.value.render("en")
    chinese = error.value.render("zh-TW")
    assert "第 2 行" in chinese and "單列長度上限" in chinese


def test_limited_reader_counts_what_it_yields(monkeypatch, tmp_path):
    monkeypatch.setattr(limits, "MAX_UNPACKED_BYTES", 1000)
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a", b"x" * 600)
        archive.writestr("b", b"y" * 600)
    budget = limits.Budget(path)
    with zipfile.ZipFile(path) as archive:
        assert limits.open_member(archive, archive.getinfo("a"), budget).read() == b"x" * 600
        with pytest.raises(LimitError, match=r"a\.zip, member b: unpacks to more than 1000 B"):
            limits.open_member(archive, archive.getinfo("b"), budget).read()
        with pytest.raises(LimitError, match="limit on the decompressed size of an archive"):
            limits.check_zip(path)
