"""Administration (admins only): the audit log (``/admin/audit``, ``/api/admin/audit``:
paged, filtered by user, action, record and date) and the users (``/admin/users``,
``/api/admin/users``: list, add, disable, their countries). Filters are Ibis
expressions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from riskatlas.api import Atlas
from riskatlas.errors import RiskAtlasError
from riskatlas.services import accounts, audit
from riskatlas.web.access import checked_form, refused, require
from riskatlas.web.deps import Viewer, current_user, request_language, settings_of, store_view
from riskatlas.web.pages import MAX_PAGE, opt_text, render
from riskatlas.web.schemas import DateText, errors
from riskatlas.web.serialize import json_response, jsonable
from riskatlas.web.writer import writing

RawAtlas = Annotated[Atlas, Depends(store_view)]
ViewerDep = Annotated[Viewer, Depends(current_user)]
api = APIRouter(prefix="/api/admin", tags=["admin"], responses=errors(401, 403, 422, 503))
pages = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def audit_rows(atlas: Atlas, *, user: str | None = None, action: str | None = None,
               record_id: str | None = None, since: dt.date | None = None,
               until: dt.date | None = None, page: int = 1, page_size: int = PAGE_SIZE
               ) -> tuple[int, list[dict[str, Any]]]:
    """(total, one page of the audit log, newest first) matching the filters."""
    total, rows = audit.log_page(atlas.store, user=user, action=action, record_id=record_id,
                                 since=since, until=until, page=page, page_size=page_size)
    return total, [{k: jsonable(v) for k, v in row.items()} for row in rows]


def users_rows(atlas: Atlas) -> list[dict[str, Any]]:
    """Every user without the password hash, with the number of API tokens."""
    return accounts.users(atlas.store)


def _date(name: str, value: str | None) -> dt.date | None:
    if not value or not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise RiskAtlasError("web.error.invalid_parameter",
                             problems=f"{name}: {value}") from None


# --- API ----------------------------------------------------------------------------------

@api.get("/audit")
def audit_api(atlas: RawAtlas, viewer: ViewerDep,
              user: Annotated[str | None, Query(max_length=64)] = None,
              action: Annotated[str | None, Query(max_length=64)] = None,
              record_id: Annotated[str | None, Query(max_length=300)] = None,
              since: DateText = None, until: DateText = None,
              page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
              page_size: Annotated[int, Query(ge=1, le=1000)] = PAGE_SIZE) -> Response:
    """The audit log, newest first (admins)."""
    require(viewer, "admin")
    total, rows = audit_rows(atlas, user=user, action=action, record_id=record_id,
                             since=_date("since", since), until=_date("until", until),
                             page=page, page_size=page_size)
    return json_response({"total": total, "page": page, "page_size": page_size,
                          "pages": max(1, -(-total // page_size)), "rows": rows})


@api.get("/users")
def users_api(atlas: RawAtlas, viewer: ViewerDep) -> Response:
    """Every user with role, state and tokens (admins; never a password hash)."""
    require(viewer, "admin")
    return json_response({"rows": users_rows(atlas)})


# --- pages --------------------------------------------------------------------------------

@pages.get("/admin/audit", response_class=HTMLResponse)
def audit_page(request: Request, atlas: RawAtlas, viewer: ViewerDep,
               user: str | None = None, action: str | None = None,
               record_id: str | None = None, since: str | None = None,
               until: str | None = None, page: int = 1) -> Response:
    require(viewer, "admin")
    page = min(max(1, page), MAX_PAGE)
    filters = {"user": opt_text(user), "action": opt_text(action),
               "record_id": opt_text(record_id), "since": opt_text(since),
               "until": opt_text(until)}
    total, rows = audit_rows(atlas, user=filters["user"], action=filters["action"],
                             record_id=filters["record_id"], since=_date("since", since),
                             until=_date("until", until), page=page)
    return render(request, "audit.html.j2", rows=rows, total=total, page=page,
                  pages=max(1, -(-total // PAGE_SIZE)),
                  form={k: v or "" for k, v in filters.items()})


@pages.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, atlas: RawAtlas, viewer: ViewerDep) -> Response:
    require(viewer, "admin")
    return render(request, "users.html.j2", users=users_rows(atlas), roles=accounts.ROLES,
                  message="", token="")


@pages.post("/admin/users", response_class=HTMLResponse)
async def users_post(request: Request, atlas: RawAtlas, viewer: ViewerDep) -> Response:
    """Add a user; change one's role, countries or password, disable or enable them, make
    a token (shown once) or revoke their tokens."""
    form = await checked_form(request)
    require(viewer, "admin")
    op, name = str(form.get("op") or ""), str(form.get("name") or "").strip()
    role, password = str(form.get("role") or ""), str(form.get("password") or "")
    countries = str(form.get("countries") or "")
    changes: dict[str, Callable[[Atlas], object]] = {
        "add": lambda w: accounts.add_user(w.store, name, role, password, by=viewer.name,
                                           countries=countries),
        "countries": lambda w: accounts.set_countries(w.store, name, countries,
                                                      by=viewer.name),
        "disable": lambda w: accounts.set_disabled(w.store, name, True, by=viewer.name),
        "enable": lambda w: accounts.set_disabled(w.store, name, False, by=viewer.name),
        "role": lambda w: accounts.set_role(w.store, name, role, by=viewer.name),
        # a new password ends the user's open sessions
        "password": lambda w: accounts.set_password(w.store, name, password, by=viewer.name),
        "revoke": lambda w: accounts.revoke_tokens(w.store, name, by=viewer.name),
        "token": lambda w: accounts.add_token(w.store, name, by=viewer.name),
    }
    change = changes.get(op)
    if change is None:
        return _users_refused(request, atlas, accounts.AccountError("auth.error.bad_operation"))

    def write() -> str:
        with writing(settings_of(request)) as w:
            made = change(w)
        return made if op == "token" and isinstance(made, str) else ""

    try:
        token = await run_in_threadpool(write)
    except accounts.AccountError as exc:
        return _users_refused(request, atlas, exc)
    if token:  # the token is shown on this page once, never stored in clear
        return render(request, "users.html.j2", users=users_rows(atlas), roles=accounts.ROLES,
                      message="", token=token, token_user=name)
    return RedirectResponse(f"/admin/users?lang={request_language(request)}", status_code=303)


def _users_refused(request: Request, atlas: Atlas, exc: RiskAtlasError) -> Response:
    """The users page again (400), saying why the change was refused."""
    return refused(exc, lambda message, status: render(
        request, "users.html.j2", status=status, users=users_rows(atlas), roles=accounts.ROLES,
        message=message, token=""), request_language(request))
