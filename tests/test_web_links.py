"""Links of the dashboard keep the reader's language; a page's rows share the query
text of their parameters, which is the one urlencode writes."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request

from riskatlas.web.pages import Links


def _links(lang: str) -> Links:
    return Links(Request({"type": "http", "path": "/screen", "query_string": b"",
                          "headers": []}), lang)


def test_links_are_the_path_and_the_encoded_query_with_the_language():
    links = _links("zh-TW")
    cases = [({}, {}), ({"level": 2, "year_from": None, "year_to": ""}, {"level": 2}),
             ({"level": 1, "year_from": 1990, "year_to": 2000},
              {"level": 1, "year_from": 1990, "year_to": 2000}),
             ({"q": "洪水 & =", "hazard": ["flood", "storm"]},
              {"q": "洪水 & =", "hazard": ["flood", "storm"]})]
    for _ in range(2):  # the second time from the queries kept
        for i, (params, kept) in enumerate(cases):
            expected = f"/unit/NPL/{i}?" + urlencode({**kept, "lang": "zh-TW"}, doseq=True)
            assert links(f"/unit/NPL/{i}", **params) == expected
    assert len(links._queries) == 3  # not the list's
