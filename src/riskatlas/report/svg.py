"""Charts and maps as inline SVG: no JavaScript, no CDN, text left to the browser's fonts
(so Chinese renders with the system's CJK font in the HTML and in the PDF)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from riskatlas.i18n import label_value
from riskatlas.report import cartography
from riskatlas.report.cartography import MapShapes, MapTexts, map_shapes

__all__ = ["CLASS_COLOURS", "NO_DATA", "PALETTE", "MapShapes", "MapTexts", "bar_chart",
           "choropleth", "colour", "line_chart", "map_shapes"]

PALETTE = {  # reporting group → colour (colour-blind-safe Okabe–Ito, then greys)
    "flood": "#0072B2", "storm": "#56B4E9", "landslide": "#E69F00", "drought": "#D55E00",
    "extreme_temperature": "#CC79A7", "wildfire": "#A6361C", "coastal": "#009E73",
    "tsunami": "#004D40", "earthquake": "#7F5F3F", "volcanic": "#4D4D4D",
    "biological": "#8DA0CB", "technological": "#999999", "other": "#BBBBBB",
}
CLASS_COLOURS = {"very_low": "#FFFFCC", "low": "#FED976", "medium": "#FD8D3C",
                 "high": "#E31A1C", "very_high": "#800026"}
NO_DATA = "#EEEEEE"


def colour(hazard: str | None) -> str:
    return PALETTE.get(hazard or "", "#BBBBBB")


def bar_chart(rows: Sequence[tuple[str, float, str | None]], *, label: str,
              width: int = 560, bar: int = 18, css: str = "chart bar") -> str:
    """Horizontal bars of shares: (text, share 0–100, hazard key for the colour), the
    label column as wide as the longest label (at most 55 % of the chart), a hover text
    per bar worded with the label's colon ("水災：22.9 %")."""
    left = min(width * 0.55, max((cartography.text_width(t) for t, _, _ in rows),
                                 default=0) + 10)
    right, gap = 46, 5
    height = max(1, len(rows)) * (bar + gap) + 4
    span = width - left - right
    top = max((v for _, v, _ in rows), default=0) or 1
    parts = [f'<svg class="{css}" role="img" aria-label="{escape(label)}" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             'xmlns="http://www.w3.org/2000/svg">']
    for i, (text, value, hazard) in enumerate(rows):
        y = 2 + i * (bar + gap)
        w = span * value / top
        share = f"{value:.1f} %"
        parts.append(f'<text x="{left - 6:.1f}" y="{y + bar - 2}" text-anchor="end" '
                     f'class="label">{escape(text)}</text>'
                     f'<rect x="{left:.1f}" y="{y}" width="{w:.1f}" height="{bar}" '
                     f'fill="{colour(hazard)}"><title>{escape(label_value(text, share))}'
                     f'</title></rect><text x="{left + w + 4:.1f}" y="{y + bar - 2}" '
                     f'class="value">{share}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(series: Mapping[str, Sequence[tuple[int, float]]], *, label: str,
               width: int = 560, height: int = 200) -> str:
    """Annual series (one line per hazard key): [(year, value)]."""
    points = [p for s in series.values() for p in s]
    if not points:
        return ""
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    top = max(p[1] for p in points) or 1
    pad_l, pad_r, pad_t, pad_b = 40, 110, 10, 24
    sx = (width - pad_l - pad_r) / max(1, x1 - x0)
    sy = (height - pad_t - pad_b) / top

    def xy(year: int, value: float) -> str:
        return f"{pad_l + (year - x0) * sx:.1f},{height - pad_b - value * sy:.1f}"

    parts = [f'<svg class="chart line" role="img" aria-label="{escape(label)}" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             'xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - pad_r}" '
             f'y2="{height - pad_b}" class="axis"/>',
             f'<text x="{pad_l}" y="{height - 6}" class="tick">{x0}</text>',
             f'<text x="{width - pad_r}" y="{height - 6}" text-anchor="end" class="tick">'
             f'{x1}</text>',
             f'<text x="{pad_l - 4}" y="{pad_t + 10}" text-anchor="end" class="tick">'
             f'{_short(top)}</text>']
    for i, (name, values) in enumerate(series.items()):
        hazard = name.split("|")[0]
        path = " ".join(xy(y, v) for y, v in sorted(values))
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour(hazard)}" '
                     'stroke-width="2"/>')
        parts.append(f'<text x="{width - pad_r + 6}" y="{pad_t + 14 + 16 * i}" class="legend" '
                     f'fill="{colour(hazard)}">{escape(name.split("|")[-1])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def choropleth(units: Iterable[dict[str, Any]], *, label: str, legend: Sequence[tuple[str, str]],
               width: int = 680, height: int = 520, texts: MapTexts | None = None,
               shapes: MapShapes | None = None) -> str:
    """A map of units: each {geometry (GeoJSON in WGS84, as text or parsed), fill, title},
    optionally ``href`` (the unit is a link), ``label`` (drawn on the map, for the top
    units) and ``name`` (for an inset's caption); ``texts``: the map's words in the
    reader's language; ``shapes``: the layout of :func:`map_shapes` for these units'
    geometries, to draw several maps of one set of units at the cost of one. Large, with
    insets for distant islands, a scale bar, a north arrow and a legend: see
    :mod:`riskatlas.report.cartography`. "" when no unit has a polygon."""
    return cartography.choropleth(units, label=label, legend=legend, width=width,
                                  height=height, texts=texts, shapes=shapes)


def _short(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"
