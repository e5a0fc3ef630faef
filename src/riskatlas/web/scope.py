"""The scope of a request as a value: FastAPI dependencies that read the scope's query
parameters (the names, bounds and descriptions of :mod:`riskatlas.web.schemas`) and give
a :class:`~riskatlas.analysis.scope.Scope` with the methods profile's defaults
(:meth:`Atlas.scope_of`: no query runs). The API routes take the parameters each analysis
understands (:func:`scope_query`); the pages read theirs as forms send them
(:data:`PageScope`, :data:`UnitScope`: blank means not given).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends

from riskatlas.analysis.scope import Scope
from riskatlas.api import Atlas
from riskatlas.web.deps import get_atlas
from riskatlas.web.pages import opt_int, opt_text
from riskatlas.web.schemas import (
    Admin,
    By,
    Country,
    Dataset,
    Hazard,
    Level,
    Unapproved,
    YearFrom,
    YearTo,
)

AtlasDep = Annotated[Atlas, Depends(get_atlas)]

# every scope parameter of the API, in the order the routes list them: (type, default,
# the Scope field or Atlas.scope_of keyword it sets)
SCOPE_PARAMETERS: dict[str, tuple[Any, Any, str]] = {
    "country": (Country, None, "country"),
    "admin": (Admin, None, "admin"),
    "level": (Level, None, "level"),
    "hazard": (Hazard, None, "hazard"),
    "year_from": (YearFrom, None, "year_from"),
    "year_to": (YearTo, None, "year_to"),
    "dataset": (Dataset, None, "dataset"),
    "by": (By, "group", "hazard_key"),
    "include_unapproved": (Unapproved, False, "include_unapproved"),
}


def scope_query(*names: str) -> Callable[..., Awaitable[Scope]]:
    """A dependency reading the scope parameters ``names`` (keys of
    :data:`SCOPE_PARAMETERS`) from the query; the others keep their defaults. (Async: it
    runs no query, so it costs no thread hop.)"""
    unknown = set(names) - set(SCOPE_PARAMETERS)
    if unknown:
        raise ValueError(f"not scope parameters: {', '.join(sorted(unknown))}")
    wanted = [n for n in SCOPE_PARAMETERS if n in names]

    async def scope(atlas: Atlas, **query: Any) -> Scope:
        return atlas.scope_of(**{SCOPE_PARAMETERS[n][2]: v for n, v in query.items()})

    keyword = inspect.Parameter.KEYWORD_ONLY
    scope.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("atlas", keyword, annotation=AtlasDep),
         *(inspect.Parameter(n, keyword, annotation=SCOPE_PARAMETERS[n][0],
                             default=SCOPE_PARAMETERS[n][1]) for n in wanted)],
        return_annotation=Scope)
    scope.__name__ = "scope_" + "_".join(wanted)
    return scope


async def page_scope(atlas: AtlasDep, country: str | None = None, level: str | None = None,
                     year_from: str | None = None, year_to: str | None = None) -> Scope:
    """The scope of a dashboard page (profile, screen) as its form sends it."""
    return atlas.scope_of(country=opt_text(country), level=opt_int("level", level),
                          year_from=opt_int("year_from", year_from),
                          year_to=opt_int("year_to", year_to))


async def unit_scope(atlas: AtlasDep, country: str, level: str | None = None,
                     year_from: str | None = None, year_to: str | None = None) -> Scope:
    """The scope of a unit's page: its country (from the path), level and period."""
    return atlas.scope_of(country=country.upper(), level=opt_int("level", level),
                          year_from=opt_int("year_from", year_from),
                          year_to=opt_int("year_to", year_to))


PageScope = Annotated[Scope, Depends(page_scope)]
UnitScope = Annotated[Scope, Depends(unit_scope)]
