"""A conformance corpus generated from the real Grenada export: its cards rewritten as flat
tables in each DesInventar header style and letter case, in each encoding (UTF-8, UTF-8
with a byte-order mark, UTF-16, Windows-1252, Latin-1), with a blank header, a repeated
header and cut short; and as XML (plain, UTF-16, with a repeated element, cut short). The
same problems are injected into chosen cards in every variant: -1 and 1 sector flags;
fractional, negative, huge (10^23, 1e300) and non-numeric counts; an out-of-range
coordinate; impossible dates.

For every variant: no unexpected error; records read = imported + set aside (nothing set
aside) and fields read = accepted + flagged; deaths and destroyed houses by reporting group
equal the original's on every card without an injected value; every injected problem is a
quality issue naming its card and field, and nothing else is; the notes name what was
wrong with the file. The header styles come from the shipped header list
(``data/desinventar_flat_headers.csv``), not from this file.
"""

from __future__ import annotations

import csv
import io
import itertools
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
NEEDS = "record.needs_field"  # a value dropped with the one it depends on


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
# what an injected value takes along: the other coordinate, the month and day of the year
# (their values that mean nothing: blank, and 0 for a month or day)
DEPENDENT = {"latitude": (("longitude", "longitude", ("",)),),
             "fechano": (("fechames", "start_month", ("", "0")),
                         ("fechadia", "start_day", ("", "0")))}
FLAGS = (Injection(21, "transporte", "-1", "sector_transport", None),
         Injection(23, "educacion", "1", "sector_education", None),
         Injection(25, "salud", "Yes", "sector_health", None))
PLACE = (27, "Sauteurs – Crête du Morne")  # a non-ASCII value the encodings must keep
CUT = 150  # the card inside whose quoted place a truncated table ends


@cache
def original_cards() -> tuple[dict[str, str], ...]:
    from lxml import etree

    with zipfile.ZipFile(shared(GRD)) as archive:
        root = etree.fromstring(archive.read("DI_export_grd.xml"))
    return tuple({el.tag: el.text or "" for el in tr} for tr in root.find("fichas"))


def place_for(encoding: str) -> str:
    """The non-ASCII place, without the dash Latin-1 does not have."""
    return PLACE[1].replace("–", "-") if encoding == "latin-1" else PLACE[1]


def injected_cards(flags: bool, encoding: str = "utf-8") -> list[dict[str, str]]:
    cards = [dict(c) for c in original_cards()]
    for inj in INJECTIONS + (FLAGS if flags else ()):
        cards[inj.card][inj.field] = inj.value
        if inj.field == "fechadia":
            cards[inj.card]["fechames"] = "2"
    cards[PLACE[0]]["lugar"] = place_for(encoding)
    return cards


def expected_issues() -> dict[tuple[str, str], str]:
    """(clave, canonical field) → rule of every issue the injections must raise."""
    cards = injected_cards(False)
    found = {}
    for inj in INJECTIONS:
        card = cards[inj.card]
        found[(card["clave"], inj.canonical)] = inj.rule
        for field, canonical, nothing in DEPENDENT.get(inj.field, ()):
            if card[field].strip() not in nothing:
                found[(card["clave"], canonical)] = NEEDS
    return found


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
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1")
# damage done to the table itself (in UTF-8), with the note each must leave
LAYOUTS = {"blank-header": "flat.blank_header", "repeated-header": "flat.repeated_column_blank",
           "truncated": "table.ends_in_quotes"}


@dataclass(frozen=True)
class Variant:
    """What an import of a variant must give: how many cards are read, the issues beyond
    the injected ones, the note its damage leaves, and whether sector flags are in."""

    cards: int
    extra: dict[tuple[str, str], str]
    note: str | None
    flags: bool


def write_flat(path: Path, style: str, encoding: str = "utf-8",
               layout: str | None = None) -> Variant:
    """The injected cards as a flat CSV in ``style``, ``encoding`` and ``layout``."""
    flags = style != "dbf"
    fields = list(FIELDS + (SECTORS if flags else ()))
    cards = injected_cards(flags, encoding)
    header = [STYLES[style](f) for f in fields]
    rows = [[card.get(f, "") for f in fields] for card in cards]
    extra: dict[tuple[str, str], str] = {}
    if layout == "blank-header":  # a column of remarks without a header, after the place
        at = fields.index("lugar") + 1
        header.insert(at, "")
        for i, row in enumerate(rows):
            row.insert(at, "checked" if i % 10 == 0 else "")
    elif layout == "repeated-header":  # the deaths header twice, the first column blank
        at = fields.index("muertos")
        header.insert(at, header[at])
        for row in rows:
            row.insert(at, "")
    elif layout == "truncated":  # the file ends inside the quoted place of card CUT
        rows[CUT][fields.index("lugar")] = "Cut short\nwhere the file ends"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    count = len(cards)
    if layout == "truncated":
        text = text[:text.index('"Cut short') + len('"Cut sh')]
        count = CUT + 1  # the cut card is kept as found: without its year
        extra[(cards[CUT]["clave"], "start_year")] = "record.no_year"
    path.write_bytes(text.encode(encoding))
    return Variant(count, extra, LAYOUTS.get(layout or ""), flags)


def write_xml(path: Path, layout: str | None = None) -> Variant:
    from lxml import etree

    with zipfile.ZipFile(shared(GRD)) as archive:
        root = etree.fromstring(archive.read("DI_export_grd.xml"))
    cards = injected_cards(True)
    for tr, card in zip(root.find("fichas"), cards, strict=True):
        for el in tr:
            el.text = card.get(el.tag, el.text)
    note, count = None, len(cards)
    if layout == "repeated-element":  # a blank deaths element before the real one
        first = root.find("fichas")[0]
        deaths = first.find("muertos")
        deaths.addprevious(etree.Element("muertos"))
        note = "xml.repeated_element"
    text = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    if layout == "utf-16":
        text = text.decode().replace("encoding='UTF-8'", "encoding='UTF-16'", 1).encode(
            "utf-16")
    elif layout == "truncated":  # cut inside the card after CUT: CUT + 1 whole cards
        starts = [m.start() for m in re.finditer(rb"<TR>", text)]
        fichas = text.index(b"<fichas>")
        starts = [s for s in starts if s > fichas]
        text = text[:starts[CUT + 1] + 40]
        count, note = CUT + 1, "xml.unclosed"
    path.write_bytes(text)
    return Variant(count, {}, note, True)


# -- the checks ---------------------------------------------------------------------------
@cache
def baseline(tmp: Path) -> dict[str, tuple[str | None, int | None, int | None]]:
    """clave → (hazard group, deaths, destroyed houses) of the untouched export."""
    with riskatlas.open(tmp / "baseline.duckdb") as atlas:
        atlas.import_paths([shared(GRD)])
        return {k: tuple(v) for k, *v in atlas.store.query(
            "SELECT native_key, hazard_group, deaths, houses_destroyed FROM records")}


def check(atlas: riskatlas.Atlas, result, variant: Variant, tmp: Path) -> None:
    cards = original_cards()[:variant.cards]
    assert (result.records_read, result.records_imported, result.records_quarantined) == (
        len(cards), len(cards), 0)
    dataset = [result.dataset_id]
    got = {k: tuple(v) for k, *v in atlas.store.query(
        "SELECT native_key, hazard_group, deaths, houses_destroyed FROM records "
        "WHERE dataset_id = ?", dataset)}
    touched = {cards[i.card]["clave"] for i in INJECTIONS} | {k for k, _ in variant.extra}
    base = baseline(tmp)

    def totals(rows: dict[str, tuple]) -> dict[str | None, tuple[int, int]]:
        sums: dict[str | None, tuple[int, int]] = {}
        for key, (group, deaths, houses) in rows.items():
            if key not in touched:
                d, h = sums.get(group, (0, 0))
                sums[group] = (d + (deaths or 0), h + (houses or 0))
        return sums

    assert totals(got) == totals({k: v for k, v in base.items() if k in got})
    issues = {(r[0], r[1]): r[2] for r in atlas.store.query(
        "SELECT split_part(record_id, ':', 2), field, rule FROM quality_issues "
        "WHERE dataset_id = ?", dataset)}
    assert issues == {**expected_issues(), **variant.extra}
    # fields reconciliation, in the result and in the store
    assert result.fields_flagged == len(issues) and result.fields_read > 15 * len(cards)
    assert result.fields_read == result.fields_accepted + result.fields_flagged
    [stored] = atlas.store.query("SELECT fields_read, fields_accepted, fields_flagged "
                                 "FROM dataset_files WHERE dataset_id = ?", dataset)
    assert stored == (result.fields_read, result.fields_accepted, result.fields_flagged)
    if variant.flags:
        for inj in FLAGS:
            [(value,)] = atlas.store.query(
                f"SELECT {inj.canonical} FROM records WHERE native_key = ? AND dataset_id = ?",
                [cards[inj.card]["clave"], *dataset])
            assert value in (-1, 1), (inj, value)
    [(place,)] = atlas.store.query("SELECT place FROM records WHERE native_key = ? "
                                   "AND dataset_id = ?", [cards[PLACE[0]]["clave"], *dataset])
    assert place in (PLACE[1], place_for("latin-1"))
    if variant.note is not None:
        assert variant.note in {n["key"] for n in result.notes}, result.notes


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """One store for every variant (each imported as its own source, so no record id
    repeats): a fresh store per variant would cost more than its import."""
    folder = tmp_path_factory.mktemp("corpus")
    with riskatlas.open(folder / "corpus.duckdb") as atlas:
        yield atlas, folder, itertools.count(1)


def _import(corpus, name: str, write: Callable[[Path], Variant], tmp: Path,
            flat: bool = True) -> None:
    """Write a variant and import it as the source DI-Vnn (country Vnn for a flat table;
    the XML's own level-0 codes)."""
    atlas, folder, counter = corpus
    code = f"V{next(counter):02d}"
    path = folder / (f"{name}.csv" if flat else f"DI_export_{code.lower()}.xml")
    variant = write(path)
    [result] = atlas.import_paths([path], options=ReadOptions(country=code if flat else None))
    check(atlas, result, variant, tmp)


@pytest.mark.shared_data
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("style", list(STYLES))
def test_flat_variant(corpus, tmp_path_factory, style, encoding):
    _import(corpus, f"grd_{style}_{encoding}", lambda p: write_flat(p, style, encoding),
            tmp_path_factory.getbasetemp())


@pytest.mark.shared_data
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("style", list(STYLES))
def test_flat_damaged(corpus, tmp_path_factory, style, layout):
    _import(corpus, f"grd_{style}_{layout}", lambda p: write_flat(p, style, layout=layout),
            tmp_path_factory.getbasetemp())


@pytest.mark.shared_data
@pytest.mark.parametrize("layout", [None, "utf-16", "repeated-element", "truncated"])
def test_xml_variant(corpus, tmp_path_factory, layout):
    _import(corpus, "", lambda p: write_xml(p, layout), tmp_path_factory.getbasetemp(),
            flat=False)
