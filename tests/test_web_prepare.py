"""Issue 15, item 6 (the first unit page cold): when a served copy opens, the app prepares
the largest country's pages in the background (web/warm.py): the level's screens, the peer
features and the events are in the copy's memo before a visitor asks, and a unit page
then answers as an unprepared app does, without screening again."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import web_client
from riskatlas.assessment import pipeline
from riskatlas.services import browse


def test_prepared_copy_serves_unit_pages_without_screening_again(
        grenada_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "/unit/GRD/GRD0106?level=2"  # not the unit the preparation opens (the first)
    with web_client(grenada_db, cache=False) as http:
        answer = http.get(url, headers={"accept-language": "en"})
        plain = answer.status_code, answer.text
    calls: list[object] = []
    real = pipeline.screens

    def counted(*args: object, **kw: object) -> object:
        calls.append(args)
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "screens", counted)
    with web_client(grenada_db, cache=False, prepare=1) as http:
        snapshots = http.app.state.settings.snapshots
        assert snapshots.prepared.wait(300)
        prepared_calls = len(calls)
        assert prepared_calls >= 1  # the preparation screened the level once
        copy = snapshots.acquire()
        try:  # the record browser's index was built too
            assert copy.connection.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                [browse.TABLE]).fetchone() == (1,)
        finally:
            snapshots.release(copy)
        answer = http.get(url, headers={"accept-language": "en"})
        assert len(calls) == prepared_calls  # the page found the screens in the memo
    assert (answer.status_code, answer.text) == plain
    assert plain[0] == 200


def test_apps_prepare_nothing_unless_asked(grenada_db: Path) -> None:
    with web_client(grenada_db, cache=False) as http:
        http.get("/api/")
        assert http.app.state.settings.snapshots.on_copy is None
