"""A conformance corpus generated from the real Grenada export: its cards rewritten as flat
tables in each DesInventar header style, letter case and encoding, and as XML, with
problems injected into chosen cards.

For every variant: no unexpected error; records read = imported + set aside (nothing set
aside); deaths and destroyed houses by reporting group equal the original's on every card
without an injected value; and every injected problem is a quality issue naming its card
and field. The header styles come from the shipped header list
(``data/desinventar_flat_headers.csv``), not from this file.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import pytest

import riskatlas
from conftest import shared
from riskatlas.sources.registry import ReadOptions

GRD = "desinventar/grd/DI_export_grd.zip"
# the DesInventar fields written to the flat tables (sector flags in every style but DBF
# labels, where "Education" is the cut of "Education centers", the schools count)
FIELDS = ("clave", "serial", "level0", "level1", "level2", "evento", "lugar", "fechano",
          "fechames", "fechadia", "latitude", "longitude", "muertos", "heridos", "desaparece",
          "afectados", "damnificados", "vivdest", "vivafec", "valorloc", "valorus")
SECTORS = ("transporte", "educacion", "salud")


@dataclass(frozen=True)
class Injection:
    """A value written into one card, and the issue it must raise (None: no issue)."""

    card: int  # position among the cards
    field: str  # DesInventar field
    value: str
    canonical: str
    rule: str | None


INJECTIONS = (
    Injection(3, "muertos", "2.5", "deaths", "record.rounded"),
    Injection(5, "heridos", "-4", "injured", "record.negative"),
    Injection(7, "vivdest", "1e300", "houses_destroyed", "record.too_large"),
    Injection(9, "vivafec", "12345678901234567890123", "houses_damaged", "record.too_large"),
    Injection(11, "muertos", "abc", "deaths", "record.not_a_number"),
    Injection(13, "latitude", "123.5", "latitude", "record.out_of_range"),
    Injection(15, "fechadia", "31", "start_day", "record.impossible_date"),
    Injection(17, "fechano", "19x5", "start_year", "record.not_a_number"),
    Injection(19, "muertos", "-1", "deaths", "record.negative"),
)
FLAGS = (Injection(21, "transporte", "-1", "sector_transport", None),
         Injection(23, "educacion", "1", "sector_education", None),
         Injection(25, "salud", "Yes", "sector_health", None))
PLACE = (27, "Sauteurs – Crête du Morne")  # a non-ASCII value the encodings must keep


@cache
def original_cards() -> tuple[dict[str, str], ...]:
    from lxml import etree

    with zipfile.ZipFile(shared(GRD)) as archive:
        root = etree.fromstring(archive.read("DI_export_grd.xml"))
    return tuple({el.tag: el.text or "" for el in tr} for tr in root.find("fichas"))


def injected_cards(flags: bool) -> list[dict[str, str]]:
    cards = [dict(c) for c in original_cards()]
    for inj in INJECTIONS + (FLAGS if flags else ()):
        cards[inj.card][inj.field] = inj.value
        if inj.field == "fechadia":
            cards[inj.card]["fechames"] = "2"
    cards[PLACE[0]]["lugar"] = PLACE[1]
    return cards


# -- header styles, from the shipped header list -----------------------------------------
LANGUAGES = ("english", "spanish", "french", "portuguese")


@cache
def _labels() -> dict[str, dict[str, str]]:
    """field → {language: label}: the first label of the field in each language of the
    shipped header list (its ``style`` column)."""
    text = resources.files("riskatlas.data").joinpath("desinventar_flat_headers.csv").read_text(
        "utf-8")
    rows = csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#"))
    found: dict[str, dict[str, str]] = {}
    for row in rows:
        for style in row["style"].split():
            if style in LANGUAGES:
                found.setdefault(row["field"], {}).setdefault(style, row["header"])
    return found


def _snake(label: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", label.lower()).strip("_")


def _dbf(label: str) -> str:
    """A label as a DBF field name: cut to 10 characters, signs as "_" (Dead_Peopl)."""
    return re.sub(r"[^0-9A-Za-z]", "_", label[:10].rstrip())


STYLES: dict[str, Callable[[str], str]] = {
    "fields": lambda f: f,
    "FIELDS": str.upper,
    "english": lambda f: _labels().get(f, {}).get("english", f),
    "english-upper": lambda f: _labels().get(f, {}).get("english", f).upper(),
    "snake": lambda f: _snake(_labels().get(f, {}).get("english", f)),
    "spanish": lambda f: _labels().get(f, {}).get("spanish", f),
    "french": lambda f: _labels().get(f, {}).get("french", f),
    "portuguese": lambda f: _labels().get(f, {}).get("portuguese", f),
    "dbf": lambda f: _dbf(_labels().get(f, {}).get("english", f)),
}
ENCODINGS = ("utf-8", "utf-8-sig", "cp1252")


def write_flat(path: Path, style: str, encoding: str) -> bool:
    """The injected cards as a flat CSV in ``style``; returns whether sector flags are in."""
    flags = style != "dbf"
    fields = FIELDS + (SECTORS if flags else ())
    header = [STYLES[style](f) for f in fields]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for card in injected_cards(flags):
        writer.writerow([card.get(f, "") for f in fields])
    path.write_bytes(out.getvalue().encode(encoding))
    return flags


def write_xml(path: Path) -> None:
    from lxml import etree

    with zipfile.ZipFile(shared(GRD)) as archive:
        root = etree.fromstring(archive.read("DI_export_grd.xml"))
    for tr, card in zip(root.find("fichas"), injected_cards(True), strict=True):
        for el in tr:
            el.text = card.get(el.tag, el.text)
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


# -- the checks ---------------------------------------------------------------------------
@cache
def baseline(tmp: Path) -> dict[str, tuple[str | None, int | None, int | None]]:
    """clave → (hazard group, deaths, destroyed houses) of the untouched export."""
    with riskatlas.open(tmp / "baseline.duckdb") as atlas:
        atlas.import_paths([shared(GRD)])
        return {k: tuple(v) for k, *v in atlas.store.query(
            "SELECT native_key, hazard_group, deaths, houses_destroyed FROM records")}


def check(atlas: riskatlas.Atlas, result, flags: bool, tmp: Path) -> None:
    cards = original_cards()
    assert (result.records_read, result.records_imported, result.records_quarantined) == (
        len(cards), len(cards), 0)
    got = {k: tuple(v) for k, *v in atlas.store.query(
        "SELECT native_key, hazard_group, deaths, houses_destroyed FROM records")}
    touched = {cards[i.card]["clave"] for i in INJECTIONS}
    base = baseline(tmp)

    def totals(rows: dict[str, tuple]) -> dict[str | None, tuple[int, int]]:
        sums: dict[str | None, tuple[int, int]] = {}
        for key, (group, deaths, houses) in rows.items():
            if key not in touched:
                d, h = sums.get(group, (0, 0))
                sums[group] = (d + (deaths or 0), h + (houses or 0))
        return sums

    assert totals(got) == totals(base)
    issues = {(r[0], r[1]): r[2] for r in atlas.store.query(
        "SELECT split_part(record_id, ':', 2), field, rule FROM quality_issues")}
    for inj in INJECTIONS:
        assert issues.get((cards[inj.card]["clave"], inj.canonical)) == inj.rule, inj
    assert len(issues) == len(INJECTIONS), issues
    if flags:
        for inj in FLAGS:
            [(value,)] = atlas.store.query(
                f"SELECT {inj.canonical} FROM records WHERE native_key = ?",
                [cards[inj.card]["clave"]])
            assert value in (-1, 1), (inj, value)
    [(place,)] = atlas.store.query("SELECT place FROM records WHERE native_key = ?",
                                   [cards[PLACE[0]]["clave"]])
    assert place == PLACE[1]


@pytest.mark.shared_data
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("style", list(STYLES))
def test_flat_variant(tmp_path_factory, style, encoding):
    tmp = tmp_path_factory.getbasetemp()
    path = tmp_path_factory.mktemp("flat") / f"grd_{style}_{encoding}.csv"
    flags = write_flat(path, style, encoding)
    with riskatlas.open(path.with_suffix(".duckdb")) as atlas:
        [result] = atlas.import_paths([path], options=ReadOptions(country="GRD"))
        check(atlas, result, flags, tmp)


@pytest.mark.shared_data
def test_xml_variant(tmp_path_factory):
    tmp = tmp_path_factory.getbasetemp()
    path = tmp_path_factory.mktemp("xml") / "DI_export_grd.xml"
    write_xml(path)
    with riskatlas.open(path.with_suffix(".duckdb")) as atlas:
        [result] = atlas.import_paths([path])
        check(atlas, result, True, tmp)
