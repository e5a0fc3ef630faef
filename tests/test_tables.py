"""Arrow helpers of the numpy steps: look-ups and sums are those of pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from riskatlas.analysis.tables import codes, grouped, rows_in


def test_rows_in_is_a_left_merges_look_up():
    left = pd.DataFrame({"country_iso3": ["NPL", "NPL", "LKA", "LKA", "IDN"],
                         "admin_code": ["01", "", "01", "02", "01"]})
    right = pd.DataFrame({"country_iso3": ["LKA", "NPL", "NPL", "KHM"],
                          "admin_code": ["01", "", "01", "01"], "rank": [1, 2, 3, 4]})
    got = rows_in(left, right, ["country_iso3", "admin_code"])
    merged = left.merge(right.reset_index(), on=["country_iso3", "admin_code"], how="left")
    assert got.tolist() == merged["index"].fillna(-1).astype(int).tolist() == [2, 1, 0, -1, -1]
    # a key with a value none matches nothing, not another key with one
    nones = pd.DataFrame({"country_iso3": [None, None], "admin_code": ["01", "02"]})
    assert rows_in(nones, nones, ["country_iso3", "admin_code"]).tolist() == [-1, -1]


def test_grouped_sums_are_pandas_sums():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"unit": rng.choice(["a", "b", "c"], 50),
                          "hazard": rng.choice(["flood", "storm"], 50),
                          "deaths": rng.integers(0, 9, 50).astype(float),
                          "year": rng.integers(1990, 2010, 50)})
    frame.loc[::7, "deaths"] = np.nan
    got = grouped(pa.Table.from_pandas(frame), ["unit", "hazard"],
                  [("deaths", "sum"), ("year", "min")]).to_pandas()
    expected = frame.groupby(["unit", "hazard"], as_index=False).agg(
        deaths=("deaths", "sum"), year=("year", "min"))
    got = got.sort_values(["unit", "hazard"], ignore_index=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_codes_number_values_as_first_seen():
    assert codes(pa.array(["b", "a", "b", "c", "a"])).tolist() == [0, 1, 0, 2, 1]
    assert codes(pa.array(["a", None, "a", None])).tolist() == [0, 1, 0, 1]
