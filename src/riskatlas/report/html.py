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
from riskatlas.assessment.text import drivers_text
from riskatlas.assessment.value import Assessment
from riskatlas.errors import ReportError
from riskatlas.i18n import template
from riskatlas.model.countries import country_name
from riskatlas.report import peers_view, svg
from riskatlas.report.text import Text

MEASURES_PER_UNIT = 6  # on a unit's page; the advice table has them all
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
    sources = t("report.list_sep").join(f"{d.name} (#{d.dataset_id})"
                                         for d in a.datasets.itertuples()) or "—"
    if a.dataset_scope:  # assess FILE…: the report is about those files
        place = t("report.title_sources", place=place, datasets=sources)
    statuses = statuses_text(a.statuses, a.lang)
    return {
        "t": t, "lang": a.lang, "place": place, "period": f"{first}–{last}",
        "sources": sources, "statuses": statuses,
        "level": a.level, "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__, "records_total": len(a.records),
        "findings": findings(a, t), "profiles": profile_sections(a, t),
        "maps": maps(a, t), "screen": screen_rows(a, t), "units": unit_pages(a, t),
        "all_screen": all_screen_rows(a, t), "outside": outside_text(a.outside, t),
        "methods": methods(a), "datasets": a.datasets.to_dict("records"),
        "quality": quality_rows(a, t),
        "linking": linking_view(a, t),
        "notes": a.notes,
        "silent_units": int((a.screen["cards"].fillna(0) == 0).sum()),
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


def findings(a: Assessment, t: Text) -> list[str]:
    """The summary page: dominant hazards, the units at highest risk, first measures."""
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
    for u in a.top_units.head(3).to_dict("records"):
        driver = u["drivers"][0] if u["drivers"] else None
        out.append(t("report.finding_unit", rank=u["rank"], unit=u["admin_name"] or
                     u["admin_code"], score=f"{u['score']:.1f}", cls=t(f"class.{u['class']}"),
                     driver=t.hazard(driver["hazard"]) if driver else "—"))
    outside = outside_text(a.outside, t)
    if outside and len(a.all_screen):
        out.append(t("report.finding_outside", hazards=outside))
    first = {item.measure.id: item.measure for item in a.advice}
    if first:
        names = [m.name_in(a.lang) for m in list(first.values())[:4]]
        out.append(t("report.finding_measures", measures=t("report.list_sep").join(names)))
    return out


def profile_sections(a: Assessment, t: Text) -> list[dict[str, Any]]:
    sections = []
    for metric in PROFILE_CHART_METRICS:
        rows = a.profile[(a.profile["metric"] == metric) & (a.profile["value"] > 0)]
        if not len(rows):
            continue
        rows = rows.sort_values("rank")
        items = [(t.hazard(r.hazard), float(r.share_pct), r.hazard) for r in rows.itertuples()]
        sections.append({
            "metric": t.metric(metric), "chart": svg.bar_chart(
                items, label=t("report.chart_profile", metric=t.metric(metric))),
            "rows": [{"hazard": t.hazard(r.hazard), "value": t.num(r.value),
                      "share": f"{r.share_pct:.1f}", "records": t.num(r.records)}
                     for r in rows.itertuples()],
            "caption": t("report.caption_profile", metric=t.metric(metric),
                         period=f"{int(rows.period_from.min())}–{int(rows.period_to.max())}",
                         records=t.num(int(rows["records"].sum())))})
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
    ranked = a.screen[a.screen["cards"].fillna(0) > 0].sort_values("rank")
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
        if row is None or row["cards"] != row["cards"] or not row["cards"]:
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
    order = (outside[outside["metric"] == "deaths"].sort_values("share_pct", ascending=False)
             ["hazard"].tolist())
    hazards = list(dict.fromkeys([*order, *sorted(outside["hazard"].unique())]))
    parts = []
    for hazard in hazards:
        rows = outside[outside["hazard"] == hazard].set_index("metric")
        shares = t("report.item_sep").join(
            t("report.share_of", pct=f"{rows.at[m, 'share_pct']:.0f}", metric=t.metric(m))
            for m in OUTSIDE_METRICS if m in rows.index)
        parts.append(t("report.outside_item", hazard=t.hazard(hazard), shares=shares))
    return t("report.list_sep").join(parts)


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


def screen_rows(a: Assessment, t: Text) -> list[dict[str, Any]]:
    """Units with records (the others score 0 and are counted in a note)."""
    ranked = a.screen[a.screen["cards"].fillna(0) > 0]
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
            for r in ranked.sort_values("rank").to_dict("records")]


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
            "name": name, "code": key[1], "rank": u["rank"], "score": f"{u['score']:.2f}",
            "cls": u["class"], "class_label": t(f"class.{u['class']}"),
            "drivers": drivers_text(u["drivers"], t.lang), "quality": u["quality"],
            "stability": percent(u["stability"]), "top_n": u["top_n"],
            "chart": svg.bar_chart([(t.hazard(r.hazard), float(r.share_pct), r.hazard)
                                    for r in basis.itertuples()],
                                   label=t("report.chart_profile", metric=t.metric(metric))),
            "chart_caption": t("report.caption_unit_profile", metric=t.metric(metric),
                               unit=name, records=t.num(int(basis["records"].sum()))),
            "trend": svg.line_chart(series, label=t("report.chart_trend")),
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
            "levels_caption": describe_levels(a.return_levels.attrs, t.lang),
            "sendai": [{"year": int(r.year), "deaths": t.num(r.deaths),
                        "missing": t.num(r.missing), "injured": t.num(r.injured),
                        "affected": t.num(r.directly_affected),
                        "a1": t.num(r.a1, 2), "b1": t.num(r.b1, 1), "d1": t.num(r.d1)}
                       for r in sendai.sort_values("year").tail(10).itertuples()],
            "measures": measure_items(a.advice_for(key)[:MEASURES_PER_UNIT], name, t),
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




def methods(a: Assessment) -> dict[str, Any]:
    stamp = a.screen.attrs
    crosswalks = sorted({str(v) for v in a.datasets.get("crosswalk_version", []) if v})
    return {"methods_version": stamp.get("methods_version"),
            "methods_digest": stamp.get("methods_digest"),
            "methods_source": stamp.get("methods_source"),
            "crosswalk": "; ".join(crosswalks) or "—",
            "catalogue": a.catalogue.version, "cases": a.cases.version,
            "hazards": ", ".join(stamp.get("hazards", []))}
