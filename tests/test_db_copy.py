"""``riskatlas db copy`` (issue 16, item 1): a whole store between DuckDB and PostgreSQL,
losing nothing. A round trip DuckDB → PostgreSQL → DuckDB gives back every table row for
row (compared here by DuckDB itself, not by the copy's own digests) and every sequence's
next value, on the real Grenada store and on a store with users, countries, tokens,
sessions, cards, audit rows, links, place matches and population. A target holding data
is refused unless --overwrite; a copy that fails, does not reconcile or is killed leaves
the target as it was. The PostgreSQL server is the tests' own (conftest
``postgres_server``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

import riskatlas
from conftest import TEST_DATA, shared
from riskatlas.errors import StoreError
from riskatlas.store import transfer
from riskatlas.store.transfer import copy_store, row_digest, schema_sequences, schema_tables
from test_cli import run_cli

GRENADA = "desinventar/grd/DI_export_grd.zip"
EVERY_TABLE = {"records", "record_extensions", "datasets", "dataset_files", "quarantine",
               "quality_issues", "source_tables", "admin_units", "admin_levels",
               "hazard_terms", "population", "users", "api_tokens", "sessions",
               "card_authors", "audit_log", "links", "link_members", "place_matches",
               "user_countries", "meta", "schema_migrations"}


@pytest.fixture(scope="module")
def grenada(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from riskatlas.sources.registry import ReadOptions

    db = tmp_path_factory.mktemp("grenada") / "grenada.duckdb"
    with riskatlas.open(db) as atlas:
        atlas.import_paths([shared(GRENADA)], options=ReadOptions())
    return db


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store every table of which holds rows: invented Sri Lanka cards and EM-DAT rows
    with their links and place matches, users with countries, a token and a session,
    cards created, submitted and published (authors, audit rows), population, and text
    that CSV must carry (quotes, separators, new lines, an empty text beside a NULL)."""
    from riskatlas.services import accounts, cards
    from riskatlas.sources.registry import ReadOptions
    from test_links_review import _cards, small_store

    folder = tmp_path_factory.mktemp("busy")
    db = small_store(folder)
    (folder / "population.csv").write_text(
        "country_iso3,level,admin_code,year,population,households,source\n"
        "LKA,0,01,2001,19000000.5,5000000,census\nLKA,0,01,2002,1.0e-7,,\n",
        encoding="utf-8")

    class Actor:
        def __init__(self, name: str, role: str) -> None:
            self.name, self.role, self.anonymous = name, role, False

        @property
        def staff(self) -> bool:
            return self.role in cards.CREATORS

    invalid = TEST_DATA / "desinventar_flat_invalid.csv"
    strict = folder / "invalid_strict.csv"  # another file (hash): set aside, not flagged
    strict.write_text(invalid.read_text(encoding="utf-8") + "V9,2015,1,1,FLOOD,x,1,1\n",
                      encoding="utf-8")
    with riskatlas.open(db) as atlas:
        atlas.link("EMDAT", _cards(atlas))
        atlas.import_population(folder / "population.csv")
        atlas.import_paths([shared(GRENADA)], options=ReadOptions())
        atlas.import_paths([invalid], options=ReadOptions(country="DMO"))
        atlas.import_paths([strict], options=ReadOptions(country="DMO", strict=True))
        store = atlas.store
        accounts.add_user(store, "ana", "collector", "correct horse battery", by="cli",
                          countries="LKA")
        accounts.add_user(store, "vera", "validator", None, by="cli", countries="LKA,NPL")
        accounts.add_token(store, "ana", by="cli")
        accounts.new_session(store, "vera")
        ana, vera = Actor("ana", "collector"), Actor("vera", "validator")
        made = cards.create(store, ana, {
            "country_iso3": "LKA", "level0_code": "01", "start_year": 2002,
            "start_month": 5, "start_day": 17, "hazard_term": "FLOOD", "deaths": 40,
            "comments": 'a "quoted", semi;colon\nand a second line'})
        cards.create(store, ana, {"country_iso3": "LKA", "level0_code": "01",
                                  "start_year": 2004, "hazard_term": "FLOOD",
                                  "comments": ""})
        cards.transition(store, ana, made["record_id"], "submitted")
        cards.transition(store, vera, made["record_id"], "validated")
        cards.transition(store, vera, made["record_id"], "published")
        counts = {t: atlas.store.scalar(f"SELECT count(*) FROM {t}") for t in EVERY_TABLE}
    assert all(counts.values()), {t: n for t, n in counts.items() if not n}
    return db


def same_stores(a: Path, b: Path) -> dict[str, int]:
    """Assert two DuckDB stores hold the same rows in every table (as multisets, columns
    by name) and the same next value in every sequence; returns the rows per table."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
    counts = {}
    for table in schema_tables():
        columns = sorted(str(r[0]) for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'a' "
            "AND table_name = ?", [table]).fetchall())
        names = ", ".join(f'"{c}"' for c in columns)
        for x, y in (("a", "b"), ("b", "a")):
            extra = con.execute(f"SELECT count(*) FROM (SELECT {names} FROM {x}.{table} "
                                f"EXCEPT ALL SELECT {names} FROM {y}.{table})").fetchone()
            assert extra == (0,), (table, x, y)
        counts[table] = con.execute(f"SELECT count(*) FROM a.{table}").fetchone()[0]
        assert counts[table] == con.execute(f"SELECT count(*) FROM b.{table}").fetchone()[0]
    sequences = {db: con.execute(
        "SELECT sequence_name, last_value, start_value FROM duckdb_sequences() "
        "WHERE database_name = ? ORDER BY 1", [db]).fetchall() for db in ("a", "b")}
    assert [transfer_next(r) for r in sequences["a"]] == [transfer_next(r) for r in
                                                          sequences["b"]]
    con.close()
    return counts


def transfer_next(row: tuple[Any, ...]) -> tuple[str, int]:
    name, last, start = row
    return name, int(start) if last is None else int(last) + 1


def pg_tables(url: str) -> set[str]:
    with psycopg.connect(url) as con:
        return {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public'").fetchall()}


def pg_count(url: str, table: str) -> int:
    with psycopg.connect(url) as con:
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0


pytestmark = [pytest.mark.shared_data]


def test_the_tables_come_from_the_schema() -> None:
    assert set(schema_tables()) == EVERY_TABLE
    assert set(schema_sequences()) == {"dataset_seq", "audit_seq", "link_seq", "place_seq"}


def test_the_digest_ignores_order_and_sees_every_change() -> None:
    rows = [("a", 1, None), ("b", 2.5, True), ("b", 2.5, True)]
    assert row_digest(iter(rows)) == row_digest(iter(reversed(rows)))
    assert row_digest(iter(rows))[0] == 3
    for changed in (rows[:2], [*rows[:2], ("b", 2.5, False)], [("a", 1, ""), *rows[1:]],
                    [("a", 1.0000000000000002, None), *rows[1:]]):
        assert row_digest(iter(changed)) != row_digest(iter(rows))


@pytest.mark.parametrize("which", ["grenada", "busy"])
def test_round_trip_duckdb_postgresql_duckdb_is_identical(
        which: str, request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> None:
    source = request.getfixturevalue(which)
    back = tmp_path / "back.duckdb"
    there = copy_store(source, pg_url)
    again = copy_store(pg_url, back)
    assert [t.table for t in there.tables] == list(schema_tables())
    assert [(t.table, t.rows, t.digest) for t in there.tables] == \
        [(t.table, t.rows, t.digest) for t in again.tables]
    assert there.sequences == again.sequences
    counts = same_stores(source, back)
    assert counts == {t.table: t.rows for t in there.tables}
    assert counts["records"] == 162 if which == "grenada" else counts["records"] > 170
    # PostgreSQL holds them too: the admin units under their schema names, the sequences
    assert pg_count(pg_url, "admin_units") == counts["admin_units"]
    with riskatlas.open(pg_url) as atlas:
        assert atlas.store.next_dataset_id() == there.sequences["dataset_seq"]
    if which == "busy":  # the copy works as a store: the users sign in, cards are there
        from riskatlas.services import accounts

        with riskatlas.open(back) as atlas:
            assert accounts.user_countries(atlas.store)["vera"] == ["LKA", "NPL"]
            row = atlas.store.query("SELECT password_hash FROM users WHERE name = 'ana'")
            assert accounts.verify_password("correct horse battery", row[0][0])


def test_duckdb_to_duckdb_copy(grenada: Path, tmp_path: Path) -> None:
    result = copy_store(grenada, tmp_path / "copy.duckdb")
    assert result.rows == sum(same_stores(grenada, tmp_path / "copy.duckdb").values())


def test_a_target_holding_data_is_refused_unless_overwrite(
        grenada: Path, busy: Path, tmp_path: Path, pg_url: str) -> None:
    copy_store(grenada, pg_url)
    for target in (pg_url, grenada):
        source = busy
        with pytest.raises(StoreError) as caught:
            copy_store(source, target)
        assert caught.value.key == "store.copy.not_empty"
        assert "records" in caught.value.params["tables"]
    assert pg_count(pg_url, "records") == 162
    # bilingual, through the command
    for lang, words in (("en", "--overwrite"), ("zh-TW", "目標已有資料")):
        done = run_cli("--lang", lang, "db", "copy", str(busy), pg_url)
        assert done.code == 1 and words in done.stderr and "records" in done.stderr
    # --overwrite replaces it, as one store: busy's rows only
    copy_store(busy, pg_url, overwrite=True)
    copy_store(pg_url, tmp_path / "back.duckdb")
    same_stores(busy, tmp_path / "back.duckdb")
    # an empty store (made by opening it) is no data: no --overwrite needed
    riskatlas.open(tmp_path / "empty.duckdb").close()
    copy_store(grenada, tmp_path / "empty.duckdb")
    same_stores(grenada, tmp_path / "empty.duckdb")


def test_the_command_prints_a_line_per_table(grenada: Path, tmp_path: Path,
                                             pg_url: str) -> None:
    done = run_cli("--lang", "en", "db", "copy", str(grenada), pg_url)
    assert done.code == 0, done.stderr
    assert "records: 162 rows copied" in done.stdout
    assert "admin_units: 179 rows copied" in done.stdout
    assert "dataset_seq 2" in done.stdout
    assert "row counts and content digests are equal on both sides" in done.stdout
    assert sum("rows copied" in line for line in done.stdout.splitlines()) == \
        len(schema_tables())
    done = run_cli("--lang", "zh-TW", "db", "copy", pg_url, str(tmp_path / "b.duckdb"))
    assert done.code == 0, done.stderr
    assert "records：已複製 162 列" in done.stdout and "內容摘要皆相同" in done.stdout


def _failing(after: str) -> Any:
    def on_table(table: Any) -> None:
        if table.table == after:
            raise RuntimeError("disk full")
    return on_table


def test_a_failed_copy_leaves_the_target_as_it_was(grenada: Path, busy: Path,
                                                   tmp_path: Path, pg_url: str) -> None:
    # a new PostgreSQL database stays empty: not even the schema is left
    with pytest.raises(RuntimeError):
        copy_store(grenada, pg_url, on_table=_failing("records"))
    assert pg_tables(pg_url) == set()
    # a store replaced with --overwrite keeps its rows
    copy_store(grenada, pg_url)
    with pytest.raises(RuntimeError):
        copy_store(busy, pg_url, overwrite=True, on_table=_failing("audit_log"))
    assert pg_count(pg_url, "records") == 162 and pg_count(pg_url, "users") == 0
    # DuckDB: a new target is not made, an old one is unchanged, nothing is left beside
    target = tmp_path / "t.duckdb"
    with pytest.raises(RuntimeError):
        copy_store(pg_url, target, on_table=_failing("records"))
    assert not target.exists() and list(tmp_path.iterdir()) == []
    copy_store(busy, target)
    with pytest.raises(RuntimeError):
        copy_store(pg_url, target, overwrite=True, on_table=_failing("source_tables"))
    same_stores(busy, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.duckdb"]


def test_a_copy_that_does_not_reconcile_is_not_committed(
        grenada: Path, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row lost on the way (here, deleted after the load) is caught by the counts; a
    value changed on the way by the digests: either way nothing is committed."""
    from riskatlas.store import postgres

    real = postgres.copy_rows

    def losing(source: Any, target: Any, table: str, *args: Any, **kw: Any) -> int:
        rows = real(source, target, table, *args, **kw)
        if table == "records":
            target.pg.raw.execute("DELETE FROM records WHERE record_id IN "
                                  "(SELECT record_id FROM records LIMIT 1)")
        return rows

    monkeypatch.setattr(postgres, "copy_rows", losing)
    with pytest.raises(StoreError) as caught:
        copy_store(grenada, pg_url)
    assert caught.value.key == "store.copy.mismatch" and caught.value.params["table"] == \
        "records"
    assert pg_tables(pg_url) == set()
    monkeypatch.undo()
    copy_store(grenada, pg_url)
    real_read = transfer._Duck.read_csv

    def changing(self: Any, table: str, columns: Any, path: Path) -> int:
        rows = real_read(self, table, columns, path)
        if table == "hazard_terms":
            self.con.execute("UPDATE hazard_terms SET records = records + 1 "
                             "WHERE term = (SELECT min(term) FROM hazard_terms)")
        return rows

    monkeypatch.setattr(transfer._Duck, "read_csv", changing)
    with pytest.raises(StoreError) as caught:
        copy_store(pg_url, tmp_path / "back.duckdb")
    assert caught.value.params["table"] == "hazard_terms"
    assert caught.value.params["rows"] == caught.value.params["copied"]  # same count
    assert list(tmp_path.iterdir()) == []
    assert "nothing was committed" in caught.value.render("en")
    assert "目標維持原狀" in caught.value.render("zh-TW")


KILLED = """
import pathlib, sys, time
from riskatlas.store.transfer import copy_store
flag = pathlib.Path(sys.argv[3])
def on_table(table):
    if table.table == "source_tables":
        flag.touch()
        time.sleep(120)
copy_store(sys.argv[1], sys.argv[2], overwrite=True, on_table=on_table)
"""


def _killed_midway(source: str | Path, target: str | Path, folder: Path) -> None:
    flag = folder / "midway"
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(source), str(target),
                              str(flag)], env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                  sys.path)})
    deadline = time.monotonic() + 120
    while not flag.exists():
        assert child.poll() is None and time.monotonic() < deadline, "copy did not start"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    flag.unlink()


def test_a_killed_copy_leaves_the_target_as_it_was(grenada: Path, busy: Path,
                                                   tmp_path: Path, pg_url: str) -> None:
    copy_store(busy, pg_url)
    _killed_midway(grenada, pg_url, tmp_path)
    back = tmp_path / "back.duckdb"
    copy_store(pg_url, back)  # waits for nothing: the killed transaction is gone
    same_stores(busy, back)
    _killed_midway(grenada, back, tmp_path)
    same_stores(busy, back)
    assert any(p.name.startswith(".back.duckdb.copy-") for p in tmp_path.iterdir())
    copy_store(grenada, back, overwrite=True)  # and the killed copy's files are removed
    same_stores(grenada, back)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back.duckdb"]


def test_what_a_copy_would_lose_is_refused(grenada: Path, tmp_path: Path,
                                           pg_url: str) -> None:
    import shutil

    odd = tmp_path / "odd.duckdb"
    shutil.copy(grenada, odd)
    with duckdb.connect(str(odd)) as con:
        con.execute("CREATE TABLE notes_of_mine (x INTEGER)")
    with pytest.raises(StoreError) as caught:
        copy_store(odd, pg_url)
    assert caught.value.key == "store.copy.unknown_tables"
    assert caught.value.params["tables"] == "notes_of_mine"
    with duckdb.connect(str(odd)) as con:
        con.execute("DROP TABLE notes_of_mine")
        con.execute("DELETE FROM schema_migrations WHERE version = 8")
    with pytest.raises(StoreError) as caught:
        copy_store(odd, pg_url)
    assert caught.value.key == "store.copy.version" and caught.value.params["found"] == 7
    assert "riskatlas db upgrade --db" in caught.value.render("zh-TW")
    with duckdb.connect(str(odd)) as con:
        con.execute("INSERT INTO schema_migrations VALUES (8, 'x', NULL), (99, 'y', NULL)")
    with pytest.raises(StoreError) as caught:
        copy_store(odd, pg_url)
    assert caught.value.key == "store.newer_schema"
    with pytest.raises(StoreError) as caught:
        copy_store(grenada, grenada)
    assert caught.value.key == "store.copy.same"
    # one PostgreSQL database under two names (its snapshot would block the drop forever)
    copy_store(grenada, pg_url)
    alias = pg_url.replace("postgresql://", "postgres://")
    with pytest.raises(StoreError) as caught:
        copy_store(pg_url, alias, overwrite=True)
    assert caught.value.key == "store.copy.same"
    assert pg_count(pg_url, "records") == 162
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("DROP SCHEMA public CASCADE")
        con.execute("CREATE SCHEMA public")
    assert pg_tables(pg_url) == set()


def test_tables_the_web_app_derives_are_left_out(grenada: Path, tmp_path: Path,
                                                  pg_url: str) -> None:
    """The record browser's index (``web_browse``, made again from the records when
    missing) is not copied, and a target's stale one goes with --overwrite."""
    import shutil

    served = tmp_path / "served.duckdb"
    shutil.copy(grenada, served)
    with duckdb.connect(str(served)) as con:
        con.execute("CREATE TABLE web_browse AS SELECT record_id FROM records")
    result = copy_store(served, pg_url)
    assert result.left_out == ("web_browse",) and "web_browse" not in pg_tables(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("CREATE TABLE web_browse AS SELECT record_id FROM records LIMIT 1")
    copy_store(grenada, pg_url, overwrite=True)
    assert "web_browse" not in pg_tables(pg_url)
    done = run_cli("--lang", "en", "db", "copy", str(served), str(tmp_path / "b.duckdb"))
    assert done.code == 0 and "web_browse" in done.stdout


def test_server_settings_do_not_change_values(grenada: Path, tmp_path: Path,
                                              pg_url: str) -> None:
    """A server that prints floats to 15 digits and dates the SQL way (day first) still
    gives back the same values: the copy sets exact text for its own transactions."""
    with psycopg.connect(pg_url, autocommit=True) as con:
        name = con.execute("SELECT current_database()").fetchone()[0]
        con.execute(f"ALTER DATABASE \"{name}\" SET extra_float_digits = 0")
        con.execute(f"ALTER DATABASE \"{name}\" SET DateStyle = 'SQL, DMY'")
    copy_store(grenada, pg_url)
    copy_store(pg_url, tmp_path / "back.duckdb")
    same_stores(grenada, tmp_path / "back.duckdb")
