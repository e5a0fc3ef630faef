"""Choropleth maps as inline SVG (:func:`riskatlas.report.svg.choropleth` draws them).

What a map does, for any country's boundaries (GeoJSON geometry in WGS84 lon/lat):

- **Projection**: equirectangular, in kilometres, x scaled by the cosine of the mid
  latitude (small countries: distortion well under the line width); a country spanning
  the antimeridian is drawn with its western longitudes shifted by 360°.
- **Insets**: the polygon parts are grouped into clusters (parts whose boxes are nearer
  than a quarter of the larger one's diagonal). The cluster with the largest land area is
  the main frame; another cluster joins it when it is no further from it than its own
  diagonal, or when joining shrinks the map by less than :data:`JOIN_LOSS`; otherwise it
  gets an inset frame of its own (at the main scale when it
  fits, else smaller with its own scale bar), at the right or below, whichever leaves the
  main frame larger. Parts too small to anchor a cluster are drawn in whichever frame
  covers them (every unit's largest part anchors one, so every unit is drawn).
- **Resolution**: each frame's shapes are simplified to half a pixel at its scale and
  written as relative path commands in tenths of a pixel: the SVG stays small whatever
  the size of the boundary file.
- Labels on the units that carry one (in their order; a label that would overlap one
  already placed is left out), a scale bar, a north arrow and a legend with a title.
  Units with an ``href`` are links (the web's map leads to the unit pages).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np
import orjson

MARGIN = 8          # px around each frame's shapes
GAP = 10            # px between the main frame and the inset band
CAPTION = 16        # px above an inset for its caption
JOIN_LOSS = 0.25    # a cluster joins the main frame unless the scale falls by more
MAX_INSETS = 4      # more distant clusters than this are grouped, nearest first
ANCHOR_SHARE = 0.01  # a part of at least this share of all land anchors a cluster
CLUSTER_GAP = 0.25  # clusters: boxes nearer than this share of the larger diagonal
FONT = 12           # px, the legend's and labels' size (as the report's charts)
CORNERS = ("bottom-left", "bottom-right", "top-left", "top-right")
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON = 111.320


@dataclass(frozen=True)
class MapTexts:
    """The words a map shows, in the reader's language (from the message catalogue)."""

    north: str = "N"
    km: str = "{km} km"                # the scale bar's length
    legend_title: str | None = None
    inset: str = "{names}"             # an inset's caption, from the names of its units
    list_sep: str = ", "


Box = tuple[float, float, float, float]  # xmin, ymin, xmax, ymax (km)


@dataclass
class Frame:
    """A window on the projected plane (km) drawn at ``scale`` px/km with its top-left
    corner at (``left``, ``top``) px."""

    window: Box
    scale: float
    left: float
    top: float
    units: list[int] = field(default_factory=list)  # units anchored in this frame
    inset: bool = False

    @property
    def width(self) -> float:
        return (self.window[2] - self.window[0]) * self.scale

    @property
    def height(self) -> float:
        return (self.window[3] - self.window[1]) * self.scale


@dataclass
class MapShapes:
    """The drawing of a set of unit geometries: frames and each unit's path data (the
    same for every map of those units: compute once with :func:`map_shapes`)."""

    width: int
    height: int
    frames: list[Frame]
    paths: list[str]                # per unit ("" when it draws nothing)
    biggest: list[Any]              # per unit: its largest drawn part (px) or None
    names: list[str | None]
    land: Any = None                # an STRtree of the drawn parts (px), to keep clear
    drawn: list[Any] = field(default_factory=list)    # the drawn parts (px)
    areas: list[float] = field(default_factory=list)  # per unit, km²

    def anchor(self, unit: int) -> tuple[float, float] | None:
        """Where the unit's label goes (px): the inside point of its largest part."""
        from shapely.ops import polylabel

        part = self.biggest[unit]
        if part is None:
            return None
        point = polylabel(part, tolerance=1.0)
        return point.x, point.y

    def clearest(self, frame: Frame, w: float, h: float, taken: Sequence[str] = (),
                 prefer: Sequence[str] = CORNERS) -> tuple[str, float, float]:
        """The corner of ``frame`` (not in ``taken``) where a w × h px box covers the
        least land, in the order of ``prefer`` on a tie: (corner, left, top)."""
        import shapely

        x0, y0 = frame.left + MARGIN / 2, frame.top + MARGIN / 2
        x1, y1 = frame.left + frame.width - MARGIN / 2 - w, frame.top + frame.height \
            - MARGIN / 2 - h
        corners = {"bottom-left": (x0, y1), "bottom-right": (x1, y1), "top-right": (x1, y0),
                   "top-left": (x0, y0)}
        scored = []
        for order, name in enumerate(prefer):
            x, y = corners[name]
            if name in taken:
                continue
            area = shapely.box(x, y, x + w, y + h)
            near = self.land.query(area) if self.land is not None else []
            covered = float(sum(shapely.area(shapely.intersection(
                [self.drawn[k] for k in near], area)))) if len(near) else 0.0
            scored.append((round(covered, 1), order, name, x, y))
        _, _, name, x, y = min(scored)
        return name, x, y


def map_shapes(geometries: Sequence[Any], *, width: int = 680, height: int = 520,
               names: Sequence[str | None] | None = None) -> MapShapes | None:
    """Lay out the units' geometries (GeoJSON text or mapping; anything but polygons is
    skipped) in a ``width`` × at most ``height`` px map; None when none is a polygon."""
    import shapely
    from shapely.geometry import shape

    parsed: list[Any] = []
    for geometry in geometries:
        if isinstance(geometry, str | bytes):
            try:
                geometry = orjson.loads(geometry)
            except orjson.JSONDecodeError:
                geometry = None
        ok = isinstance(geometry, Mapping) and geometry.get("type") in ("Polygon",
                                                                         "MultiPolygon")
        geom = shape(geometry) if ok else None
        parsed.append(geom if geom is not None and not geom.is_empty else None)
    present = [g for g in parsed if g is not None]
    if not present:
        return None
    shift = _antimeridian_shift(present)
    if shift:
        parsed = [_shifted(g) if g is not None else None for g in parsed]
        present = [g for g in parsed if g is not None]
    south = min(g.bounds[1] for g in present)
    north = max(g.bounds[3] for g in present)
    kx = math.cos(math.radians((south + north) / 2)) * KM_PER_DEG_LON
    km = np.array([kx, KM_PER_DEG_LAT])
    projected = shapely.transform(np.array(parsed, dtype=object), lambda xy: xy * km)
    parts = [(i, p) for i, g in enumerate(projected) if g is not None for p in _polygons(g)]
    clusters = _clusters(parts, len(projected))
    frames = _centred(_layout(clusters, width, height), width)
    paths, biggest, drawn = _draw(projected, frames)
    used = max(f.top + f.height + MARGIN for f in frames)
    labels: list[str | None] = list(names) if names is not None else [None] * len(parsed)
    areas = [float(a) for a in np.nan_to_num(shapely.area(projected))]
    return MapShapes(width, math.ceil(used), frames, paths, biggest, labels,
                     shapely.STRtree(drawn) if drawn else None, drawn, areas)


def _antimeridian_shift(geoms: Sequence[Any]) -> bool:
    west = min(g.bounds[0] for g in geoms)
    east = max(g.bounds[2] for g in geoms)
    if east - west <= 180:
        return False
    shifted = [(b[0] + 360, b[2] + 360) if b[2] < 0 else (b[0], b[2])
               for b in (g.bounds for g in geoms)]
    return max(e for _, e in shifted) - min(w for w, _ in shifted) < east - west


def _shifted(geom: Any) -> Any:
    import shapely

    east = np.array([360.0, 0.0])
    return shapely.transform(geom, lambda xy: np.where(xy[:, :1] < 0, xy + east, xy))


def _polygons(geom: Any) -> list[Any]:
    return [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon"
            and not g.is_empty]


@dataclass
class _Cluster:
    box: Box
    area: float
    units: set[int]


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _gap(a: Box, b: Box) -> float:
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return math.hypot(dx, dy)


def _diagonal(b: Box) -> float:
    return math.hypot(b[2] - b[0], b[3] - b[1])


def _clusters(parts: list[tuple[int, Any]], n_units: int) -> list[_Cluster]:
    """Clusters of the anchoring parts (see the module), largest land area first."""
    import shapely

    areas = shapely.area([p for _, p in parts])
    total = float(areas.sum()) or 1.0
    largest: dict[int, int] = {}
    for k, (unit, _) in enumerate(parts):
        if unit not in largest or areas[k] > areas[largest[unit]]:
            largest[unit] = k
    anchors = [k for k, (unit, _) in enumerate(parts)
               if areas[k] >= ANCHOR_SHARE * total or largest.get(unit) == k]
    boxes = shapely.bounds([parts[k][1] for k in anchors])  # (n, 4)
    diagonals = np.hypot(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    reach = (CLUSTER_GAP * diagonals)[:, None] * np.array([-1, -1, 1, 1])
    tree = shapely.STRtree(shapely.box(*boxes.T))
    i, j = tree.query(shapely.box(*(boxes + reach).T))
    keep = i != j
    i, j = i[keep], j[keep]
    dx = np.maximum(0, np.maximum(boxes[i, 0], boxes[j, 0]) - np.minimum(boxes[i, 2],
                                                                          boxes[j, 2]))
    dy = np.maximum(0, np.maximum(boxes[i, 1], boxes[j, 1]) - np.minimum(boxes[i, 3],
                                                                          boxes[j, 3]))
    near = np.hypot(dx, dy) <= CLUSTER_GAP * np.maximum(diagonals[i], diagonals[j])
    parent = list(range(len(anchors)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for a, b in zip(i[near], j[near], strict=True):
        parent[root(int(a))] = root(int(b))
    groups: dict[int, _Cluster] = {}
    for n, k in enumerate(anchors):
        unit, box = parts[k][0], tuple(float(v) for v in boxes[n])
        found = groups.get(root(n))
        if found is None:
            groups[root(n)] = _Cluster(box, float(areas[k]), {unit})  # type: ignore[arg-type]
        else:
            found.box = _union(found.box, box)  # type: ignore[arg-type]
            found.area += float(areas[k])
            found.units.add(unit)
    return sorted(groups.values(), key=lambda c: -c.area)


def _fit(b: Box, w: float, h: float) -> float:
    """px per km that fits box ``b`` in w × h px (margins included)."""
    bw, bh = max(b[2] - b[0], 1e-6), max(b[3] - b[1], 1e-6)
    return max(1e-9, min((w - 2 * MARGIN) / bw, (h - 2 * MARGIN) / bh))


def _layout(clusters: list[_Cluster], width: int, height: int) -> list[Frame]:
    main, rest = clusters[0], clusters[1:]
    window, units, insets = main.box, set(main.units), []
    for c in sorted(rest, key=lambda c: _gap(main.box, c.box)):
        joined = _union(window, c.box)
        near = _gap(window, c.box) <= _diagonal(c.box)  # no further than its own size
        if near or _fit(joined, width, height) >= (1 - JOIN_LOSS) * _fit(window, width,
                                                                          height):
            window, units = joined, units | c.units
        else:
            insets.append(c)
    while len(insets) > MAX_INSETS:  # group the two whose union is smallest
        pairs = [(_area(_union(a.box, b.box)), i, j) for i, a in enumerate(insets)
                 for j, b in enumerate(insets) if i < j]
        _, i, j = min(pairs)
        a, b = insets[i], insets.pop(j)
        insets[i] = _Cluster(_union(a.box, b.box), a.area + b.area, a.units | b.units)
    if not insets:
        scale = _fit(window, width, height)
        return [Frame(_padded(window, scale), scale, 0, 0, sorted(units))]
    best: tuple[float, list[Frame]] | None = None
    for side in ("right", "bottom"):
        for share in (0.2, 0.28, 0.36, 0.45):
            frames = _with_insets(window, sorted(units), insets, width, height, side, share)
            main_scale = frames[0].scale
            worst = min(min(1.0, f.scale / main_scale) for f in frames[1:])
            score = main_scale * worst ** 0.5
            if best is None or score > best[0]:
                best = (score, frames)
    assert best is not None
    return best[1]


def _centred(frames: list[Frame], width: int) -> list[Frame]:
    """The frames moved together: insets of a right column next to the main frame, and
    the whole drawing centred in ``width``."""
    main = frames[0]
    column = [f for f in frames[1:] if f.top < main.top + main.height and f.left > 0]
    if column:
        left = main.left + main.width + GAP
        for f in column:
            f.left = min(f.left, left)
    right = max(f.left + f.width for f in frames)
    shift = max(0.0, (width - right) / 2)
    for f in frames:
        f.left += shift
    return frames


def _area(b: Box) -> float:
    return (b[2] - b[0]) * (b[3] - b[1])


def _padded(b: Box, scale: float) -> Box:
    pad = MARGIN / scale
    return (b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad)


def _with_insets(window: Box, units: list[int], insets: list[_Cluster], width: int,
                 height: int, side: str, share: float) -> list[Frame]:
    n = len(insets)
    band: float
    main_w: float
    main_h: float
    if side == "right":
        band = width * share
        main_w, main_h = width - band - GAP, height
        slot_w, slot_h = band, (height - GAP * (n - 1)) / n - CAPTION
    else:
        band = height * share
        main_w, main_h = width, height - band - GAP
        slot_w, slot_h = (width - GAP * (n - 1)) / n, band - CAPTION
    scale = _fit(window, main_w, main_h)
    frames = [Frame(_padded(window, scale), scale, 0, 0, units)]
    main_height = frames[0].height
    offset = main_height + GAP if side == "bottom" else 0.0
    for c in insets:
        s = min(scale, _fit(c.box, slot_w, max(slot_h, 1.0)))
        frame = Frame(_padded(c.box, s), s, 0, 0, sorted(c.units), inset=True)
        if side == "right":
            frame.left, frame.top = width - band, offset + CAPTION
            offset += CAPTION + frame.height + GAP
        else:
            frame.left, frame.top = offset, main_height + GAP + CAPTION
            offset += frame.width + GAP
        frames.append(frame)
    return frames


def _draw(projected: Any, frames: list[Frame]) -> tuple[list[str], list[Any], list[Any]]:
    """Each unit's path data over every frame, its largest drawn part (px) and every
    drawn part (px)."""
    import shapely

    rings: list[list[str]] = [[] for _ in projected]
    biggest: list[Any] = [None] * len(projected)
    drawn: list[Any] = []
    for frame in frames:
        x0, y0, x1, y1 = frame.window
        s = frame.scale
        inside = np.flatnonzero(shapely.intersects(projected, shapely.box(x0, y0, x1, y1)))
        clipped = shapely.clip_by_rect(projected[inside], x0, y0, x1, y1)
        simple = shapely.simplify(clipped, 0.5 / s, preserve_topology=True)
        origin, factor = np.array([x0, y1]), np.array([s, -s])
        offset = np.array([frame.left, frame.top])
        px = shapely.transform(simple, lambda xy, o=origin, f=factor, d=offset: (xy - o) * f + d)
        for unit, geom in zip(inside, px, strict=True):
            for poly in _polygons(geom) if geom is not None else ():
                if poly.area < 0.5 and biggest[unit] is not None:
                    continue  # under a pixel: invisible
                rings[unit].extend(_ring(r) for r in (poly.exterior, *poly.interiors))
                drawn.append(poly)
                if biggest[unit] is None or poly.area > biggest[unit].area:
                    biggest[unit] = poly
    return ["".join(r for r in unit if r) for unit in rings], biggest, drawn


def _ring(ring: Any) -> str:
    """A closed ring as relative path commands, in tenths of a pixel."""
    import shapely

    points = np.rint(shapely.get_coordinates(ring) * 10).astype(np.int64)
    if len(points) < 4:
        return ""
    steps = np.diff(points, axis=0)
    steps = steps[(steps != 0).any(axis=1)]
    if len(steps) < 2:
        return ""
    head = f"M{_tenths(points[0, 0])} {_tenths(points[0, 1])}l"
    body = " ".join(f"{_tenths(dx)} {_tenths(dy)}" for dx, dy in steps[:-1])
    return head + body + "z"


def _tenths(value: int | np.integer[Any]) -> str:
    v = int(value)
    if v % 10 == 0:
        return str(v // 10)
    text = f"{v / 10:.1f}"
    return text.replace("0.", ".", 1) if abs(v) < 10 else text


def text_width(text: str, size: float = FONT) -> float:
    """About how wide ``text`` is in px: CJK characters are a full em, others ~0.58 em."""
    return sum(size if unicodedata.east_asian_width(c) in "WF" else size * 0.58
               for c in text)


def render(shapes: MapShapes, units: Sequence[Mapping[str, Any]], *, label: str,
           legend: Sequence[tuple[str, str]], texts: MapTexts) -> str:
    """The SVG of ``units`` (each: fill, title, optional href and label, in the order of
    the geometries ``shapes`` was made from)."""
    links = any(u.get("href") for u in units)
    legend_svg, legend_h = _legend(legend, texts.legend_title, shapes.width, shapes.height)
    height = shapes.height + legend_h
    role = 'role="group"' if links else 'role="img"'
    parts = [f'<svg class="map" {role} aria-label="{escape(label)}" '
             f'viewBox="0 0 {shapes.width} {height}" width="{shapes.width}" height="{height}" '
             'style="max-width:100%;height:auto" xmlns="http://www.w3.org/2000/svg">']
    if links:  # one rule for every map of a page
        parts.append("<style>svg.map a:hover path,svg.map a:focus path"
                     "{stroke:#000;stroke-width:1.5}</style>")
    parts.append('<g class="units">')
    for frame in shapes.frames[1:]:
        parts.append(_inset_frame(frame, shapes, texts))
    for unit, d in zip(units, shapes.paths, strict=True):
        if not d:
            continue
        title = escape(str(unit.get("title") or ""))
        path = (f'<path d="{d}" fill="{escape(str(unit["fill"]))}" stroke="#555" '
                f'stroke-width="0.5" fill-rule="evenodd"><title>{title}</title></path>')
        href = unit.get("href")
        parts.append(f'<a href="{escape(str(href))}" aria-label="{title}">{path}</a>'
                     if href else path)
    parts.append("</g>")
    parts.append(_labels(shapes, units))
    main = shapes.frames[0]
    bar = _scale_bar(main, texts)
    corner, x, y = shapes.clearest(main, bar[1], bar[2])
    parts.append(_at(bar[0], x, y, "scale-bar"))
    _, x, y = shapes.clearest(main, 16, 32, taken=(corner,), prefer=(
        "top-right", "top-left", "bottom-right", "bottom-left"))
    parts.append(_north(x + 8, y, texts))
    parts.append(legend_svg)
    parts.append("</svg>")
    return "".join(parts)


def _inset_frame(frame: Frame, shapes: MapShapes, texts: MapTexts) -> str:
    names = [str(shapes.names[i]) for i in sorted(frame.units, key=lambda i: -shapes.areas[i])
             if shapes.names[i]]
    caption = ""
    for k in range(min(len(names), 3), 0, -1):  # as many names as the frame's width takes
        caption = texts.list_sep.join(names[:k]) + ("…" if len(names) > k else "")
        if text_width(texts.inset.format(names=caption), 11) <= frame.width:
            break
    out = [f'<rect class="inset" x="{frame.left:.1f}" y="{frame.top:.1f}" '
           f'width="{frame.width:.1f}" '
           f'height="{frame.height:.1f}" fill="none" stroke="#999" stroke-width="0.8"/>']
    if caption:
        text = texts.inset.format(names=caption)
        out.append(f'<text x="{frame.left:.1f}" y="{frame.top - 4:.1f}" class="legend" '
                   f'style="font-size:11px">{escape(text)}</text>')
    if frame.scale < 0.98 * shapes.frames[0].scale:
        bar = _scale_bar(frame, texts, small=True)
        _, x, y = shapes.clearest(frame, bar[1], bar[2])
        out.append(_at(bar[0], x, y, "scale-bar"))
    return "".join(out)


def _labels(shapes: MapShapes, units: Sequence[Mapping[str, Any]]) -> str:
    placed: list[Box] = []
    out = []
    order = sorted((i for i, u in enumerate(units) if u.get("label")),
                   key=lambda i: (units[i].get("rank") is None, units[i].get("rank") or 0))
    for unit, i in ((units[i], i) for i in order):
        text, anchor = unit["label"], shapes.anchor(i)
        if anchor is None:
            continue
        w, h = text_width(str(text), 11), 13.0
        for dy in (0.0, -h, h):  # on the unit, else just above or below it
            x = min(max(anchor[0], w / 2 + 2), shapes.width - w / 2 - 2)
            y = min(max(anchor[1] + dy, h / 2), shapes.height - h / 2)
            box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
            if not any(_gap(box, other) == 0 for other in placed):
                break
        else:
            continue
        placed.append(box)
        out.append(f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" '
                   'class="map-label" style="font-size:11px;font-weight:600" '
                   'paint-order="stroke" stroke="#fff" stroke-width="3" '
                   f'stroke-linejoin="round">{escape(str(text))}</text>')
    return "".join(out)


def _nice_km(limit: float) -> float:
    """The largest 1, 2 or 5 × 10ⁿ km not above ``limit``."""
    if limit <= 0:
        return 0.0
    power = 10 ** math.floor(math.log10(limit))
    return max(m * power for m in (1, 2, 5) if m * power <= limit)


def _km_text(km: float) -> str:
    return f"{km:,.0f}" if km >= 1 else f"{km:g}"


def _scale_bar(frame: Frame, texts: MapTexts, *, small: bool = False
               ) -> tuple[str, float, float]:
    """A scale bar of a round length near a fifth of the frame: (its SVG, drawn from
    0,0; its box's width and height)."""
    km = _nice_km((0.3 if not small else 0.45) * (frame.width - 2 * MARGIN) / frame.scale)
    if km <= 0:
        return "", 0.0, 0.0
    length, half = km * frame.scale, km * frame.scale / 2
    label = escape(texts.km.format(km=_km_text(km)))
    size = 10 if small else 11
    w, h = max(length, text_width(label, size)) + 6, size + 12
    svg = (f'<rect width="{w:.1f}" height="{h}" fill="#fff" fill-opacity="0.75"/>'
           f'<rect x="3" y="{h - 7}" width="{half:.1f}" height="4" fill="#333"/>'
           f'<rect x="{3 + half:.1f}" y="{h - 7}" width="{half:.1f}" height="4" '
           'fill="#fff" stroke="#333" stroke-width="0.6"/>'
           f'<text x="3" y="{size + 1}" class="tick" style="font-size:{size}px">'
           f"{label}</text>")
    return svg, w, h


def _at(svg: str, x: float, y: float, cls: str) -> str:
    return f'<g class="{cls}" transform="translate({x:.1f},{y:.1f})">{svg}</g>' if svg else ""


def _north(x: float, y: float, texts: MapTexts) -> str:
    return (f'<g class="north" aria-hidden="true"><path d="M{x:.1f} {y:.1f}l6 16l-6 -4l-6 4z" '
            'fill="#333"/>'
            f'<text x="{x:.1f}" y="{y + 29:.1f}" text-anchor="middle" '
            f'style="font-size:11px;font-weight:600">{escape(texts.north)}</text></g>')


def _legend(items: Sequence[tuple[str, str]], title: str | None, width: int, top: int
            ) -> tuple[str, int]:
    """The legend under the map: its title, then swatches flowing in rows."""
    out, y, row = [], top + 6, 18
    if title:
        out.append(f'<text x="{MARGIN}" y="{y + 12}" class="legend" '
                   f'style="font-weight:600">{escape(title)}</text>')
        y += row
    x = MARGIN
    for text, fill in items:
        w = 16 + text_width(text) + 14
        if x > MARGIN and x + w > width - MARGIN:
            x, y = MARGIN, y + row
        out.append(f'<rect x="{x}" y="{y + 2}" width="12" height="12" fill="{escape(fill)}" '
                   'stroke="#555" stroke-width="0.5"/>'
                   f'<text x="{x + 16}" y="{y + 12}" class="legend">{escape(text)}</text>')
        x += math.ceil(w)
    used = (y + (row if items else 0)) - top + 6
    return "".join(out), used


def choropleth(units: Iterable[Mapping[str, Any]], *, label: str,
               legend: Sequence[tuple[str, str]], width: int = 680, height: int = 520,
               texts: MapTexts | None = None, shapes: MapShapes | None = None) -> str:
    """See :func:`riskatlas.report.svg.choropleth`."""
    units = list(units)
    if shapes is None:
        shapes = map_shapes([u.get("geometry") for u in units], width=width, height=height,
                            names=[u.get("name") or u.get("title") for u in units])
    if shapes is None or not any(shapes.paths):
        return ""
    return render(shapes, units, label=label, legend=legend, texts=texts or MapTexts())
