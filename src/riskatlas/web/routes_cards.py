"""Data-card management: the JSON API (``POST /api/records``, ``GET|PATCH
/api/records/{id}``, ``POST /api/records/{id}/transition``, ``POST /api/upload``,
``GET /api/me``) and the pages (sign in and out, the card form, a card with its
workflow buttons, the author's and the reviewer's lists, the upload form).

Every write goes through :mod:`riskatlas.web.writer` (the store itself, one transaction)
and :mod:`riskatlas.services.cards` (the importers' validation, the rules, the audit log).
API callers authenticate with ``Authorization: Bearer <token>``; a browser session may
call the API too, with its CSRF token in ``X-CSRF-Token``. Every form post carries the
session's CSRF token in a hidden field.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from riskatlas.api import Atlas
from riskatlas.errors import RiskAtlasError
from riskatlas.services import accounts, cards
from riskatlas.web import auth, choices, uploads
from riskatlas.web.access import (
    check_csrf,
    checked_form,
    form_session,
    refused,
    require,
    session_key,
    set_session,
)
from riskatlas.web.access import user_row as find_user
from riskatlas.web.deps import (
    Viewer,
    WebSettings,
    current_user,
    get_atlas,
    language,
    request_language,
    settings_of,
    store_view,
)
from riskatlas.web.errors import NotFoundError
from riskatlas.web.pages import render
from riskatlas.web.schemas import (
    MAX_CODE,
    READ_ERRORS,
    UPLOAD_BODY,
    WRITE_ERRORS,
    CardFields,
    CardResult,
    History,
    Me,
    RecordId,
    TransitionBody,
    UploadReport,
    errors,
)
from riskatlas.web.serialize import json_response, jsonable
from riskatlas.web.writer import writing

log = logging.getLogger(__name__)
AtlasDep = Annotated[Atlas, Depends(get_atlas)]
RawAtlas = Annotated[Atlas, Depends(store_view)]
ViewerDep = Annotated[Viewer, Depends(current_user)]
Lang = Annotated[str, Depends(language)]

api = APIRouter(prefix="/api", tags=["cards"])
pages = APIRouter(include_in_schema=False)


def api_actor(request: Request, viewer: Viewer, *roles: str) -> Viewer:
    """The caller of a writing API call: signed in, with one of ``roles``; a browser
    session must send its CSRF token in X-CSRF-Token."""
    require(viewer, *roles)
    if viewer.via == "session":
        check_csrf(request, request.headers.get("x-csrf-token"))
    return viewer


def card_json(card: dict[str, Any]) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in card.items() if k not in ("raw", "extension")}


def _card_view(atlas: Atlas, record_id: str, viewer: Viewer) -> dict[str, Any]:
    """A visible card with its author, last reason and the moves open to ``viewer``."""
    return cards.card_view(atlas.store, record_id, viewer)


# --- API ----------------------------------------------------------------------------------

@api.get("/me", response_model=Me)
def me(viewer: ViewerDep) -> Response:
    """Who the request is authenticated as (``anonymous`` without credentials)."""
    return json_response({"user": None if viewer.anonymous else viewer.name,
                          "role": None if viewer.anonymous else viewer.role,
                          "via": viewer.via or None})


@api.post("/records", status_code=201, response_model=CardResult, responses=WRITE_ERRORS)
def create_record(request: Request, viewer: ViewerDep, body: CardFields) -> Response:
    """Create a draft data card (collector, validator, admin); validated like an import."""
    api_actor(request, viewer, *cards.CREATORS)
    fields = body.model_dump(exclude_unset=True)
    unknown = fields.pop("unknown", None)
    with writing(settings_of(request)) as atlas:
        card = cards.create(atlas.store, viewer, fields, unknown)
    return json_response({"record": card_json(card)}, status=201)


@api.get("/records/{record_id:path}/history", response_model=History,
         responses=WRITE_ERRORS)
def record_history(request: Request, viewer: ViewerDep, atlas: AtlasDep,
                   record_id: RecordId) -> Response:
    """The audit log of one card (collectors, validators, admins)."""
    require(viewer, *cards.CREATORS)
    from riskatlas.web.routes_admin import audit_rows

    total, rows = audit_rows(atlas, record_id=record_id, page=1, page_size=1000)
    return json_response({"total": total, "rows": rows})


@api.get("/records/{record_id:path}", response_model=CardResult, responses=READ_ERRORS)
def get_record(atlas: AtlasDep, viewer: ViewerDep, record_id: RecordId) -> Response:
    """One card (if the caller may see it), its author, status and allowed moves."""
    view = _card_view(atlas, record_id, viewer)
    return json_response({"record": card_json(view["card"]), "author": view["author"],
                          "reason": view["reason"], "transitions": view["allowed"]})


@api.patch("/records/{record_id:path}", response_model=CardResult, responses=WRITE_ERRORS)
def edit_record(request: Request, viewer: ViewerDep, record_id: RecordId,
                body: CardFields) -> Response:
    """Change fields of a web card: its author while draft or needs_revision, or an admin."""
    api_actor(request, viewer, *cards.CREATORS)
    fields = body.model_dump(exclude_unset=True)
    unknown = fields.pop("unknown", None)
    with writing(settings_of(request)) as atlas:
        card = cards.edit(atlas.store, viewer, record_id, fields, unknown)
    return json_response({"record": card_json(card)})


@api.post("/records/{record_id:path}/transition", response_model=CardResult,
          responses=WRITE_ERRORS)
def transition_record(request: Request, viewer: ViewerDep, record_id: RecordId,
                      body: TransitionBody) -> Response:
    """Move a card in the workflow: {"to": "submitted" | "validated" | "published" |
    "needs_revision", "reason": "..."} (a reason is required to send a card back)."""
    api_actor(request, viewer)
    with writing(settings_of(request)) as atlas:
        card = cards.transition(atlas.store, viewer, record_id, body.to, body.reason)
    return json_response({"record": card_json(card)})


@api.post("/upload", response_model=UploadReport, openapi_extra=UPLOAD_BODY,
          responses={**WRITE_ERRORS, **errors(411, 413)})
async def upload_api(request: Request, viewer: ViewerDep) -> Response:
    """Import a file (multipart field ``file``; optional ``country``, ``format``) and
    answer its reconciliation: records read, imported and set aside with reasons."""
    api_actor(request, viewer, *cards.CREATORS)
    form = await uploads.read_form(request, settings_of(request))
    try:
        report = await run_in_threadpool(_import_form, request, viewer, form)
    finally:
        await form.close()
    return json_response(report)


def _import_form(request: Request, viewer: Viewer, form: FormData) -> dict[str, Any]:
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        raise uploads.UploadError("workflow.upload.no_file")
    country, fmt = form.get("country"), form.get("format")
    for name, value in (("country", country), ("format", fmt)):
        if isinstance(value, str) and len(value) > MAX_CODE:  # as UPLOAD_BODY declares
            raise RequestValidationError([{"loc": ("body", name), "type": "string_too_long",
                                           "msg": f"at most {MAX_CODE} characters"}])
    return uploads.import_upload(
        settings_of(request), viewer, file,
        country=country.strip() or None if isinstance(country, str) else None,
        fmt=fmt.strip() or None if isinstance(fmt, str) else None,
        lang=request_language(request))


# --- pages: signing in and out ------------------------------------------------------------

def _local(target: str | None) -> str:
    """A redirect target inside this site only."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


@pages.get("/login", response_class=HTMLResponse)
def login_page(request: Request, atlas: RawAtlas, viewer: ViewerDep,
               next: str | None = None) -> Response:
    holder = Response()
    csrf = form_session(request, atlas, settings_of(request), holder)
    page = render(request, "login.html.j2", csrf=csrf, next=_local(next), message="", name="")
    _copy_cookies(holder, page)
    return page


def _copy_cookies(source: Response, target: Response) -> None:
    for key, value in source.raw_headers:
        if key == b"set-cookie":
            target.raw_headers.append((key, value))


@pages.post("/login", response_class=HTMLResponse)
async def login(request: Request, atlas: RawAtlas, viewer: ViewerDep) -> Response:
    form = await checked_form(request)
    name, password = str(form.get("name") or "").strip(), str(form.get("password") or "")
    settings = settings_of(request)
    address = request.client.host if request.client else "-"
    target = _local(str(form.get("next") or "/"))
    lang = request_language(request)

    def again(status: int, message: str) -> Response:
        return render(request, "login.html.j2", status=status, csrf=str(form.get("csrf")),
                      next=target, message=message, name=name)

    try:
        settings.limiter.check(name, address)
    except accounts.RateLimitedError as exc:
        return again(429, exc.render(lang))
    user = await run_in_threadpool(find_user, atlas, name)
    ok = await run_in_threadpool(accounts.verify_password, password,
                                 user["password_hash"] if user else None)
    if not ok or user is None or bool(user["disabled"]):
        settings.limiter.failed(name, address)
        log.info("failed login for %r from %s", name, address)
        return again(401, accounts.AuthError("auth.error.bad_login").render(lang))
    settings.limiter.succeeded(name, address)
    session_id = await run_in_threadpool(_open_session, settings, str(user["name"]))
    sep = "&" if "?" in target else "?"
    response = RedirectResponse(f"{target}{sep}lang={lang}" if "lang=" not in target
                                else target, status_code=303)
    set_session(response, request, settings, session_key(atlas, settings), {"s": session_id})
    return response


def _open_session(settings: WebSettings, name: str) -> str:
    """A new server-side session (a new id and CSRF token: none is kept from the anonymous
    cookie); the readers' copy is refreshed, so the next request knows it."""
    with writing(settings) as w:
        return accounts.new_session(w.store, name)[0]


@pages.post("/logout")
async def logout(request: Request, atlas: RawAtlas, viewer: ViewerDep) -> Response:
    await checked_form(request)
    settings = settings_of(request)
    hashed = (getattr(request.state, "session", None) or {}).get("h")
    if hashed:  # the session ends in the store: its cookie is dead wherever it is kept

        def end() -> None:
            with writing(settings) as w:
                accounts.end_session(w.store, str(hashed))

        await run_in_threadpool(end)
    response = RedirectResponse(f"/?lang={request_language(request)}", status_code=303)
    set_session(response, request, settings, session_key(atlas, settings),
                {"c": auth.new_csrf()})
    return response


# --- pages: cards -------------------------------------------------------------------------

@pages.get("/cards", response_class=HTMLResponse)
def cards_page(request: Request, atlas: AtlasDep, viewer: ViewerDep,
               status: str | None = None) -> Response:
    """The author's own cards, and for reviewers the cards waiting for them."""
    if viewer.anonymous:
        return login_redirect(request)
    require(viewer, *cards.CREATORS)
    mine, queue = cards.card_lists(atlas.store, viewer, status)
    return render(request, "cards.html.j2", mine=mine, queue=queue,
                  reviewer=viewer.role in cards.REVIEWERS)


def _form_fields(form: FormData) -> tuple[dict[str, Any], list[str]]:
    fields = {name: str(form.get(name) or "") for name in cards.FORM_FIELDS
              if name in form}
    unknown = [str(v) for v in form.getlist("unknown")]
    return fields, unknown


def _card_form(request: Request, atlas: Atlas, *, card: dict[str, Any] | None,
               record_id: str | None, message: str = "", status: int = 200,
               unknown: list[str] | None = None, card_status: str | None = None,
               problems: list[dict[str, str]] | None = None,
               viewer: Viewer | None = None) -> Response:
    """The card form with the gazetteer's and the taxonomy's choices for its country (only
    the countries ``viewer`` acts in), and every problem of a refused card next to its
    field."""
    values = {k: ("" if v is None else v) for k, v in (card or {}).items()}
    country = str(values.get("country_iso3") or "") or None
    scope = (accounts.country_scope(atlas.store, viewer.name, viewer.role)
             if viewer is not None and not viewer.anonymous else None)
    if scope is not None and country is None and record_id is None:
        mine = [c for c in choices.store_countries(atlas) if c in scope]
        country = mine[0] if len(mine) == 1 else None  # their only country of the store
    options = choices.form_options(atlas, country, request_language(request))
    if scope is not None:
        options["countries"] = [o for o in options["countries"] if o[0] in scope]
    if not values.get("country_iso3") and record_id is None and len(options["countries"]) == 1:
        values["country_iso3"] = options["countries"][0][0]
    return render(request, "card_form.html.j2", status=status, values=values,
                  record_id=record_id, message=message, unknown=unknown or [],
                  groups=(("workflow.group.place", cards.PLACE_FIELDS),
                          ("workflow.group.event", cards.EVENT_FIELDS),
                          ("workflow.group.effects", cards.EFFECT_FIELDS),
                          ("workflow.group.notes", cards.NOTE_FIELDS)),
                  numbers=cards.NUMBER_FIELDS, impacts=cards.UNKNOWN_IMPACTS,
                  options=options, hazard_labels=dict(options["hazards"]),
                  card_status=card_status, problems=problems or [],
                  invalid={p["field"]: p for p in problems or []},
                  user_countries=None if scope is None else sorted(scope),
                  user_name=viewer.name if viewer is not None else "")


def _refused(request: Request, atlas: Atlas, exc: RiskAtlasError, fields: dict[str, Any],
             record_id: str | None, unknown: list[str], viewer: Viewer | None = None
             ) -> Response:
    """The form again (400; 403 for a country the user does not act in) with what was
    entered and why it was refused."""
    lang = request_language(request)

    def again(message: str, status: int) -> Response:
        if isinstance(exc, cards.CardInvalidError):
            return _card_form(request, atlas, card=fields, record_id=record_id,
                              status=status, unknown=unknown, problems=exc.fields(lang),
                              viewer=viewer)
        return _card_form(request, atlas, card=fields, record_id=record_id, status=status,
                          unknown=unknown, message=message, viewer=viewer)

    return refused(exc, again, lang,
                   (400, 403) if isinstance(exc, accounts.CountryError) else (400,))


@pages.get("/cards/new", response_class=HTMLResponse)
def new_card_page(request: Request, atlas: AtlasDep, viewer: ViewerDep) -> Response:
    if viewer.anonymous:
        return login_redirect(request)
    require(viewer, *cards.CREATORS)
    return _card_form(request, atlas, card=None, record_id=None, viewer=viewer)


@pages.post("/cards/new", response_class=HTMLResponse)
async def new_card(request: Request, atlas: AtlasDep, viewer: ViewerDep) -> Response:
    form = await checked_form(request)
    require(viewer, *cards.CREATORS)
    fields, unknown = _form_fields(form)
    if form.get("refresh"):  # "show this country's units": the form again, nothing saved
        return await run_in_threadpool(lambda: _card_form(
            request, atlas, card=fields, record_id=None, unknown=unknown, viewer=viewer))

    def write() -> dict[str, Any]:
        with writing(settings_of(request)) as writer:
            return cards.create(writer.store, viewer, fields, unknown)

    try:
        card = await run_in_threadpool(write)
    except RiskAtlasError as exc:
        return await run_in_threadpool(_refused, request, atlas, exc, fields, None, unknown,
                                       viewer)
    return _to_card(request, str(card["record_id"]))


def _to_card(request: Request, record_id: str) -> RedirectResponse:
    query = urlencode({"id": record_id, "lang": request_language(request)})
    return RedirectResponse(f"/card?{query}", status_code=303)


@pages.get("/card", response_class=HTMLResponse)
def card_page(request: Request, atlas: AtlasDep, viewer: ViewerDep, id: str) -> Response:
    try:
        view = _card_view(atlas, id, viewer)
    except cards.CardNotFoundError:
        raise NotFoundError("workflow.error.no_card", record=id) from None
    card = view["card"]
    shown = choices.card_display(card, request_language(request))  # codes in words
    rows = [(name, shown.get(name, jsonable(card.get(name))))
            for name in ("record_id", "approval_status", "dataset_id", "hips_code",
                         "hazard_group", "start_date", "directly_affected",
                         *cards.FORM_FIELDS)]
    return render(request, "card.html.j2", card=card, rows=rows, author=view["author"],
                  reason=view["reason"], allowed=view["allowed"], editable=view["editable"])


@pages.get("/card/edit", response_class=HTMLResponse)
def edit_card_page(request: Request, atlas: AtlasDep, viewer: ViewerDep, id: str) -> Response:
    if viewer.anonymous:
        return login_redirect(request)
    view = _card_view(atlas, id, viewer)
    if not view["editable"]:
        raise accounts.ForbiddenError("workflow.error.not_author", record=id)
    values, unknown = cards.card_entry(atlas.store, id)
    return _card_form(request, atlas, card=values, record_id=id, unknown=unknown,
                      card_status=str(view["card"]["approval_status"]), viewer=viewer)


@pages.post("/card/edit", response_class=HTMLResponse)
async def edit_card(request: Request, atlas: AtlasDep, viewer: ViewerDep) -> Response:
    form = await checked_form(request)
    require(viewer, *cards.CREATORS)
    record_id = str(form.get("id") or "")
    fields, unknown = _form_fields(form)
    if form.get("refresh"):  # "show this country's units": the form again, nothing saved
        return await run_in_threadpool(lambda: _card_form(
            request, atlas, card=fields, record_id=record_id, unknown=unknown, viewer=viewer))

    def write() -> dict[str, Any]:
        with writing(settings_of(request)) as writer:
            return cards.edit(writer.store, viewer, record_id, fields, unknown)

    try:
        await run_in_threadpool(write)
    except RiskAtlasError as exc:
        return await run_in_threadpool(_refused, request, atlas, exc, fields, record_id,
                                       unknown, viewer)
    return _to_card(request, record_id)


@pages.post("/card/transition")
async def transition_card(request: Request, viewer: ViewerDep) -> Response:
    form = await checked_form(request)
    require(viewer)
    record_id, to = str(form.get("id") or ""), str(form.get("to") or "")
    reason = str(form.get("reason") or "")

    def write() -> None:
        with writing(settings_of(request)) as atlas:
            cards.transition(atlas.store, viewer, record_id, to, reason)

    await run_in_threadpool(write)
    return _to_card(request, record_id)


# --- pages: upload ------------------------------------------------------------------------

@pages.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, atlas: RawAtlas, viewer: ViewerDep) -> Response:
    if viewer.anonymous:
        return login_redirect(request)
    require(viewer, *cards.CREATORS)
    scope = accounts.country_scope(atlas.store, viewer.name, viewer.role)
    return render(request, "upload.html.j2", report=None, message="",
                  max_mb=settings_of(request).max_upload_mb,
                  user_countries=None if scope is None else sorted(scope))


@pages.post("/upload", response_class=HTMLResponse)
async def upload(request: Request, viewer: ViewerDep) -> Response:
    settings = settings_of(request)
    form = await uploads.read_form(request, settings)
    try:
        check_csrf(request, str(form.get("csrf") or ""))
        require(viewer, *cards.CREATORS)
        report = await run_in_threadpool(_import_form, request, viewer, form)
    except RiskAtlasError as exc:
        return refused(exc, lambda message, status: render(
            request, "upload.html.j2", status=status, report=None, message=message,
            max_mb=settings.max_upload_mb), request_language(request))
    finally:
        await form.close()
    return render(request, "upload.html.j2", report=report, message="",
                  max_mb=settings.max_upload_mb)
