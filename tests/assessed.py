"""Assessments of the session's real stores (``nepal_db``, ``grenada_db``), each computed
once per test session and shared by the test files that read them (test_glossary,
test_maps, test_report_pages): a Nepal assessment costs seconds, and those files asked for
the same ones. Treat them as read-only (``dataclasses.replace`` and ``frame.copy()`` to
vary one)."""

from __future__ import annotations

from pathlib import Path

import riskatlas
from riskatlas.assessment.value import Assessment

_DONE: dict[tuple[str, str, str], Assessment] = {}


def assessed(db: Path, country: str, lang: str) -> Assessment:
    """``atlas.assess(country=country, lang=lang)`` on the store at ``db`` (read-only), once
    per session."""
    key = (str(db), country, lang)
    if key not in _DONE:
        with riskatlas.open(db, read_only=True) as atlas:
            _DONE[key] = atlas.assess(country=country, lang=lang)
    return _DONE[key]
