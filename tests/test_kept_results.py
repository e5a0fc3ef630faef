"""Results kept on a served copy (issue 13, item 10): the profile, screen and
outside-screen results of a scope are kept before they are labelled in a language,
within a memory budget, so that the requests of a scope in any language, level of
detail or page ask the store once; the answers are those computed afresh."""

from __future__ import annotations

import pandas as pd
import pytest

import riskatlas
from riskatlas.store.memo import Memo


def test_weighed_values_stay_within_the_weight_limit():
    memo = Memo(limit=100, weight_limit=1000)
    for i in range(10):
        memo.get(("w", i), lambda i=i: i, weigh=lambda v: 200)
    kept = [k for k in memo._values if k[0][0] == "w"]
    assert [k[0][1] for k in kept] == [5, 6, 7, 8, 9]  # the latest 1,000 bytes
    assert sum(memo._weights.values()) == 1000
    memo.get("plain", lambda: "x")  # values not weighed do not count
    assert sum(memo._weights.values()) == 1000 and ("plain",) in memo._values


def test_a_value_above_a_quarter_of_the_limit_is_not_kept():
    memo = Memo(weight_limit=1000)
    calls = []

    def compute() -> str:
        calls.append(1)
        return "big"

    assert memo.get("big", compute, weigh=lambda v: 251) == "big"
    assert memo.get("big", compute, weigh=lambda v: 251) == "big"
    assert len(calls) == 2 and not memo._weights


def test_views_share_the_weights():
    memo = Memo(weight_limit=1000)
    a, b = memo.scoped("a"), memo.scoped("b")
    a.get(1, lambda: 1, weigh=lambda v: 250)
    b.get(1, lambda: 2, weigh=lambda v: 250)
    assert sum(memo._weights.values()) == 500
    for i in range(3):
        b.get(("more", i), lambda: 0, weigh=lambda v: 250)
    assert ("a", 1) not in memo._values  # the oldest, whichever view kept it


def test_peek_reads_what_is_kept_and_never_computes():
    memo = Memo(limit=2)
    view = memo.scoped("a")
    assert view.peek("k") is None
    view.get("k", lambda: "v")
    assert view.peek("k") == "v" and memo.peek("k") is None  # each view its own keys
    memo.get("x", lambda: 1)
    memo.get("y", lambda: 2)  # over the limit: the oldest, ("a", "k"), out
    assert view.peek("k") is None and memo.peek("y") == 2


CALLS = [("profile", {"metrics": ["records", "deaths", "events"]}),
         ("profile", {"metrics": ["deaths"], "level": 1}),
         ("screen", {"level": 2}), ("screen", {"level": 1, "all_hazards": True}),
         ("outside_screen", {"level": 1})]


def _call(atlas, name: str, lang: str, kw: dict) -> pd.DataFrame:
    kw = dict(kw)
    if name == "profile":
        return atlas.profile(kw.pop("metrics"), lang=lang, **kw)
    return getattr(atlas, name)(lang=lang, **kw)


@pytest.mark.shared_data
def test_kept_results_answer_what_computing_them_answers(nepal_db, monkeypatch):
    scope = {"country": "NPL", "year_from": 1990, "year_to": 2010}
    with riskatlas.open(nepal_db, read_only=True) as atlas:
        fresh = {(n, lang, i): _call(atlas, n, lang, {**kw, **scope})
                 for i, (n, kw) in enumerate(CALLS) for lang in ("en", "zh-TW")}
        atlas.store.memo = Memo()
        for (n, lang, i), expected in fresh.items():
            got = _call(atlas, n, lang, {**CALLS[i][1], **scope})
            pd.testing.assert_frame_equal(got, expected, obj=f"{n} {lang}")
            assert got.attrs == expected.attrs, (n, lang)
            got.loc[:, "country_iso3"] = "XXX"  # a caller changing its frame changes no kept one
        kept = [k for k in atlas.store.memo._values if k[-1][1] == "result"]
        assert len(kept) == len(CALLS)  # one per scope, whatever the language

        def no_query(*a, **k):
            raise AssertionError("a kept result asked the store")

        monkeypatch.setattr(type(atlas.engine.table("records")), "to_pandas", no_query)
        monkeypatch.setattr(type(atlas.engine.table("records")), "to_pyarrow", no_query)
        for (n, lang, i), expected in fresh.items():
            got = _call(atlas, n, lang, {**CALLS[i][1], **scope})
            pd.testing.assert_frame_equal(got, expected, obj=f"{n} {lang} again")
            assert got.attrs == expected.attrs
