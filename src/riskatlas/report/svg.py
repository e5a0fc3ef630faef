"""Charts and maps as inline SVG: no JavaScript, no CDN, text left to the browser's fonts
(so Chinese renders with the system's CJK font in the HTML and in the PDF)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

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
              width: int = 560, bar: int = 18) -> str:
    """Horizontal bars: (text, share 0–100, hazard key for the colour)."""
    left, right, gap = 190, 60, 6
    height = max(1, len(rows)) * (bar + gap) + 10
    span = width - left - right
    top = max((v for _, v, _ in rows), default=0) or 1
    parts = [f'<svg class="chart bar" role="img" aria-label="{escape(label)}" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             'xmlns="http://www.w3.org/2000/svg">']
    for i, (text, value, hazard) in enumerate(rows):
        y = 5 + i * (bar + gap)
        w = span * value / top
        parts.append(f'<text x="{left - 8}" y="{y + bar * 0.75:.1f}" text-anchor="end" '
                     f'class="label">{escape(text)}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar}" '
                     f'fill="{colour(hazard)}"><title>{escape(text)}: {value:.1f} %</title></rect>')
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + bar * 0.75:.1f}" class="value">'
                     f'{value:.1f} %</text>')
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
               width: int = 560, height: int = 420) -> str:
    """A map of units: each {geometry (GeoJSON, as text or parsed), fill, title}; WGS84
    lon/lat drawn with an equirectangular projection scaled by cos(latitude)."""
    from shapely.geometry import mapping, shape

    parsed = []
    for unit in units:
        geometry = unit.get("geometry")
        if isinstance(geometry, str):
            geometry = json.loads(geometry)
        if isinstance(geometry, dict) and geometry.get("type") in ("Polygon", "MultiPolygon"):
            parsed.append((shape(geometry), unit["fill"], unit["title"]))
    if not parsed:
        return ""
    west = min(g.bounds[0] for g, _, _ in parsed)
    south = min(g.bounds[1] for g, _, _ in parsed)
    east = max(g.bounds[2] for g, _, _ in parsed)
    north = max(g.bounds[3] for g, _, _ in parsed)
    kx = math.cos(math.radians((south + north) / 2))
    span_x, span_y = (east - west) * kx or 1e-9, (north - south) or 1e-9
    legend_h = 18 * math.ceil(len(legend) / 2) + 10
    scale = min((width - 20) / span_x, (height - 20 - legend_h) / span_y)
    tolerance = 0.5 / scale  # half a pixel: invisible, and the page stays small
    height = int(span_y * scale) + 20 + legend_h  # no empty band under a wide country

    def pt(p: Sequence[float]) -> str:
        return f"{10 + (p[0] - west) * kx * scale:.1f},{10 + (north - p[1]) * scale:.1f}"

    shapes = []
    for geometry, fill, title in parsed:
        simple = mapping(geometry.simplify(tolerance, preserve_topology=True))
        polygons = (simple["coordinates"] if simple["type"] == "MultiPolygon"
                    else [simple["coordinates"]])
        shapes.append((polygons, fill, title))
    parts = [f'<svg class="map" role="img" aria-label="{escape(label)}" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             'xmlns="http://www.w3.org/2000/svg">']
    for polygons, fill, title in shapes:
        d = " ".join("M" + " L".join(pt(p) for p in ring) + " Z"
                     for poly in polygons for ring in poly)
        parts.append(f'<path d="{d}" fill="{fill}" stroke="#555" stroke-width="0.5" '
                     f'fill-rule="evenodd"><title>{escape(title)}</title></path>')
    for i, (text, fill) in enumerate(legend):
        x, y = 10 + (i % 2) * (width // 2), height - legend_h + 4 + (i // 2) * 18
        parts.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{fill}" '
                     f'stroke="#555" stroke-width="0.5"/>'
                     f'<text x="{x + 16}" y="{y + 10}" class="legend">{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _short(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"
