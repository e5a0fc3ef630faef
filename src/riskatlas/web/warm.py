"""Work done when a served copy opens, before visitors ask (issue 15, item 6: the first
unit page cold).

The record browser needs its index of the copy (a sort of every card, the largest query
a copy runs: built under load, it could exhaust the copy's memory limit), and a unit's
page needs its level's two screens, every unit's peer features and the country's events,
worked out once per copy and kept in its memo (seconds on a million records), and its
queries compiled (the SQL of each query shape is kept per process:
:mod:`riskatlas.analysis.compiled`). Without preparation the first visitor of the records
or of a country's unit pages waits for all of it. So when a copy opens, a background
thread prepares, as a visitor sees them (published cards), the browser's index and first
page, and the countries with the most records (``riskatlas serve``: :data:`COUNTRIES`):
the country's hazard profile (every metric of the profile page, its events included), its
profile and screens at every level (which keep each level's sums of every year for every
country) and one unit page at the level ``riskatlas assess`` picks (peer features, events).
Any other unit's page then finds those in the memo and its queries' shapes compiled.
Requests never wait for the preparation unless they need the very value it is computing
(the memo computes each value once).
"""

from __future__ import annotations

import contextlib
import logging
import time

from riskatlas.analysis.scope import LEVELS
from riskatlas.api import Atlas, Store
from riskatlas.assessment import pipeline
from riskatlas.assessment.value import REPORT_METRICS
from riskatlas.errors import EmptyScopeError
from riskatlas.services.copies import eager, save_templates
from riskatlas.web.access import restrict
from riskatlas.web.browse import search
from riskatlas.web.context import WebSettings
from riskatlas.web.data import default_level
from riskatlas.web.snapshot import Copy

log = logging.getLogger(__name__)

COUNTRIES = 1  # countries prepared when a copy opens, by `riskatlas serve` (most records)


def largest(atlas: Atlas, n: int) -> list[str]:
    """The ``n`` countries with the most cards this reader sees (none for ``XXX``)."""
    import ibis

    r = atlas.table("records")
    r = r.filter(r.country_iso3.notnull())
    top = r.group_by("country_iso3").aggregate(cards=r.count()).order_by(
        [ibis.desc("cards"), "country_iso3"]).limit(n).to_pandas()
    return [str(c) for c in top["country_iso3"]]


def prepare(atlas: Atlas, country: str) -> None:
    """What a country's pages share: its hazard profile (the profile page's metrics), its
    profile and screens at every level (which keep the sums of every year of each level
    for every country: :meth:`riskatlas.api.Atlas.profile`) and, through one unit page at
    its default level, the peer features and the events."""
    scope = atlas.scope_of(country=country)
    atlas.event_tags(scope)  # formed once for the profile and the unit page (if kept)
    atlas.profile(REPORT_METRICS, lang="en", scope=scope)
    atlas.outside_screen(lang="en", scope=scope)
    for at_level in (scope.but(level=level) for level in LEVELS):
        atlas.profile(["records"], lang="en", scope=at_level)
        # a level without units (or records) to screen says so: nothing to prepare
        with contextlib.suppress(EmptyScopeError):
            pipeline.kept_screens(atlas, "en", atlas.ready(at_level))
    level = default_level(atlas, scope)
    at_level = scope.but(level=level)
    screen, _, _ = pipeline.kept_screens(atlas, "en", atlas.ready(at_level))
    ranked = screen[screen["cards"].fillna(0) > 0].sort_values("rank")
    if len(ranked):
        pipeline.unit_assessment(atlas, at_level, str(ranked["admin_code"].iloc[0]),
                                 lang="en")


def warm(copy: Copy, settings: WebSettings, countries: int) -> None:
    """Build the record browser's index of ``copy`` and prepare its ``countries`` largest
    countries (as visitors see them, unless the app shows every card to everyone);
    failures are logged, never raised. A copy is served while it is prepared: a request
    that needs what is being computed waits for it."""
    started = time.perf_counter()
    try:
        store = Store(copy.path, read_only=True, memo=copy.memo,
                      connection=copy.connection.cursor())
        with Atlas(store, methods=settings.methods) as atlas:
            if not settings.public_all:
                restrict(atlas)
            try:  # the record browser's index and its first page
                search(atlas)
            except Exception as exc:  # the countries are prepared all the same
                log.warning("building the record browser's index failed: %s", exc)
            with eager():  # the queries' shapes compiled for the requests to come
                for country in largest(atlas, countries):
                    prepare(atlas, country)
    except Exception as exc:  # a background thread: say it, the requests do the work
        log.warning("preparing the served copy's pages failed: %s", exc)
        return
    save_templates()  # a restarted worker finds them compiled
    log.info("prepared the pages of %d countries in %.1f s", countries,
             time.perf_counter() - started)
