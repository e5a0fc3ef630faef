"""Field-level data quality: a bad value costs its field, never the record (issue rows name
the record, the field, the raw value and the rule); ``--strict`` keeps whole-record
rejection; mapping files choose what a fractional count costs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import riskatlas
from riskatlas.errors import RecordError
from riskatlas.model.hazards import load_crosswalk
from riskatlas.model.quality import ISSUES_KEY, QualityPolicy
from riskatlas.sources.convert import RecordBuilder
from riskatlas.sources.registry import ReadOptions

BASE = {"native_key": "k1", "start_year": "2010", "start_month": "6", "start_day": "1",
        "hazard_term": "FLOOD", "deaths": "1"}


def build(policy: QualityPolicy | None = None, **values: object) -> dict[str, object]:
    builder = RecordBuilder(source_key="T", source_file="t.csv", crosswalk=load_crosswalk(),
                            field_names={"deaths": "Dead"}, policy=policy)
    return builder.build({**BASE, **values}, row=7, record_ref="row 7", raw={"x": "y"})


def issues(record: dict[str, object]) -> list[tuple[str, str, str | None, str]]:
    return [(i.field, i.rule, i.raw_value, i.action) for i in record.get(ISSUES_KEY, [])]


@pytest.mark.parametrize(("raw", "stored"), [("0.5", 0), ("1.5", 2), ("2.5", 2), ("0.0328", 0),
                                              ("3.7", 4)])
def test_a_fractional_count_is_rounded_half_to_even_and_flagged(raw, stored):
    record = build(deaths=raw)
    assert record["deaths"] == stored
    [(field, rule, value, action)] = issues(record)
    assert (field, rule, value, action) == ("deaths", "record.rounded", raw, "rounded")


def test_fractional_policy_blank_and_reject_record():
    assert build(QualityPolicy(fractional="blank"), deaths="0.4")["deaths"] is None
    with pytest.raises(RecordError) as caught:
        build(QualityPolicy(fractional="reject-record"), deaths="0.4")
    assert (caught.value.field, caught.value.key) == ("Dead", "record.not_integer")


@pytest.mark.parametrize("raw", ["12345678901234567890123", "1e23", "1e300", 10**30, 1e300])
def test_huge_counts_cost_their_field(raw):
    record = build(deaths=raw, injured="2")
    assert record["deaths"] is None and record["injured"] == 2
    assert issues(record) == [("deaths", "record.too_large", str(raw), "blanked")]


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "abc", "1,2,3"])
def test_non_numbers_cost_their_field(raw):
    record = build(deaths=raw)
    assert record["deaths"] is None
    assert issues(record) == [("deaths", "record.not_a_number", raw, "blanked")]


def test_an_out_of_range_coordinate_blanks_the_position():
    """Half a position locates nothing: the other coordinate is blanked too, and says why."""
    record = build(latitude="95", longitude="80")
    assert (record["latitude"], record["longitude"]) == (None, None)
    assert issues(record) == [("latitude", "record.out_of_range", "95", "blanked"),
                              ("longitude", "record.needs_field", "80", "blanked")]
    [_, needs] = record[ISSUES_KEY]
    assert needs.params["other"] == "latitude"


NEEDS = "record.needs_field"  # a part of the date dropped with the part it depends on


@pytest.mark.parametrize(("year", "month", "day", "kept", "rules"), [
    ("2010", "2", "31", ("month", 2010, 2, None), ["record.impossible_date"]),
    ("2010", "13", "1", ("year", 2010, None, None), ["record.month_out_of_range", NEEDS]),
    ("2010", "6", "32", ("month", 2010, 6, None), ["record.day_out_of_range"]),
    ("2010", "0", "15", ("year", 2010, None, None), [NEEDS]),
    ("2010", "0", "0", ("year", 2010, None, None), []),
    ("201", "6", "1", ("unknown", None, None, None), ["record.year_out_of_range", NEEDS, NEEDS]),
    ("", "6", "1", ("unknown", None, None, None), ["record.no_year", NEEDS, NEEDS]),
    ("", "0", "0", ("unknown", None, None, None), ["record.no_year"]),
    ("MMX", "6", "1", ("unknown", None, None, None), ["record.not_a_number", NEEDS, NEEDS]),
])
def test_dates_keep_the_precision_the_data_allows(year, month, day, kept, rules):
    """A part of the date that cannot stand without another (a month without a year, a
    day without a month) is not kept either, and has its own issue; 0 is DesInventar's
    "unknown", not a value."""
    record = build(start_year=year, start_month=month, start_day=day)
    got = (record["date_precision"], record["start_year"], record["start_month"],
           record["start_day"])
    assert got == kept
    assert [i[1] for i in issues(record)] == rules
    assert record["start_date"] is None if kept[1] is None else record["start_date"]


def test_no_hazard_becomes_unspecified_for_review():
    record = build(hazard_term="  ")
    assert (record["hazard_term"], record["hazard_group"]) == ("unspecified", None)
    assert issues(record) == [("hazard_term", "record.no_hazard", None, "unspecified")]


@pytest.mark.parametrize(("raw", "stored"), [("-1", -1), ("1", 1), ("0", 0), ("Yes", -1),
                                              ("sí", -1), ("TRUE", -1), ("no", 0), ("", None)])
def test_sector_flags_in_any_encoding(raw, stored):
    record = build(sector_education=raw)
    assert record["sector_education"] == stored and issues(record) == []


def test_strict_raises_on_the_first_bad_value():
    with pytest.raises(RecordError) as caught:
        build(QualityPolicy(strict=True), deaths="-3")
    assert (caught.value.field, caught.value.key) == ("Dead", "record.negative")


# -- through the importer, the store and the CLI ---------------------------------------
TABLE = ("event_no;year;hazard;dead;houses_lost\n"
         "E1;2015;Flood;0.0328;4\n"
         "E2;2016;Flood;2;3\n"
         "E3;2017;;1;1\n"
         "E4;;Flood;5;0\n")
MAPPING = """version: 1
source: SYN-Q
name: Synthetic quality table
country: NPL
key: [event_no]
columns: {{year: start_year, hazard: hazard_term, dead: deaths, houses_lost: houses_destroyed}}
{extra}"""


def _table(tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    table, mapping = tmp_path / "q.csv", tmp_path / "q.yaml"
    table.write_text(TABLE, encoding="utf-8")
    mapping.write_text(MAPPING.format(extra=extra), encoding="utf-8")
    return table, mapping


def _import(tmp_path: Path, extra: str = "", **options: object):
    table, mapping = _table(tmp_path, extra)
    atlas = riskatlas.open(tmp_path / "s.duckdb")
    [result] = atlas.import_paths([table], options=ReadOptions(mapping=mapping, **options))
    return atlas, result


def test_every_row_kept_with_its_whole_number_fields(tmp_path):
    atlas, result = _import(tmp_path)
    with atlas:
        assert (result.records_read, result.records_imported, result.records_quarantined,
                result.fields_flagged) == (4, 4, 0, 3)
        got = dict(atlas.store.query("SELECT native_key, deaths FROM records"))
        assert got == {"E1": 0, "E2": 2, "E3": 1, "E4": 5}
        assert atlas.store.query("SELECT sum(houses_destroyed) FROM records") == [(8,)]
        summary = atlas.quality_summary()
        assert {(r.rule, r.field, r.records) for r in summary.itertuples()} == {
            ("record.rounded", "deaths", 1), ("record.no_hazard", "hazard_term", 1),
            ("record.no_year", "start_year", 1)}
        [rounded] = summary[summary.rule == "record.rounded"].itertuples()
        assert rounded.examples == ["0.0328"] and rounded.source_field == "dead"
        # analyses leave the undated card out, and say so
        profile = atlas.profile(metrics=["deaths"], country="NPL")
        assert (profile["value"].sum(), profile["records"].sum()) == (3, 3)
        assert "analysis.undated_left_out" in profile.attrs["notes"]
        assert "unspecified" in set(atlas.hazard_terms(unmapped=True)["term"])


def test_mapping_file_sets_the_fractional_rule(tmp_path):
    atlas, result = _import(tmp_path, "fractional: reject-record\n")
    with atlas:
        assert (result.records_imported, result.records_quarantined) == (3, 1)
        [row] = atlas.quarantine().itertuples()
        assert (row.field, row.reason_key) == ("dead", "record.not_integer")


def test_strict_import_sets_records_aside(tmp_path):
    atlas, result = _import(tmp_path, strict=True)
    with atlas:
        assert (result.records_imported, result.records_quarantined) == (1, 3)
        assert atlas.quality_issues().empty


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_quality_command_summarises_by_rule_and_field(tmp_path, lang):
    table, mapping = _table(tmp_path)
    db = str(tmp_path / "s.duckdb")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "riskatlas", "--lang", lang, *args,
                               "--db", db], capture_output=True, text=True, timeout=120,
                              env={"COLUMNS": "160", "PATH": ""})

    done = cli("import", str(table), "--mapping", str(mapping))
    assert done.returncode == 0, done.stderr
    assert "quality --dataset 1" in done.stdout
    table_out = cli("quality")
    assert table_out.returncode == 0, table_out.stderr
    assert "dead" in table_out.stdout and "0.0328" in table_out.stdout
    assert ("rounded" if lang == "en" else "四捨五入") in table_out.stdout
    rows = json.loads(cli("quality", "--format", "json", "--dataset", "1").stdout)
    assert {r["rule"] for r in rows} == {"record.rounded", "record.no_hazard", "record.no_year"}
    empty = cli("quality", "--dataset", "2")
    assert empty.returncode == 0 and empty.stdout.strip()


def test_issues_are_staged_in_parts_not_held_in_memory(tmp_path, monkeypatch):
    from riskatlas.store import batch

    monkeypatch.setattr(batch, "_FLUSH_ROWS", 2)  # a part every two issues (and records)
    atlas, result = _import(tmp_path)
    with atlas:
        assert result.fields_flagged == 3
        assert len(atlas.quality_issues()) == 3
        assert set(atlas.quality_issues()["message_zh"]) and atlas.quarantine().empty
