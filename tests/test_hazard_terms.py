"""Hazard terms: how a source term finds its crosswalk row (keys, plurals, word order,
false friends), ``import --crosswalk FILE``, the suggestions of ``hazards --unmapped`` and
the review list of every real file in ../shared/data (docs/data-quality.md)."""

from __future__ import annotations

import csv
import itertools
import json
import re
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest

import riskatlas
from conftest import shared
from riskatlas.model.hazards import (
    BUILTIN_CROSSWALKS,
    Crosswalk,
    load_crosswalk,
    match_key,
    singular_forms,
    suggest,
    term_words,
)
from riskatlas.sources.registry import ReadOptions
from test_bad_input import card, desinventar_xml


@pytest.fixture(scope="module")
def crosswalk() -> Crosswalk:
    return load_crosswalk()


def _code(crosswalk: Crosswalk, term: str, term_en: str | None = None) -> tuple | None:
    match = crosswalk.match(term, term_en)
    return None if match is None else (match.hips_code, match.group)


# --- normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [
    ("THUNDER STORM", "THUNDERSTORM"), ("Thunder-storm", "thunderstorm"),
    ("GEMPA BUMI DAN TSUNAMI", "GEMPABUMI DAN TSUNAMI"), ("Inundación", "INUNDACION"),
    ("Épidémie", "EPIDEMIE"), ("STRUCT.COLLAPSE", "Struct collapse"),
    ("Raz-de-marée", "RAZ DE MAREE"), ("  flash\tflood ", "FLASH-FLOOD"),
])
def test_keys_ignore_case_accents_spaces_and_hyphens(a, b):
    assert match_key(a) == match_key(b)


def test_words_and_singular_forms():
    assert term_words("Crue-éclair / Inondation") == ("crue", "eclair", "inondation")
    assert singular_forms("floods") == ("floods", "flood")
    assert singular_forms("tempestades") == ("tempestades", "tempestade", "tempestad")
    assert "inundacao" in singular_forms("inundacoes")  # Portuguese -ões → -ão
    assert "fatality" in singular_forms("fatalities")
    # false friends: too short once cut, a final "ss", or no plural ending at all
    assert singular_forms("gas") == ("gas",)
    assert singular_forms("loss") == ("loss",)
    assert singular_forms("pest") == ("pest",)


@pytest.mark.parametrize(("term", "expected"), [
    ("THUNDER STORM", ("MH0102", "storm")),  # the crosswalk has THUNDERSTORM
    ("GEMPA BUMI DAN TSUNAMI", ("GH0201", "earthquake")),  # Palu 2018: GEMPABUMI DAN TSUNAMI
    ("Gempa Bumi dan Tsunami", ("GH0201", "earthquake")),
    ("flash-floods", ("MH0603", "flood")), ("Inondations", ("MH0600", "flood")),
    ("Inundações", ("MH0600", "flood")), ("LANDSLIDES", ("GH0300", "landslide")),
    ("lluvia", ("MH0402", "flood")),  # singular of the row LLUVIAS
    ("Pluie", ("MH0402", "flood")), ("Tempestades elétricas", ("MH0102", "storm")),
    ("FIRE FOREST", ("EN0205", "wildfire")), ("storm hail", ("MH0404", "storm")),
    ("Wild animal attacks", ("BI0604", "biological")),
    ("ANIMAL ATTACK", ("BI0604", "biological")), ("Elephant attacks", ("BI0604", "biological")),
    ("Snake bites", ("BI0605", "biological")), ("Sun stroke", ("MH0501", "extreme_temperature")),
    ("Outros", (None, "other")),
])
def test_terms_left_unmapped_before_now_map(crosswalk, term, expected):
    assert _code(crosswalk, term) == expected


@pytest.mark.parametrize(("term", "code"), [
    # DesInventar's standard catalogue in its four languages: each lands where its event does
    ("Alluvium", "GH0303"), ("Crue torrentielle", "MH0603"), ("Torrenciais fluxo", "MH0603"),
    ("Orage", "MH0102"), ("Tempestade elétrica", "MH0102"), ("Chute de neige", "MH0406"),
    ("Mortalité biologique", "BI0301"), ("Actividade vulcânica", "GH0202"), ("Huayco", "GH0303"),
    # Indonesian BNPB and the English of South Asian databases
    ("Banjir dan Tanah Longsor", "MH0600"), ("Letusan Gunung Api", "GH0202"),
    ("KARHUTLA", "EN0205"), ("Cloudburst", "MH0402"), ("Cold spell", "MH0502"),
    ("River bank erosion", "GH0404"), ("Boat capsizing", "TL0402"), ("GLOF", "MH0607"),
])
def test_catalogue_and_national_terms(crosswalk, term, code):
    assert crosswalk.match(term).hips_code == code


@pytest.mark.parametrize("term", ["AVALANCHA", "Tidal wave", "Drowning"])
def test_ambiguous_terms_are_left_for_review(crosswalk, term):
    """docs/data-quality.md: left out on purpose, they reach the review list."""
    assert crosswalk.match(term) is None


def test_variants_are_marked_and_exact_rows_win(crosswalk):
    assert crosswalk.match("THUNDER STORM").rule == "exact"
    assert crosswalk.match("Floods").rule == "variant"
    # an exact key beats a variant: RAIN is its own row, not the singular of RAINS
    assert crosswalk.match("RAIN").matched_term == "RAIN"


def test_false_friends_are_never_cut_into_another_word(crosswalk):
    assert crosswalk.match("GAS") is None and crosswalk.match("GASES") is None
    assert crosswalk.match("LOSS") is None and crosswalk.match("LOSSES") is None
    assert _code(crosswalk, "PEST") == ("BI0401", "biological")  # insects, its own row
    assert _code(crosswalk, "PESTS") == ("BI0401", "biological")
    assert _code(crosswalk, "PESTE") == ("BI0228", "biological")  # the disease
    assert crosswalk.match("PESTES") is None  # plural of PESTE or of PEST: left for review
    small = Crosswalk([("t.csv", "term,hips_code,group\nGA,MH0600,\nLOS,MH0301,\n")])
    assert small.match("GAS") is None and small.match("LOSS") is None
    assert small.match("GAS", "LOSS") is None


def test_variants_that_disagree_leave_the_term_unmapped():
    text = "term,hips_code,group\nFLOOD ROAD,MH0600,\nROAD FLOOD,TL0405,\nRAIN,MH0402,\n"
    small = Crosswalk([("t.csv", text)])
    assert small.match("flood road").hips_code == "MH0600"  # exact keys still decide
    assert small.match("FLOODS ROAD") is None  # word order → two rows that disagree
    assert small.match("Rains").hips_code == "MH0402"


def test_no_builtin_row_changes_meaning():
    """Two rows whose keys collide agree, and every row maps to itself exactly."""
    crosswalk = load_crosswalk()
    seen: dict[str, tuple] = {}
    for name in BUILTIN_CROSSWALKS:
        text = resources.files("riskatlas.data").joinpath(name).read_text("utf-8")
        for row in csv.DictReader(line for line in text.splitlines()
                                  if not line.startswith("#")):
            key, mapping = match_key(row["term"]), (row["hips_code"] or None, row["group"])
            assert seen.setdefault(key, mapping) == mapping, row
            match = crosswalk.match(row["term"])
            assert match.rule == "exact" and (match.hips_code, match.group) == mapping, row


def test_user_file_overrides_variants_too(tmp_path):
    mine = tmp_path / "mine.csv"
    mine.write_text("FLASH FLOOD,MH0600,flood,my database does not tell flash floods apart\n",
                    encoding="utf-8")  # no header line: term, hips_code, group, note
    crosswalk = load_crosswalk([mine])
    assert crosswalk.match("flash-flood").hips_code == "MH0600"
    assert crosswalk.match("FLOOD FLASH").hips_code == "MH0600"
    assert crosswalk.match("Flash floods").hips_code == "MH0600"


def test_wild_animal_attack_is_human_wildlife_conflict(crosswalk):
    text = resources.files("riskatlas.data").joinpath("hazard_crosswalk.csv").read_text("utf-8")
    rows = {r["term"]: r for r in csv.DictReader(text.splitlines()[1:])}
    assert rows["WILD ANIMAL ATTACK"]["hips_code"] == "BI0604"
    assert "Human-Wildlife Conflict" in rows["WILD ANIMAL ATTACK"]["note"]  # says why
    assert text.startswith("# version: ") and "never guessed" in text.splitlines()[0]


# --- suggestions --------------------------------------------------------------------------


def test_suggestions_rank_close_entries(crosswalk):
    [mapped] = suggest(crosswalk, "THUNDER STORM")  # mapped by the current crosswalk
    assert (mapped.hips_code, mapped.source, mapped.score) == ("MH0102", "mapped", 1.0)
    found = suggest(crosswalk, "Human-wildlife conflicts, elephant")
    assert found[0].hips_code == "BI0604" and found[0].group == "biological"
    assert all(a.score >= b.score for a, b in itertools.pairwise(found))
    assert suggest(crosswalk, "VOLCANIC SMOG")[0].group == "volcanic"
    assert suggest(crosswalk, "Sky falling") == []  # nothing close: nothing invented
    assert not any(re.fullmatch(r"[a-z]{3}(-[a-z]{3}){3}", s.resembles)
                   for s in suggest(crosswalk, "gas leak explosion", limit=10))


UNMAPPED = ["VOLCANIC SMOG", "Human-wildlife conflicts, elephant", "Sky falling"]


def _xml(tmp_path: Path, terms: list[str]) -> Path:
    path = tmp_path / "DI_export_dmo.xml"
    path.write_bytes(desinventar_xml([card(clave=str(i), evento=term)
                                      for i, term in enumerate(terms, 1)]))
    return path


def _terms(db: Path, crosswalks: tuple[Path, ...] = ()) -> dict[str, str | None]:
    with riskatlas.open(db, crosswalks=crosswalks) as atlas:
        rows = atlas.store.query("SELECT term, hips_code FROM hazard_terms")
    return dict(rows)


def test_every_suggestion_line_maps_its_term(tmp_path):
    source = _xml(tmp_path, UNMAPPED)
    with riskatlas.open(tmp_path / "s.duckdb") as atlas:
        atlas.import_paths([source])
        review = atlas.hazard_suggestions(lang="en")
        zh = atlas.hazard_suggestions(lang="zh-TW")
    assert sorted(review.term) == sorted(UNMAPPED)
    lines = [(term, s) for term, found in zip(review.term, review.suggestions, strict=True)
             for s in found]
    assert {term for term, _ in lines} == set(UNMAPPED) - {"Sky falling"}
    assert any("建議" in s["csv_line"] for found in zh.suggestions for s in found)
    for n, (term, suggestion) in enumerate(lines):
        mine = tmp_path / f"line{n}.csv"
        mine.write_text(suggestion["csv_line"] + "\n", encoding="utf-8")
        assert next(csv.reader([suggestion["csv_line"]]))[:3] == [
            term, suggestion["hips_code"], suggestion["hazard_group"]]
        with riskatlas.open(tmp_path / f"s{n}.duckdb", crosswalks=[mine]) as atlas:
            [result] = atlas.import_paths([source])
        assert term not in result.unmapped_hazards
        assert _terms(tmp_path / f"s{n}.duckdb")[term] == suggestion["hips_code"]


def cli(*args: str, db: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "riskatlas", "--lang", "en", *args, "--db",
                           str(db)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_crosswalk_option_adds_terms(tmp_path):
    source = _xml(tmp_path, UNMAPPED)
    db = tmp_path / "s.duckdb"
    cli("import", str(source), db=db)
    review = json.loads(cli("hazards", "--unmapped", "--format", "json", db=db))
    assert sorted(r["term"] for r in review) == sorted(UNMAPPED)
    line = review[[r["term"] for r in review].index("VOLCANIC SMOG")]["suggestions"][0]
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(line["csv_line"] + "\n", encoding="utf-8")
    second.write_text("# version: 3\nterm,hips_code,group,note\n"
                      '"Human-wildlife conflicts, elephant",BI0604,biological,\n'
                      "Sky falling,,other,a joke card\n", encoding="utf-8")
    table = cli("hazards", "--unmapped", db=db)
    assert "term,hips_code,group,note" in table and line["csv_line"] in table.replace("\n", "")
    assert "Sky falling: no close HIPs 2025 entry" in " ".join(table.split())
    rows = list(csv.DictReader(cli("hazards", "--unmapped", "--format", "csv", db=db)
                               .splitlines()))
    assert {r["term"] for r in rows} == set(UNMAPPED) and "csv_line" in rows[0]

    out = cli("import", str(source), "--crosswalk", str(first), "--crosswalk", str(second),
              db=db)  # already imported: said, not silently ignored
    assert "--crosswalk does not change the mapping" in " ".join(out.split())

    fresh = tmp_path / "fresh.duckdb"
    [result] = [json.loads(x) for x in cli("import", str(source), "--crosswalk", str(first),
                                          "--crosswalk", str(second), "--json",
                                          db=fresh).splitlines()]
    assert result["unmapped_hazards"] == []
    assert "review list is empty" in cli("hazards", "--unmapped", db=fresh)
    terms = _terms(fresh)
    assert terms["VOLCANIC SMOG"] == line["hips_code"]
    assert terms["Human-wildlife conflicts, elephant"] == "BI0604"
    [dataset] = json.loads(cli("datasets", "--format", "json", db=fresh))
    version = dataset["crosswalk_version"]  # the files in their order, each with its version
    assert "+first@sha256:" in version and version.endswith("+second@3")


def test_a_bad_crosswalk_file_is_one_line_naming_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("term,hips_code,group,note\nSMOG,GH0101,,\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "riskatlas", "--lang", "en", "import",
                           str(_xml(tmp_path, ["SMOG"])), "--crosswalk", str(bad), "--db",
                           str(tmp_path / "s.duckdb")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1
    assert "bad.csv, line 2" in done.stderr and "GH0101" in done.stderr


# --- the real files: the review list is empty (docs/data-quality.md) ----------------------

LEFT_FOR_REVIEW: dict[str, list[str]] = {}  # file → terms documented in docs/data-quality.md

REAL_FILES = [
    ("desinventar/bdi/DI_export_bdi.zip", {}),
    ("desinventar/nga/DI_export_nga.zip", {}),
    ("desinventar/s20/DI_export_s20.zip", {}),
    ("desinventar8/bol-gran-chaco/seed.tar.gz", {}),
    ("idn-dibi-province/clean_DIBI_BNPB.csv", {"mapping": Path("idn-dibi-province")}),
    ("phl-phildis/tabular/disasters_events_all.csv", {"mapping": Path("phl-phildis")}),
]


def _review(db: Path) -> list[str]:
    with riskatlas.open(db, read_only=True) as atlas:
        return sorted(atlas.hazard_terms(unmapped=True).term)


@pytest.mark.shared_data
@pytest.mark.parametrize(("relative", "options"), REAL_FILES, ids=[r for r, _ in REAL_FILES])
def test_review_list_of_a_real_file(tmp_path, relative, options):
    db = tmp_path / "s.duckdb"
    with riskatlas.open(db) as atlas:
        [result] = atlas.import_paths([shared(relative)], options=ReadOptions(**options))
    assert result.records_read == result.records_imported + result.records_quarantined
    assert result.fields_read == result.fields_accepted + result.fields_flagged
    assert (result.fields_read > 0) == (result.records_imported > 0)  # bdi: a gazetteer only
    assert _review(db) == LEFT_FOR_REVIEW.get(relative, [])


@pytest.mark.shared_data
def test_review_list_of_grenada_and_nepal(grenada_db, nepal_db):
    assert _review(grenada_db) == LEFT_FOR_REVIEW.get("desinventar/grd/DI_export_grd.zip", [])
    assert _review(nepal_db) == LEFT_FOR_REVIEW.get("desinventar/npl-xlsx", [])


@pytest.mark.shared_data
@pytest.mark.parametrize("relative", ["desinventar/grd/DI_export_grd.zip",
                                      "desinventar/bdi/DI_export_bdi.zip",
                                      "desinventar/nga/DI_export_nga.zip",
                                      "desinventar/s20/DI_export_s20.zip"])
def test_every_event_of_the_xml_catalogues_maps(crosswalk, relative):
    """Both names of each ``eventos`` row (nombre, nombre_en), whether cards use it or not."""
    with zipfile.ZipFile(shared(relative)) as archive:
        xml = next(archive.read(n) for n in archive.namelist() if n.lower().endswith(".xml"))
    section = re.search(rb"(?is)<eventos>(.*?)</eventos>", xml).group(1).decode()
    rows = re.findall(r"(?is)<TR>(.*?)</TR>", section)
    names = [(re.search(r"(?is)<nombre>(.*?)</nombre>", r), re.search(
        r"(?is)<nombre_en>(.*?)</nombre_en>", r)) for r in rows]
    assert names
    for local, english in names:
        assert crosswalk.match(local.group(1) if local else None,
                               english.group(1) if english else None), (local, english)


def _column(path: Path, name: str, delimiter: str = ",") -> set[str]:
    with path.open(encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader)
        index = header.index(name)
        return {row[index].strip() for row in reader if len(row) > index}


@pytest.mark.shared_data
@pytest.mark.parametrize(("relative", "column", "delimiter"), [
    ("phl-phildis/tabular/disasters_list_all.csv", "type", ","),
    ("phl-phildis/tabular/disasters_events_ncr.csv", "type", ","),
    ("phl-phildis/tabular/disasters_events_provinces.csv", "type", ","),
    ("desinventar/npl-xlsx/events_dup.csv", "Event", ";"),
])
def test_event_lists_of_the_other_real_tables_map(crosswalk, relative, column, delimiter):
    """Tables that are not imported as loss data (a list of disasters, subsets of the
    PHIL-DIS events table, an analyst's list of duplicates) still name hazards."""
    terms = _column(shared(relative), column, delimiter) - {"", "#N/A"}  # the blank markers
    assert terms
    assert sorted(t for t in terms if crosswalk.match(t) is None) == []
