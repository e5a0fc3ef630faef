"""The HTML report: a self-contained page (inline CSS and SVG, no script, no CDN) rendered
from an :class:`Assessment` with a Jinja template and the message catalogues."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pandas as pd

from riskatlas import __version__
from riskatlas.advice.engine import Advice, Reason
from riskatlas.analysis.levels import describe as describe_levels
from riskatlas.analysis.results import statuses_text
from riskatlas.analysis.screen import OUTSIDE_METRICS
from riskatlas.assessment.national import ALL, COMPARED
from riskatlas.assessment.text import drivers_text
from riskatlas.assessment.value import Assessment
from riskatlas.errors import ReportError
from riskatlas.i18n import dataset_name, parenthesised, template
from riskatlas.model.countries import country_name
from riskatlas.report import charts, peers_view, svg
from riskatlas.report.text import Text

MEASURES_PER_UNIT = 6  # on a unit's page; the advice table has them all
MEASURES_IN_FULL = 2  # of those, described in full; the others by name and reasons
SCREEN_ROWS = 10  # units of the screening table in the body; the annex lists them all
SUMMARY_MEASURES = 3  # distinct measures on the summary page
TREND_HAZARDS = 4  # hazards drawn beside the national total (most events first)
SENDAI_YEARS = 6  # last years with records in a unit's Sendai table (the sheet has all)
PEERS_SHOWN = 3  # peers in a unit's table (the sheet "peers" has every one found)
ALL_HAZARD_ROWS = 10  # rows of the all-hazard screen shown next to the climate screen
PROFILE_CHART_METRICS = ("deaths", "injured", "directly_affected", "houses_destroyed",
                         "houses_damaged", "records", "events")


PAPERS = {"a4": "A4", "letter": "letter"}  # --paper → CSS @page size


def render_html(a: Assessment, *, paper: str = "a4") -> str:
    """The report page; ``paper`` (a4, letter) is the size its PDF is printed on."""
    import jinja2

    if paper not in PAPERS:
        raise ReportError("assess.bad_paper", paper=paper)

    env = jinja2.Environment(loader=jinja2.PackageLoader("riskatlas.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(**context(a), page_size=PAPERS[paper])


def quality_rows(a: Assessment, t: Text) -> list[dict[str, Any]]:
    """The data-quality summary (``riskatlas quality``) in the reader's language."""
    return [{"dataset_id": r.dataset_id, "rule": template(r.rule, t.lang),
             "column": r.source_field,
             "action": t(f"quality.action.{r.action}"), "records": r.records,
             "examples": ", ".join(r.examples)} for r in a.quality.itertuples()]


def context(a: Assessment) -> dict[str, Any]:
    t = Text(a.lang)
    first, last = a.period
    place = country_name(a.country, a.lang) if a.country else t("report.all_countries")
    sources = t("report.list_sep").join(
        parenthesised(dataset_name(d.name, a.lang), f"#{d.dataset_id}")
        for d in a.datasets.itertuples()) or "—"
    if a.dataset_scope:  # assess FILE…: the report is about those files
        place = t("report.title_sources", place=place, datasets=sources)
    statuses = statuses_text(a.statuses, a.lang)
    return {
        "t": t, "lang": a.lang, "place": place, "period": f"{first}–{last}",
        "sources": sources, "statuses": statuses,
        "level": a.level, "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__, "records_total": len(a.records),
        "maps": maps(a, t), "screen": screen_rows(a, t), "units": unit_pages(a, t),
        "all_screen": all_screen_rows(a, t), "outside": outside_text(a.outside, t),
        "methods": methods(a, t), "datasets": a.datasets.to_dict("records"),
        "quality": quality_rows(a, t),
        "linking": linking_view(a, t),
        "notes": a.notes,
        "silent_units": int((a.screen["cards"].fillna(0) == 0).sum()),
        "summary": summary_view(a, t), "national": national_view(a, t),
        "profile_table": profile_table(a, t), "screen_rows": SCREEN_ROWS,
        "sendai_years": SENDAI_YEARS, "peers_shown": PEERS_SHOWN,
        "annex": annex_rows(a, t), "sources_rows": source_rows(a, t),
        "levels_method": describe_levels(a.return_levels.attrs, t.lang)
        if len(a.return_levels) else "",
    }


MERGED_ROWS = 30  # merged events shown (most deaths first); the API lists them all
MERGED_FIGURES = ("deaths", "houses_destroyed", "directly_affected", "losses_usd")


def linking_view(a: Assessment, t: Text) -> dict[str, Any] | None:
    """Linked sources (issue 17): what each source captures of the other per hazard group
    and kind, per year of the record-event source, and the merged events with the source
    of each figure; None unless the store holds both kinds of source."""
    section = a.linking
    if section is None:
        return None
    table = section.completeness
    keys = ["source", "hazard_group", "kind"]
    totals = table.groupby(keys, as_index=False)[
        ["events", "captured_events", "deaths", "captured_deaths"]].sum()
    groups = [{"source": r.source, "group": t.hazard(r.hazard_group),
               "kind": t(f"link.report.{r.kind}"), "events": t.num(r.events),
               "captured": t.num(r.captured_events),
               "share": percent(r.captured_events / r.events) if r.events else "—",
               "deaths": t.num(r.deaths),
               "share_deaths": percent(r.captured_deaths / r.deaths) if r.deaths else "—"}
              for r in totals.itertuples()]
    first = section.pairs[0]["from"] if section.pairs else None
    by_year = table[table.source == first].groupby(["year", "hazard_group", "kind"],
                                                   as_index=False)[
        ["events", "captured_events"]].sum()
    years = [{"year": int(r.year), "group": t.hazard(r.hazard_group),
              "kind": t(f"link.report.{r.kind}"), "events": t.num(r.events),
              "captured": t.num(r.captured_events),
              "share": percent(r.captured_events / r.events) if r.events else "—"}
             for r in by_year.itertuples()]
    chart = svg.bar_chart([
        (f"{r.source}: {t.hazard(r.hazard_group)}, {t(f'link.report.{r.kind}')}",
         100.0 * r.captured_events / r.events, r.hazard_group)
        for r in totals.itertuples() if r.events], label=t("link.report.chart"))
    return {"chart": chart,
            "pairs": [{**p, "basis_text": t(f"link.report.basis_{p['basis']}",
                                              a=p["from"], b=p["to"], links=p["links"])}
                      for p in section.pairs],
            "groups": groups, "years": years, "merged": merged_rows(section.merged, t),
            "rule": t(f"link.rule.{section.merged.rule.iloc[0]}") if len(section.merged)
            else ""}


def merged_rows(merged: pd.DataFrame, t: Text) -> list[dict[str, Any]]:
    """One row per merged event (most deaths first): its events and each figure with the
    dataset it comes from."""
    rows = []
    for number, group in merged.groupby("merged_id", sort=False):
        by = group.set_index("figure")
        cells = {}
        for figure in MERGED_FIGURES:
            value, source = by.loc[figure, "value"], by.loc[figure, "source_dataset"]
            cells[figure] = "—" if pd.isna(value) else t("link.report.figure",
                                                         value=t.num(value), source=source)
        deaths = by.loc["deaths", "value"]
        rows.append({"id": int(number), "from": by["from_events"].iloc[0],
                     "to": by["to_events"].iloc[0], "figures": cells,
                     "sort": -1.0 if pd.isna(deaths) else float(deaths)})
    rows.sort(key=lambda r: (-r["sort"], r["id"]))
    return rows[:MERGED_ROWS]


def profile_sections(a: Assessment, t: Text) -> list[dict[str, Any]]:
    """Per metric of the charts with a value: its chart, rows and caption, and the
    ``period`` and ``records`` the caption states. One filter and sort of the profile, then
    rows (each frame derived from a result copies its provenance, its ``attrs``)."""
    frame = a.profile
    shown = frame[frame["value"] > 0].sort_values(["metric", "rank"], kind="stable")
    by_metric: dict[str, list[Any]] = {}
    for r in shown.itertuples(index=False):
        by_metric.setdefault(r.metric, []).append(r)
    sections = []
    for metric in PROFILE_CHART_METRICS:
        rows = by_metric.get(metric)
        if not rows:
            continue
        items = [(t.hazard(r.hazard), float(r.share_pct), r.hazard) for r in rows]
        period = (f"{min(int(r.period_from) for r in rows)}–"
                  f"{max(int(r.period_to) for r in rows)}")
        records = t.num(int(sum(r.records for r in rows)))
        sections.append({
            "key": metric, "metric": t.metric(metric), "chart": svg.bar_chart(
                items, label=t("report.chart_profile", metric=t.metric(metric))),
            "rows": [{"hazard": t.hazard(r.hazard), "value": t.num(r.value),
                      "share": f"{r.share_pct:.1f}", "records": t.num(r.records)}
                     for r in rows],
            "period": period, "records": records,
            "caption": t("report.caption_profile", metric=t.metric(metric), period=period,
                         records=records)})
    return sections


def maps(a: Assessment, t: Text, *, href: Callable[[str, str], str] | None = None,
         width: int = 680, labels: int | None = None) -> dict[str, str]:
    """The screening-score and dominant-hazard maps (:func:`svg.choropleth`), the top
    ``labels`` units (default: the report's top) named on them; ``href(country, code)``
    makes each unit a link (the web's unit pages)."""
    if not len(a.units) or not a.units["geometry"].map(bool).any():
        return {}
    units = list(a.units.itertuples())
    shapes = svg.map_shapes([u.geometry for u in units], width=width,
                            names=[u.name or u.code for u in units])
    if shapes is None:
        return {}
    screen = a.screen.set_index(["country_iso3", "admin_code"])
    ranked = ranked_units(a)
    top = ranked.head(a.top if labels is None else labels)
    labelled = {key: i for i, key in enumerate(zip(top["country_iso3"], top["admin_code"],
                                                   strict=True))}
    score_units, hazard_units, blank = [], [], False
    for u in units:
        key = (u.country_iso3, u.code)
        name = u.name or u.code
        common = {"name": name, "href": href(*key) if href else None,
                  "label": name if key in labelled else None, "rank": labelled.get(key)}
        row = screen.loc[key] if key in screen.index else None
        if row is None or pd.isna(row["cards"]) or not row["cards"]:
            blank = True
            title = t("map.unit_no_data", unit=name)
            score_units.append({**common, "fill": svg.NO_DATA, "title": title})
            hazard_units.append({**common, "fill": svg.NO_DATA, "title": title})
            continue
        cls, hazard = row["class"], row["top_hazard"]
        score_units.append({**common, "fill": svg.CLASS_COLOURS[cls], "title": t(
            "map.unit_score", unit=name, score=f"{row['score']:.1f}", cls=t(f"class.{cls}"))})
        hazard_units.append({**common, "fill": svg.colour(hazard) if hazard else svg.NO_DATA,
                             "title": t("map.unit_hazard", unit=name, hazard=t.hazard(hazard))})
    no_data = [(t("map.no_data"), svg.NO_DATA)] if blank else []
    hazards = sorted({h for h in a.screen["top_hazard"].dropna()})

    def texts(title: str) -> svg.MapTexts:
        return svg.MapTexts(north=t("map.north"), km=t("map.scale_km", km="{km}"),
                            legend_title=title, inset=t("map.inset", names="{names}"),
                            list_sep=t("map.list_sep"))

    return {
        "score": svg.choropleth(score_units, label=t("report.map_score"), shapes=shapes,
                                texts=texts(t("map.legend_score")), legend=[
            (t(f"class.{c}"), colour) for c, colour in svg.CLASS_COLOURS.items()] + no_data),
        "hazard": svg.choropleth(hazard_units, label=t("report.map_hazard"), shapes=shapes,
                                 texts=texts(t("map.legend_hazard")), legend=[
            (t.hazard(h), svg.colour(h)) for h in hazards] + no_data)}


def outside_text(outside: pd.DataFrame, t: Text) -> str:
    """What the climate-related screen leaves out, per hazard: "Earthquake: 23 % of deaths,
    77 % of houses destroyed; Biological: …" (largest share of deaths first)."""
    if not len(outside):
        return ""
    # the rows as plain lists: a frame filtered per hazard costs a page milliseconds
    share = dict(zip(zip(outside["hazard"].tolist(), outside["metric"].tolist(), strict=True),
                     outside["share_pct"].tolist(), strict=True))
    deaths = sorted(((-pct, h) for (h, m), pct in share.items() if m == "deaths"))
    hazards = dict.fromkeys([*(h for _, h in deaths), *sorted({h for h, _ in share})])
    return t("report.list_sep").join(
        t("report.outside_item", hazard=t.hazard(hazard), shares=t("report.item_sep").join(
            t("report.share_of", pct=f"{share[hazard, m]:.0f}", metric=t.metric(m))
            for m in OUTSIDE_METRICS if (hazard, m) in share))
        for hazard in hazards)


def all_screen_rows(a: Assessment, t: Text) -> list[dict[str, Any]]:
    """The top of the all-hazard screen, with each unit's rank in the climate screen."""
    if not len(a.all_screen):
        return []
    every = a.all_screen
    ranked = every[every["rank"].notna()].sort_values("rank").head(ALL_HAZARD_ROWS)
    return [{"rank": r["rank"], "unit": r["admin_name"] or r["admin_code"],
             "code": r["admin_code"], "score": f"{r['score']:.2f}", "cls": r["class"],
             "class_label": t(f"class.{r['class']}"), "drivers": drivers_text(r["drivers"], t.lang),
             "climate_rank": "—" if pd.isna(r["climate_rank"]) else int(r["climate_rank"])}
            for r in ranked.to_dict("records")]


def screen_rows(a: Assessment, t: Text, units: pd.DataFrame | None = None
                ) -> list[dict[str, Any]]:
    """Units with records (the others score 0 and are counted in a note), in rank order;
    ``units``: some of :func:`ranked_units` (default: every one)."""
    ranked = ranked_units(a) if units is None else units
    every = "all_hazards_rank" in a.screen.columns
    return [{"rank": r["rank"], "unit": r["admin_name"] or r["admin_code"],
             "all_hazards": (t("report.score_rank", score=f"{r['all_hazards_score']:.2f}",
                                rank=int(r["all_hazards_rank"]))
                             if every and pd.notna(r["all_hazards_rank"]) else None),
             "code": r["admin_code"], "score": f"{r['score']:.2f}",
             "cls": r["class"], "class_label": t(f"class.{r['class']}"),
             "drivers": drivers_text(r["drivers"], t.lang), "quality": r["quality"],
             "years": t.num(r["years_covered"]), "stability": percent(r["stability"]),
             "top": r["rank"] <= a.top}
            for r in ranked.to_dict("records")]


def ranked_units(a: Assessment) -> pd.DataFrame:
    """The screen's units with records, by rank."""
    return a.screen[a.screen["cards"].fillna(0) > 0].sort_values("rank")


def reason_text(reason: Reason, unit: str, t: Text) -> str:
    v, hazard = reason.values, t.hazard(reason.hazard)
    if reason.kind == "share":
        return t("report.reason_share", hazard=hazard, pct=f"{v['pct']:.0f}",
                 metric=t.metric(v["metric"]), unit=unit, min=f"{v['min_pct']:g}")
    if reason.kind == "hazard_rank":
        return t("report.reason_rank", hazard=hazard, unit=unit, rank=v["rank"],
                 units=v["units"], score=f"{v['score']:.1f}")
    if reason.kind == "trend":
        slope = v.get("slope")
        direction = "no_trend" if slope == 0 else v["direction"]
        return t("report.reason_trend", hazard=hazard, series=t.metric(v["series"]),
                 direction=t(f"trend.{direction}"),
                 slope=per_decade(slope) if slope is not None else "—",
                 p=_p_value(v.get("p"))) + (
            t("report.reason_extensive") if v.get("extensive_only") else "")
    return t("report.reason_annual", hazard=hazard, metric=t(f"report.annual_{v['metric']}"),
             value=t.num(v["value"], 2), min=f"{v['min']:g}")


def per_decade(slope_per_year: float) -> str:
    """A yearly slope as a change per decade in two significant figures: 0.00031 → '+0.0031',
    1.234 → '+12', -0.5 → '−5', 0 → '0'."""
    value = float(f"{slope_per_year * 10:.2g}")
    if value == 0:
        return "0"
    text = f"{abs(value):,.6f}".rstrip("0").rstrip(".")
    return ("+" if value > 0 else "−") + text


def percent(share: float) -> str:
    """A share of draws (0–1) as a whole percentage: 0.987 → '99 %'."""
    return f"{share * 100:.0f} %"


def _p_value(p: float | None) -> str:
    if p is None:
        return "—"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def measure_items(items: list[Advice], unit: str, t: Text) -> list[dict[str, Any]]:
    return [{"name": i.measure.name_in(t.lang), "description": i.measure.description_in(t.lang),
             "type": t(f"measure_type.{i.measure.type}"), "hazard": t.hazard(i.hazard),
             "cost": t(f"cost.{i.measure.cost_class}"),
             "reasons": [reason_text(r, unit, t) for r in i.reasons],
             "cases": [{"place": c.place_in(t.lang), "summary": c.summary_in(t.lang)}
                       for c in i.cases]}
            for i in items]


def unit_pages(a: Assessment, t: Text) -> list[dict[str, Any]]:
    pages = []
    first, last = a.period
    # peers link to the section of a unit that has one (same level, among the top units)
    anchors = {(c, a.level, code) for c, code in zip(a.top_units["country_iso3"],
                                                     a.top_units["admin_code"], strict=True)}
    for u in a.top_units.to_dict("records"):
        key = (u["country_iso3"], u["admin_code"])
        name = u["admin_name"] or u["admin_code"]
        prof = of_unit(a.unit_profile, key)
        deaths = prof[(prof["metric"] == "deaths") & (prof["value"] > 0)].sort_values("rank")
        basis = deaths if len(deaths) else prof[prof["metric"] == "records"].sort_values("rank")
        metric = "deaths" if len(deaths) else "records"
        risk, annual = of_unit(a.risk, key), of_unit(a.annual, key)
        main = [d["hazard"] for d in u["drivers"]][:3] or list(basis["hazard"][:3])
        series = {f"{h}|{t.hazard(h)}": [(int(r.year), float(r.events))
                                         for r in annual[annual["hazard"] == h].itertuples()]
                  for h in dict.fromkeys(main)}
        levels = of_unit(a.return_levels, key)
        levels = levels[levels["hazard"].isin(main)]
        sendai = of_unit(a.unit_sendai, key)
        peers = a.peers.get(key, pd.DataFrame())
        pages.append({
            "outside": outside_text(of_unit(a.unit_outside, key), t),
            "outside_deaths": outside_deaths(of_unit(a.unit_outside, key), t),
            "name": name, "code": key[1], "rank": u["rank"], "score": f"{u['score']:.2f}",
            "cls": u["class"], "class_label": t(f"class.{u['class']}"),
            "drivers": drivers_text(u["drivers"], t.lang), "quality": u["quality"],
            "stability": percent(u["stability"]), "top_n": u["top_n"],
            "chart": charts.share_chart([(t.hazard(r.hazard), float(r.share_pct), r.hazard)
                                         for r in basis.itertuples()], width=640,
                                        label=t("report.chart_profile",
                                                metric=t.metric(metric))),
            "chart_caption": t("report.caption_unit_profile", metric=t.metric(metric),
                               unit=name, records=t.num(int(basis["records"].sum()))),
            "trend": svg.line_chart(series, label=t("report.chart_trend")),
            "trend_chart": charts.trend_chart(
                {k.split("|")[0]: v for k, v in series.items()},
                {k.split("|")[0]: k.split("|")[1] for k in series}, label=t("report.chart_trend"),
                width=340, height=150, columns=1),
            "risk_caption": t("report.caption_risk", unit=name, cards=t.num(risk["cards"].sum()),
                              events=t.num(risk["events"].sum()),
                              years=t.num(risk["years"].max() if len(risk) else 0),
                              period=f"{first}–{last}"),
            "sendai_caption": t("report.caption_sendai", unit=name),
            "risk": [{"hazard": t.hazard(r.hazard), "events": t.num(r.events),
                      "per_year": t.num(r.events_per_year, 2),
                      "deaths_per_year": t.num(r.deaths_per_year, 2),
                      "p10": f"{100 * r.p_event_10y:.0f} %",
                      "intensive": t.num(r.intensive_events),
                      "trend": t(f"trend.{r.trend_events}")}
                     for r in risk.sort_values("events", ascending=False).itertuples()],
            "levels": level_rows(levels, t),
            "levels_wide": levels_wide(levels, t, a.return_levels.attrs),
            "versus": versus_view(a, key, name, t),
            "levels_caption": describe_levels(a.return_levels.attrs, t.lang),
            "sendai": [{"year": int(r.year), "deaths": t.num(r.deaths),
                        "missing": t.num(r.missing), "injured": t.num(r.injured),
                        "affected": t.num(r.directly_affected),
                        "a1": t.num(r.a1, 2), "b1": t.num(r.b1, 1), "d1": t.num(r.d1)}
                       for r in sendai.sort_values("year").tail(10).itertuples()],
            "measures": measure_items(a.advice_for(key)[:MEASURES_PER_UNIT], name, t),
            "measures_in_full": MEASURES_IN_FULL,
            "more_measures": max(0, len(a.advice_for(key)) - MEASURES_PER_UNIT),
            "peers": peers_view.peer_items(peers, t, anchors),
            "peers_note": peers_view.reason_text(peers.attrs.get("reason"), t)})
    return pages


def of_unit(frame: pd.DataFrame, key: tuple[str, str]) -> pd.DataFrame:
    """The rows of ``frame`` about one unit (country_iso3, admin_code); an empty frame
    (a result the assessment did not compute) as it is."""
    if not len(frame):
        return frame
    return frame[(frame["country_iso3"] == key[0]) & (frame["admin_code"] == key[1])]


def level_rows(levels: pd.DataFrame, t: Text) -> list[dict[str, Any]]:
    """Return levels of one unit: hazard, T, level, interval and what the level rests on."""
    def amount(value: float) -> str:
        return t.num(value, 0 if float(value).is_integer() else 1)

    return [{"hazard": t.hazard(r.hazard), "period": t.num(r.return_period_years),
             "level": amount(r.level), "interval": f"{amount(r.level_low)}–{amount(r.level_high)}",
             "basis": t(f"report.basis_{r.basis}", year=int(r.observed_max_year))}
            for r in levels.itertuples()]


def methods(a: Assessment, t: Text | None = None) -> dict[str, Any]:
    """The versions behind the figures; with ``t``, the screened hazards by name and the
    shipped methods profile in words."""
    stamp = a.screen.attrs
    crosswalks = sorted({str(v) for v in a.datasets.get("crosswalk_version", []) if v})
    source = stamp.get("methods_source")
    hazards = stamp.get("hazards", [])
    return {"methods_version": stamp.get("methods_version"),
            "methods_digest": stamp.get("methods_digest"),
            "methods_source": t("report.methods_default") if t and source == "default"
            else source,
            "crosswalk": "; ".join(crosswalks) or "—",
            "catalogue": a.catalogue.version, "cases": a.cases.version,
            "hazards": t("report.item_sep").join(t.hazard(h) for h in hazards) if t
            else ", ".join(hazards)}


# --- the summary page, the national picture, the annex (issue 15) -------------------------

SUMMARY_SERIES = ("events", "deaths", "directly_affected", "houses_destroyed")


def summary_view(a: Assessment, t: Text) -> dict[str, Any]:
    """The first page, which stands alone: where, which hazards, which units, what to do
    and how well the data covers it; every figure read off the assessment."""
    cov = a.coverage
    first, last = a.period
    place = country_name(a.country, a.lang) if a.country else t("report.all_countries")
    return {
        "where": t("report.summary_where", place=place, level=a.level,
                   units=t.num(cov.units), with_cards=t.num(cov.units_with_cards),
                   cards=t.num(cov.cards), datasets=t.num(cov.datasets),
                   period=f"{first}–{last}"),
        "figures": key_figures(a, t), "hazards": hazard_lines(a, t),
        "units": summary_units(a, t), "measures": summary_measures(a, t),
        "coverage": coverage_lines(a, t)}


def key_figures(a: Assessment, t: Text) -> list[dict[str, str]]:
    """The whole scope's totals, yearly means and trends (every hazard)."""
    trends = a.national_trends
    if not len(trends):
        return []
    rows = trends[trends["hazard"] == ALL].set_index("series")
    return [{"figure": t(f"report.figure_{s}"), "total": t.num(rows.at[s, "total"]),
             "per_year": t.num(rows.at[s, "per_year"], 1 if rows.at[s, "per_year"] < 10 else 0),
             "trend": trend_text(rows.loc[s], t)}
            for s in SUMMARY_SERIES if s in rows.index]


def trend_text(row: pd.Series, t: Text) -> str:
    """"increasing (+72 per decade)", "no trend", "too few years"."""
    verdict = str(row["trend"])
    slope = row["slope_per_year"]
    if verdict in ("increasing", "decreasing") and pd.notna(slope) and \
            per_decade(float(slope)) != "0":  # a median slope of 0: the verdict alone
        return t("report.trend_slope", trend=t(f"trend.{verdict}"),
                 slope=per_decade(float(slope)))
    return t(f"trend.{verdict}")


def hazard_lines(a: Assessment, t: Text) -> list[str]:
    """Which hazards: the main ones by deaths and by records, how their events change, and
    what the climate-related screen leaves out."""
    lines = findings_profile(a, t)
    trends = a.national_trends
    if len(trends):
        events = trends[(trends["series"] == "events") & (trends["hazard"] != ALL)]
        main = events.sort_values(["total", "hazard"], ascending=[False, True]).head(3)
        parts = [t("report.hazard_trend", hazard=t.hazard(r["hazard"]),
                   trend=trend_text(pd.Series(r), t)) for r in main.to_dict("records")]
        if parts:
            lines.append(t("report.summary_trends", trends=t("report.list_sep").join(parts)))
    outside = outside_deaths(a.outside, t)
    if outside and len(a.all_screen):
        lines.append(t("report.finding_outside", hazards=outside))
    return lines


def outside_deaths(outside: pd.DataFrame, t: Text) -> str:
    """What the climate-related screen leaves out, by share of deaths only: "Biological
    38 % of deaths; Earthquake 23 % of deaths" (hazards without deaths left out)."""
    if not len(outside):
        return ""
    deaths = outside[(outside["metric"] == "deaths") & (outside["share_pct"] >= 0.5)]
    return t("report.list_sep").join(
        t("report.outside_item", hazard=t.hazard(r.hazard), shares=t(
            "report.share_of", pct=f"{r.share_pct:.0f}", metric=t.metric("deaths")))
        for r in deaths.sort_values(["share_pct", "hazard"],
                                    ascending=[False, True]).itertuples())


def findings_profile(a: Assessment, t: Text) -> list[str]:
    """The three main hazards by deaths and by records, with their shares."""
    out = []
    for metric in ("deaths", "records"):
        rows = a.profile[(a.profile["metric"] == metric) & (a.profile["rank"] <= 3)]
        rows = rows[rows["value"] > 0].sort_values("rank")
        if len(rows):
            shares = t("report.list_sep").join(
                f"{t.hazard(r.hazard)} {r.share_pct:.0f} %" for r in rows.itertuples())
            out.append(t("report.finding_profile", metric=t.metric(metric), shares=shares,
                         period=f"{int(rows.period_from.min())}–{int(rows.period_to.max())}",
                         records=t.num(int(a.profile[a.profile["metric"] == "records"]
                                           ["value"].sum()))))
    return out


def ratio_text(ratio: float | None, t: Text) -> str:
    """A unit's figure against the national average: "2.2 ×" ("—" without an average)."""
    if ratio is None or pd.isna(ratio):
        return "—"
    return t("report.ratio", ratio=f"{ratio:.1f}")


def summary_units(a: Assessment, t: Text) -> list[dict[str, Any]]:
    """The top units: rank, score, class, main hazard, events per year against the
    national average and the first measure."""
    versus = a.unit_vs_national
    events = (versus[versus["figure"] == "events_per_year"].set_index(
        ["country_iso3", "admin_code"])["ratio"] if len(versus) else pd.Series(dtype=float))
    rows = []
    for u in a.top_units.to_dict("records"):
        key = (u["country_iso3"], u["admin_code"])
        driver = u["drivers"][0]["hazard"] if u["drivers"] else u.get("top_hazard")
        advice = a.advice_for(key)
        rows.append({"rank": u["rank"], "unit": u["admin_name"] or u["admin_code"],
                     "code": u["admin_code"], "score": f"{u['score']:.1f}", "cls": u["class"],
                     "class_label": t(f"class.{u['class']}"), "hazard": t.hazard(driver),
                     "versus": ratio_text(events.get(key), t),
                     "measure": advice[0].measure.name_in(a.lang) if advice else "—"})
    return rows


def summary_measures(a: Assessment, t: Text) -> list[dict[str, str]]:
    """The first distinct measures recommended, each with the top units it is for."""
    units: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    place: dict[str, int] = {}  # a measure's best position in a unit's list
    seen: dict[tuple[str, str], int] = {}
    unit_names = {(c, code): name or code for c, code, name in zip(
        a.screen["country_iso3"], a.screen["admin_code"], a.screen["admin_name"],
        strict=True)} if len(a.screen) else {}
    for item in a.advice:
        key = (item.country_iso3, item.admin_code)
        names.setdefault(item.measure.id, item.measure.name_in(a.lang))
        at = seen[key] = seen.get(key, -1) + 1
        place[item.measure.id] = min(place.get(item.measure.id, at), at)
        name = unit_names.get(key, item.admin_code)
        listed = units.setdefault(item.measure.id, [])
        if name not in listed:
            listed.append(name)
    ranked = sorted(names, key=lambda m: (place[m], -len(units[m]), list(names).index(m)))
    return [{"name": names[m], "units": t("report.item_sep").join(units[m])}
            for m in ranked[:SUMMARY_MEASURES]]


def coverage_lines(a: Assessment, t: Text) -> list[str]:
    """How well the data covers the scope, in sentences."""
    cov = a.coverage
    lines = [t("report.coverage_years", years=t.num(cov.years_with_cards),
               of=t.num(cov.years), period=f"{cov.period_from}–{cov.period_to}"),
             t("report.coverage_located", pct=f"{cov.located_pct:.0f}", level=a.level,
               located=t.num(cov.located), cards=t.num(cov.cards)),
             t("report.coverage_units", units=t.num(cov.units_with_cards),
               of=t.num(cov.units), level=a.level)]
    if cov.grades:
        grades = t("report.item_sep").join(
            t("report.coverage_grade", grade=g, units=t.num(n)) for g, n in cov.grades.items())
        lines.append(t("report.coverage_grades", grades=grades))
    lines.append(t("report.coverage_flagged", cards=t.num(cov.flagged_cards))
                 if cov.flagged_cards else t("report.coverage_no_flags"))
    if not cov.population:
        lines.append(t("report.coverage_no_population"))
    return lines


def national_view(a: Assessment, t: Text) -> dict[str, Any]:
    """The national trend charts (events and deaths per year: every hazard and the main
    ones) and the trend of each hazard's series."""
    annual, trends = a.national, a.national_trends
    if not len(annual):
        return {}
    events = trends[(trends["series"] == "events") & (trends["hazard"] != ALL)]
    main = events.sort_values(["total", "hazard"], ascending=[False, True]).head(
        TREND_HAZARDS)["hazard"].tolist()
    names = {ALL: t("report.all_hazards"), **{h: t.hazard(h) for h in main}}
    first, last = a.period
    period = f"{first}–{last}"
    out: dict[str, Any] = {"charts": []}
    for series in ("events", "deaths"):
        lines = {h: [(int(r.year), float(getattr(r, series)))
                     for r in annual[annual["hazard"] == h].itertuples()]
                 for h in [ALL, *main]}
        label = t("report.chart_national", figure=t(f"report.figure_{series}"), period=period)
        out["charts"].append({"title": label, "svg": charts.trend_chart(lines, names,
                                                                        label=label, columns=2),
                              "caption": t("report.caption_national", figure=t(
                                  f"report.figure_{series}"), period=period,
                                  cards=t.num(a.coverage.cards))})
    table = []
    for hazard in [ALL, *events.sort_values(["total", "hazard"], ascending=[False, True])
                   ["hazard"].tolist()]:
        rows = trends[trends["hazard"] == hazard].set_index("series")
        table.append({"hazard": names.get(hazard) or t.hazard(hazard), "all": hazard == ALL,
                      **{s: {"per_year": t.num(rows.at[s, "per_year"],
                                               1 if rows.at[s, "per_year"] < 10 else 0),
                             "trend": trend_text(rows.loc[s], t)}
                         for s in ("events", "deaths")}})
    out["table"] = table
    return out


PROFILE_TABLE_METRICS = ("deaths", "directly_affected", "houses_destroyed", "records",
                         "events")
PROFILE_CHARTS = ("deaths", "records")  # drawn; the table has every metric's share


def profile_table(a: Assessment, t: Text) -> dict[str, Any]:
    """The hazard profile in one table (hazard × metric: share %) and bar charts of the
    shares of deaths and of records."""
    p = a.profile
    if not len(p):
        return {}
    metrics = [m for m in PROFILE_TABLE_METRICS if (p["metric"] == m).any()]
    order = (p[p["metric"] == "records"].sort_values("rank")["hazard"].tolist()
             or sorted(p["hazard"].unique()))
    wide = p.pivot_table(index="hazard", columns="metric", values="share_pct", aggfunc="sum")
    value = p.pivot_table(index="hazard", columns="metric", values="value", aggfunc="sum")
    rows = [{"hazard": t.hazard(h), "key": h,
             "cells": [{"share": f"{wide.at[h, m]:.1f}" if pd.notna(wide.at[h, m]) else "—",
                        "value": t.num(value.at[h, m]) if pd.notna(value.at[h, m]) else "—"}
                       for m in metrics]} for h in order if h in wide.index]
    first, last = a.period
    charts_ = []
    for metric in PROFILE_CHARTS:
        shown = p[(p["metric"] == metric) & (p["value"] > 0)].sort_values("rank")
        if not len(shown):
            continue
        name = t.metric(metric)
        charts_.append({"metric": name, "chart": charts.share_chart(
            [(t.hazard(r.hazard), float(r.share_pct), r.hazard) for r in shown.itertuples()],
            label=t("report.chart_profile", metric=name)),
            "caption": t("report.caption_profile", metric=name,
                         period=f"{int(shown.period_from.min())}–{int(shown.period_to.max())}",
                         records=t.num(int(shown["records"].sum())))})
    return {"metrics": [t(f"report.figure_{m}") for m in metrics], "rows": rows,
            "charts": charts_, "caption": t("report.caption_profile_table",
                                            period=f"{first}–{last}",
                                            cards=t.num(a.coverage.cards))}


def annex_rows(a: Assessment, t: Text) -> list[dict[str, Any]]:
    """Every unit with records, one short line each (the drivers of the first ones are in
    the body; riskatlas-tables.xlsx has all columns)."""
    ranked = ranked_units(a)
    every = "all_hazards_rank" in a.screen.columns
    return [{"rank": r["rank"], "unit": r["admin_name"] or r["admin_code"],
             "code": r["admin_code"], "score": f"{r['score']:.2f}", "cls": r["class"],
             "class_label": t(f"class.{r['class']}"), "hazard": t.hazard(r["top_hazard"]),
             "quality": r["quality"], "years": t.num(r["years_covered"]),
             "stability": percent(r["stability"]), "cards": t.num(r["cards"]),
             "all_hazards": (t("report.score_rank", score=f"{r['all_hazards_score']:.2f}",
                                rank=int(r["all_hazards_rank"]))
                             if every and pd.notna(r["all_hazards_rank"]) else "—")}
            for r in ranked.to_dict("records")]


def source_rows(a: Assessment, t: Text) -> list[dict[str, Any]]:
    """The datasets behind the report's figures: those with cards counted, each with the
    countries and number of those cards, and when it was imported (to the minute)."""
    records = a.records
    if not len(a.datasets) or not len(records):
        return []
    counted = records.groupby("dataset_id").agg(
        cards=("record_id", "size"),
        countries=("country_iso3", lambda c: sorted(set(c.dropna()))))
    rows = []
    for d in a.datasets.to_dict("records"):
        if d["dataset_id"] not in counted.index:
            continue
        mine = counted.loc[d["dataset_id"]]
        stamp = pd.Timestamp(d["imported_at"]) if pd.notna(d.get("imported_at")) else None
        rows.append({"dataset_id": d["dataset_id"], "name": dataset_name(d["name"], a.lang),
                     "format": d["format"],
                     "synthetic": bool(d.get("synthetic")),
                     "country": t("report.item_sep").join(
                         country_name(c, a.lang) for c in mine["countries"]) or "—",
                     "cards": t.num(int(mine["cards"])),
                     "imported": t.num(d["records_imported"]),
                     "set_aside": t.num(d["records_quarantined"]),
                     "imported_at": stamp.strftime("%Y-%m-%d %H:%M") if stamp is not None
                     else "—"})
    return rows


def versus_view(a: Assessment, key: tuple[str, str], name: str,
                t: Text) -> dict[str, Any] | None:
    """One unit against the national average of its level: a chart and its caption."""
    versus = of_unit(a.unit_vs_national, key)
    if not len(versus):
        return None
    by = versus.set_index("figure")
    rows = [(t(f"report.figure_{f.removesuffix('_per_year')}_year"), float(by.at[f, "value"]),
             float(by.at[f, "average"]), ratio_text(by.at[f, "ratio"], t))
            for f in COMPARED if f in by.index]
    label = t("report.versus_title", unit=name)
    return {"title": label,
            "chart": charts.versus_chart(rows, label=label, unit_text=name,
                                         average_text=t("report.national_average")),
            "caption": t("report.caption_versus", unit=name, units=t.num(
                a.unit_vs_national["admin_code"].nunique()),
                         period="{}–{}".format(*a.period))}


LEVEL_PERIODS = (2, 5, 10, 25, 50, 100)  # return periods shown on a unit page


def levels_wide(levels: pd.DataFrame, t: Text, attrs: dict[str, Any]) -> dict[str, Any]:
    """A unit's return levels one row per hazard, one column per return period (the
    level, its interval below); the metric and the interval's confidence (the result's
    ``attrs``) in a note."""
    if not len(levels):
        return {}
    periods = [p for p in LEVEL_PERIODS if (levels["return_period_years"] == p).any()]

    def amount(value: float) -> str:
        return t.num(value, 0 if float(value).is_integer() else 1)

    rows = []
    for hazard, group in levels.groupby("hazard", sort=False):
        by = group.set_index("return_period_years")
        rows.append({"hazard": t.hazard(str(hazard)), "cells": [
            {"level": amount(by.at[p, "level"]),
             "interval": f"{amount(by.at[p, 'level_low'])}–{amount(by.at[p, 'level_high'])}",
             "beyond": by.at[p, "basis"] == "beyond_record"}
            if p in by.index else {"level": "—", "interval": "", "beyond": False}
            for p in periods],
            "largest": t("report.levels_largest", year=int(group["observed_max_year"].iloc[0]),
                         level=amount(float(group["observed_max"].iloc[0])))
            if "observed_max" in group.columns else ""})
    note = t("report.levels_note", metric=t.metric(str(attrs.get("metric", "deaths"))),
             confidence=f"{100 * float(attrs.get('confidence', 0.9)):g}")
    return {"periods": [t.num(p) for p in periods], "rows": rows, "note": note}
