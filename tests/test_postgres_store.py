"""The store on PostgreSQL (issue 16, item 1): the same imports with the same
reconciliation, the same analyses, versioned migrations, a killed import that leaves the
database as it was. The server is the tests' own (conftest ``postgres_server``)."""

from __future__ import annotations

import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import riskatlas
from conftest import shared
from riskatlas.sources.registry import ReadOptions
from test_analysis_spark import same_rows

pytestmark = [pytest.mark.shared_data]

GRENADA = "desinventar/grd/DI_export_grd.zip"
# every table an import writes, compared row for row (ordered by all their columns)
IMPORT_TABLES = ("datasets", "dataset_files", "records", "record_extensions", "quarantine",
                 "quality_issues", "admin_units", "admin_levels", "hazard_terms",
                 "source_tables")
# columns that differ by nature between two imports (the time of the import)
_VOLATILE = {"datasets": ("imported_at",)}


def rows_of(atlas: Any, table: str) -> list[tuple[Any, ...]]:
    """A table's rows, in a backend-neutral order and form (the order of
    ``information_schema``'s columns differs for tables altered later)."""
    frame = atlas.store.table(table).to_pandas()
    columns = sorted(c for c in frame.columns if c not in _VOLATILE.get(table, ()))
    frame = frame[columns].astype(object).where(frame[columns].notna(), None)
    return sorted((tuple(_plain(v) for v in row) for row in frame.itertuples(index=False)),
                  key=repr)


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def imported(db: str | Path, relative: str, country: str | None = None) -> Any:
    with riskatlas.open(db) as atlas:
        return atlas.import_paths([shared(relative)], options=ReadOptions(country=country))


def test_grenada_imports_the_same_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    duck = tmp_path / "g.duckdb"
    results = {db: imported(db, GRENADA) for db in (duck, pg_url)}
    [on_duck], [on_pg] = results[duck], results[pg_url]
    assert on_pg.status == "imported" and on_pg.records_imported == 162
    assert on_pg.fields_read == on_pg.fields_accepted + on_pg.fields_flagged
    for field in ("records_read", "records_imported", "records_quarantined", "fields_read",
                  "fields_accepted", "fields_flagged", "unmapped_hazards", "notes"):
        assert getattr(on_pg, field) == getattr(on_duck, field), field
    with riskatlas.open(duck, read_only=True) as a, riskatlas.open(pg_url) as b:
        for table in IMPORT_TABLES:
            assert rows_of(a, table) == rows_of(b, table), table
        # the same file again: recognised by its hash, nothing imported twice
        [again] = b.import_paths([shared(GRENADA)])
        assert again.status != "imported" and b.count_records() == 162


def _numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns of numbers as floats (DuckDB's sums of integers arrive as Decimal)."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object and frame[column].map(
                lambda v: v is None or isinstance(v, (int, float, Decimal))).all():
            frame[column] = frame[column].astype("float64")
        elif frame[column].map(lambda v: isinstance(v, (dict, list, np.ndarray))).any():
            frame[column] = frame[column].map(_flat)
    return frame


def _flat(value: Any) -> str:
    """A mapping or a list as text, in a stable order (aggregated lists have none)."""
    if isinstance(value, dict):
        return repr(sorted((str(k), _flat(v)) for k, v in value.items()))
    if isinstance(value, (list, np.ndarray)):
        return repr(sorted(_flat(v) for v in value))
    return repr(value)


# one source of each importer (riskatlas.readers), with its options; two imports in a row,
# the second repeating keys of the first (what "already in the store" sets aside)
SOURCES = {
    "desinventar-flat": (["desinventar_flat_en.csv", "desinventar_flat_es.csv"],
                         {"country": "DMO"}),
    "desinventar8": (["shared:desinventar8/bol-gran-chaco/seed.tar.gz"], {}),
    "emdat": (["emdat_2023.xlsx", "emdat_2023.csv", "emdat_legacy.csv"], {}),
    "mapped": (["mapped_example.csv"], {"mapping": "mapped_example.yaml"}),
}


@pytest.mark.parametrize("reader", sorted(SOURCES))
def test_every_importer_reconciles_the_same_on_postgresql(reader: str, tmp_path: Path,
                                                          pg_url: str) -> None:
    """Each importer's results (read = imported + set aside, fields read = accepted +
    flagged) and every table it writes are the same on both backends."""
    from conftest import TEST_DATA
    from riskatlas.sources.registry import readers

    readers()
    names, raw = SOURCES[reader]
    paths = [shared(n[7:]) if n.startswith("shared:") else TEST_DATA / n for n in names]
    options = ReadOptions(**{k: TEST_DATA / v if k == "mapping" else v
                             for k, v in raw.items()})
    duck = tmp_path / "i.duckdb"
    got = {}
    for db in (duck, pg_url):
        with riskatlas.open(db) as atlas:
            got[db] = [atlas.import_paths([p], options=options) for p in paths]
    assert got[duck] == got[pg_url] and any(
        r.records_imported for results in got[pg_url] for r in results)
    for results in got[pg_url]:
        for r in results:
            assert r.records_read == r.records_imported + r.records_quarantined
            assert r.fields_read == r.fields_accepted + r.fields_flagged
    with riskatlas.open(duck, read_only=True) as a, riskatlas.open(pg_url) as b:
        for table in IMPORT_TABLES:
            assert rows_of(a, table) == rows_of(b, table), table
        again = b.import_paths(paths, options=options)
        assert {r.status for r in again} == {"unchanged"}


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal frames, rows in any order (sorted by every column that is not a float)."""
    assert list(a.columns) == list(b.columns)
    a, b = _numbers(a), _numbers(b)
    same_rows(a, b, [c for c in a.columns if not pd.api.types.is_float_dtype(a[c])])


ANALYSES = {
    "profile": lambda a, level: a.profile(["records", "events", "deaths", "houses_destroyed"],
                                          level=level),
    "sendai": lambda a, level: a.sendai(level=0),
    "screen": lambda a, level: a.screen(level=level, all_hazards=True),
    "risk": lambda a, level: a.risk(level=0),
    "events": lambda a, level: a.events(),
}


@pytest.fixture(scope="session")
def nepal_pg(postgres_server: Any) -> str:
    """The Nepal xlsx parts imported into PostgreSQL once per session."""
    url = str(postgres_server.database("nepal"))
    imported(url, "desinventar/npl-xlsx", country="NPL")
    return url


@pytest.mark.slow
@pytest.mark.parametrize("country", ["grenada", "nepal"])
def test_the_analyses_agree_between_duckdb_and_postgresql(
        country: str, request: pytest.FixtureRequest) -> None:
    if country == "grenada":
        duck, pg, level = request.getfixturevalue("grenada_db"), None, 0
        pg = request.getfixturevalue("pg_url")
        imported(pg, GRENADA)
    else:
        duck, pg, level = request.getfixturevalue("nepal_db"), None, 1
        pg = request.getfixturevalue("nepal_pg")
    with riskatlas.open(duck, read_only=True) as a, riskatlas.open(pg, read_only=True) as b:
        assert a.count_records() == b.count_records()
        for name, run in ANALYSES.items():
            left, right = run(a, level), run(b, level)
            _same(left, right)
            assert left.attrs["methods_digest"] == right.attrs["methods_digest"], name


@pytest.mark.slow
def test_sigkill_midway_leaves_postgresql_unchanged_and_usable(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_bad_input import _big_export, kill_once_staged

    imported(pg_url, GRENADA)
    big = _big_export(tmp_path, 60)
    staging = tmp_path / "tmp"
    staging.mkdir()
    kill_once_staged(["import", str(big), "--db", pg_url, "--json"], staging,
                     "riskatlas-pg-import-*/**/*.parquet",
                     env={**os.environ, "TMPDIR": str(staging)})
    assert list(staging.glob("riskatlas-pg-import-*")), "the killed import left its scratch"
    monkeypatch.setattr(tempfile, "tempdir", str(staging))
    with riskatlas.open(pg_url) as atlas:
        assert not list(staging.glob("riskatlas-pg-import-*"))  # its process is gone
        assert atlas.count_records() == 162 and len(atlas.datasets()) == 1
        [result] = atlas.import_paths([big])
        assert (result.records_imported, result.records_quarantined) == (162 * 60, 0)
        assert atlas.count_records() == 162 * 61


def test_a_failed_commit_leaves_postgresql_as_it_was(pg_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while the rows move into PostgreSQL (after the scratch commit) rolls the
    whole dataset back: no records, no dataset row, the same ids free for the next try."""
    from riskatlas.store import postgres

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(postgres, "move_dataset", broken)
    with riskatlas.open(pg_url) as atlas, pytest.raises(RuntimeError, match="disk full"):
        atlas.import_paths([shared(GRENADA)])
    monkeypatch.undo()
    with riskatlas.open(pg_url) as atlas:
        assert atlas.count_records() == 0 and not len(atlas.datasets())
        [result] = atlas.import_paths([shared(GRENADA)])
        assert result.records_imported == 162


def test_migrations_are_recorded_on_both_backends(tmp_path: Path, pg_url: str) -> None:
    from riskatlas.store.ddl import MIGRATIONS, SCHEMA_VERSION, applied_migrations

    assert MIGRATIONS[-1][0] == SCHEMA_VERSION
    for db in (tmp_path / "m.duckdb", pg_url):
        with riskatlas.open(db) as atlas:
            done = applied_migrations(atlas.store.connection)
            assert [v for v, _name, _at in done] == [v for v, _ in MIGRATIONS]


def test_db_upgrade_brings_an_older_store_up_on_both_backends(new_db: Path | str) -> None:
    """A store of schema 7 (before migrations were recorded: a meta row only, no
    user_countries): ``riskatlas db upgrade`` applies 8 alone and records 1–7 undated;
    run again, it has nothing to do."""
    from riskatlas.store.ddl import SCHEMA_VERSION, applied_migrations, stored_version
    from test_cli import run_cli

    with riskatlas.open(new_db) as atlas:
        with atlas.store.transaction() as con:
            for table in ("schema_migrations", "user_countries"):
                con.execute(f"DROP TABLE {table}")
            con.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
        assert stored_version(atlas.store.connection) == 7
    done = run_cli("db", "upgrade", "--db", str(new_db))
    assert done.code == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert "Applied migration 8: user_countries" in out and "migration 7" not in out
    assert f"schema version {SCHEMA_VERSION} (1 migrations applied now)" in out
    with riskatlas.open(new_db, read_only=True) as atlas:
        recorded = applied_migrations(atlas.store.connection)
        assert [(v, at is None) for v, _n, at in recorded] == [
            (v, v < 8) for v in range(1, SCHEMA_VERSION + 1)]
        assert "user_countries" in atlas.store.tables()
    again = run_cli("db", "upgrade", "--db", str(new_db))
    assert "nothing to apply" in again.stdout
