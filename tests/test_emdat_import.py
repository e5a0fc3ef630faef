"""EM-DAT tables through the whole import: detection, reconciliation, set-aside rows."""

from __future__ import annotations

from conftest import TEST_DATA


def test_all_three_layouts_import_and_reconcile(atlas):
    paths = [TEST_DATA / n for n in ("emdat_2023.xlsx", "emdat_2023.csv", "emdat_legacy.csv")]
    results = atlas.import_paths(paths)
    assert [r.format for r in results] == ["emdat"] * 3
    assert [r.records_read for r in results] == [12, 8, 9]
    for r in results:
        assert r.records_read == r.records_imported + r.records_quarantined
        assert r.unmapped_hazards == []
    assert atlas.quarantine().empty  # a bad value costs its field, not the record
    [bad] = atlas.quality_issues().itertuples()
    assert (bad.source_file, bad.source_field, bad.field) == (
        "emdat_2023.csv", "Total Deaths", "deaths")
    assert "'n/a' is not a number" in bad.message_en and bad.raw_value == "n/a"
    q = atlas.store.query
    assert q("SELECT count(*) FROM records WHERE missing IS NOT NULL") == [(0,)]  # in deaths
    # damage is stored in US dollars, not thousands
    [(usd,)] = q("SELECT max(losses_usd) FROM records")
    assert usd >= 1000
    assert q("SELECT count(DISTINCT hazard_group) FROM records")[0][0] >= 5
    again = atlas.import_paths(paths)
    assert {r.status for r in again} == {"unchanged"}


def test_column_option_reads_a_field_from_another_column(atlas):
    """--column FIELD=COLUMN for an EM-DAT table: the column's value as it is."""
    from riskatlas.sources.registry import ReadOptions

    path = TEST_DATA / "emdat_2023.csv"
    [result] = atlas.import_paths([path], options=ReadOptions(
        columns={"injured": "No. Homeless", "deaths": ""}))
    assert result.records_read == result.records_imported == 8
    q = atlas.store.query
    assert q("SELECT count(deaths) FROM records") == [(0,)]
    assert q("SELECT count(*) FROM records WHERE injured IS DISTINCT FROM homeless") == [(0,)]
    assert q("SELECT count(injured) FROM records")[0][0] > 0
