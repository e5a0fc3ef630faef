"""Links between sources (issue 17): ``GET /api/links`` and ``/api/links.csv`` (the stored
links, staff only), ``POST /api/links/{link_id}/decision`` (accept or reject: validators
and admins) and the reviewers' page ``/links`` with a tab of the places to review.

Writes go through :mod:`riskatlas.web.writer` (one transaction) and
:mod:`riskatlas.services.links` (the roles, the audit log)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from riskatlas.api import Atlas
from riskatlas.errors import RiskAtlasError
from riskatlas.report.svg import bar_chart
from riskatlas.report.text import Text
from riskatlas.services import cards, links
from riskatlas.web.access import refused, require, reviewer_form
from riskatlas.web.deps import Viewer, current_user, get_atlas, request_language, settings_of
from riskatlas.web.pages import render
from riskatlas.web.routes_cards import api_actor, login_redirect
from riskatlas.web.schemas import (
    READ_ERRORS,
    WRITE_ERRORS,
    LangParam,
    LinkDataset,
    LinkDecisionBody,
    LinkFrom,
    LinkId,
    LinkStatus,
    errors,
)
from riskatlas.web.serialize import json_response, rows_of
from riskatlas.web.writer import writing

AtlasDep = Annotated[Atlas, Depends(get_atlas)]
ViewerDep = Annotated[Viewer, Depends(current_user)]
STAFF = ("collector", "validator", "admin")
LIST_ERRORS = {**READ_ERRORS, **errors(401, 403)}
TABS = ("links", "places", "completeness")

api = APIRouter(prefix="/api", tags=["links"])
pages = APIRouter(include_in_schema=False)


def _links(atlas: Atlas, from_dataset: str | None, to: str | None, status: str | None,
           lang: str) -> Any:
    return atlas.links(status=status, from_dataset=from_dataset, to_dataset=to, lang=lang)


@api.get("/links", responses=LIST_ERRORS)
def list_links(request: Request, atlas: AtlasDep, viewer: ViewerDep,
               from_dataset: LinkFrom = None,
               to: LinkDataset = None, status: LinkStatus = None,
               lang: LangParam = None) -> Response:
    """The stored links between the events of two datasets (collectors, validators,
    admins): features, score and its reasons in words (``why``), status (proposed,
    possible, accepted, rejected), the decision and each side's record ids."""
    require(viewer, *STAFF)
    language = request_language(request)
    frame = _links(atlas, from_dataset, to, status, language)
    return json_response({"meta": {"lang": language, **atlas.methods.stamp()},
                          "rows": rows_of(frame)})


@api.get("/links.csv", responses=LIST_ERRORS, response_class=Response)
def links_csv(request: Request, atlas: AtlasDep, viewer: ViewerDep,
              from_dataset: LinkFrom = None,
              to: LinkDataset = None, status: LinkStatus = None,
              lang: LangParam = None) -> Response:
    """The stored links as CSV (collectors, validators, admins); text that a spreadsheet
    would run as a formula is kept as text."""
    require(viewer, *STAFF)
    frame = _links(atlas, from_dataset, to, status, request_language(request))
    return Response(links.links_csv(frame), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="riskatlas-links.csv"'})


def _completeness(atlas: Atlas, from_dataset: str | None, to: str | None,
                  status: str | None) -> Any:
    """The completeness tables of the linked pairs (both named, else every pair holding
    links in the status), one frame with the pair's datasets."""
    import pandas as pd

    statuses = (status,) if status else ("accepted",)
    if from_dataset is not None and to is not None:
        pairs = [(atlas.dataset_id(from_dataset), atlas.dataset_id(to))]
    else:
        pairs = links.link_pairs(atlas.store, statuses)
    frames = []
    for a, b in pairs:
        frame = atlas.completeness(a, b, statuses=statuses)
        frame.insert(0, "from_dataset", a)
        frame.insert(1, "to_dataset", b)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@api.get("/links/completeness", responses=LIST_ERRORS)
def link_completeness(request: Request, atlas: AtlasDep, viewer: ViewerDep,
                      from_dataset: LinkFrom = None, to: LinkDataset = None,
                      status: LinkStatus = None, lang: LangParam = None) -> Response:
    """What each of two linked datasets captures of the other (links in ``status``,
    default accepted), per country, hazard group, year and kind (intensive / extensive):
    events and deaths of each source, those the other captures and the shares
    (collectors, validators, admins)."""
    require(viewer, *STAFF)
    frame = _completeness(atlas, from_dataset, to, status)
    return json_response({"meta": {"lang": request_language(request),
                                   "statuses": [status or "accepted"],
                                   **atlas.methods.stamp()}, "rows": rows_of(frame)})


@api.post("/links/{link_id}/decision", responses=WRITE_ERRORS)
def decide_link(request: Request, viewer: ViewerDep, link_id: LinkId,
                body: LinkDecisionBody) -> Response:
    """Accept or reject a link (validators and admins; a session sends its CSRF token in
    X-CSRF-Token); the decision is audited. Answers the link's new state."""
    api_actor(request, viewer)
    with writing(settings_of(request)) as atlas:
        decision = links.decide(atlas.store, viewer, link_id, body.to, body.reason)
    return json_response(decision)


# ---------------------------------------------------------------------------- pages


@pages.get("/links", response_class=HTMLResponse)
def links_page(request: Request, atlas: AtlasDep, viewer: ViewerDep,
               status: str | None = None, tab: str | None = None,
               done: int | None = None, to: str | None = None) -> Response:
    """The reviewers' list of links (a form per link) and the places to review."""
    if viewer.anonymous:
        return login_redirect(request)
    require(viewer, *cards.REVIEWERS)
    flash = None
    if done is not None and to in links.STATUSES:
        flash = {"link": done, "status": to}
    return _page(request, atlas, status=status if status in links.STATUSES else None,
                 tab=tab if tab in TABS else "links", done=flash)


def _page(request: Request, atlas: Atlas, *, status: str | None = None, tab: str = "links",
          done: dict[str, Any] | None = None, message: str = "",
          code: int = 200) -> Response:
    lang = request_language(request)
    rows: list[dict[str, Any]] = []
    places: list[dict[str, Any]] = []
    captured: dict[str, Any] = {"rows": [], "chart": ""}
    if tab == "places":
        places = rows_of(links.places(atlas.store))
    elif tab == "completeness":
        captured = _captured(_completeness(atlas, None, None, None), Text(lang))
    else:
        rows = rows_of(atlas.links(status=status, lang=lang))
    return render(request, "links.html.j2", status=code, rows=rows, places=places, tab=tab,
                  status_filter=status, statuses=links.STATUSES, done=done, message=message,
                  captured=captured)


def _captured(frame: Any, t: Text) -> dict[str, Any]:
    """The completeness of the accepted links per source, hazard group and kind, as rows
    and a bar chart of the shares."""
    if not len(frame):
        return {"rows": [], "chart": ""}
    totals = frame.groupby(["source", "hazard_group", "kind"], as_index=False)[
        ["events", "captured_events", "deaths", "captured_deaths"]].sum()
    rows = [{"source": r.source, "group": t.hazard(r.hazard_group),
             "kind": t(f"link.report.{r.kind}"), "events": t.num(r.events),
             "captured": t.num(r.captured_events),
             "share": f"{100 * r.captured_events / r.events:.0f} %" if r.events else "—",
             "deaths": t.num(r.deaths),
             "share_deaths": f"{100 * r.captured_deaths / r.deaths:.0f} %" if r.deaths
             else "—"} for r in totals.itertuples()]
    chart = bar_chart([(f"{r.source}: {t.hazard(r.hazard_group)}, "
                        f"{t(f'link.report.{r.kind}')}", 100.0 * r.captured_events / r.events,
                        r.hazard_group) for r in totals.itertuples() if r.events],
                      label=t("link.report.chart"))
    return {"rows": rows, "chart": chart}


@pages.post("/links/decision", response_class=HTMLResponse)
async def link_decision(request: Request, atlas: AtlasDep, viewer: ViewerDep) -> Response:
    form, link_id = await reviewer_form(request, viewer, "link",
                                        lambda raw: links.LinkNotFoundError(link=raw))
    to, reason = str(form.get("to") or ""), str(form.get("reason") or "")

    def write() -> dict[str, Any]:
        with writing(settings_of(request)) as w:
            return links.decide(w.store, viewer, link_id, to, reason)

    try:
        decision = await run_in_threadpool(write)
    except RiskAtlasError as exc:
        return await run_in_threadpool(refused, exc, lambda message, status: _page(
            request, atlas, code=status, message=message), request_language(request),
            (400, 404, 409))
    query = urlencode({"done": link_id, "to": decision["status"],
                       "lang": request_language(request)})
    return RedirectResponse(f"/links?{query}", status_code=303)


@pages.post("/links/places/settle", response_class=HTMLResponse)
async def settle_place(request: Request, atlas: AtlasDep, viewer: ViewerDep) -> Response:
    form, place_id = await reviewer_form(request, viewer, "place",
                                         lambda raw: links.PlaceNotFoundError(place=raw))
    code, reason = str(form.get("code") or ""), str(form.get("reason") or "")

    def write() -> dict[str, Any]:
        with writing(settings_of(request)) as w:
            return links.settle_place(w.store, viewer, place_id, code, reason)

    try:
        await run_in_threadpool(write)
    except RiskAtlasError as exc:
        return await run_in_threadpool(refused, exc, lambda message, status: _page(
            request, atlas, tab="places", code=status, message=message),
            request_language(request), (400, 404))
    query = urlencode({"tab": "places", "lang": request_language(request)})
    return RedirectResponse(f"/links?{query}", status_code=303)
