"""One error shape for the whole API, in the reader's language:

    {"error": {"code": "<message key>", "message": "<text>", "status": <int>}}

RiskAtlas errors keep their message key as the code (analysis and methods errors are the
caller's: 400; not signed in 401, role not allowed 403, a workflow conflict 409, an upload
too large 413, too many failed logins 429; the store is unavailable: 503, with Retry-After
while an import or another write holds it);
unknown routes are 404, invalid parameters 422, anything else 500. A browser asking for a
page (Accept: text/html, outside /api/) gets the same status with an HTML page. A refused
data card (workflow.error.invalid, 400) adds ``fields``: every problem, each with its
field, label, code and message.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from riskatlas.errors import RiskAtlasError, StoreError
from riskatlas.i18n import translate
from riskatlas.web.deps import StoreBusyError, request_language, settings_of

log = logging.getLogger(__name__)

_BRANCH = re.compile(r"[-\[]")  # "constrained-int", "literal['a']": a union's branch
HTTP_KEYS = {404: "web.error.not_found", 405: "web.error.method_not_allowed"}


class NotFoundError(RiskAtlasError):
    """A thing named in the URL does not exist (a unit, a page)."""

    key = "web.error.not_found"


def error_body(code: str, message: str, status: int) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def error_response(request: Request, status: int, code: str, message: str,
                   headers: dict[str, str] | None = None,
                   details: dict[str, Any] | None = None) -> Response:
    """The error in the one shape; ``details`` add to it (a refused card's ``fields``:
    [{"field", "label", "code", "message"}], every problem of the card)."""
    if _wants_html(request):
        from riskatlas.web.pages import render_error

        return render_error(request, status, message, headers=headers)
    body = error_body(code, message, status)
    body["error"].update(details or {})
    return JSONResponse(body, status_code=status, headers=headers)


def _wants_html(request: Request) -> bool:
    return (not request.url.path.startswith("/api/")
            and "text/html" in request.headers.get("accept", ""))


def _riskatlas_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RiskAtlasError)
    lang = request_language(request)
    headers = None
    if isinstance(exc, StoreBusyError):
        status, code = 503, exc.key
        headers = {"Retry-After": str(settings_of(request).retry_after)}
    elif isinstance(exc, StoreError):  # the detail names server paths: logged, not shown
        log.warning("store unavailable: %s", exc.render("en"))
        status, code = 503, "web.error.store_unavailable"
    elif isinstance(exc, NotFoundError):
        status, code = 404, exc.key
    else:  # accounts and workflow errors say their status (401, 403, 409, 413, 429)
        status, code = int(getattr(exc, "http_status", 400)), exc.key
        if status == 401 and request.url.path.startswith("/api/"):
            headers = {"WWW-Authenticate": 'Bearer realm="riskatlas"'}
    message = exc.render(lang) if code == exc.key else translate(code, lang)
    details = getattr(exc, "details", None)
    return error_response(request, status, code, message, headers,
                          details(lang) if callable(details) else None)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_KEYS.get(exc.status_code, "web.error.http")
    message = translate(code, request_language(request), status=exc.status_code)
    return error_response(request, exc.status_code, code, message,
                          dict(exc.headers) if exc.headers else None)


def _validation_error(request: Request, exc: Exception) -> Response:
    """422: a parameter or body field beyond its declared bounds; text that is not valid
    Unicode (a lone surrogate such as U+D800) gets its own message naming the field."""
    assert isinstance(exc, RequestValidationError)
    lang = request_language(request)

    def where(error: Any) -> str:  # the field, without pydantic's union branches
        parts = [str(p) for p in error.get("loc", ())[1:]]
        return ".".join(p for p in parts if not _BRANCH.search(p)) or "-"

    bad_text = [where(e) for e in exc.errors() if e.get("type") == "string_unicode"]
    if bad_text:
        code = "web.error.bad_text"
        return error_response(request, 422, code, translate(code, lang, field=bad_text[0]))
    problems = "; ".join(dict.fromkeys(f"{where(e)}: {e.get('msg', '')}"
                                       for e in exc.errors()))
    code = "web.error.invalid_parameter"
    return error_response(request, 422, code, translate(code, lang, problems=problems))


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s", request.url.path)
    code = "web.error.internal"
    return error_response(request, 500, code, translate(code, request_language(request)))


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one shape."""
    app.add_exception_handler(RiskAtlasError, _riskatlas_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
