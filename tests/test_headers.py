"""The column-header recogniser (riskatlas.sources.headers) and its use by the DesInventar
flat reader: normalisation, the shipped header list, count columns told from flag columns by
their headers, fuzzy matches, repeated and blank headers, ``--inspect`` and ``--column``.

The tables are written by the tests themselves (invented rows); the DBF-label workbook is
tests/data/desinventar_flat_dbf.xlsx (tests/data/README.md).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import riskatlas
from riskatlas.api import Atlas
from riskatlas.errors import SourceFormatError
from riskatlas.importer import FileResult
from riskatlas.sources import desinventar_flat as flat
from riskatlas.sources import headers
from riskatlas.sources.headers import dbf_form, normalise
from riskatlas.sources.registry import ReadOptions
from riskatlas.sources.tables import cell_text
from riskatlas.sources.workbooks import open_workbook

DATA = Path(__file__).parent / "data"
SECTORS = {"transporte", "comunicaciones", "socorro", "agropecuario", "acueducto",
           "alcantarillado", "educacion", "energia", "industrias", "salud", "hay_otros"}


@pytest.fixture
def atlas(tmp_path: Path) -> Iterator[Atlas]:
    with riskatlas.open(tmp_path / "store.duckdb") as store:
        yield store


def write_table(path: Path, header: Sequence[str], *rows: Sequence[Any]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def one(atlas: Atlas, path: Path, **options: Any) -> FileResult:
    options.setdefault("country", "DMO")
    [result] = atlas.import_paths([path], format=flat.FORMAT, options=ReadOptions(**options))
    return result


def records(atlas: Atlas) -> list[dict[str, Any]]:
    cursor = atlas.store.connection.execute("SELECT * FROM records ORDER BY source_row")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def issues(atlas: Atlas) -> list[tuple[str, str]]:
    return [tuple(r) for r in atlas.store.query("SELECT field, rule FROM quality_issues")]


def notes_of(result: FileResult, key: str) -> list[dict[str, Any]]:
    return [n for n in result.notes if n["key"] == key]


# -- normalisation ------------------------------------------------------------------------
@pytest.mark.parametrize(("variants", "key"), [
    (["Losses $USD", "losses_usd", "LOSSES (USD)", "Losses US$", "Losses__US"], "loss usd"),
    (["Losses $Local", "losses_local_currency", "Losses in local currency", "loss_lc"],
     "local loss"),
    (["damaged houses", "houses damaged", "damage in houses", "Houses_Damaged",
      "HousesDamaged"], "damage house"),
    (["Pérdidas $Local", "perdidas_local", "PERDIDAS LOCAL"], "local perdida"),
    (["Educación", "educacion", "EDUCACIÓN"], "educacion"),
    (["Hospital", "Hospitals", "hospitals"], "hospital"),
    (["Industries", "industry"], "industry"),
    (["Hôpitaux", "hopital"], "hopital"),
    (["Education centres", "education_centers", "Centres d'éducation",
      "education facilities"], "center education"),
    (["Total Deaths", "deaths", "Deaths", "total_deaths"], "death"),
    (["Dead People", "dead", "DEAD_PEOPLE"], "dead"),
    (["Level1 code", "Code level 1", "level_1_code", "CodeLevel1"], "1 code level"),
    (["Serial_No", "Serial", "\ufeffserial"], "serial"),
])
def test_normalisation(variants: list[str], key: str) -> None:
    assert {normalise(v).text for v in variants} == {key}


def test_count_words_mark_a_count() -> None:
    assert normalise("No. of schools") == headers.Key("school", counted=True)
    assert normalise("Number of deaths").counted and normalise("N° of deaths").counted
    assert not normalise("Serial_No").counted  # "No" marks a count only as the first word


@pytest.mark.parametrize(("label", "form"), [
    ("Dead People", "Dead_Peopl"), ("Losses $USD", "Losses__US"), ("Duration (d)", "Duration__"),
    ("Education centers", "Education"), ("Farming and Forest", "Farming_an"),
    ("Pérdidas $USD", "Perdidas__"), ("Year", "Year"),
])
def test_dbf_form(label: str, form: str) -> None:
    assert dbf_form(label) == form


# -- the shipped header list ----------------------------------------------------------------
def shipped_rows() -> list[dict[str, str]]:
    text = (Path(flat.__file__).parents[1] / "data" / flat.HEADERS_FILE).read_text("utf-8")
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


def test_every_listed_header_reads_as_its_field() -> None:
    for row in shipped_rows():
        if "dbf" in row["style"].split():  # a cut label: read so in a table of cut labels
            mapping = flat.map_header(["Dead_Peopl", row["header"]])
            assert mapping.layout == "dbf" and mapping.found[1].field == row["field"], row
            continue
        [column] = flat.map_header([row["header"]]).found
        assert (column.field, column.how, column.kind) == (row["field"], "exact",
                                                           row["kind"]), row


def test_sectors_are_flags_in_every_language() -> None:
    rows = shipped_rows()
    for row in rows:
        assert (row["kind"] == "flag") == (row["field"] in SECTORS), row
    for sector in SECTORS:
        styles = {s for r in rows if r["field"] == sector for s in r["style"].split()}
        assert {"english", "spanish", "french", "portuguese"} <= styles, sector
    listed = flat.header_list()
    assert {listed.kind(f) for f in SECTORS} == {"flag"}
    assert listed.kind("nescuelas") == "count" and listed.kind("muertos") == "count"


def test_dbf_forms_of_two_fields_are_not_used() -> None:
    listed = flat.header_list()
    assert listed.shared_cuts["damage"] == ("kmvias", "nhectareas")  # Damages_in: crops? roads?
    assert flat.map_header(["Year", "Event", "Damages_in"]).columns.get("kmvias") is None


def test_a_header_list_naming_one_header_twice_is_refused() -> None:
    text = ("# version: test\nheader,field,kind,style,note\n"
            "Deaths,muertos,count,english,\nDEATHS (total),heridos,count,english,\n")
    with pytest.raises(SourceFormatError) as caught:
        headers.HeaderList.from_csv(text, source="mine.csv", fields=("muertos", "heridos"))
    assert caught.value.key == "headers.bad_list" and caught.value.params["line"] == 4
    assert "Deaths" in caught.value.params["reason"]
    flag_as_count = "header,field,kind,style\nEducation,educacion,count,english\n"
    with pytest.raises(SourceFormatError, match="flag field"):
        headers.HeaderList.from_csv(flag_as_count, source="x.csv", fields=("educacion",),
                                    flags=("educacion",))


def test_the_dbf_workbook_header_reads_as_nepal_s() -> None:
    sheet = open_workbook(DATA / "desinventar_flat_dbf.xlsx").get_sheet_by_index(0)
    cells = [cell_text(v) for v in next(sheet.iter_rows())]
    mapping = flat.map_header(cells)
    assert mapping.layout == "dbf" and mapping.choices == []
    assert [c.how for c in mapping.found if c.how not in ("exact", "dbf")] == [""]  # ZONE
    got = {c.name: c.field for c in mapping.found}
    assert (got["Dead_Peopl"], got["Affected_H"], got["Affected_P"], got["Affected_R"]) == (
        "muertos", "vivafec", "afectados", "kmvias")
    assert (got["Education"], got["Medical_Ce"], got["Inserted_B"]) == (
        "nescuelas", "nhospitales", "fechapor")


# -- count columns and flag columns -----------------------------------------------------------
SNAKE_SECTORS = ["transport", "communications", "relief", "agriculture", "water_supply",
                 "sewerage", "education", "energy", "industry", "health", "other"]
CANONICAL_SECTORS = ["sector_transport", "sector_communications", "sector_relief",
                     "sector_agriculture", "sector_water_supply", "sector_sewerage",
                     "sector_education", "sector_power", "sector_industry", "sector_health",
                     "sector_other"]


@pytest.mark.parametrize("count_header", ["schools", "education_centres", "No. of schools",
                                          "schools_damaged", "damaged_education_facilities"])
def test_snake_case_sector_flags_beside_a_schools_count(atlas: Atlas, tmp_path: Path,
                                                         count_header: str) -> None:
    header = ["serial", "year", "event", "deaths", *SNAKE_SECTORS, count_header,
              "roads_damaged", "hospitals_damaged", "crop_hectares", "losses_local_currency"]
    path = write_table(tmp_path / "snake.csv", header,
                       [1, 2015, "FLOOD", 2, *[-1] * 11, 4, 120, 1, 35.5, 1000],
                       [2, 2016, "FIRE", 0, *[0] * 11, 0, 0, 0, 0, 0],
                       [3, 2017, "FLOOD", 1, -1, 0, -1, 0, "yes", "no", -1, 0, 0, 0, -1, 7,
                        5, 0, 2, 50])
    result = one(atlas, path)
    assert (result.records_read, result.records_imported, result.records_quarantined) == (
        3, 3, 0)
    assert issues(atlas) == []  # -1 is never "negative": it is a flag
    assert result.unmapped_columns == []
    first, second, third = records(atlas)
    assert [first[c] for c in CANONICAL_SECTORS] == [-1] * 11
    assert [second[c] for c in CANONICAL_SECTORS] == [0] * 11
    assert (third["sector_water_supply"], third["sector_sewerage"]) == (-1, 0)  # yes / no
    assert (third["sector_education"], third["sector_power"]) == (-1, 0)
    assert (first["schools"], second["schools"], third["schools"]) == (4, 0, 7)
    assert (first["roads_km"], first["hospitals"], first["crops_ha"], first["losses_local"]) == (
        120, 1, 35.5, 1000)


def test_an_unknown_count_label_leaves_the_flag_a_flag(atlas: Atlas, tmp_path: Path) -> None:
    """The issue's file: the schools count under a label nobody lists."""
    path = write_table(tmp_path / "export.csv",
                       ["serial", "year", "event", "education", "edu_buildings_hit"],
                       [1, 2015, "FLOOD", -1, 12], [2, 2016, "FLOOD", 0, 0])
    result = one(atlas, path)
    assert issues(atlas) == [] and result.unmapped_columns == ["edu_buildings_hit"]
    got = records(atlas)
    assert [(r["sector_education"], r["schools"]) for r in got] == [(-1, None), (0, None)]
    assert json.loads(got[0]["raw"])["edu_buildings_hit"] == "12"


def test_a_bare_education_column_is_the_sector_flag(atlas: Atlas, tmp_path: Path) -> None:
    """The documented rule: a bare sector name in a DesInventar export is the flag, even
    when no column holds the centres."""
    path = write_table(tmp_path / "only.csv", ["Serial", "Year", "Event", "Deaths", "Education"],
                       [1, 2015, "FLOOD", 2, -1], [2, 2016, "FLOOD", 1, 0],
                       [3, 2017, "FLOOD", 0, "Yes"])
    result = one(atlas, path)
    assert issues(atlas) == [] and result.unmapped_columns == []
    assert [(r["sector_education"], r["schools"]) for r in records(atlas)] == [
        (-1, None), (0, None), (-1, None)]


def test_education_in_a_table_of_dbf_labels_is_the_centres_count(atlas: Atlas,
                                                                 tmp_path: Path) -> None:
    path = write_table(tmp_path / "dbf.csv", ["Serial_No", "Year", "Event", "Dead_Peopl",
                                              "Education"],
                       [1, 2015, "FLOOD", 2, 3], [2, 2016, "FLOOD", 1, 0])
    one(atlas, path)
    assert [(r["schools"], r["sector_education"]) for r in records(atlas)] == [
        (3, None), (0, None)]


@pytest.mark.parametrize(("language", "header", "row"), [
    ("french", ["Année", "Mois", "Événement", "Lieu", "Morts", "Blessés", "Disparus",
                "Maisons détruites", "Maisons endommagées", "Pertes $ locales", "Écoles",
                "Hôpitaux", "Éducation", "Santé", "Autres secteurs"],
     [2015, 3, "INONDATION", "Bujumbura", 2, 5, 1, 10, 20, 3000, 4, 1, -1, 0, -1]),
    ("portuguese", ["Ano", "Mês", "Evento", "Local", "Mortos", "Feridos", "Desaparecidos",
                    "Casas destruídas", "Casas danificadas", "Perdas $Local", "Escolas",
                    "Hospitais", "Educação", "Saúde", "Outros sectores"],
     [2015, 3, "CHEIA", "Beira", 2, 5, 1, 10, 20, 3000, 4, 1, -1, 0, -1]),
])
def test_french_and_portuguese_labels(atlas: Atlas, tmp_path: Path, language: str,
                                      header: list[str], row: list[Any]) -> None:
    result = one(atlas, write_table(tmp_path / f"{language}.csv", header, row))
    assert result.unmapped_columns == [] and issues(atlas) == []
    assert [n["key"] for n in result.notes] == []
    [got] = records(atlas)
    assert (got["start_year"], got["start_month"], got["place"]) == (2015, 3, row[3])
    assert (got["deaths"], got["injured"], got["missing"]) == (2, 5, 1)
    assert (got["houses_destroyed"], got["houses_damaged"], got["losses_local"]) == (10, 20,
                                                                                     3000)
    assert (got["schools"], got["hospitals"]) == (4, 1)
    assert (got["sector_education"], got["sector_health"], got["sector_other"]) == (-1, 0, -1)


# -- fuzzy matches, repeated and blank headers ------------------------------------------------
def test_a_fuzzy_match_is_a_note_with_its_score(atlas: Atlas, tmp_path: Path) -> None:
    path = write_table(tmp_path / "typo.csv",
                       ["Serial", "Year", "Event", "Houses Destoyed", "Injuried", "Insured"],
                       [1, 2015, "FLOOD", 4, 2, 9])
    result = one(atlas, path)
    fuzzy = {n["column"]: n for n in notes_of(result, "flat.fuzzy_column")}
    assert fuzzy["Houses Destoyed"] == {
        "key": "flat.fuzzy_column", "path": "typo.csv", "column": "Houses Destoyed",
        "field": "vivdest", "label": "Houses Destroyed", "score": "0.97", "threshold": "0.88"}
    assert fuzzy["Injuried"]["field"] == "heridos"
    # "insured" vs "injured" scores 0.86, under the threshold: not read, listed
    assert "Insured" not in fuzzy and result.unmapped_columns == ["Insured"]
    [got] = records(atlas)
    assert (got["houses_destroyed"], got["injured"]) == (4, 2)
    assert headers.FUZZY_SCORE == 0.88


def test_a_column_close_to_a_field_already_read_is_not_guessed() -> None:
    mapping = flat.map_header(["Year", "Event", "Houses Destroyed", "Houses Destoyed"])
    assert mapping.columns["vivdest"] == 2 and mapping.found[3].field is None


def test_repeated_header_notes_both_columns(atlas: Atlas, tmp_path: Path) -> None:
    path = write_table(tmp_path / "twice.csv", ["Year", "Event", "deaths", "deaths"],
                       [2015, "FLOOD", 3, 4])
    result = one(atlas, path)
    assert notes_of(result, "flat.repeated_column") == [{
        "key": "flat.repeated_column", "path": "twice.csv", "field": "muertos",
        "used": "deaths", "ignored": "deaths (2)"}]
    assert result.unmapped_columns == ["deaths (2)"]
    [got] = records(atlas)
    assert got["deaths"] == 3 and json.loads(got["raw"])["deaths (2)"] == "4"


@pytest.mark.parametrize("order", ["blank first", "blank second"])
def test_a_blank_column_never_nulls_a_field(atlas: Atlas, tmp_path: Path, order: str) -> None:
    """"Total Deaths" and "deaths" both mean deaths: the one with values is read."""
    header = ["Year", "Event", "Total Deaths", "deaths"]
    rows = [[2015, "FLOOD", "", 3], [2016, "FLOOD", "", 5]]
    if order == "blank second":  # "deaths" first, the blank "Total Deaths" after it
        header = [*header[:2], header[3], header[2]]
        rows = [[*row[:2], row[3], row[2]] for row in rows]
    result = one(atlas, write_table(tmp_path / "totals.csv", header, *rows))
    assert [r["deaths"] for r in records(atlas)] == [3, 5]
    [note] = notes_of(result, "flat.repeated_column_blank")
    assert (note["used"], note["ignored"], note["field"], note["rows"]) == (
        "deaths", "Total Deaths", "muertos", 2)
    assert result.unmapped_columns == ["Total Deaths"]


def test_a_blank_header_is_noted_and_listed(atlas: Atlas, tmp_path: Path) -> None:
    path = write_table(tmp_path / "blank.csv", ["Year", "Event", "", "Deaths", ""],
                       [2015, "FLOOD", "12", 3, ""])
    result = one(atlas, path)
    assert notes_of(result, "flat.blank_header") == [
        {"key": "flat.blank_header", "path": "blank.csv", "column": "column_3"}]
    assert result.unmapped_columns == ["column_3"]  # column_5 is empty: no column at all
    [got] = records(atlas)
    assert got["deaths"] == 3 and json.loads(got["raw"])["column_3"] == "12"


def test_strict_chooses_nothing_by_column_order(atlas: Atlas, tmp_path: Path) -> None:
    path = write_table(tmp_path / "twice.csv", ["Year", "Event", "Deaths", "Dead"],
                       [2015, "FLOOD", 3, 4])
    with pytest.raises(SourceFormatError) as caught:
        one(atlas, path, strict=True)
    assert caught.value.key == "headers.ambiguous"
    assert "'Deaths', 'Dead'" in caught.value.render("en")
    assert "--column" in caught.value.render("en") and "--column" in caught.value.render("zh-TW")
    assert atlas.store.query("SELECT count(*) FROM datasets") == [(0,)]
    result = one(atlas, path, strict=True, columns={"deaths": "Dead"})
    assert records(atlas)[0]["deaths"] == 4 and notes_of(result, "flat.column_chosen")


def test_overrides(atlas: Atlas, tmp_path: Path) -> None:
    path = write_table(tmp_path / "o.csv", ["Year", "Event", "deaths", "Dead2", "muertes"],
                       [2015, "FLOOD", 3, 4, 5])
    result = one(atlas, path, columns={"deaths": "Dead2", "injured": "muertes"})
    [got] = records(atlas)
    assert (got["deaths"], got["injured"]) == (4, 5)
    assert notes_of(result, "flat.column_chosen") == [{
        "key": "flat.column_chosen", "path": "o.csv", "field": "muertos", "used": "Dead2",
        "ignored": "deaths"}]
    assert result.unmapped_columns == ["deaths"]
    mapping = flat.map_header(["Year", "Event", "deaths"], overrides={"MUERTOS": ""})
    assert "muertos" not in mapping.columns and mapping.choices[0].reason == "override"
    for overrides, key in (({"nosuch": "deaths"}, "headers.unknown_field"),
                           ({"deaths": "Nope"}, "headers.unknown_column"),
                           ({"deaths": "Year", "injured": "Year"}, "headers.column_twice")):
        with pytest.raises(SourceFormatError) as caught:
            flat.map_header(["Year", "Event", "deaths"], overrides=overrides, path="o.csv")
        assert caught.value.key == key
    with pytest.raises(SourceFormatError) as caught:
        headers.parse_overrides(["deaths"])
    assert caught.value.key == "headers.bad_override"


# -- the command line -------------------------------------------------------------------------
def cli(*args: str, lang: str = "en", code: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "riskatlas", "--lang", lang, *args],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == code, done.stderr
    return done


@pytest.fixture
def dead2(tmp_path: Path) -> Path:
    return write_table(tmp_path / "dead2.csv",
                       ["serial", "year", "event", "deaths", "Dead2", "education", "zone"],
                       [1, 2015, "FLOOD", 3, 30, -1, "Z1"], [2, 2016, "FIRE", 1, 10, 0, "Z2"])


def test_cli_json_lists_unmapped_columns_and_column_overrides(tmp_path: Path,
                                                              dead2: Path) -> None:
    db = tmp_path / "s.duckdb"
    [line] = cli("import", str(dead2), "--country", "DMO", "--json", "--column",
                 "deaths=Dead2", "--db", str(db)).stdout.splitlines()
    result = json.loads(line)
    assert result["unmapped_columns"] == ["deaths", "zone"]
    assert {"key": "flat.column_chosen", "path": "dead2.csv", "field": "muertos",
            "used": "Dead2", "ignored": "deaths"} in result["notes"]
    with riskatlas.open(db) as atlas:
        assert [(r["deaths"], r["sector_education"]) for r in records(atlas)] == [
            (30, -1), (10, 0)]


def test_cli_column_errors_are_one_line(tmp_path: Path, dead2: Path) -> None:
    db = tmp_path / "s.duckdb"
    done = cli("import", str(dead2), "--country", "DMO", "--column", "deaths=Nope",
               "--db", str(db), code=1)
    assert "--column deaths=Nope" in done.stderr and "Dead2" in done.stderr
    done = cli("import", str(dead2), "--column", "deaths", "--db", str(db), code=1)
    assert "FIELD=COLUMN" in done.stderr
    with riskatlas.open(db) as atlas:
        assert atlas.store.query("SELECT count(*) FROM records") == [(0,)]


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_cli_inspect_prints_the_mapping_and_writes_nothing(tmp_path: Path, dead2: Path,
                                                           lang: str) -> None:
    db = tmp_path / "absent.duckdb"
    out = cli("import", "--inspect", str(dead2), "--db", str(db), lang=lang).stdout
    assert not db.exists()
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    assert "muertos (deaths)" in lines["deaths"] and "3 | 1" in lines["deaths"]
    assert "educacion (sector_education)" in lines["education"]
    assert "-1 | 0" in lines["education"] and "Z1 | Z2" in lines["zone"]
    if lang == "en":
        assert "known header" in lines["deaths"] and "flag (-1 yes, 0 no)" in out
        assert "Read as no field (kept in the raw rows): Dead2, zone" in out
        assert "Nothing was written" in out
    else:
        assert "已知標題" in lines["deaths"] and "旗標（-1 是，0 否）" in out
        assert "未讀作任何欄位（保留在原始資料列中）：Dead2, zone" in out
        assert "未寫入任何資料" in out
    chosen = cli("import", "--inspect", str(dead2), "--column", "deaths=Dead2", "--json",
                 "--db", str(db), lang=lang).stdout
    report = json.loads(chosen)
    rows = {c["column"]: c for c in report["columns"]}
    assert (rows["Dead2"]["field"], rows["Dead2"]["how"], rows["Dead2"]["samples"]) == (
        "muertos", "override", ["30", "10"])
    assert rows["deaths"]["field"] is None and report["unmapped_columns"] == ["deaths", "zone"]
    assert report["header_row"] == 1 and report["layout"] == "labels"
    assert not db.exists()


def test_cli_inspect_leaves_a_store_unchanged(tmp_path: Path, dead2: Path) -> None:
    db = tmp_path / "s.duckdb"
    cli("import", str(dead2), "--country", "DMO", "--db", str(db))
    before = (db.read_bytes(), db.stat().st_mtime_ns)
    other = write_table(tmp_path / "other.csv", ["Year", "Event", "Deaths"], [2020, "FIRE", 1])
    cli("import", "--inspect", str(other), str(dead2), "--db", str(db))
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before
