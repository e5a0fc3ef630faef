"""The record browser's pages (an index per served copy, see riskatlas.web.browse) equal
the records table sorted and sliced, in a served copy and in the store itself, for every
filter, for published cards only, and after the store changes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import riskatlas
from cards import card, store_with
from riskatlas.api import Atlas
from riskatlas.store.store import Store
from riskatlas.web import browse
from riskatlas.web.access import restrict
from riskatlas.web.snapshot import Snapshots


@contextmanager
def served(snapshots: Snapshots) -> Iterator[Atlas]:
    """A request's view of the newest copy (as the app's ``store_view`` makes it)."""
    copy = snapshots.acquire()
    try:
        store = Store(copy.path, read_only=True, connection=copy.connection.cursor(),
                      memo=copy.memo)
        with Atlas(store) as atlas:
            yield atlas
    finally:
        snapshots.release(copy)


def expected(atlas: Atlas, page: int, size: int, **filters: Any) -> tuple[int, list[str]]:
    """The same page from the records table, sorted and sliced by pandas."""
    ids = list(browse.all_records(atlas, **filters)["record_id"])
    return len(ids), ids[(page - 1) * size:page * size]


def pages(atlas: Atlas, cases: list[dict[str, Any]], size: int) -> None:
    for filters in cases:
        total = expected(atlas, 1, size, **filters)[0]
        last = max(1, -(-total // size))
        for page in sorted({1, 2, last // 2 or 1, last, last + 1}):
            got_total, frame = browse.search(atlas, page=page, page_size=size, **filters)
            assert (got_total, frame.column("record_id").to_pylist()) == expected(
                atlas, page, size, **filters), (filters, page)


NEPAL_FILTERS: list[dict[str, Any]] = [
    {}, {"country": "NPL"}, {"hazard": "flood"}, {"hazard": "landslide", "year_from": 1990},
    {"year_to": 1985, "admin": "01"}, {"text": "KATHMANDU"}, {"status": "published"},
    {"country": "NPL", "hazard": "' OR 1=1 --"},
    # filters of shapes met before: from a shape's third query on, its SQL is a kept
    # template filled with the query's own values
    {"hazard": "landslide"}, {"hazard": "' OR 1=1 --"}, {"hazard": "flood", "year_from": 2000},
    {"hazard": "' OR ''='", "year_from": 1985}, {"year_to": 1995, "admin": "02"},
    {"year_to": 2005, "admin": "03"}, {"text": "pokhara"}, {"text": "%"}]


@pytest.mark.shared_data
def test_served_pages_equal_the_sorted_records_on_nepal(nepal_db: Path):
    snapshots = Snapshots(nepal_db)
    try:
        with served(snapshots) as atlas:
            pages(atlas, NEPAL_FILTERS, 50)
            columns = atlas.table("records").columns
            _, frame = browse.search(atlas, page=3, page_size=7, country="NPL")
            assert frame.column_names == [c for c in columns if c != "raw"]
            _, frame = browse.search(atlas, page=3, columns=browse.PAGE_COLUMNS)
            assert tuple(frame.column_names) == browse.PAGE_COLUMNS
    finally:
        snapshots.close()


@pytest.mark.shared_data
def test_direct_pages_equal_the_sorted_records_on_nepal(nepal_db: Path):
    with riskatlas.open(nepal_db, read_only=True) as atlas:
        pages(atlas, NEPAL_FILTERS[:4], 50)


def test_published_only_and_a_new_copy(tmp_path: Path):
    db = store_with(tmp_path, [card(i, ("FLOOD", "LANDSLIDE")[i % 2], 2000 + i % 7, "01",
                                    day=1 + i % 28, comments=f"note {i}") for i in range(60)])
    with riskatlas.open(db) as atlas:  # a third of the cards under review
        atlas.store.connection.execute(
            "UPDATE records SET approval_status = 'submitted' WHERE source_row % 3 = 0")
    snapshots = Snapshots(db)
    try:
        with served(snapshots) as atlas:  # a visitor first: the index holds every card
            restrict(atlas)
            assert browse.search(atlas, page_size=5)[0] == 40
            pages(atlas, [{}, {"hazard": "flood"}, {"status": "submitted"}], 6)
        with served(snapshots) as atlas:  # the memo keeps each reader's totals apart
            assert browse.search(atlas)[0] == 60
            assert browse.search(atlas, status="submitted")[0] == 20
            pages(atlas, [{}, {"status": "submitted"}], 7)
        with riskatlas.open(db, read_only=True) as atlas:  # read directly: the same
            restrict(atlas)
            pages(atlas, [{}, {"text": "NOTE 1"}], 6)
        with riskatlas.open(db) as atlas:
            atlas.store.connection.execute("DELETE FROM records WHERE source_row < 10")
            left = atlas.count_records()
        snapshots.refresh()
        with served(snapshots) as atlas:
            assert browse.search(atlas)[0] == left < 60
            pages(atlas, [{}, {"year_from": 2003}], 6)
    finally:
        snapshots.close()
