"""Rendering of the dashboard's pages: one Jinja environment (autoescape on, strict), the
context every page shares (language, language switch, links, navigation) and the error
page. Text comes from the message catalogues through the report's :class:`Text`."""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from riskatlas import __version__
from riskatlas.errors import AnalysisError
from riskatlas.i18n import LANGUAGES
from riskatlas.report.html import Text
from riskatlas.web.deps import request_language

NAV = (("/", "web.nav.overview"), ("/profile", "web.nav.profile"),
       ("/screen", "web.nav.screen"), ("/records", "web.nav.records"),
       ("/datasets", "web.nav.datasets"))

STAFF_NAV = (("/cards", "workflow.nav.cards", ("collector", "validator", "admin")),
             ("/cards/new", "workflow.nav.new", ("collector", "validator", "admin")),
             ("/upload", "workflow.nav.upload", ("collector", "validator", "admin")),
             ("/review", "review.nav", ("validator", "admin")),
             ("/links", "link.web.nav", ("validator", "admin")),
             ("/admin/audit", "auth.nav.audit", ("admin",)),
             ("/admin/users", "auth.nav.users", ("admin",)))

MAX_PAGE = 1_000_000  # a page number beyond this answers 422 (API) or the last page


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("riskatlas.web", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


class Links:
    """URLs inside the dashboard that keep the reader's language."""

    def __init__(self, request: Request, lang: str) -> None:
        self.request, self.lang = request, lang
        self._queries: dict[tuple[tuple[str, Any], ...], str] = {}  # a page's rows share one

    def __call__(self, path: str, **params: Any) -> str:
        key: tuple[tuple[str, Any], ...] | None = tuple(params.items())
        try:
            query = self._queries.get(key)  # type: ignore[arg-type]
        except TypeError:  # a list of values: not kept
            key, query = None, None
        if query is None:
            wanted = {k: v for k, v in params.items() if v is not None and v != ""}
            wanted["lang"] = self.lang
            query = urlencode(wanted, doseq=True)
            if key is not None:
                self._queries[key] = query
        return f"{path}?{query}"

    def here(self, **changes: Any) -> str:
        """This page with some parameters changed (None removes one)."""
        params: dict[str, Any] = dict(self.request.query_params.multi_items())
        params.update(changes)
        params.pop("lang", None)
        return self(self.request.url.path, **params)

    def switch(self) -> str:
        other = next(code for code in LANGUAGES if code != self.lang)
        query = dict(self.request.query_params.multi_items())
        query["lang"] = other
        return f"{self.request.url.path}?{urlencode(query)}"


def render(request: Request, template: str, *, status: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    lang = request_language(request)
    t = Text(lang)
    links = Links(request, lang)
    me = getattr(request.state, "viewer", None)
    nav = list(NAV)
    if me is not None and not me.anonymous:  # the signed-in user's pages
        nav += [(path, key) for path, key, roles in STAFF_NAV if me.role in roles]
    session = getattr(request.state, "session", None)
    base = {"t": t, "lang": lang, "link": links, "switch_url": links.switch(),
            "switch_label": t("web.switch_language"), "version": __version__,
            "nav": [(links(path), t(key), path == request.url.path) for path, key in nav],
            "me": me, "session_csrf": str(session["c"]) if session else ""}
    html = environment().get_template(template).render(**base, **context)
    return HTMLResponse(html, status_code=status, headers=headers)


def render_error(request: Request, status: int, message: str,
                 headers: dict[str, str] | None = None) -> HTMLResponse:
    return render(request, "error.html.j2", status=status, headers=headers,
                  status_code=status, message=message)


def opt_int(name: str, value: str | None) -> int | None:
    """A whole number from a form field; blank means not given."""
    if value is None or not value.strip():
        return None
    try:
        return int(value.strip())
    except ValueError:
        raise AnalysisError("web.error.not_a_number", name=name, value=value) from None


def opt_text(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None
