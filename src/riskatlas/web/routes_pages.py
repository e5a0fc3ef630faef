"""The public dashboard: overview, hazard profile, screening, unit pages, records browser,
datasets and record downloads. Pages reuse the report's chart, map and table builders
(:mod:`riskatlas.report.html`), so the dashboard and the report always agree."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from riskatlas.analysis.results import statuses_text
from riskatlas.api import Atlas
from riskatlas.assessment import pipeline
from riskatlas.assessment.value import REPORT_METRICS
from riskatlas.export import labelled, write
from riskatlas.model.countries import country_name
from riskatlas.model.schema import APPROVAL_STATUSES
from riskatlas.report import html as report
from riskatlas.report.html import Text
from riskatlas.web import browse, choices, data
from riskatlas.web.deps import (
    Viewer,
    current_user,
    get_atlas,
    language,
    settings_of,
)
from riskatlas.web.errors import NotFoundError
from riskatlas.web.pages import MAX_PAGE, opt_int, opt_text, render
from riskatlas.web.scope import PageScope, UnitScope

router = APIRouter(include_in_schema=False)
AtlasDep = Annotated[Atlas, Depends(get_atlas)]
Lang = Annotated[str, Depends(language)]
PAGE_SIZE = 50
# units per page of the screen's and the profile's tables (a level of thousands of units
# is paged; /api/screen, /api/profile and the report's annex list every one)
PAGE_ROWS = 100
DOWNLOADS = {"csv": "text/csv; charset=utf-8",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


_PLAIN = re.compile(r"[A-Za-z0-9._~-]+")


def unit_paths(request: Request) -> Callable[[str, str], str]:
    """``path(country, code)``: the path of a unit's page, as ``request.url_for("unit",
    …).path`` gives it; worked out once per page for plain codes (letters, digits, ``.``,
    ``_``, ``~``, ``-``), since a route look-up per row costs a screen page of thousands of
    units a third of a second, and by ``url_for`` for any other code."""
    template = request.url_for("unit", country="C0UNTRY", code="C0DE").path

    def path(country: str, code: str) -> str:
        if _PLAIN.fullmatch(country) and _PLAIN.fullmatch(code):
            return template.replace("C0UNTRY", country, 1).replace("C0DE", code, 1)
        return request.url_for("unit", country=country, code=code).path

    return path


def _hazards(t: Text, items: list[dict[str, Any]]) -> str:
    return t("report.list_sep").join(f"{t.hazard(i['hazard'])} {i['share']:.0f} %"
                                      for i in items) or "—"


def _unit_totals(frame: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    """Per unit of a one-metric profile, in the order units first appear: country, code,
    name ("" when none), the metric's total and records, and the first-ranked row's
    hazard, value and share. Arrays, not a frame per unit: slicing a frame per unit copies
    its ``attrs`` (the result's provenance) each time, seconds for thousands of units."""
    keys = ["country_iso3", "admin_code"]
    if not len(frame):
        return
    group = frame.groupby(keys, sort=False).ngroup().to_numpy()  # numbered as first seen
    # each unit's rows together, its first-ranked first (ranks are distinct in a unit)
    order = np.lexsort((frame["rank"].to_numpy(), group))
    starts = np.searchsorted(group[order], np.arange(group.max() + 1))
    first = order[starts]
    country, code, name, hazard = (frame[k].to_numpy(dtype=object)[first] for k in
                                   ("country_iso3", "admin_code", "admin_name", "hazard"))
    value, records, share = (frame[k].to_numpy() for k in ("value", "records", "share_pct"))
    totals = np.add.reduceat(value[order], starts).tolist()
    counts = np.add.reduceat(records[order], starts).tolist()
    for k, row in enumerate(first.tolist()):
        yield (country[k], code[k], name[k] if isinstance(name[k], str) else "",
               float(totals[k]), int(counts[k]), hazard[k], value[row], share[row])


OVERVIEW_MAPS = 3  # the overview maps the countries with the most records, up to this many


def unit_links(request: Request, lang: str, level: int) -> Callable[[str, str], str]:
    """``href(country, code)``: a unit's page at ``level`` in the reader's language (the
    maps' links)."""
    path, query = unit_paths(request), urlencode({"level": level, "lang": lang})
    return lambda country, code: f"{path(country, code)}?{query}"


def _has_boundaries(atlas: Atlas, country: str) -> bool:
    units = atlas.table("admin_units")
    found = units.filter((units.country_iso3 == country) & units.geometry.notnull())
    return bool(found.count().to_pandas())


def overview_maps(request: Request, atlas: Atlas, lang: str,
                  countries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The overview's maps: for the countries with most records, the screening score of
    the units at the level ``riskatlas assess`` picks, each unit linking to its page ("svg"
    empty where the store has no boundaries for the country)."""
    t = Text(lang)
    out = []
    ranked = sorted(countries, key=lambda c: -c["records"])
    for c in [c for c in ranked if c["country"] != "XXX"][:OVERVIEW_MAPS]:
        iso, drawn, level = c["country"], "", 0
        if _has_boundaries(atlas, iso):
            scope = atlas.scope_of(country=iso)
            level = data.default_level(atlas, scope)
            a = pipeline.screen_assessment(atlas, scope.but(level=level), lang=lang, top=5)
            drawn = report.maps(a, t, href=unit_links(request, lang, level)).get("score", "")
        out.append({"country": iso, "name": c["name"], "level": level, "svg": drawn})
    return out


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, atlas: AtlasDep, lang: Lang) -> HTMLResponse:
    t = Text(lang)
    found = data.overview(atlas, lang)
    rows = [{**c, "deaths": t.num(c["deaths"]), "records": t.num(c["records"]),
             "period": f"{c['period_from']}–{c['period_to']}",
             "top_deaths": _hazards(t, c["top_deaths"]),
             "top_records": _hazards(t, c["top_records"])} for c in found]
    return render(request, "overview.html.j2", countries=rows,
                  maps=overview_maps(request, atlas, lang, found),
                  datasets=len(atlas.datasets()))


@router.get("/profile", response_class=HTMLResponse)
def profile(request: Request, atlas: AtlasDep, lang: Lang, scope: PageScope,
            metric: str = "deaths", page: int = 1) -> HTMLResponse:
    t = Text(lang)
    choices = data.countries(atlas)
    iso = (scope.country or (choices[0] if choices else "")).upper()
    lvl, y0, y1 = scope.level, scope.year_from, scope.year_to
    whole = scope.but(country=iso or None, level=None)
    frame = atlas.profile(REPORT_METRICS, lang=lang, scope=whole)
    sections = report.profile_sections(pipeline.profile_assessment(frame, lang), t)
    for p in sections:  # the page cites its own downloads, not the report's workbook
        p["caption"] = t("web.profile.caption", metric=p["metric"], period=p["period"],
                         records=p["records"])
    totals = []
    unlocated = t("web.profile.unlocated")
    if lvl is not None:
        by_unit = atlas.profile([metric], lang=lang, scope=whole.but(level=lvl))
        totals = sorted(_unit_totals(by_unit), key=lambda u: (-u[3], u[2] or u[1] or unlocated))
    pages = max(1, -(-len(totals) // PAGE_ROWS))
    page = min(max(1, page), pages)
    first = (page - 1) * PAGE_ROWS
    unit_path = unit_paths(request)
    units = [{"name": name or code or unlocated, "code": code,
              "url": unit_path(c, code) if code else None, "total": t.num(total),
              "records": records, "top": t.hazard(top) if value > 0 else "—",
              "share": f"{share:.1f}" if value > 0 else "—"}
             for c, code, name, total, records, top, value, share
             in totals[first:first + PAGE_ROWS]]
    period = ""
    if len(frame):
        period = f"{int(frame['period_from'].min())}–{int(frame['period_to'].max())}"
    return render(request, "profile.html.j2", sections=sections, units=units,
                  countries=[(c, country_name(c, lang)) for c in choices], country=iso,
                  level=lvl, year_from=y0, year_to=y1, metric=metric, period=period,
                  metrics=REPORT_METRICS, place=country_name(iso, lang) if iso else "",
                  page=page, pages=pages, first=first + 1, last=first + len(units),
                  listed=len(totals))


@router.get("/screen", response_class=HTMLResponse)
def screen(request: Request, atlas: AtlasDep, lang: Lang, scope: PageScope,
           all_hazards: bool = False, top: int = 5, page: int = 1) -> HTMLResponse:
    t = Text(lang)
    choices = data.countries(atlas)
    iso = (scope.country or (choices[0] if choices else "")).upper() or None
    y0, y1 = scope.year_from, scope.year_to
    scope = scope.but(country=iso)
    lvl = scope.level
    if lvl is None:
        lvl = data.default_level(atlas, scope)
    a = pipeline.screen_assessment(atlas, scope.but(level=lvl), lang=lang, top=top,
                                   all_hazards=all_hazards)
    ranked = report.ranked_units(a)
    pages = max(1, -(-len(ranked) // PAGE_ROWS))
    page = min(max(1, page), pages)
    first = (page - 1) * PAGE_ROWS
    shown = ranked.iloc[first:first + PAGE_ROWS]
    rows = report.screen_rows(a, t, shown)
    unit_path = unit_paths(request)
    for row, iso3 in zip(rows, shown["country_iso3"], strict=True):
        row["url"] = unit_path(iso3, row["code"]) if row["code"] else None
        row["level"] = lvl
    maps = report.maps(a, t, href=unit_links(request, lang, lvl))
    return render(request, "screen.html.j2", rows=rows, maps=maps,
                  notes=a.notes, level=lvl, country=iso,
                  every=bool(len(a.all_screen)), outside=report.outside_text(a.outside, t),
                  statuses=statuses_text(a.screen.attrs["scope"]["statuses"], lang),
                  countries=[(c, country_name(c, lang)) for c in choices],
                  year_from=y0, year_to=y1, all_hazards=all_hazards, page=page, pages=pages,
                  ranked=len(ranked), first=first + 1, last=first + len(rows),
                  silent=len(a.screen) - len(ranked))


@router.get("/unit/{country}/{code}", response_class=HTMLResponse, name="unit")
def unit(request: Request, atlas: AtlasDep, lang: Lang, country: str, code: str,
         scope: UnitScope) -> HTMLResponse:
    t = Text(lang)
    lvl = scope.level
    if lvl is None:
        lvl = data.level_of(atlas, country, code)
    a = None if lvl is None else pipeline.unit_assessment(atlas, scope.but(level=lvl), code,
                                                          lang=lang)
    if a is None:
        raise NotFoundError("web.error.unit_not_found", country=country, code=code)
    page = report.unit_pages(a, t)[0]
    for peer in page["peers"]:  # each peer links to its own page
        peer["url"] = request.url_for("unit", country=peer["country_iso3"],
                                      code=peer["code"]).path + f"?level={peer['level']}"
    return render(request, "unit.html.j2", u=page, level=lvl, country=country.upper(),
                  country_label=country_name(country.upper(), lang),
                  notes=a.notes)


def _record_filters(country: str | None, admin: str | None, hazard: str | None,
                    year_from: str | None, year_to: str | None, dataset: str | None,
                    status: str | None, q: str | None) -> dict[str, Any]:
    return {"country": opt_text(country), "admin": opt_text(admin),
            "hazard": opt_text(hazard), "year_from": opt_int("year_from", year_from),
            "year_to": opt_int("year_to", year_to), "dataset": opt_int("dataset", dataset),
            "status": opt_text(status), "text": opt_text(q)}


@router.get("/records", response_class=HTMLResponse)
def records(request: Request, atlas: AtlasDep, lang: Lang,
            viewer: Annotated[Viewer, Depends(current_user)], country: str | None = None,
            admin: str | None = None, hazard: str | None = None, year_from: str | None = None,
            year_to: str | None = None, dataset: str | None = None,
            status: str | None = None, q: str | None = None, page: int = 1) -> HTMLResponse:
    t = Text(lang)
    filters = _record_filters(country, admin, hazard, year_from, year_to, dataset, status, q)
    page = min(max(1, page), MAX_PAGE)
    total, found = browse.search(atlas, page=page, page_size=PAGE_SIZE,
                                 columns=browse.PAGE_COLUMNS, **filters)
    pages = max(1, -(-total // PAGE_SIZE))
    rows = [{"id": r["record_id"],
             "date": r["start_date"].isoformat() if r["start_date"] else "—",
             "place": " / ".join(str(r[f"level{i}_name"]) for i in (0, 1, 2)
                                 if isinstance(r[f"level{i}_name"], str)
                                 and r[f"level{i}_name"]) or "—",
             "detail": r["place"] if isinstance(r["place"], str) else "",
             "hazard": t.hazard(r["hazard_group"]) if isinstance(r["hazard_group"], str)
             else (r["hazard_term"] or "—"),
             "term": r["hazard_term"] or "", "deaths": t.num(r["deaths"]),
             "injured": t.num(r["injured"]), "affected": t.num(r["directly_affected"]),
             "destroyed": t.num(r["houses_destroyed"]), "damaged": t.num(r["houses_damaged"]),
             "comments": r["comments"] if isinstance(r["comments"], str) else "",
             "status": r["approval_status"] if isinstance(r["approval_status"], str) else ""}
            for r in found.to_pylist()]
    form = {k: ("" if v is None else v) for k, v in filters.items()}
    query = {k if k != "text" else "q": v for k, v in filters.items()}
    countries = data.countries(atlas)
    # units by name: the chosen country's, or the store's only country's
    place = filters["country"] or (countries[0] if len(countries) == 1 else None)
    return render(request, "records.html.j2", rows=rows, total=total, page=page,
                  pages=pages, form=form, query=query, viewer=viewer,
                  published_only=not (viewer.staff or settings_of(request).public_all),
                  statuses=APPROVAL_STATUSES,
                  countries=[(c, country_name(c, lang)) for c in countries],
                  units=choices.unit_filter_options(atlas, place, filters["admin"]),
                  hazards=choices.hazard_group_options(atlas, filters["hazard"], lang))


@router.get("/download/records.{fmt}", name="download")
def download(atlas: AtlasDep, lang: Lang, fmt: str, country: str | None = None,
             admin: str | None = None, hazard: str | None = None,
             year_from: str | None = None, year_to: str | None = None,
             dataset: str | None = None, status: str | None = None,
             q: str | None = None) -> Response:
    """The filtered records with labels (hazard, HIPs and country names next to codes)."""
    if fmt not in DOWNLOADS:
        raise NotFoundError()
    filters = _record_filters(country, admin, hazard, year_from, year_to, dataset, status, q)
    frame = labelled(browse.all_records(atlas, **filters), lang)
    with tempfile.TemporaryDirectory(prefix="riskatlas-web-") as folder:
        path = Path(folder) / f"records.{fmt}"
        write(frame, path, fmt, {})
        body = path.read_bytes()
    return Response(body, media_type=DOWNLOADS[fmt], headers={
        "Content-Disposition": f'attachment; filename="riskatlas-records.{fmt}"'})


@router.get("/datasets", response_class=HTMLResponse)
def datasets(request: Request, atlas: AtlasDep, lang: Lang) -> HTMLResponse:
    t = Text(lang)
    frame = data.datasets(atlas)
    files = atlas.dataset_files()
    rows = []
    for d in frame.to_dict("records"):
        mine = files[files["dataset_id"] == d["dataset_id"]] if len(files) else files
        rows.append({**{k: ("—" if v is None or (isinstance(v, float) and v != v) else v)
                        for k, v in d.items()},
                     "records_read": t.num(d["records_read"]),
                     "records_imported": t.num(d["records_imported"]),
                     "records_quarantined": t.num(d["records_quarantined"]),
                     "imported_at": str(d["imported_at"])[:19],
                     "files": mine.to_dict("records")})
    unmapped = len(data.hazard_terms(atlas, unmapped=True))
    return render(request, "datasets.html.j2", datasets=rows, unmapped=unmapped)
