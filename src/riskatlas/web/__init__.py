"""The read-only public dashboard and open JSON API (``riskatlas serve``).

``create_app(db)`` builds a FastAPI app whose routes are thin views over
:class:`riskatlas.api.Atlas`: JSON under ``/api/`` (OpenAPI at ``/openapi.json``) and
server-rendered bilingual pages (Jinja2, inline SVG charts, no script, no CDN).
"""

from __future__ import annotations

from riskatlas.web.app import create_app

__all__ = ["create_app"]
