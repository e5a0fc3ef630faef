"""Uncached requests made lighter without changing an answer (issue 13, item 10): the
screen's rank stability scores only the units that can reach the top N, an analysis
counts its cards from the period summary it states anyway, the notes on cards left out
count the scope's years by predicate, and a screen page links its units without a route
look-up per row (benchmarks/bench_requests.py measures the time)."""

from __future__ import annotations

import copy
import dataclasses
import random

import numpy as np
import pandas as pd
import pytest
from starlette.requests import Request

import riskatlas
from riskatlas.analysis import screen as screen_module
from riskatlas.analysis.methods import load_methods
from riskatlas.errors import EmptyScopeError


def _every_unit_scored(norm: np.ndarray, w: np.ndarray, methods) -> np.ndarray:
    """rank_stability as it was: every unit scored in every draw."""
    cfg = methods.get("screen")
    draws, top_n = int(cfg["stability"]["draws"]), int(cfg["top_n"])
    spread = float(cfg["stability"]["weight_perturbation"])
    rng = np.random.default_rng(int(cfg["stability"]["seed"]))
    hits = np.zeros(len(norm))
    for start in range(0, draws, 100):
        weights = w * rng.uniform(1 - spread, 1 + spread, size=(min(100, draws - start), len(w)))
        scores = screen_module.composite(screen_module.hazard_scores(norm, weights)).round(9)
        hits += screen_module.top_of(scores, top_n).sum(axis=0)
    return hits / draws


def test_rank_stability_is_that_of_every_unit_scored():
    methods = load_methods()
    rng = np.random.default_rng(7)
    pruned = cornered = 0
    spread = float(methods.get("screen")["stability"]["weight_perturbation"])
    for trial in range(40):
        units, hazards = int(rng.integers(1, 300)), int(rng.integers(1, 12))
        present = rng.uniform(size=(units, hazards, 1)) < rng.uniform()
        norm = rng.uniform(0, 10, size=(units, hazards, 4)) * present
        if trial % 3 == 0:
            norm = norm.round(1)  # ties between units
        if trial % 4 == 0:
            norm[: units // 2] = norm[0]  # identical units
        if trial % 5 == 0:
            norm[rng.integers(0, units)] = 10.0  # a unit at the ceiling
        w = rng.uniform(0.1, 2.0, size=4)
        got = screen_module.rank_stability(norm, w, methods)
        assert np.array_equal(got, _every_unit_scored(norm, w, methods)), trial
        plain, by_box = (len(screen_module.contenders(norm, 10, *box))
                         for box in ((), (w, spread)))
        assert by_box <= plain, trial
        pruned += len(norm) - plain
        cornered += plain - by_box
    assert pruned > 0 and cornered > 0  # the test exercised both bounds


def test_contenders_keep_every_unit_under_weights_no_bound_holds_for():
    """Weights that may be drawn negative or are not finite: no unit is left out; a
    spread of 1 (weights down to 0) or a zero weight still bounds by the indicators."""
    methods = load_methods()
    rng = np.random.default_rng(3)
    norm = rng.uniform(0, 10, size=(60, 3, 4)) * (rng.uniform(size=(60, 3, 1)) < 0.5)
    w = np.array([1.0, 0.5, 2.0, 1.0])
    for bad_w, spread in ((w, 1.5), (w, -0.1), (np.array([1.0, 1.0, np.inf, 1.0]), 0.2),
                          (np.array([1.0, -1.0, 1.0, 1.0]), 0.2), (np.zeros(4), 0.2)):
        assert len(screen_module.contenders(norm, 10, bad_w, spread)) == 60
    for ok_w, spread in ((w, 1.0), (np.array([1.0, 0.0, 1.0, 1.0]), 0.2), (w, 0.0)):
        kept = screen_module.contenders(norm, 10, ok_w, spread)
        assert 10 <= len(kept) < 60
    settings = copy.deepcopy(methods.settings)
    settings["screen"]["stability"]["weight_perturbation"] = 1.5  # draws below zero
    wide = dataclasses.replace(methods, settings=settings)
    assert np.array_equal(screen_module.rank_stability(norm, w, wide),
                          _every_unit_scored(norm, w, wide))


def test_contenders_keep_every_unit_with_nan_or_few_units():
    norm = np.zeros((5, 2, 4))
    assert list(screen_module.contenders(norm, 10)) == [0, 1, 2, 3, 4]
    norm = np.zeros((20, 2, 4))
    norm[3, 0, 0] = np.nan
    assert len(screen_module.contenders(norm, 10)) == 20


@pytest.mark.shared_data
def test_screens_of_real_data_keep_their_stability(nepal_db, monkeypatch):
    with riskatlas.open(nepal_db, read_only=True) as atlas:
        fast = [atlas.screen(level=level, all_hazards=every)
                for level in (1, 2) for every in (False, True)]
        assert len(screen_module.contenders(np.zeros((3, 1, 4)), 2)) == 3
        monkeypatch.setattr(screen_module, "contenders",
                            lambda norm, n, *box, margin=0.0: np.arange(len(norm)))
        slow = [atlas.screen(level=level, all_hazards=every)
                for level in (1, 2) for every in (False, True)]
    for a, b in zip(fast, slow, strict=True):
        pd.testing.assert_frame_equal(a, b)
        assert a.attrs == b.attrs


def _left_out_by_pandas(records: pd.DataFrame, statuses: tuple[str, ...],
                        y0: int | None, y1: int | None) -> tuple[int, int]:
    undated = int(records["start_year"].isna().sum())
    years = records["start_year"]
    inside = years.notna()
    if y0 is not None:
        inside &= years >= y0
    if y1 is not None:
        inside &= years <= y1
    other = ~records["approval_status"].fillna("published").isin(statuses)
    return undated, int((other & inside).sum())


@pytest.mark.shared_data
def test_notes_and_empty_scopes_as_the_records_say(nepal_db, tmp_path):
    """The cards left out (undated, other statuses within the scope's years) counted as
    pandas counts them, and an empty scope still refused, for random scopes."""
    db = tmp_path / "npl.duckdb"
    db.write_bytes(nepal_db.read_bytes())
    with riskatlas.open(db) as atlas:  # some cards of other statuses, some undated
        con = atlas.store.connection
        con.execute("UPDATE records SET approval_status = 'draft' WHERE hash(record_id) % 7 = 0")
        con.execute("UPDATE records SET start_year = NULL WHERE hash(record_id) % 23 = 0")
    rng = random.Random(3)
    with riskatlas.open(db, read_only=True) as atlas:
        records = atlas.records(limit=None, columns=["record_id", "start_year",
                                                     "approval_status", "level1_code"])
        codes = sorted(records["level1_code"].dropna().unique())
        statuses = atlas.methods.statuses()
        for _ in range(6):
            y0 = rng.choice([None, *range(1975, 2005)])
            y1 = rng.choice([None, *range(1990, 2012)])
            if y0 is not None and y1 is not None and y0 > y1:
                y0, y1 = y1, y0
            admin = rng.choice([None, *codes])
            part = records if admin is None else records[records["level1_code"] == admin]
            undated, other = _left_out_by_pandas(part, statuses, y0, y1)
            frame = atlas.profile(["records"], year_from=y0, year_to=y1, admin=admin)
            params = frame.attrs["note_params"]
            assert params.get("analysis.undated_left_out", {}).get("count", 0) == undated
            assert params.get("analysis.statuses_left_out", {}).get("count", 0) == other
            assert frame["value"].sum() == frame.attrs["period"]["by_country"][0]["cards"]
        with pytest.raises(EmptyScopeError):
            atlas.profile(["records"], country="NPL", year_from=2900)
        with pytest.raises(EmptyScopeError):
            atlas.events(country="TWN")


def test_unit_links_are_those_of_url_for():
    import warnings

    from fastapi import FastAPI

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Starlette 1.x: "use httpx2" (as conftest.web_client)
        from fastapi.testclient import TestClient

    from riskatlas.web.routes_pages import unit_paths

    app = FastAPI()
    codes = [("NPL", "002005027"), ("GRD", "GRD01"), ("XXX", "a b"), ("NPL", "Kāthmāndu"),
             ("NPL", "x?y#z"), ("N.P", "~_-.")]

    @app.get("/unit/{country}/{code}", name="unit")
    def unit(country: str, code: str) -> None:
        return None

    @app.get("/check")
    def check(request: Request) -> list[bool]:
        path = unit_paths(request)
        return [path(c, k) == request.url_for("unit", country=c, code=k).path
                for c, k in codes]

    with TestClient(app, root_path="/atlas") as client:
        assert client.get("/check").json() == [True] * len(codes)


def _by_ibis_and_by_rule(years: dict[str, list[int]], rule, year_from=None, year_to=None):
    import ibis

    from riskatlas.analysis.period import periods, rule_of

    rows = [(c, y) for c, ys in years.items() for y in ys]
    records = ibis.memtable(pd.DataFrame(rows, columns=["country_iso3", "start_year"]),
                            schema={"country_iso3": "string", "start_year": "int64"})
    con = ibis.duckdb.connect()
    expected = con.to_pandas(periods(records, rule, year_from=year_from, year_to=year_to))
    yearly = con.to_pandas(records.group_by(["country_iso3", "start_year"]).aggregate(
        cards=records.count()))
    got = rule_of(yearly, rule, year_from=year_from, year_to=year_to)
    order = ["country_iso3"]
    expected = expected.sort_values(order).reset_index(drop=True)
    return got.sort_values(order).reset_index(drop=True), expected


def test_the_period_rule_on_the_yearly_table_is_the_expression():
    from riskatlas.analysis.period import PeriodRule

    rng = random.Random(11)
    for trial in range(40):
        rule = PeriodRule(max_gap_years=rng.choice([0, 1, 3, 5, 10]),
                          edge_share=rng.choice([0.0, 0.1, 0.25, 0.5, 1.0, 1.5]))
        years = {}
        for c in range(rng.randint(1, 5)):
            first = rng.randint(1700, 2000)
            pool = [first + rng.choice([0, 0, 1, 2, 5, 30, 120]) * rng.random() // 1
                    for _ in range(rng.randint(1, 60))]
            years[f"C{c:02d}"] = [int(y) for y in pool for _ in range(rng.randint(1, 4))]
        window = rng.choice([(None, None), (1900, None), (None, 1990), (1950, 1960)])
        got, expected = _by_ibis_and_by_rule(years, rule, *window)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False, obj=f"trial {trial}")
        assert list(got.dtypes[1:]) == ["int64"] * 3
    got, expected = _by_ibis_and_by_rule({}, PeriodRule(5, 0.1))
    assert got.empty and expected.empty


def _summary_by_ibis(records, sc) -> pd.DataFrame:
    """The period summary of a scope by one Ibis query over its records."""
    from riskatlas.analysis.period import with_period

    m = with_period(sc.selected(records, []), sc.periods(records))
    out = ~m.inside
    return m.group_by("country_iso3").aggregate(
        period_from=m.period_from.max(), period_to=m.period_to.max(),
        cards=m.inside.cast("int64").sum(), outside=out.cast("int64").sum(),
        outside_from=m.start_year.min(where=out), outside_to=m.start_year.max(where=out)
    ).order_by("country_iso3").to_pandas()


@pytest.mark.shared_data
def test_periods_and_summaries_read_off_the_ledger_are_the_rule_over_the_cards(
        nepal_db, grenada_db):
    """A scope's periods and period summary, read off its ledger (analysis/ledger.py),
    are those of the Ibis rule and of one query over the cards, for random scopes."""
    from riskatlas.analysis import period

    rng = random.Random(5)
    for db in (nepal_db, grenada_db):
        with riskatlas.open(db, read_only=True) as atlas:
            records = atlas.engine.table("records")
            codes = sorted(atlas.records(limit=None, columns=["level1_code"])[
                "level1_code"].dropna().unique())
            for _ in range(8):
                y0 = rng.choice([None, *range(1970, 2010)])
                y1 = rng.choice([None, *range(1980, 2015)])
                if y0 is not None and y1 is not None and y0 > y1:
                    y0, y1 = y1, y0
                sc = atlas.scope_of(year_from=y0, year_to=y1,
                                    admin=rng.choice([None, None, *codes]),
                                    hazard=rng.choice([None, "flood", "landslide"]),
                                    climate_only=rng.random() < 0.3,
                                    include_unapproved=rng.random() < 0.3)
                expected = sc.periods(records).to_pandas().sort_values("country_iso3")
                pd.testing.assert_frame_equal(atlas._periods(sc).reset_index(drop=True),
                                              expected.reset_index(drop=True),
                                              check_dtype=False)
                got = period.summary(ledger_yearly(atlas, sc), atlas._periods(sc))
                pd.testing.assert_frame_equal(got, _summary_by_ibis(records, sc),
                                              check_dtype=False)


def ledger_yearly(atlas, sc) -> pd.DataFrame:
    from riskatlas.analysis import ledger

    return ledger.yearly(atlas._ledger(sc), sc)


@pytest.mark.shared_data
def test_profile_page_unit_totals_as_a_loop_over_units_gives_them(nepal_db):
    from riskatlas.web.routes_pages import _unit_totals

    def by_loop(frame: pd.DataFrame) -> list[tuple]:
        out = []
        for (c, code), rows in frame.groupby(["country_iso3", "admin_code"], sort=False):
            first = rows.sort_values("rank").iloc[0]
            name = first["admin_name"] if isinstance(first["admin_name"], str) else ""
            out.append((c, code, name, float(rows["value"].sum()),
                        int(rows["records"].sum()), first["hazard"], first["value"],
                        first["share_pct"]))
        return out

    with riskatlas.open(nepal_db, read_only=True) as atlas:
        for level, metric, y0 in ((0, "deaths", None), (1, "records", 1990),
                                  (2, "houses_damaged", None), (2, "deaths", 2000)):
            frame = atlas.profile([metric], level=level, year_from=y0)
            got, expected = list(_unit_totals(frame)), by_loop(frame)
            assert len(got) == len(expected) > 0
            for a, b in zip(got, expected, strict=True):
                assert a[:6] == b[:6]
                assert a[6] == b[6]
                assert a[7] == b[7] or (pd.isna(a[7]) and pd.isna(b[7]))
    assert list(_unit_totals(frame.iloc[:0])) == []


def _drivers_per_unit(share_cube, norm, raw, hazards, names):
    """The drivers as they were found: a sort per unit."""
    flat, norm_flat, raw_flat = (a.reshape(len(a), -1) for a in (share_cube, norm, raw))
    out = []
    for u in range(len(flat)):
        order = np.lexsort((np.arange(flat.shape[1]), -flat[u].round(9)))
        out.append([{"hazard": hazards[k // len(names)], "indicator": names[k % len(names)],
                     "share_pct": round(float(flat[u, k]) * 100, 1),
                     "value": float(raw_flat[u, k]), "score": round(float(norm_flat[u, k]), 2)}
                    for k in map(int, order[:3]) if flat[u, k] > 0])
    return out


def test_drivers_are_those_of_a_sort_per_unit():
    rng = np.random.default_rng(5)
    names = ["deaths_missing", "directly_affected", "houses_lost", "injured"]
    for trial in range(30):
        n_units, n_hazards = int(rng.integers(1, 40)), int(rng.integers(1, 6))
        hazards = [f"h{k}" for k in range(n_hazards)]
        shape = (n_units, n_hazards, len(names))
        norm = rng.choice([0.0, 1.0, 7.5], size=shape)
        raw = norm * 3
        # a per-capita value over no households is infinite: it stays so
        raw[rng.random(shape) < 0.05] = np.inf
        if trial % 3 == 0:
            norm = norm.round(0)  # ties between pairs
        w = rng.uniform(0.5, 2, size=len(names))
        by_hazard = screen_module.hazard_scores(norm, w)
        got = screen_module._drivers(norm, raw, by_hazard, w, hazards, names)
        d = -np.log(np.maximum(1 - by_hazard / 10, 1e-10))
        total = d.sum(axis=1, keepdims=True)
        d_share = np.divide(d, total, out=np.zeros_like(d), where=total > 0)
        wx = norm * w
        inside = wx.sum(axis=2, keepdims=True)
        share = d_share[:, :, None] * np.divide(wx, inside, out=np.zeros_like(wx),
                                                where=inside > 0)
        assert got == _drivers_per_unit(share, norm, raw, hazards, names), trial


def test_vectorised_rounding_is_pythons_round():
    """The drivers' shares and scores are rounded as Python's round() rounds each float,
    halves and floats just off a half included."""
    rng = np.random.default_rng(8)
    x = np.concatenate([rng.uniform(0, 100, 5000), np.arange(0, 100, 0.05),
                        np.arange(0, 10, 0.005), [0.15, 2.675, 0.125, 1e-17, np.inf, 0.0]])
    for digits in (1, 2):
        got = screen_module._rounded(x, digits)
        assert got.tolist() == [round(v, digits) for v in x.tolist()], digits


def _window(rng: random.Random) -> dict[str, int | None]:
    """A random year window of Nepal's records (either end may be open)."""
    y0 = rng.choice([None, *range(1970, 2012)])
    y1 = rng.choice([None, *range(1975, 2016)])
    if y0 is not None and y1 is not None and y0 > y1:
        y0, y1 = y1, y0
    return {"year_from": y0, "year_to": y1}


def _sorted_rows(table) -> pd.DataFrame:
    keys = ["country_iso3", "admin_code", "hazard", "start_year"]
    return table.to_pandas().sort_values(keys).reset_index(drop=True)


@pytest.mark.shared_data
def test_screen_windows_read_off_every_year_sums_are_the_pass_over_the_cards(nepal_db):
    """A served copy keeps the screen's sums of every year of a scope and reads each year
    window off them: the rows (and their types) are those of the window's own pass over
    the records, and the screen is the same as without a memo, for random scopes."""
    from riskatlas.store.memo import Memo

    rng = random.Random(11)
    with riskatlas.open(nepal_db, read_only=True) as atlas:
        records = atlas.engine.table("records")
        codes = sorted(atlas.records(limit=None, columns=["level1_code"])[
            "level1_code"].dropna().unique())
        bases = [dict(level=rng.choice([1, 2]), admin=rng.choice([None, None, *codes]),
                      all_hazards=rng.random() < 0.4, include_unapproved=rng.random() < 0.3)
                 for _ in range(4)]
        scopes = []
        for _ in range(12):  # year windows of a few scopes
            window = _window(rng)
            scopes.append(dict(rng.choice(bases), **window))
        plain = [atlas.screen(**s) for s in scopes]
        atlas.store.memo = Memo()  # as a served copy
        for s, expected in zip(scopes, plain, strict=True):
            sc = screen_module.screen_scope(
                atlas.scope(**{k: v for k, v in s.items() if k != "all_hazards"}),
                atlas.methods, s["all_hazards"])
            direct = screen_module.unit_years(records, sc).to_pyarrow()
            kept = atlas._unit_years(sc)
            assert kept.schema == direct.schema, s
            pd.testing.assert_frame_equal(_sorted_rows(kept), _sorted_rows(direct))
            got = atlas.screen(**s)
            pd.testing.assert_frame_equal(got, expected)
            assert got.attrs == expected.attrs
        kept_sums = [k for k in atlas.store.memo._values
                     if k[-1][1] == "riskatlas.analysis.screen.every_year_sums"]
        assert 0 < len(kept_sums) < len(scopes)  # windows of one scope share its sums


@pytest.mark.shared_data
def test_profile_windows_read_off_year_sums_are_the_pass_over_the_cards(nepal_db):
    """A served copy keeps the profile's sums per unit × hazard × year of a scope (and the
    periods its events are counted over) and reads each year window off them: the profile
    and what the climate-related screen leaves out are the same as the window's own pass
    over the records (no memo), for random scopes, levels, hazard namings and metrics."""
    from riskatlas.analysis.profile import SUM_METRICS
    from riskatlas.store.memo import Memo

    rng = random.Random(5)
    with riskatlas.open(nepal_db, read_only=True) as atlas:
        codes = sorted(atlas.records(limit=None, columns=["level1_code"])[
            "level1_code"].dropna().unique())
        bases = [dict(level=rng.choice([None, 0, 1, 2]), admin=rng.choice([None, None, *codes]),
                      hazard=rng.choice([None, None, "flood", "landslide"]),
                      hazard_key=rng.choice(["group", "hips", "term"]),
                      include_unapproved=rng.random() < 0.3) for _ in range(4)]
        calls = []
        for _ in range(12):  # year windows of a few scopes
            window = _window(rng)
            metrics = rng.sample(["records", "events", *SUM_METRICS], rng.randint(1, 4))
            calls.append((metrics, dict(rng.choice(bases), **window)))
        def profile(metrics, scope):
            try:
                return (atlas.profile(metrics, **scope),
                        atlas.outside_screen(**{k: v for k, v in scope.items()
                                                if k != "hazard_key"}))
            except EmptyScopeError as exc:  # an empty window is an answer too
                return str(exc)

        # windows of scopes whose cards are their events' basis (no unit or hazard):
        # their events are counted over the kept groups of their periods
        for level, window in ((None, {"year_from": 1990, "year_to": 2005}),
                              (1, {"year_to": 1999}), (0, {"year_from": 2008})):
            calls.append((["events", "deaths"], dict(level=level, **window)))
        plain = [profile(*call) for call in calls]
        atlas.store.memo = Memo()  # as a served copy
        for call, expected in zip(calls, plain, strict=True):
            got = profile(*call)
            if isinstance(expected, str):
                assert got == expected
                continue
            for frame, frame_expected in zip(got, expected, strict=True):
                pd.testing.assert_frame_equal(frame, frame_expected, obj=str(call))
                assert frame.attrs == frame_expected.attrs
        assert sum(isinstance(p, str) for p in plain) < len(calls) // 2
        assert any(len(p[1]) for p in plain if not isinstance(p, str))  # earthquakes
        kept_sums = [k for k in atlas.store.memo._values
                     if k[-1][1] == "riskatlas.analysis.profile.year_sums"]
        assert 0 < len(kept_sums) < len(calls)  # windows of one scope share its sums
        assert any(k[-1][1] == "riskatlas.analysis.profile.event_groups"
                   for k in atlas.store.memo._values)


def _badge_of(years, unknown, approved, bounds) -> str:
    """The data-quality badge of one unit, as the methods state it."""
    years = 0 if pd.isna(years) else years
    unknown = 0.0 if pd.isna(unknown) else unknown
    good, poor = bounds["good"], bounds["poor"]
    if (years < poor["years"] or unknown > poor["unknown_share"]
            or (not pd.isna(approved) and approved < poor["approved_share"])):
        return "C"
    if (years >= good["years"] and unknown <= good["unknown_share"]
            and (pd.isna(approved) or approved >= good["approved_share"])):
        return "A"
    return "B"


def test_badges_and_classes_are_the_rules_unit_by_unit():
    methods = load_methods()
    bounds, classes = methods.get("screen")["quality"], methods.classes()
    rng = np.random.default_rng(11)
    n = 2_000
    units = pd.DataFrame({
        "years_covered": rng.choice([np.nan, 0, 5, 10, 19, 20, 35], size=n),
        "unknown_share": rng.choice([np.nan, 0.0, 0.1, 0.2, 0.3, 0.31, 1.0], size=n),
        "approved_share": rng.choice([np.nan, 0.0, 0.5, 0.49, 0.9, 0.95, 1.0], size=n)})
    got = screen_module._badges(units, bounds)
    assert list(got) == [_badge_of(*row, bounds) for row in units.itertuples(index=False)]
    assert set(got) == {"A", "B", "C"}
    lowers = [lower for _, lower in classes]
    scores = np.array([np.nan, -1.0, 0.0, 10.0, *lowers, *(np.array(lowers) - 1e-9),
                       *rng.uniform(0, 10, 500)])

    def class_of(score: float) -> str:
        return next((name for name, lower in classes if score >= lower), classes[-1][0])

    assert list(screen_module.score_classes(scores, classes)) == list(map(class_of, scores))


@pytest.mark.shared_data
def test_indicators_normalise_as_the_methods_state(nepal_db):
    """Per unit (every unit of the level's gazetteer and of the records) × hazard, each
    indicator's annual sum, and its score: x = ln(1 + raw) capped at the percentile of the
    units' positive x and scaled min–max to 0–10 per hazard × indicator (pandas here)."""
    from riskatlas.analysis.scope import Scope

    methods = load_methods()
    q = float(methods.get("screen.cap_percentile"))
    w_damaged = float(methods.get("screen.damaged_house_weight"))
    with riskatlas.open(nepal_db, read_only=True) as atlas:
        for level, window in ((1, {}), (2, {"year_from": 1990, "year_to": 2005})):
            scope = screen_module.screen_scope(Scope(country="NPL", level=level, **window),
                                               methods, all_hazards=True)
            years = screen_module.unit_years(atlas.table("records"), scope).to_pyarrow()
            units = atlas.table("admin_units")
            gazetteer = units.filter(units.level == level).to_pyarrow()
            grid = screen_module.unit_grid(years, gazetteer)
            got = screen_module.indicators(years, grid, methods)
            frame = years.to_pandas()
            codes = set(frame["admin_code"]) | set(gazetteer["code"].to_pylist())
            assert list(got.units["admin_code"]) == sorted(codes) and len(codes) > 70
            assert got.hazards == sorted(frame["hazard"].unique()) and not got.per_capita
            # each indicator's sum over the unit's years, divided by the period's years
            span = frame["period_to"].max() - frame["period_from"].min() + 1
            assert (got.units["years"] == span).all()
            sums = frame.groupby(["admin_code", "hazard"])[list(
                screen_module.CORE_COUNTS)].sum()
            expected_raw = np.zeros(got.raw.shape)
            row_of = {code: k for k, code in enumerate(got.units["admin_code"])}
            for (code, hazard), r in sums.iterrows():
                expected_raw[row_of[code], got.hazards.index(hazard)] = [
                    r["deaths"] + r["missing"], r["injured"], r["directly_affected"],
                    r["houses_destroyed"] + w_damaged * r["houses_damaged"]]
            np.testing.assert_allclose(got.raw, expected_raw / span, rtol=1e-12)
            # the methods' formula per hazard × indicator, over a long table of them
            n_units, n_hazards, _ = got.raw.shape
            hazard = np.repeat(got.hazards, n_units)
            long = pd.concat([pd.DataFrame({
                "hazard": hazard, "indicator": n,
                "raw": got.raw[:, :, i].T.ravel(), "norm": got.norm[:, :, i].T.ravel()})
                for i, n in enumerate(screen_module.INDICATORS)], ignore_index=True)
            assert len(long) == n_units * n_hazards * 4
            assert long["norm"].between(0, 10 + 1e-9).all()
            x = np.log1p(long["raw"])
            positive = x.where(x > 0)
            group = [long["hazard"], long["indicator"]]
            cap = positive.groupby(group).transform(lambda s: s.quantile(q)).fillna(0.0)
            xc = np.minimum(x, cap)
            lo, hi = xc.groupby(group).transform("min"), xc.groupby(group).transform("max")
            expected = np.where(hi > lo, (xc - lo) * 10.0 / (hi - lo), 0.0)
            np.testing.assert_allclose(long["norm"], expected, rtol=1e-12, atol=1e-12)


def test_every_countrys_kept_sums_and_ledger_give_each_countrys_results(tmp_path):
    """A served copy keeps the ledger, the sums of every year and the events over every
    year once for every country and reads a country's rows off them: each country's
    profiles, screens, what its screen leaves out and its notes are those of its own
    queries (no memo), window by window."""
    from cards import card, store_with
    from riskatlas.store.memo import Memo

    rng = random.Random(3)
    events = ["FLOOD", "LANDSLIDE", "EARTHQUAKE", "STORM", "DROUGHT"]
    db = tmp_path / "three.duckdb"
    for country in ("LKA", "KHM", "IDN"):
        cards = [card(k, rng.choice(events), rng.randint(1990, 2012), f"0{rng.randint(1, 5)}",
                      month=rng.randint(1, 12), deaths=rng.randint(0, 9),
                      affected=rng.randint(0, 500), destroyed=rng.randint(0, 20))
                 for k in range(1, 60)]
        store_with(tmp_path, cards, country=country, name=country, db=db)
    windows = [{}, {"year_from": 1995, "year_to": 2004}, {"year_to": 1999},
               {"year_from": 2011}]
    # "" is every country (as the API's empty parameter), "khm" one in lower case
    asks = [(c, w) for c in ("LKA", "khm", "IDN", "") for w in windows]

    def results(atlas):
        out = []
        for country, window in asks:
            scope = atlas.scope(country=country, level=0, **window)
            out.append(atlas.profile(["records", "events", "deaths"], scope=scope))
            for every in (False, True):
                try:
                    out.append(atlas.screen(all_hazards=every, scope=scope))
                except EmptyScopeError as exc:
                    out.append(str(exc))
            out.append(atlas.outside_screen(scope=scope))
        return out

    with riskatlas.open(db, read_only=True) as atlas:
        plain = results(atlas)
        atlas.store.memo = Memo()  # as a served copy
        kept = results(atlas)
        # the ledgers and sums kept are every country's
        keys = [key for (key,) in atlas.store.memo._values if len(key) == 3
                and (key[1] == "ledger" or key[1].endswith(("_sums", "_groups")))]
        assert len(keys) >= 3 and all(not scope.country for _, _, scope in keys)
        assert any(name.endswith("event_groups") for _, name, _ in keys)
        # and, over every year, the events of every country (each country's read off)
        assert any(len(key) == 3 and key[1] == "profile.events" and not key[2].country
                   for (key,) in atlas.store.memo._values)
        # sums of every country too large to keep: each country keeps its own
        atlas.store.memo = Memo(weight_limit=1_000)
        small = results(atlas)
        assert any(key[1] == "too_large" for (key,) in atlas.store.memo._values)
    assert len(plain) == len(kept) == len(small) == 4 * len(asks)
    for expected, got, got_small in zip(plain, kept, small, strict=True):
        if isinstance(expected, str):
            assert got == got_small == expected
            continue
        for frame in (got, got_small):
            pd.testing.assert_frame_equal(frame, expected)
            assert frame.attrs == expected.attrs


def test_indicators_per_capita_take_people_per_household_where_none_are_reported():
    """Houses lost are per 1,000 households: those reported, else (none, or 0 for a unit
    with people) its people over the methods' household size; the rest per 100,000."""
    import pyarrow as pa

    methods = load_methods()
    size = float(methods.get("sendai.household_size_default"))
    w_damaged = float(methods.get("screen.damaged_house_weight"))
    counts = {c: [float(v)] * 3 for c, v in zip(screen_module.CORE_COUNTS, (4, 1, 2, 30, 6, 8),
                                                strict=True)}
    years = pa.table({"country_iso3": ["LKA"] * 3, "admin_code": ["01", "02", "03"],
                      "hazard": ["flood"] * 3, "start_year": [2000] * 3,
                      "unit_name": ["A", "B", "C"], "cards": [1, 1, 1],
                      "unknown_flags": [0, 0, 0], "with_status": [1, 1, 1],
                      "approved": [1, 1, 1], "period_from": [2000] * 3,
                      "period_to": [2001] * 3, **counts})
    population = pa.table({"country_iso3": ["LKA"] * 3, "admin_code": ["01", "02", "03"],
                           "population": [1_000.0, 2_000.0, 4_000.0],
                           "households": [100.0, 0.0, None]})
    got = screen_module.indicators(years, screen_module.unit_grid(years), methods,
                                   population)
    assert got.per_capita and got.units["years"].tolist() == [2, 2, 2]
    lost = (6 + w_damaged * 8) / 2
    households = np.array([100.0, 2_000 / size, 4_000 / size])
    np.testing.assert_allclose(got.raw[:, 0, 3], lost * 1e3 / households)
    np.testing.assert_allclose(got.raw[:, 0, 0], (4 + 1) / 2 * 1e5 / np.array(
        [1_000.0, 2_000.0, 4_000.0]))
    assert np.isfinite(got.norm).all()
