"""SQL kept per query shape (analysis/compiled.py): every query of the analyses gets the
very SQL that Ibis compiles for it, whether its shape's template was reused or not."""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import riskatlas
from conftest import web_client
from riskatlas.analysis import compiled
from riskatlas.errors import EmptyScopeError
from riskatlas.store.memo import Memo


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every compilation through the templates compared with Ibis' own; the list says,
    per query, whether a kept template answered."""
    seen: list[bool] = []
    real = compiled.compiled

    def checking(expr: Any, limit: Any, plain: Any, dialect: Any, templates: Any) -> str:
        hits = templates.hits
        got = real(expr, limit, plain, dialect, templates)
        assert got == plain(expr, limit=limit)
        seen.append(templates.hits > hits)
        return got

    compiled.TEMPLATES.clear()
    monkeypatch.setattr(compiled, "compiled", checking)
    return seen


def _analyses(atlas: riskatlas.Atlas, country: str, years: list[tuple[int | None, int | None]],
              unit: str, every: bool = True) -> None:
    for y0, y1 in years:
        window = {"country": country, "year_from": y0, "year_to": y1}
        try:
            atlas.profile(["records", "deaths", "events"], **window)
            atlas.profile(["deaths"], level=1, top=3, **window)
            atlas.screen(level=1, **window)
            atlas.return_levels("deaths", level=1, admin=unit, **window)
            if every:
                atlas.screen(level=1, all_hazards=True, **window)
                atlas.risk(level=1, **window)
                atlas.events(**window)
                atlas.sendai(level=1, **window)
                atlas.outside_screen(level=1, **window)
                atlas.periods(**window)
        except EmptyScopeError:
            pass


def test_every_query_is_compiled_as_ibis_compiles_it(grenada_db: Path,
                                                     checked: list[bool]) -> None:
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        atlas.store.memo = Memo()  # as a served copy
        _analyses(atlas, "GRD", [(None, None), (1980, 2010), (1985, 2005), (1990, 2000),
                                 (1990, 1990)], "GRD01")
    assert len(checked) > 50
    assert sum(checked) > 5  # templates answered some of them (from the third window)


def test_templates_on_nepal_scopes(nepal_db: Path, checked: list[bool]) -> None:
    with riskatlas.open(nepal_db, read_only=True) as atlas:
        atlas.store.memo = Memo()
        _analyses(atlas, "NPL", [(1990, 2000), (1995, 2005)], "002005027", every=False)
        before = len(checked)
        _analyses(atlas, "NPL", [(1992, 2008)], "002005027", every=False)
    # a shape's template is made at its second query: the third window's are filled in
    # (a shape first met in the third window is compiled plainly; the queries that
    # recipes answer, analysis/recipes.py, are not compiled at all)
    third = checked[before:]
    assert len(third) >= 3 and sum(third) >= len(third) - 1


def test_literals_and_tables_are_filled_in_as_ibis_writes_them(checked: list[bool]) -> None:
    import ibis
    import pandas as pd

    con = ibis.duckdb.connect()
    compiled.install(con)
    frame = pd.DataFrame({"name": ["a'b", "naïve \\ 台北", "x"], "year": [1990, 2000, 2010],
                          "day": pd.to_datetime(["2000-01-01", "2000-02-03", "2001-01-01"])})
    con.create_table("t", frame)
    t = con.table("t")
    for name, y0, y1 in [("a'b", 1990, 2000), ("naïve \\ 台北", 1995, 2010), ("y", 1991, 2001),
                         ("x", 2000, 2000), ("none", -5, 3000)]:
        other = ibis.memtable(pd.DataFrame({"name": [name], "w": [y0]}))
        q = t.filter(t.year >= y0, t.year <= y1).join(other, "name", how="left")
        q = q.mutate(days=q.day.date().delta(ibis.date(y0 if y0 > 0 else 1970, 1, 1), unit="day"),
                     label=ibis.literal(name) + "|" + q.name)
        got = q.order_by("year").to_pandas()
        assert list(got["label"]) == [name + "|" + n for n in got["name"]]
        with q.cache() as kept:  # a cached table's name is a slot too
            assert kept.count().to_pandas() == len(got)
    assert any(checked)
    assert ("string", "day") in compiled._FIXED  # the unit the compiler writes DAY


def test_one_walk_before_a_query_does_what_ibis_hooks_do() -> None:
    """The hooks before a query (compiled.pre_execute_hooks): in-memory tables registered
    once, duplicate names refused as Ibis refuses them, a UDF still registered by Ibis."""
    import ibis
    import ibis.common.exceptions as exc
    import pandas as pd

    con = ibis.duckdb.connect()
    compiled.install(con)
    registered: list[str] = []
    register = con._register_in_memory_table
    con._register_in_memory_table = lambda op: (registered.append(op.name), register(op))[1]
    a = ibis.memtable(pd.DataFrame({"k": [1, 2, 3], "v": [10, 20, 30]}))
    b = ibis.memtable(pd.DataFrame({"k": [2, 3, 4], "w": [5, 6, 7]}))
    q = a.join(b, "k").mutate(s=lambda t: t.v + t.w).order_by("k")
    assert con.to_pandas(q)["s"].tolist() == [25, 36]
    assert con.to_pandas(q.count()) == 2  # registered once
    assert sorted(registered) == sorted([a.op().name, b.op().name])
    from ibis.formats.pandas import PandasDataFrameProxy

    twin = a.op().copy(data=PandasDataFrameProxy(pd.DataFrame({"k": [1], "v": [0]})))
    twin = twin.to_expr()  # the same name, other data
    with pytest.raises(exc.IbisError, match="Duplicate in-memory table names"):
        con.to_pandas(a.join(twin, "k"))

    @ibis.udf.scalar.python
    def twice(x: int) -> int:
        return 2 * x

    assert con.to_pandas(q.mutate(d=twice(q.v))["d"]).tolist() == [40, 60]


def test_a_query_is_submitted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A query Ibis fetches (as pandas or Arrow) is parsed and bound once: submitted to
    DuckDB, not described by ``con.sql`` first; without DuckDB's seam, ``con.sql`` as
    before. Results are Ibis' own."""
    import ibis
    import pandas as pd

    from riskatlas.analysis import submitted

    a = ibis.memtable(pd.DataFrame({"k": [1, 2, 2, None], "v": ["x", None, "z", "w"]}))
    q = a.group_by("k").aggregate(n=a.count(), v=a.v.max()).order_by("k")
    plain = ibis.duckdb.connect()
    expected = plain.to_pandas(q), plain.to_pyarrow(q)
    con = ibis.duckdb.connect()
    compiled.install(con)
    seam, texts = submitted._seam, []
    assert seam is not None  # the DuckDB of the lock has it

    class Counting:
        @staticmethod
        def submit(*args: Any) -> Any:
            texts.append(args[1])
            return seam.submit(*args)

    monkeypatch.setattr(submitted, "_seam", Counting)
    binds: list[object] = []
    bind = seam.bind
    monkeypatch.setattr(seam, "bind", lambda *a, **k: (binds.append(a), bind(*a, **k))[1])
    pd.testing.assert_frame_equal(con.to_pandas(q), expected[0])
    assert con.to_pyarrow(q).equals(expected[1])
    assert len(texts) == 2 and all(t.startswith("SELECT") for t in texts)
    assert binds == []  # not described first
    plain.to_pyarrow(q)
    assert len(binds) == 1  # Ibis' own way: described, then run
    monkeypatch.setattr(submitted, "_seam", None)
    pd.testing.assert_frame_equal(con.to_pandas(q), expected[0])
    assert len(texts) == 2
    assert submitted.Submitted(con.con, "SELECT 1 AS one").columns == ["one"]


@pytest.fixture
def kept_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], compiled.Templates]]:
    """``kept_in(path)``: this process's templates replaced by new ones kept in the file
    ``path`` (none of them left to save when the test session ends), and the literals the
    compiler rewrites learned afresh, as in a new process (those that earlier tests of
    this process met, such as a year, would make their windows shapes of their own)."""
    made: list[compiled.Templates] = []
    monkeypatch.setattr(compiled, "_FIXED", set())

    def new(path: Path) -> compiled.Templates:
        templates = compiled.Templates(path=path)
        monkeypatch.setattr(compiled, "TEMPLATES", templates)
        made.append(templates)
        return templates

    yield new
    for templates in made:
        atexit.unregister(templates.finish)


def test_templates_are_kept_across_processes(grenada_db: Path, tmp_path: Path,
                                             kept_in: Callable[[Path], compiled.Templates],
                                             checked: list[bool]) -> None:
    path = tmp_path / "sql.json"

    def run(years: list[tuple[int | None, int | None]]) -> list[bool]:
        start = len(checked)
        with riskatlas.open(grenada_db, read_only=True) as atlas:
            _analyses(atlas, "GRD", years, "GRD01")
        return checked[start:]

    first = kept_in(path)
    run([(1990, 2000)])
    warm = run([(1985, 2005)])  # what this process answers from its templates
    first.finish(background=False)
    assert len(compiled.read_templates(path)) > 15 and sum(warm) > 15
    # a new process (new templates, the file read) answers from the file every query that
    # the first answered from memory, and those met once there (checked: the very SQL
    # Ibis compiles)
    kept_in(path)
    got = run([(1985, 2005)])
    assert len(got) == len(warm) and sum(got) > sum(warm)
    assert all(g for g, w in zip(got, warm, strict=True) if w)
    # a damaged file costs compilations, never a wrong or failed query; saving mends it
    path.write_text('{"templates": {"abc": [1, 2]')
    again = kept_in(path)
    assert sum(run([(1985, 2005)])) < sum(warm)
    again.finish(background=False)
    assert len(compiled.read_templates(path)) > 15


def test_malformed_entries_and_the_off_setting(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "sql.json"
    path.write_text(json.dumps({"templates": {
        "good": [["SELECT ", " FROM t"], [0]], "short": [["SELECT "], [0]],
        "not-text": [[1, 2], [0]], "negative": [["a", "b"], [-1]], "flat": "SELECT 1"}}))
    assert list(compiled.read_templates(path)) == ["good"]
    monkeypatch.setenv("RISKATLAS_SQL_CACHE", "off")
    assert compiled.templates_path() is None
    monkeypatch.setenv("RISKATLAS_SQL_CACHE", str(tmp_path))
    assert compiled.templates_path().parent == tmp_path


def test_a_command_leaves_its_templates_for_the_next(grenada_db: Path, tmp_path: Path) -> None:
    """The templates of a command's shapes are made after it ends, in a process of its own
    (the command does not wait for them); the next command answers from them."""
    script = ("import riskatlas\n"
              "from riskatlas.analysis import compiled\n"
              f"with riskatlas.open({str(grenada_db)!r}, read_only=True) as a:\n"
              "    a.profile(['deaths'], country='GRD', level=1)\n"
              "print(compiled.TEMPLATES.hits)\n")
    env = {**os.environ, "RISKATLAS_SQL_CACHE": str(tmp_path / "cache")}
    first = subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120,
                           capture_output=True, text=True)  # the forked one keeps no pipe
    deadline = time.monotonic() + 120
    while not list((tmp_path / "cache").glob("sql-shapes-*.json")):
        assert time.monotonic() < deadline, "no templates file written"
        time.sleep(0.2)
    again = subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120,
                           capture_output=True, text=True)
    assert int(first.stdout) < int(again.stdout)


def test_a_server_saves_its_templates_when_it_stops(
        grenada_db: Path, tmp_path: Path,
        kept_in: Callable[[Path], compiled.Templates]) -> None:
    """A web worker leaves nothing for its exit (uvicorn ends it by signal): it makes a
    shape's template at its second query and saves them when it stops."""
    templates = kept_in(tmp_path / "sql.json")
    with web_client(grenada_db, cache=False) as http:
        for year in (1990, 1991, 1992):
            for analysis in ("profile", "screen", "sendai"):
                assert http.get(f"/api/{analysis}?country=GRD&level=1&year_from={year}"
                                ).status_code == 200
        assert templates.hits and not templates._deferred
    # the profile's and the Sendai indicators' (a window of the screen reads the sums of
    # every year, kept on the served copy: one query, no second of its shape)
    assert len(compiled.read_templates(tmp_path / "sql.json")) >= 2


_JOIN_SQL = """
import ibis
from riskatlas.analysis.population import unit_population
from riskatlas.analysis.scope import without
keys = ["country_iso3", "admin_code", "hazard"]
sums = ibis.table({**dict.fromkeys(keys, "string"), "deaths": "float64"}, name="sums")
grid = ibis.table({**dict.fromkeys(keys, "string"), "unit_name": "string"}, name="grid")
population = ibis.table({"country_iso3": "string", "admin_code": "string", "level": "int64",
                         "year": "int64", "population": "float64",
                         "households": "float64"}, name="population")
coverage = ibis.table({"country_iso3": "string", "period_from": "int64",
                       "period_to": "int64"}, name="coverage")
by = without(grid.join(sums, keys, how="left"), *(f"{k}_right" for k in keys))
pop = unit_population(population, 2, coverage)
expr = without(by.join(pop, keys[:2], how="left"), "country_iso3_right", "admin_code_right")
print(ibis.to_sql(expr, dialect="duckdb"))
"""


def test_a_query_compiles_to_one_text_whatever_the_hash_seed() -> None:
    """Columns dropped after joins (:func:`riskatlas.analysis.scope.without`, as risk and
    the Sendai indicators drop them) compile to the same SQL in processes of different
    hash seeds: a drop of several columns, which Ibis writes in set order, would make a
    shape's SQL vary and its template never be kept."""
    texts = set()
    for seed in ("1", "2", "3", "4"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-c", _JOIN_SQL], env=env, text=True,
                             capture_output=True, timeout=120, check=True)
        texts.add(run.stdout)
    assert len(texts) == 1
