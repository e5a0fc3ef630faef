"""The report's comparison and trend charts as inline SVG (no script): a national series
per year with labelled axes, and a unit's figures against the national average."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from riskatlas.report.svg import bar_chart, colour

TOTAL_COLOUR = "#222222"


def nice_top(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above ``value`` (an axis' top)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** len(str(int(value))) / 10
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2f}".rstrip("0").rstrip(".")


def trend_chart(series: Mapping[str, Sequence[tuple[int, float]]], names: Mapping[str, str],
                *, label: str, width: int = 640, height: int = 170, columns: int = 3) -> str:
    """Yearly series (key → [(year, value)]) as lines, with year and value ticks and a
    legend below in ``columns``; the key "all" is drawn in black and thicker, other keys in
    their hazard's colour. ``names``: key → legend text."""
    points = [p for s in series.values() for p in s]
    if not points:
        return ""
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    top = nice_top(max(p[1] for p in points))
    left, right, pad_t, pad_b = 48, 12, 10, 22
    sx = (width - left - right) / max(1, x1 - x0)
    sy = (height - pad_t - pad_b) / top
    base = height - pad_b
    rows = -(-len(series) // columns)
    total = height + rows * 17 + 4

    def xy(year: int, value: float) -> str:
        return f"{left + (year - x0) * sx:.1f},{base - value * sy:.1f}"

    parts = [f'<svg class="chart line trend" role="img" aria-label="{escape(label)}" '
             f'viewBox="0 0 {width} {total}" width="{width}" height="{total}" '
             'xmlns="http://www.w3.org/2000/svg">']
    for i in range(5):  # value grid: 0, ¼ … top
        value = top * i / 4
        y = base - value * sy
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                     f'stroke="#e4e4e4"/><text x="{left - 5}" y="{y + 4:.1f}" '
                     f'text-anchor="end" class="tick">{_tick(value)}</text>')
    span = x1 - x0
    step = 10 if span >= 25 else 5 if span >= 8 else 1
    for year in range(x0 + (-x0) % step, x1 + 1, step):
        x = left + (year - x0) * sx
        parts.append(f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" '
                     f'class="axis"/><text x="{x:.1f}" y="{height - 6}" text-anchor="middle" '
                     f'class="tick">{year}</text>')
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" '
                 'class="axis"/>')
    cell = (width - left) / columns
    for i, (key, values) in enumerate(series.items()):
        stroke = TOTAL_COLOUR if key == "all" else colour(key)
        thick = 2.4 if key == "all" else 1.6
        path = " ".join(xy(y, v) for y, v in sorted(values))
        name = escape(names.get(key, key))
        parts.append(f'<polyline points="{path}" fill="none" stroke="{stroke}" '
                     f'stroke-width="{thick}"><title>{name}</title></polyline>')
        x, y = left + (i % columns) * cell, height + 14 + 17 * (i // columns)
        parts.append(f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x + 16:.1f}" y2="{y - 4}" '
                     f'stroke="{stroke}" stroke-width="3"/>'
                     f'<text x="{x + 20:.1f}" y="{y}" class="legend">{name}</text>')
    parts.append("</svg>")
    return "".join(parts)


def versus_chart(rows: Sequence[tuple[str, float, float, str]], *, label: str, unit_text: str,
                 average_text: str, width: int = 340, bar: int = 10) -> str:
    """Pairs of bars, one pair per figure under its name: (figure text, the unit's value,
    the national average, the ratio as text). Each pair is scaled to its larger value."""
    right, row = 96, 16 + 2 * bar + 6
    height = len(rows) * row + 22
    span = width - right
    parts = [f'<svg class="chart bar versus" role="img" aria-label="{escape(label)}" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             'xmlns="http://www.w3.org/2000/svg">']
    for i, (text, value, average, ratio) in enumerate(rows):
        y = i * row
        top = max(value, average) or 1.0
        parts.append(f'<text x="0" y="{y + 12}" class="label">{escape(text)}</text>'
                     f'<text x="{width - 2}" y="{y + 12}" text-anchor="end" class="ratio">'
                     f'{escape(ratio)}</text>')
        for j, (amount, fill) in enumerate(((value, UNIT_COLOUR), (average, AVERAGE_COLOUR))):
            w = max(1.0, (span - 50) * amount / top)
            y0 = y + 16 + j * bar
            parts.append(f'<rect x="0" y="{y0}" width="{w:.1f}" height="{bar - 1}" '
                         f'fill="{fill}"/><text x="{w + 4:.1f}" y="{y0 + bar - 1}" '
                         f'class="value">{_amount(amount)}</text>')
    y = height - 14
    half = width // 2
    parts.append(f'<rect x="0" y="{y}" width="12" height="10" fill="{UNIT_COLOUR}"/>'
                 f'<text x="16" y="{y + 9}" class="legend">{escape(unit_text)}</text>'
                 f'<rect x="{half}" y="{y}" width="12" height="10" fill="{AVERAGE_COLOUR}"/>'
                 f'<text x="{half + 16}" y="{y + 9}" class="legend">{escape(average_text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


UNIT_COLOUR, AVERAGE_COLOUR = "#800026", "#AAAAAA"


def _amount(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2f}" if value < 1 else f"{value:.1f}"


def share_chart(rows: Sequence[tuple[str, float, str | None]], *, label: str,
                width: int = 340, bar: int = 12) -> str:
    """The profile's share bars at the size they print (:func:`svg.bar_chart`)."""
    return bar_chart(rows, label=label, width=width, bar=bar, css="chart bar share")
