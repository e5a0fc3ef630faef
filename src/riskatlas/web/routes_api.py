"""The open JSON API under /api/: the CLI's analyses and browsing, same parameters.

Every table answer is ``{"meta": {...provenance...}, "rows": [...]}`` (records orient,
NaN → null, dates ISO); every error is the one shape of :mod:`riskatlas.web.errors`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from riskatlas.analyses import DEFAULT_METRICS
from riskatlas.analysis.scope import Scope
from riskatlas.api import Atlas
from riskatlas.assessment import pipeline
from riskatlas.web import browse, data
from riskatlas.web.deps import Viewer, current_user, get_atlas, language, request_language
from riskatlas.web.schemas import (
    READ_ERRORS,
    Admin,
    Code,
    Country,
    Dataset,
    Hazard,
    LangParam,
    MetricName,
    Metrics,
    Page,
    PageSize,
    RecordsResult,
    TableResult,
    Top,
    YearFrom,
    YearTo,
)
from riskatlas.web.scope import scope_query
from riskatlas.web.serialize import json_response, table_response

router = APIRouter(prefix="/api", tags=["api"], responses=READ_ERRORS)
AtlasDep = Annotated[Atlas, Depends(get_atlas)]
Lang = Annotated[str, Depends(language)]
# the scope parameters each analysis understands (web/scope.py: names, bounds, descriptions)
ProfileScope = Annotated[Scope, Depends(scope_query(
    "country", "admin", "level", "year_from", "year_to", "dataset", "by",
    "include_unapproved"))]
EventsScope = Annotated[Scope, Depends(scope_query(
    "country", "admin", "hazard", "year_from", "year_to", "dataset", "include_unapproved"))]
RiskScope = Annotated[Scope, Depends(scope_query(
    "country", "admin", "level", "hazard", "year_from", "year_to", "dataset", "by",
    "include_unapproved"))]
SendaiScope = Annotated[Scope, Depends(scope_query(
    "country", "admin", "level", "hazard", "year_from", "year_to", "dataset",
    "include_unapproved"))]
ScreenScope = Annotated[Scope, Depends(scope_query(
    "country", "admin", "level", "year_from", "year_to", "dataset", "include_unapproved"))]
AdviceScope = Annotated[Scope, Depends(scope_query("country", "level", "year_from",
                                                   "year_to"))]


async def query_language(request: Request, _lang: LangParam = None) -> str:
    """:func:`~riskatlas.web.deps.language` with the ``lang`` query parameter declared:
    routes that take a scope list it after the scope's parameters."""
    return request_language(request)


async def advice_top(top: Annotated[int, Query(ge=1, le=1000)] = 5) -> int:
    """How many screened units the advice is about (listed after the scope)."""
    return top


LangQuery = Annotated[str, Depends(query_language)]
AdviceTop = Annotated[int, Depends(advice_top)]


@router.get("/profile", response_model=TableResult)
def profile(atlas: AtlasDep, scope: ProfileScope, lang: LangQuery, metric: Metrics = None,
            top: Top = None) -> Response:
    """Hazard profile: each hazard's total and share (%) of each metric."""
    frame = atlas.profile(metric or DEFAULT_METRICS, top=top, lang=lang,
                          scope=scope)
    return table_response(frame, lang)


@router.get("/events", response_model=TableResult)
def events(atlas: AtlasDep, scope: EventsScope, lang: LangQuery) -> Response:
    """Data cards grouped into events (same hazard group and time window; within a
    first-level unit, or across the country for country-wide hazards)."""
    frame = atlas.events(lang=lang, scope=scope)
    return table_response(frame, lang)


@router.get("/risk", response_model=TableResult)
def risk(atlas: AtlasDep, scope: RiskScope, lang: LangQuery,
         exceedance: Annotated[MetricName, Query(description="Instead: the exceedance "
                                                 "curve of this metric.")] = None,
         return_periods: Annotated[MetricName, Query(description="Instead: the levels of "
                                                     "this metric exceeded once in T "
                                                     "years.")] = None,
         quantity: Annotated[Literal["event", "annual_total", "annual_max_event"] | None,
                             Query(description="What the curve or the levels count.")
                             ] = None) -> Response:
    """Hazard-specific risk per unit × hazard (or an exceedance curve, or return levels)."""
    if exceedance:
        frame = atlas.exceedance(exceedance, quantity or "event", lang=lang, scope=scope)
    elif return_periods:
        frame = atlas.return_levels(return_periods, quantity, lang=lang, scope=scope)
    else:
        frame = atlas.risk(lang=lang, scope=scope)
    return table_response(frame, lang)


@router.get("/sendai", response_model=TableResult)
def sendai(atlas: AtlasDep, scope: SendaiScope, lang: LangQuery) -> Response:
    """Sendai Framework indicators (A-1 … D-3, SDG 1.5.1) per unit and year."""
    frame = atlas.sendai(lang=lang, scope=scope)
    return table_response(frame, lang)


@router.get("/screen", response_model=TableResult)
def screen(atlas: AtlasDep, scope: ScreenScope, lang: LangQuery,
           all_hazards: bool = False) -> Response:
    """Units ranked by a composite risk index, with class, drivers, quality, stability."""
    frame = atlas.screen(all_hazards=all_hazards, lang=lang, scope=scope)
    return table_response(frame, lang)


@router.get("/advice", response_model=TableResult)
def advice(atlas: AtlasDep, scope: AdviceScope, top: AdviceTop,
           lang: LangQuery) -> Response:
    """Recommended measures (with their reasons) for the ``top`` screened units, as
    ``riskatlas assess`` computes them; ``level`` defaults to the data's cities/districts."""
    if scope.level is None:
        scope = scope.but(level=data.default_level(atlas, scope))
    frame = pipeline.advice_table(atlas, scope, top=top, lang=lang)
    return table_response(frame, lang)


@router.get("/peers", response_model=TableResult)
def peers(atlas: AtlasDep, lang: Lang, country: Annotated[Code, Query()],
          admin: Annotated[Code, Query()],
          level: Annotated[int | None, Query(ge=0, le=2, description="Admin level of the "
                                             "unit (default: the shallowest holding the "
                                             "code).")] = None,
          k: Annotated[int, Query(ge=1, le=100)] = 5,
          within: Annotated[str | None, Query(pattern="^(country|region)$", description=(
              "Keep peers within the unit's country or UN M49 region (default: every "
              "country)."))] = None,
          year_from: YearFrom = None, year_to: YearTo = None,
          _lang: LangParam = None) -> Response:
    """The ``k`` units of the same kind (administrative tier, size, record density) most
    like (country, admin) across every dataset, or ``within`` its country or region; each
    row says what makes it close (``close_by``, and ``why`` in words) and what differs.
    An empty list says why in ``meta.reason_text``."""
    from riskatlas.report import peers_view
    from riskatlas.report.html import Text

    frame = atlas.peers(country, admin, level=level, k=k, year_from=year_from,
                        year_to=year_to, within=within)
    t = Text(lang)
    attrs = {**frame.attrs, "reason_text": peers_view.reason_text(frame.attrs["reason"], t)
             if frame.attrs.get("reason") else None}
    frame = frame.assign(why=[peers_view.why_texts(c, t) for c in frame["close_by"]],
                         differs=[peers_view.differs_text(d, t) for d in frame["differs_by"]])
    return table_response(frame, lang, attrs=attrs)


@router.get("/records", response_model=RecordsResult)
def records(atlas: AtlasDep, lang: Lang, viewer: Annotated[Viewer, Depends(current_user)],
            country: Country = None, admin: Admin = None, hazard: Hazard = None,
            year_from: YearFrom = None, year_to: YearTo = None, dataset: Dataset = None,
            status: Annotated[str | None, Query(max_length=32, description="Approval status "
                                                "(draft, submitted, needs_revision, "
                                                "validated, published).")] = None,
            q: Annotated[str | None, Query(max_length=200, description="Text in the place "
                                           "or comments.")] = None,
            page: Page = 1, page_size: PageSize = 50,
            _lang: LangParam = None) -> Response:
    """Records matching the filters, a page at a time, with the total."""
    filters: dict[str, Any] = {"country": country, "admin": admin, "hazard": hazard,
                               "year_from": year_from, "year_to": year_to,
                               "dataset": dataset, "status": status}
    total, rows = browse.search(atlas, page=page, page_size=page_size, text=q, **filters)
    attrs = {"analysis": "records", "scope": {**filters, "q": q}, "notes": []}
    return table_response(rows, lang, attrs, total=total, page=page, page_size=page_size,
                          pages=max(1, -(-total // page_size)))


@router.get("/datasets", response_model=TableResult)
def datasets(atlas: AtlasDep, lang: Lang, _lang: LangParam = None) -> Response:
    """Every import with its provenance and reconciliation counts."""
    frame = data.datasets(atlas)
    frame.attrs = {"analysis": "datasets", "notes": []}
    return table_response(frame, lang)


@router.get("/hazards", response_model=TableResult)
def hazards(atlas: AtlasDep, lang: Lang, unmapped: bool = False, _lang: LangParam = None
            ) -> Response:
    """Source hazard terms with their HIPs 2025 code and reporting group; ``unmapped``:
    only the terms the crosswalk does not map (the review list)."""
    frame = data.hazard_terms(atlas, unmapped=unmapped)
    frame.attrs = {"analysis": "hazards", "scope": {"unmapped": unmapped}, "notes": []}
    return table_response(frame, lang)


@router.get("/", include_in_schema=False)
def index() -> Response:
    """The endpoints, for a person who opens /api/ in a browser."""
    return json_response({"openapi": "/openapi.json",
                          "endpoints": sorted({str(getattr(r, "path", "")) for r in router.routes}
                                             - {"/api/"})})
