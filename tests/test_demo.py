"""The SYNTHETIC Demoland export: deterministic, well-formed, labelled and self-consistent."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import lxml.etree as etree
import pytest
import shapefile

from riskatlas.demo import CARD_FIELDS, DEMO_SOURCE, XML_NAME, demo_path, write_demo_export


def _xml_bytes(zip_path: Path) -> bytes:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.read(XML_NAME)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_export(tmp_path_factory.mktemp("demo") / "demo.zip")


@pytest.fixture(scope="module")
def tree(export: Path) -> etree._ElementTree:
    return etree.parse(io.BytesIO(_xml_bytes(export)))


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = write_demo_export(tmp_path / "a.zip", cards=300, seed=7)
    b = write_demo_export(tmp_path / "b.zip", cards=300, seed=7)
    c = write_demo_export(tmp_path / "c.zip", cards=300, seed=8)
    assert _xml_bytes(a) == _xml_bytes(b)
    assert a.read_bytes() == b.read_bytes()  # whole zip, shapefiles included
    assert _xml_bytes(a) != _xml_bytes(c)


def test_zip_layout(export: Path) -> None:
    with zipfile.ZipFile(export) as zf:
        names = set(zf.namelist())
    stems = ("DMO_Provinces", "DMO_Districts")
    assert names == {XML_NAME} | {f"{s}.{e}" for s in stems for e in ("shp", "shx", "dbf")}


def test_cards_count_keys_and_fields(tree: etree._ElementTree) -> None:
    cards = tree.findall("fichas/TR")
    assert len(cards) == 3000
    claves = [c.findtext("clave") for c in cards]
    assert len(set(claves)) == len(claves)
    assert [child.tag for child in cards[0]] == list(CARD_FIELDS)
    assert {e.findtext("clave_ext") for e in tree.findall("extension/TR")} == set(claves)
    years = {int(c.findtext("fechano") or 0) for c in cards}
    assert min(years) >= 1990 and max(years) <= 2024


def test_labelled_synthetic(export: Path, tree: etree._ElementTree) -> None:
    head = _xml_bytes(export)[:300].decode("utf-8")
    assert "SYNTHETIC" in head
    for card in tree.findall("fichas/TR"):
        assert card.findtext("fuentes") == DEMO_SOURCE
        assert (card.findtext("di_comments") or "").startswith("SYNTHETIC")


def test_catalogues_cover_cards(tree: etree._ElementTree) -> None:
    cards = tree.findall("fichas/TR")
    events = {r.findtext("nombre") for r in tree.findall("eventos/TR")}
    assert {c.findtext("evento") for c in cards} == events
    causes = {r.findtext("causa") for r in tree.findall("causas/TR")}
    assert {c.findtext("causa") for c in cards} - {""} <= causes
    districts = {r.findtext("lev1_cod") for r in tree.findall("lev1/TR")}
    assert len(districts) == 24
    assert {c.findtext("level1") for c in cards} <= districts
    assert len(tree.findall("lev0/TR")) == 4 and len(tree.findall("niveles/TR")) == 2


def test_hay_flags_consistent(tree: etree._ElementTree) -> None:
    unknown = 0
    for card in tree.findall("fichas/TR"):
        count, flag = int(card.findtext("muertos") or 0), card.findtext("hay_muertos")
        assert flag == "-1" if count > 0 else flag in ("0", "-1")
        unknown += count == 0 and flag == "-1"
    assert 0 < unknown < 300  # about 5 % reported-but-unknown


def test_flood_is_most_common(tree: etree._ElementTree) -> None:
    events = [c.findtext("evento") for c in tree.findall("fichas/TR")]
    assert max(set(events), key=events.count) == "FLOOD"


def test_shapefiles(export: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(export) as zf:
        zf.extractall(tmp_path)
    for stem, expected in (("DMO_Provinces", 4), ("DMO_Districts", 24)):
        with shapefile.Reader(str(tmp_path / stem)) as reader:
            assert len(reader) == expected
            assert reader.shapeType == shapefile.POLYGON
            codes = [rec["CODE"] for rec in reader.records()]
            assert all(code.startswith("DMO") for code in codes)
            xmin, ymin, xmax, ymax = reader.bbox
            assert (xmin, ymin, xmax, ymax) == (120.0, 22.0, 122.0, 24.0)
    assert not any(p.suffix == ".prj" for p in tmp_path.iterdir())


def test_demo_path_generates_once(tmp_path: Path) -> None:
    path = demo_path(tmp_path)
    assert path.is_file() and path.parent == tmp_path
    stamp = path.stat().st_mtime_ns
    assert demo_path(tmp_path) == path
    assert path.stat().st_mtime_ns == stamp


def test_demo_command_writes_a_report(tmp_path: Path) -> None:
    """The README's main job: import the demo export and assess it."""
    import subprocess
    import sys

    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "riskatlas", "--lang", "en", "demo", "--db",
                           str(tmp_path / "d.duckdb"), "--folder", str(tmp_path), "--out",
                           str(out), "--no-pdf"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "SYNTHETIC" in done.stdout and "Units at highest risk" in done.stdout
    html = (out / "riskatlas-report-en.html").read_text("utf-8")
    assert "Demoland" in html and "SYNTHETIC" in html
    assert html.count('class="map"') == 2  # provinces/districts have boundaries
