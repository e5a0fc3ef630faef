"""Hazard profiles: shares checked against an independent pandas computation."""

from __future__ import annotations

import csv
import io
from importlib import resources

import pandas as pd
import pytest

import riskatlas
from cards import card, store_with
from conftest import shared
from riskatlas.errors import AnalysisError

METRIC_COLUMNS = {"records": None, "deaths": "Dead_Peopl", "houses_destroyed": "Destroyed"}


def _nepal_frame() -> pd.DataFrame:
    files = sorted(shared("desinventar/npl-xlsx").glob("*.xlsx"))
    frame = pd.concat([pd.read_excel(f, engine="calamine") for f in files], ignore_index=True)
    frame["term"] = frame["Event"].astype(str).str.strip()
    return frame


def _crosswalk_groups() -> dict[str, str]:
    """Term → reporting group, read from the shipped crosswalk file with csv alone."""
    text = resources.files("riskatlas.data").joinpath("hazard_crosswalk.csv").read_text("utf-8")
    rows = csv.DictReader(io.StringIO(text.split("\n", 1)[1]))
    return {r["term"].strip().upper(): r["group"] for r in rows}


def _expected(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    out = []
    for metric, column in METRIC_COLUMNS.items():
        values = (frame.groupby(key).size() if column is None
                  else frame.groupby(key)[column].sum()).astype("float64")
        out.append(pd.DataFrame({"metric": metric, "hazard": values.index, "value": values.values,
                                 "share_pct": values.values * 100 / values.sum()}))
    return pd.concat(out).sort_values(["metric", "hazard"]).reset_index(drop=True)


@pytest.mark.shared_data
@pytest.mark.parametrize("by", ["term", "group"])
def test_nepal_profile_matches_pandas(nepal_db, by):
    frame = _nepal_frame()
    if by == "group":
        groups = _crosswalk_groups()
        frame["group"] = frame["term"].str.upper().map(groups)
        assert frame["group"].notna().all(), "every Nepal term is in the crosswalk"
    expected = _expected(frame, by)
    with riskatlas.open(nepal_db, read_only=True) as atlas:
        got = atlas.profile(list(METRIC_COLUMNS), country="NPL", hazard_key=by)
    got = got.sort_values(["metric", "hazard"]).reset_index(drop=True)
    assert got[["metric", "hazard"]].equals(expected[["metric", "hazard"]])
    assert got["value"].tolist() == pytest.approx(expected["value"].tolist())
    assert got["share_pct"].tolist() == pytest.approx(expected["share_pct"].tolist())
    assert set(got["period_from"]) == {1971} and set(got["period_to"]) == {2016}
    assert got.attrs["methods_version"] and got.attrs["analysis"] == "profile"


@pytest.mark.shared_data
def test_nepal_profile_by_district_and_top(nepal_db):
    with riskatlas.open(nepal_db, read_only=True) as atlas:
        full = atlas.profile(["deaths"], level=1)
        top = atlas.profile(["deaths"], level=1, top=2)
    # 75 districts, plus "" for the records that name no district (kept, not dropped)
    assert len(set(full["admin_code"]) - {""}) == 75
    sums = full.groupby("admin_code")["share_pct"].sum()
    assert sums[sums.notna() & (sums > 0)].tolist() == pytest.approx([100.0] * (sums > 0).sum())
    assert top.groupby("admin_code").size().max() == 2
    assert full["value"].sum() == 43007


def test_events_metric_and_unmapped_term_stays_visible(tmp_path):
    db = store_with(tmp_path, [
        card(1, "FLOOD", 2001, "01", day=1, deaths=2),
        card(2, "FLOOD", 2001, "01", day=3, deaths=1),     # same event (window 5 days)
        card(3, "FLOOD", 2001, "01", day=20, deaths=1),    # a new event
        card(4, "MYSTERY HAZARD", 2002, "01", deaths=4),   # not in the crosswalk
    ])
    with riskatlas.open(db, read_only=True) as atlas:
        got = atlas.profile(["records", "events", "deaths"])
    rows = {(r.metric, r.hazard): r for r in got.itertuples()}
    assert rows["events", "flood"].value == 2
    assert rows["records", "flood"].value == 3
    assert rows["deaths", "unmapped:MYSTERY HAZARD"].share_pct == pytest.approx(50.0)
    assert rows["deaths", "unmapped:MYSTERY HAZARD"].hazard_name == "MYSTERY HAZARD"


def test_bad_metric_is_a_clear_error(atlas):
    with pytest.raises(AnalysisError, match="Unknown metric 'floods'"):
        atlas.profile(["floods"])


def _shaped_by_pandas(by: pd.DataFrame, metrics: list[str], top: int | None) -> pd.DataFrame:
    """The long profile of unit × hazard rows, a group at a time."""
    rows = []
    period = by.groupby("country_iso3").agg(period_from=("period_from", "min"),
                                            period_to=("period_to", "max"))
    for (iso, code), unit in by.groupby(["country_iso3", "admin_code"]):
        for metric in metrics:
            value = unit["n_records" if metric == "records" else metric].fillna(0)
            total = value.sum()
            ranked = unit.assign(value=value.astype(float)).sort_values(
                ["value", "hazard"], ascending=[False, True])
            for rank, r in enumerate(ranked.itertuples(), 1):
                if top is None or rank <= top:
                    rows.append((iso, code, r.admin_name_, *period.loc[iso], metric, r.hazard,
                                 r.value, r.value * 100 / total if total > 0 else None,
                                 rank, r.n_records))
    return pd.DataFrame(rows, columns=[
        "country_iso3", "admin_code", "admin_name", "period_from", "period_to", "metric",
        "hazard", "value", "share_pct", "rank", "records"]).sort_values(
        ["country_iso3", "admin_code", "metric", "rank"], ignore_index=True)


@pytest.mark.parametrize("top", [None, 2])
def test_shaped_profile_is_that_of_each_unit_and_country(top):
    """The long form of unit × hazard sums (numpy over every unit at once) is a loop over
    the units: shares of the unit's total, ranks by value then hazard, each country's own
    period, the first ``top`` ranks."""
    import random

    import pyarrow as pa

    from riskatlas.analysis.profile import shaped

    rng = random.Random(2)
    rows = []
    for iso, first in (("LKA", 1990), ("KHM", 1995), ("IDN", 1980)):
        for code in ("", "01", "02"):
            for hazard in rng.sample(["flood", "storm", "landslide", "drought"], 3):
                rows.append({"country_iso3": iso, "admin_code": code, "hazard": hazard,
                             "admin_name_": f"{iso}-{code}" if code else None,
                             "n_records": rng.randint(1, 9),
                             "period_from": first + rng.randint(0, 2),
                             "period_to": 2010 + rng.randint(0, 3),
                             "deaths": rng.choice([None, 0.0, 2.0, 5.0]),
                             "events": float(rng.randint(0, 3))})
    rng.shuffle(rows)
    by = pa.Table.from_pylist(rows)
    metrics = ["records", "deaths", "events"]
    got = shaped(by, metrics, top, level=1)
    expected = _shaped_by_pandas(pd.DataFrame(rows), metrics, top)
    assert (got["level"] == 1).all() and len(got) == len(expected) > 0
    pd.testing.assert_frame_equal(got.drop(columns="level"), expected, check_dtype=False)
    assert shaped(by.slice(0, 0), metrics, top, level=None).empty
