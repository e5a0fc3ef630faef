"""Analyses built once per argument shape (analysis/recipes.py): later calls of a builder
fill its SQL template with their own scope values and tables, build nothing, and answer
exactly what building answers; a builder whose values do not reach its SQL as they are
is built every time."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import riskatlas
from conftest import _imported
from riskatlas.analysis import profile as profile_module
from riskatlas.analysis import recipes
from riskatlas.analysis.recipes import RECIPES_KEPT, RecipeMismatch
from riskatlas.store.memo import Memo

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def sendai_db(tmp_path_factory: pytest.TempPathFactory):
    """The Sendai roll-up: national cards of 110 countries."""
    return _imported(tmp_path_factory, "s20", "desinventar/s20/DI_export_s20.zip")


@pytest.fixture
def fresh(monkeypatch):
    """No recipe kept from earlier tests; recipes used as users use them."""
    RECIPES_KEPT.clear()
    monkeypatch.setenv("RISKATLAS_RECIPES", "on")
    yield RECIPES_KEPT
    RECIPES_KEPT.clear()


SCOPES = [{"country": c, **years, **level}
          for c in ("JPN", "COL", "IDN", "LKA", "KHM", "XXY")
          for years in ({}, {"year_from": 2005, "year_to": 2015}, {"year_from": 2012})
          for level in ({}, {"level": 0})]


def _answers(atlas: riskatlas.Atlas) -> list[object]:
    out: list[object] = []
    for scope in SCOPES:
        try:
            out.append(atlas.profile(["deaths", "records", "events"], **scope))
        except riskatlas.errors.EmptyScopeError as error:
            out.append(str(error))
    return out


def test_recipes_answer_what_building_answers(sendai_db, fresh, monkeypatch):
    with riskatlas.open(sendai_db, read_only=True) as atlas:
        atlas.store.memo = Memo()  # kept event tags: in-memory tables enter the SQL
        kept = _answers(atlas)
    # the windows' events and the event tags: most queries answered by a recipe
    assert fresh.hits > fresh.builds > 0, (fresh.hits, fresh.builds)
    monkeypatch.setenv("RISKATLAS_RECIPES", "off")
    with riskatlas.open(sendai_db, read_only=True) as atlas:
        atlas.store.memo = Memo()
        built = _answers(atlas)
    assert sum(isinstance(a, pd.DataFrame) and len(a) > 0 for a in built) > len(SCOPES) // 2
    for scope, a, b in zip(SCOPES, kept, built, strict=True):
        if isinstance(b, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, obj=str(scope))
            assert a.attrs == b.attrs
        else:
            assert a == b


def test_a_recipe_builds_nothing(grenada_db, fresh, monkeypatch):
    """After its first call, an argument shape neither builds nor compiles its
    expression."""
    calls = {"n": 0}
    build = profile_module.unit_hazards

    def counted(*a, **k):
        calls["n"] += 1
        return build(*a, **k)

    monkeypatch.setattr(profile_module, "unit_hazards", counted)
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        frames = [atlas.profile(["deaths"], country="GRD", level=1, year_from=y)
                  for y in (1990, 2000, 2005)]
    assert calls["n"] == 2  # the first call's build and its probe
    assert fresh.hits >= 1  # and the ledger's, the same for every year
    assert [int(f["records"].sum()) for f in frames] == sorted(
        (int(f["records"].sum()) for f in frames), reverse=True)


def _unit_deaths(records, scope, shift):
    """A builder whose year reaches its SQL only through Python arithmetic."""
    r = records.filter(records.country_iso3 == scope.country,
                       records.start_year >= scope.year_from - shift)
    return r.aggregate(deaths=r.deaths.sum())


def _country_rule(records, scope):
    """A builder whose shape depends on a value (what recipes cannot see: never write
    one; ``check`` catches it)."""
    r = records.filter(records.country_iso3 == scope.country)
    return r.aggregate(n=r.count() if scope.country == "GRD" else r.count() * 2)


def test_a_value_changed_on_its_way_keeps_its_call_built(grenada_db, fresh):
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        records = atlas.engine.table("records")
        answers = [int(recipes.run("to_pandas", _unit_deaths, records,
                                   atlas.scope_of(country="GRD", year_from=y), 1).iloc[0, 0])
                   for y in (1990, 2000, 2010, 1990)]
    assert fresh.hits == 0 and fresh.builds == 4
    assert answers[0] == answers[3] and answers[0] >= answers[1] >= answers[2]


def test_check_mode_fails_a_recipe_that_differs_from_its_build(grenada_db, fresh,
                                                                monkeypatch):
    monkeypatch.setenv("RISKATLAS_RECIPES", "check")
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        records = atlas.engine.table("records")
        for country in ("NPL", "JPN"):
            recipes.run("to_pandas", _country_rule, records, atlas.scope_of(country=country))
        with pytest.raises(RecipeMismatch, match="_country_rule"):
            recipes.run("to_pandas", _country_rule, records, atlas.scope_of(country="GRD"))


def test_sentinels_show_how_each_value_reaches_the_sql(grenada_db, fresh, monkeypatch):
    """Upper-cased and trimmed values (the filters normalise them) and two years take
    their own places. A call whose values coincide ("storm" lower-cased and trimmed is
    one literal) teaches nothing, but its SQL is the recipe's."""
    monkeypatch.setenv("RISKATLAS_RECIPES", "check")
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        records = atlas.engine.table("records")
        got = []
        for country, hazard in itertools.product(("grd", "GRD"), ("storm ", " Flood")):
            scope = atlas.scope_of(country=country, hazard=hazard, year_from=1980,
                                   year_to=2010, dataset=(1, 2))
            got.append(int(recipes.run("to_pandas", _filtered_count, records, scope)
                           .iloc[0, 0]))
        assert fresh.hits == 2 and fresh.builds == 2  # the first call learnt nothing
        assert got[0] == got[2] and got[1] == got[3] and got[0] + got[1] > 0


def _filtered_count(records, scope):
    r = scope.selected(records, [])
    return r.aggregate(n=r.count())


def test_equal_values_have_a_recipe_of_their_own(grenada_db, fresh, monkeypatch):
    """A one-year window (its two years one literal of the SQL) is a shape of its own,
    learnt like any other: later one-year windows fill its recipe (``check``: their SQL
    is their own); a window of two years is another shape."""
    windows = [(2004, 2004), (2010, 2010), (1990, 1990), (2004, 2005), (2000, 2010)]
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        records = atlas.engine.table("records")

        def counts() -> list[int]:
            return [int(recipes.run("to_pandas", _filtered_count, records, atlas.scope_of(
                country="GRD", year_from=a, year_to=b)).iloc[0, 0]) for a, b in windows]

        monkeypatch.setenv("RISKATLAS_RECIPES", "off")
        built = counts()
        monkeypatch.setenv("RISKATLAS_RECIPES", "check")
        got = counts()
    assert (fresh.builds, fresh.hits) == (2, 3)
    assert got == built and got[0] > 0 and len(set(got)) > 2


@given(country=st.text(max_size=4), admin=st.one_of(st.none(), st.text(max_size=4)),
       hazard=st.one_of(st.none(), st.text(max_size=6)),
       years=st.tuples(st.one_of(st.none(), st.integers(-40_000, 40_000)),
                       st.one_of(st.none(), st.integers(-40_000, 40_000))))
@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_values_get_the_sql_their_build_gets(grenada_db, country, admin, hazard, years):
    """Whatever the values (empty, blank, any Unicode, any width of year), a recipe's SQL
    is its call's own (``check`` compares them at every hit)."""
    assert recipes.mode() == "check"  # conftest
    y0, y1 = sorted(years, key=lambda y: (y is None, y or 0))
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        records = atlas.engine.table("records")
        for c in ("GRD", "JPN", country):
            scope = atlas.scope_of(country=c, admin=admin, hazard=hazard, year_from=y0,
                                   year_to=y1 if y0 is None or y1 is None or y1 >= y0 else None)
            recipes.run("to_pyarrow", _filtered_count, records, scope)
