"""Events across units (issue 12, item 5): a national earthquake or cyclone is one event
with its parts per unit, a monsoon is not, and intensive is decided per whole event."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import riskatlas
from cards import card, store_with
from riskatlas.analysis.events import card_events, event_counts, events
from riskatlas.analysis.methods import Methods, load_methods
from riskatlas.analysis.risk import unit_events
from riskatlas.analysis.scope import Scope


def _events_and_parts(atlas: Any, scope: Scope) -> tuple[pd.DataFrame, pd.DataFrame]:
    """events() and risk.unit_events() of one scope, on the same basis."""
    records = atlas.engine.table("records")
    basis = scope.but(admin=None, hazard=None, climate_only=False).records(records)
    ev = events(scope.records(records), atlas.methods, basis=basis).to_pandas()
    parts = unit_events(records, scope, atlas.methods).to_pandas()
    return ev, parts


def _span_days(ev: pd.DataFrame) -> pd.Series:
    return (pd.to_datetime(ev.end_date) - pd.to_datetime(ev.start_date)).dt.days


@pytest.mark.shared_data
def test_gorkha_cards_form_one_intensive_event(nepal_db):
    with riskatlas.open(nepal_db, read_only=True) as atlas:
        quake = atlas.table("records").filter(
            lambda r: (r.hazard_group == "earthquake") & (r.start_year == 2015)
            & r.start_month.isin([4, 5])).to_pandas()
        ev, parts = _events_and_parts(atlas, Scope(country="NPL", level=0))
    gorkha = ev[(ev.hazard == "earthquake")
                & (pd.to_datetime(ev.start_date) >= "2015-04-01")
                & (pd.to_datetime(ev.start_date) <= "2015-05-31")]
    assert len(gorkha) == 1
    row = gorkha.iloc[0]
    assert row.cards == len(quake) > 1 and row.deaths == quake.deaths.sum()
    assert row.level0_units == quake.level0_code.nunique() > 1 and row.level0_code == ""
    assert row.intensive
    # its parts per development region carry the whole event's flag, and add up to it
    own = parts[parts.event_id == row.event_id]
    assert len(own) == row.level0_units and own.intensive.all()
    assert own.cards.sum() == row.cards and own.deaths.sum() == row.deaths
    # every event: events() and risk.unit_events() agree on intensive
    flags = parts.groupby("event_id").intensive.agg(["min", "max"])
    assert (flags["min"] == flags["max"]).all()
    both = ev.set_index("event_id").intensive.reindex(flags.index)
    assert (both == flags["max"]).all()


def _monsoon() -> list[dict[str, Any]]:
    """Flood cards from June to September: one somewhere in the country every 3 days
    (four provinces in turn) and, in province 05, one every 2 days."""
    start = dt.date(2010, 6, 1)
    cards, serial = [], 0
    for step in range(40):  # 120 days
        day = start + dt.timedelta(days=3 * step)
        serial += 1
        cards.append(card(serial, "FLOOD", 2010, f"0{step % 4 + 1}", month=day.month,
                          day=day.day, deaths=1))
    for step in range(60):
        day = start + dt.timedelta(days=2 * step)
        serial += 1
        cards.append(card(serial, "FLOOD", 2010, "05", month=day.month, day=day.day,
                          deaths=1))
    return cards


def test_monsoon_floods_across_a_country_do_not_collapse(tmp_path):
    db = store_with(tmp_path, _monsoon())
    with riskatlas.open(db, read_only=True) as atlas:
        ev = atlas.events()
        span = int(atlas.methods.get("events.max_span_days")["flood"])
    assert len(ev) > 1 and ev.cards.max() < 100 and ev.cards.sum() == 100
    assert (ev.level0_units == 1).all()                  # floods chain within a province
    assert (ev[ev.level0_code != "05"].cards == 1).all()  # 12 days apart: all apart
    dense = ev[ev.level0_code == "05"]
    assert len(dense) == 118 // span + 1  # one chain of 118 days, cut every span
    assert (_span_days(dense) < span).all()


def test_maximum_span_is_what_cuts_the_season(tmp_path):
    db = store_with(tmp_path, _monsoon())
    path = tmp_path / "long.yaml"
    path.write_text("events:\n  max_span_days:\n    flood: 1000\n", encoding="utf-8")
    with riskatlas.open(db, read_only=True, methods=path) as atlas:
        ev = atlas.events()
    assert (ev[ev.level0_code == "05"].cards == [60]).all()


def test_national_cyclone_is_one_event_with_parts_per_unit(tmp_path):
    db = store_with(tmp_path, [
        # a cyclone crossing five provinces over three days: 8 deaths in each
        *(card(i, "CYCLONE", 2012, f"0{i}", month=11, day=1 + i // 2, deaths=8)
          for i in range(1, 6)),
        # thunderstorms the same days in two provinces: local, two events
        card(11, "THUNDERSTORM", 2012, "01", month=11, day=1, deaths=20),
        card(12, "THUNDERSTORM", 2012, "02", month=11, day=2, deaths=20),
        # a flood the same days in two provinces: two events
        card(21, "FLOOD", 2012, "01", month=11, day=1),
        card(22, "FLOOD", 2012, "03", month=11, day=1),
    ])
    with riskatlas.open(db, read_only=True) as atlas:
        ev, parts = _events_and_parts(atlas, Scope(level=0))
        one = atlas.events(admin="03")
        risk = atlas.risk(level=0)
    by_term = ev.groupby("hazard").cards.apply(sorted).to_dict()
    assert by_term == {"storm": [1, 1, 5], "flood": [1, 1]}
    cyclone = ev[ev.cards == 5].iloc[0]
    assert (cyclone.level0_units, cyclone.level0_code, cyclone.deaths) == (5, "", 40)
    assert cyclone.intensive                      # 40 deaths in all; 8 in any one unit
    own = parts[parts.event_id == cyclone.event_id].sort_values("admin_code")
    assert own.admin_code.tolist() == ["01", "02", "03", "04", "05"]
    assert (own.deaths == 8).all() and own.intensive.all()
    # the thunderstorms stay apart and each stays extensive (20 deaths < 30)
    assert not ev[(ev.hazard == "storm") & (ev.cards == 1)].intensive.any()
    # one province's view: the cyclone's part there, flagged as the whole event
    row = one[one.event_id == cyclone.event_id].iloc[0]
    assert (row.cards, row.deaths, row.level0_code, bool(row.intensive)) == (1, 8, "03", True)
    storm = risk[risk.hazard == "storm"].set_index("admin_code")
    assert storm.loc["03", "intensive_events"] == 1 and storm.loc["03", "deaths_intensive"] == 8
    assert storm.loc["01", "events"] == 2 and storm.loc["01", "intensive_events"] == 1


def test_glide_joins_across_units_within_a_hazard_group(tmp_path):
    glide = "FL-2013-000077-LKA"
    db = store_with(tmp_path, [
        card(1, "FLOOD", 2013, "01", month=5, day=1, glide=glide),
        card(2, "FLOOD", 2013, "04", month=5, day=20, glide=glide),    # far and later
        card(3, "LANDSLIDE", 2013, "04", month=5, day=3, glide=glide),  # another group
        card(4, "FLOOD", 2013, "02", month=5, day=2),                   # no GLIDE
    ])
    with riskatlas.open(db, read_only=True) as atlas:
        ev = atlas.events().set_index("event_id")
    assert ev.loc[f"LKA|flood|glide|{glide}", "cards"] == 2
    assert ev.loc[f"LKA|landslide|glide|{glide}", "cards"] == 1
    assert len(ev) == 3


def _cards(rows: list[tuple[str, str, str, str | None, str | None]]) -> Any:
    """An Ibis table of cards: (record id, date, province, GLIDE, event name) cyclones."""
    import ibis

    frame = pd.DataFrame([{
        "record_id": rid, "country_iso3": "PHL", "hazard_group": "storm",
        "hazard_term": "Tropical Cyclone", "hips_code": "MH0309", "glide": glide,
        "event_name": name, "level0_code": unit, "start_date": dt.date.fromisoformat(day),
        "start_year": int(day[:4]), "start_month": int(day[5:7]), "date_precision": "day",
    } for rid, day, unit, glide, name in rows])
    types = {c: "string" for c in frame.columns if c not in ("start_date", "start_year",
                                                             "start_month")}
    return ibis.memtable(frame, schema={**types, "start_date": "date", "start_year": "int64",
                                        "start_month": "int64"})


def _tags(rows: list[tuple[str, str, str, str | None, str | None]],
          methods: Methods | None = None) -> dict[str, str]:
    tags = card_events(_cards(rows), methods or load_methods()).to_pandas()
    return dict(zip(tags.record_id, tags.event_id, strict=True))


def test_event_names_keep_two_storms_at_once_apart():
    tags = _tags([
        ("a1", "2009-09-26", "P01", None, "Typhoon Ketsana"),
        ("a2", "2009-09-27", "P02", None, "typhoon  ketsana "),
        ("b1", "2009-09-27", "P03", None, "Typhoon Parma"),
        ("b2", "2009-09-30", "P01", None, "Typhoon Parma"),
    ])
    assert tags["a1"] == tags["a2"] != tags["b1"] == tags["b2"]


def test_unnamed_cards_join_the_one_identifier_of_their_chain():
    tags = _tags([
        ("g1", "2013-11-08", "P01", "TC-2013-000139-PHL", None),
        ("g2", "2013-11-08", "P02", None, None),
        ("g3", "2013-11-09", "P03", None, None),
        ("x1", "2014-07-15", "P01", None, "Rammasun"),
        ("x2", "2014-07-15", "P02", None, "Matmo"),
        ("x3", "2014-07-16", "P03", None, None),  # two names in its chain: stays apart
    ])
    assert tags["g1"] == tags["g2"] == tags["g3"] == "PHL|storm|glide|TC-2013-000139-PHL"
    assert len({tags["x1"], tags["x2"], tags["x3"]}) == 3


def test_country_wide_hazards_are_data(tmp_path):
    rows = [("c1", "2013-11-08", "P01", None, None), ("c2", "2013-11-08", "P02", None, None)]
    path = tmp_path / "local.yaml"
    path.write_text("events:\n  country_wide:\n    groups: [earthquake]\n    hips: []\n",
                    encoding="utf-8")
    assert len(set(_tags(rows).values())) == 1
    assert len(set(_tags(rows, load_methods(path)).values())) == 2


# --- the rule of events.py in plain Python, against the Ibis expression ----------------

def _reference_events(cards: list[dict[str, Any]], methods: Methods) -> dict[str, str]:
    """record id → event id by the module's documented rule, card by card."""
    def per_group(name: str, default: str) -> Any:
        return lambda group: int(methods.get(name).get(group, methods.get(default)))

    window, span = (per_group("events.window_days", "events.default_window_days"),
                    per_group("events.max_span_days", "events.default_max_span_days"))
    wide = methods.get("events.country_wide")
    chains: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for c in cards:
        if c["start_date"] is None:  # no date: a chain of its own, after the dated ones
            day0 = day1 = None
        elif c["date_precision"] == "month":
            nxt = dt.date(c["start_year"] + c["start_month"] // 12, c["start_month"] % 12 + 1, 1)
            day1 = (nxt - dt.date(1970, 1, 1)).days - 1
        elif c["date_precision"] == "year":
            day1 = (dt.date(c["start_year"] + 1, 1, 1) - dt.date(1970, 1, 1)).days - 1
        else:
            day1 = (c["start_date"] - dt.date(1970, 1, 1)).days
        if c["start_date"] is not None:
            day0 = (c["start_date"] - dt.date(1970, 1, 1)).days
        name = " ".join((c["event_name"] or "").split()).lower()
        ident = (f"glide:{c['glide'].strip()}" if (c["glide"] or "").strip()
                 else f"name:{name}" if name else None)
        group = c["hazard_group"]
        country_wide = group in wide["groups"] or any(
            c["hips_code"].startswith(p) for p in wide["hips"])
        area = "*" if country_wide or ident else c["level0_code"] or ""
        chains.setdefault((c["country_iso3"], group, area), []).append(
            {**c, "day0": day0, "day1": day1, "ident": ident, "window": window(group),
             "span": span(group)})
    out: dict[str, str] = {}
    for (country, group, area), members in chains.items():
        # cards sharing a period come together; a card ending long before it starts
        # (none here) would be its own key
        members.sort(key=lambda m: (m["day0"] is None, m["day0"] or 0, m["day1"] or 0,
                                    "" if m["day0"] is not None else m["record_id"]))
        chain, prev_end = 0, None
        pieces: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for m in members:
            if prev_end is None or m["day0"] is None or m["day0"] > prev_end + m["window"]:
                chain += 1
            if m["day1"] is not None:
                prev_end = m["day1"] if prev_end is None else max(prev_end, m["day1"])
            m["chain"] = chain
        for m in members:  # spans count from the chain's earliest sure start
            start = min((x["day1"] for x in members
                         if x["chain"] == m["chain"] and x["day1"] is not None), default=None)
            piece = (0 if m["day0"] is None or start is None
                     else max(0, (m["day0"] - start) // max(m["span"], 1)))
            pieces.setdefault((m["chain"], piece), []).append(m)
        for (chain, piece), part in pieces.items():
            idents = {m["ident"] for m in part if m["ident"]}
            for m in part:
                own = m["ident"] or (next(iter(idents)) if len(idents) == 1 else None)
                prefix = f"{country or ''}|{group}|"  # a card with no country: ""
                chained = f"{prefix}{area}|{chain}" + (f".{piece}" if piece else "")
                out[m["record_id"]] = (
                    f"{prefix}glide|{own[len('glide:'):]}" if own and own.startswith("glide:")
                    else f"{chained}|{own}" if own else chained)
    return out


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(
    st.sampled_from([("flood", "FL"), ("storm", "MH0309"), ("storm", "MH0401"),
                     ("earthquake", "GH0101"), ("landslide", "GH0300")]),
    st.integers(0, 120), st.sampled_from(["day", "day", "month", "year", None]),
    st.sampled_from(["P01", "P02", "P03", None]),
    st.sampled_from([None, None, None, "G-1", " G-2 "]),
    st.sampled_from([None, None, None, "Ketsana", "ketsana  ", "Parma"]),
    st.sampled_from(["PHL", "PHL", None])),
    min_size=1, max_size=40))
def test_events_are_the_documented_rule_card_by_card(drawn):
    """Random cards of a country or of none (hazards chained per unit and country-wide,
    partial dates, no date, no unit, GLIDE numbers, event names): the events of the
    expression are those of the rule applied card by card, the same ids."""
    import ibis

    cards = []
    for i, ((group, hips), offset, precision, unit, glide, name, country) in enumerate(drawn):
        day = dt.date(2013, 1, 1) + dt.timedelta(days=offset * 3)
        start = {"day": day, "month": day.replace(day=1), "year": day.replace(month=1, day=1),
                 None: None}[precision]
        cards.append({"record_id": f"r{i}", "country_iso3": country, "hazard_group": group,
                      "hazard_term": group, "hips_code": hips, "glide": glide,
                      "event_name": name, "level0_code": unit, "start_date": start,
                      "start_year": start and start.year, "start_month": start and start.month,
                      "date_precision": precision})
    frame = pd.DataFrame(cards).astype({"start_year": "Int64", "start_month": "Int64"})
    types = {c: "string" for c in frame.columns if c not in ("start_date", "start_year",
                                                             "start_month")}
    table = ibis.memtable(frame, schema={**types, "start_date": "date",
                                         "start_year": "int64", "start_month": "int64"})
    methods = load_methods()
    got = card_events(table, methods).to_pandas()
    tags = dict(zip(got.record_id, got.event_id, strict=True))
    reference = _reference_events(cards, methods)
    assert tags == reference
    # counted per unit × hazard over the cards' distinct periods: the distinct events of
    # the rule's cards (the profile's events)
    by = ["country_iso3", "level0_code", "hazard_group"]
    counts = event_counts(table, methods, by).to_pandas()
    frame["event"] = frame["record_id"].map(reference)
    expected = frame.groupby(by, dropna=False)["event"].nunique().reset_index()

    def keyed(rows: pd.DataFrame, n: str) -> dict[tuple[Any, ...], int]:
        return {tuple(None if pd.isna(v) else v for v in row[:3]): int(row[3])
                for row in rows[[*by, n]].itertuples(index=False)}

    assert keyed(counts, "events") == keyed(expected, "event")
