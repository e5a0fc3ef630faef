"""Maps (report/svg.py, report/cartography.py, report/html.maps): large, labelled, with a
legend, a scale bar, a north arrow and insets for distant islands; small SVG; clickable
units on the web.

Synthetic geometries test the rules; Grenada (Carriacou far from the mainland) is drawn
from the real export and saved as PNG through Chromium for a look.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from riskatlas.report import svg
from riskatlas.report.cartography import MapTexts, map_shapes, text_width

SVG_NS = "{http://www.w3.org/2000/svg}"


def square(lon: float, lat: float, size: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[
        [lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size],
        [lon, lat]]]}


def circle(lon: float, lat: float, radius: float, n: int) -> dict[str, Any]:
    ring = [[lon + radius * math.cos(2 * math.pi * k / n),
             lat + radius * math.sin(2 * math.pi * k / n)] for k in range(n)]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def units(geoms: list[dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    return [{"geometry": g, "fill": "#FD8D3C", "title": f"Unit {i}", "name": f"Unit {i}",
             **extra} for i, g in enumerate(geoms)]


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # well-formed XML, or this raises


def mainland(n: int = 3) -> list[dict[str, Any]]:
    """n × n units of 0.1° on a mainland near the equator."""
    return [square(10 + 0.1 * i, 0.1 * j, 0.1) for i in range(n) for j in range(n)]


def test_a_compact_country_has_one_frame_filling_the_width() -> None:
    shapes = map_shapes(mainland(), width=680, height=520)
    assert shapes is not None and len(shapes.frames) == 1
    frame = shapes.frames[0]
    # a square country: the height limits it, and the map is centred
    assert frame.height == pytest.approx(520, abs=2)
    assert frame.left == pytest.approx((680 - frame.width) / 2, abs=1)
    out = svg.choropleth(units(mainland()), label="Score", legend=[("high", "#E31A1C")])
    root = parse(out)
    assert root.get("class") == "map" and root.get("role") == "img"
    assert root.get("aria-label") == "Score"
    assert len(root.findall(f".//{SVG_NS}path")) >= 9
    assert "inset" not in out


def test_a_distant_island_gets_an_inset_and_the_mainland_stays_large() -> None:
    geoms = [*mainland(), square(13.0, 3.0, 0.05)]  # 300 km away, small
    shapes = map_shapes(geoms, width=680, height=520, names=[f"U{i}" for i in range(10)])
    assert shapes is not None and len(shapes.frames) == 2
    main, inset = shapes.frames
    assert inset.inset and inset.units == [9] and 9 not in main.units
    # drawn together the mainland would be ~0.3/3.05 of the frame; with the inset it
    # keeps most of the map's height
    assert main.height > 0.8 * 520
    out = svg.choropleth(units(geoms), label="Score", legend=[], shapes=shapes,
                         texts=MapTexts(inset="Inset: {names}"))
    root = parse(out)
    [frame] = [r for r in root.iter(f"{SVG_NS}rect") if r.get("class") == "inset"]
    assert float(frame.get("x")) >= main.left + main.width  # beside the main frame
    assert "Inset: U9" in out
    # the island is drawn inside its frame
    island = root.findall(f".//{SVG_NS}path")[9].get("d")
    x, y = (float(v) for v in re.match(r"M([\d.]+) ([\d.]+)", island).groups())
    assert float(frame.get("x")) <= x <= float(frame.get("x")) + float(frame.get("width"))
    assert float(frame.get("y")) <= y <= float(frame.get("y")) + float(frame.get("height"))


def test_a_near_island_stays_on_the_main_map() -> None:
    geoms = [*mainland(), square(10.32, 0.1, 0.03)]  # 2 km off the coast
    shapes = map_shapes(geoms)
    assert shapes is not None and len(shapes.frames) == 1


def test_many_distant_islands_are_grouped_into_at_most_four_insets() -> None:
    islands = [square(14 + 2 * k, 5 + (k % 2), 0.02) for k in range(7)]
    shapes = map_shapes([*mainland(), *islands])
    assert shapes is not None
    assert 2 <= len(shapes.frames) <= 5
    drawn = {u for f in shapes.frames for u in f.units}
    assert drawn == set(range(16))  # every unit in some frame
    assert all(shapes.paths)


def test_a_country_across_the_antimeridian_is_drawn_in_one_piece() -> None:
    geoms = [square(179.6, -17, 0.3), square(-179.9, -17, 0.3)]
    shapes = map_shapes(geoms)
    assert shapes is not None and len(shapes.frames) == 1
    # 0.6° wide in all, not 360°: both units are large on the map
    assert all(len(p) > 10 for p in shapes.paths)
    assert shapes.frames[0].width > 400


def test_paths_are_simplified_to_the_map_resolution() -> None:
    detailed = [circle(10, 0, 0.5, 100_000)]  # 100,000 vertices
    out = svg.choropleth(units(detailed), label="x", legend=[])
    assert len(out) < 12_000, len(out)
    d = parse(out).find(f".//{SVG_NS}path").get("d")
    assert d.startswith("M") and d.endswith("z") and "l" in d  # relative commands


def test_labels_scale_bar_north_arrow_and_legend_in_the_given_words() -> None:
    geoms = mainland()
    given = units(geoms)
    for rank, u in enumerate(given[:3]):
        u["label"], u["rank"] = f"Top {rank}", rank
    texts = MapTexts(north="北", km="{km} 公里", legend_title="篩選等級")
    out = svg.choropleth(given, label="Score", legend=[("高", "#E31A1C"), ("低", "#FED976")],
                         texts=texts)
    root = parse(out)
    words = ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]
    assert {"Top 0", "Top 1", "Top 2"} <= set(words)
    assert "北" in words and "篩選等級" in words and "高" in words
    [bar] = [w for w in words if w.endswith("公里")]
    km = float(bar.split()[0].replace(",", ""))
    assert km in {1, 2, 5, 10, 20, 50}  # a round length
    assert all(w.strip() for w in words)  # no empty text


def test_overlapping_labels_keep_the_higher_ranked() -> None:
    tiny = [square(10 + 0.001 * i, 0, 0.001) for i in range(3)]  # side by side, 300 m
    given = units([*tiny, square(10.5, 0.5, 0.2)])
    for rank, u in enumerate(given[:3]):
        u["label"], u["rank"] = f"Long unit label {rank}", 2 - rank
    out = svg.choropleth(given, label="x", legend=[])
    labels = re.findall(r'class="map-label"[^>]*>([^<]+)<', out)
    assert "Long unit label 2" in labels  # rank 0 placed first
    assert len(labels) < 3


def test_units_with_href_are_links() -> None:
    given = units(mainland(2))
    for i, u in enumerate(given):
        u["href"] = f"/unit/XXX/{i}?lang=en&x=1"
    out = svg.choropleth(given, label="Score", legend=[])
    root = parse(out)
    links = root.findall(f".//{SVG_NS}a")
    assert len(links) == 4 and root.get("role") == "group"
    assert links[0].get("href") == "/unit/XXX/0?lang=en&x=1"
    assert links[0].get("aria-label") == "Unit 0"
    assert "&amp;x=1" in out  # escaped in the markup


def test_nothing_to_draw() -> None:
    point = {"type": "Point", "coordinates": [1, 2]}
    assert svg.choropleth([{"geometry": point, "fill": "#fff", "title": "p"}],
                          label="x", legend=[]) == ""
    assert svg.choropleth([{"geometry": "not json", "fill": "#fff", "title": "p"}],
                          label="x", legend=[]) == ""


def test_text_width_counts_cjk_wide() -> None:
    assert text_width("高雄", 12) == 24
    assert text_width("ab", 12) < 15


# --- Grenada: Carriacou far from the mainland --------------------------------------------

@pytest.fixture(scope="module")
def grenada_assessments(grenada_db: Path) -> dict[str, Any]:
    """Grenada's assessment in both languages (shared with the other files that read it:
    tests/assessed.py)."""
    from assessed import assessed

    return {lang: assessed(grenada_db, "GRD", lang) for lang in ("en", "zh-TW")}


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_grenada_maps_have_an_inset_for_carriacou(grenada_assessments: dict[str, Any],
                                                  lang: str, tmp_path: Path) -> None:
    from riskatlas.report import html
    from riskatlas.report.text import Text

    a = grenada_assessments[lang]
    t = Text(lang)
    maps = html.maps(a, t, href=lambda country, code: f"/unit/{country}/{code}")
    assert set(maps) == {"score", "hazard"}
    for key, out in maps.items():
        root = parse(out)
        assert len(out) < 40_000, (key, len(out))  # 1.8 MB of GeoJSON in the store
        assert int(root.get("width")) >= 640
        insets = [r for r in root.iter(f"{SVG_NS}rect") if r.get("class") == "inset"]
        assert len(insets) == 1
        words = ["".join(e.itertext()) for e in root.iter(f"{SVG_NS}text")]
        assert any("Carriacou" in w and w.startswith(t("map.inset", names="")) for w in words)
        assert t("map.north") in words
        assert any(w.endswith(t("map.scale_km", km="").strip()) for w in words)
        assert t(f"map.legend_{key}") in words
        # the top units are named on the map, the first of them (rank 1) at least
        top = a.screen[a.screen["cards"].fillna(0) > 0].sort_values("rank")
        assert top["admin_name"].iloc[0] in words
        assert len(root.findall(f".//{SVG_NS}a")) == len(a.units[a.units["geometry"].notna()])
        (tmp_path / f"grenada-{key}-{lang}.svg").write_text(out, encoding="utf-8")
    if lang == "zh-TW":
        assert "：" in maps["score"] and "公里" in maps["score"]


def test_grenada_map_as_an_image(grenada_assessments: dict[str, Any], tmp_path: Path
                                 ) -> None:
    """The map as Chromium draws it: the mainland fills most of the height (before the
    insets it took about half of it)."""
    from conftest import require_chromium
    from riskatlas.report import html
    from riskatlas.report.text import Text

    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    out = html.maps(grenada_assessments["en"], Text("en"))["score"]
    page_file = tmp_path / "map.html"
    page_file.write_text(f"<!DOCTYPE html><meta charset='utf-8'><body style='margin:0'>{out}",
                         encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 720, "height": 700})
        page.goto(page_file.as_uri())
        page.screenshot(path=str(tmp_path / "grenada-score.png"))
        boxes = page.evaluate("""() => [...document.querySelectorAll('svg.map path')]
            .map(p => p.getBBox()).map(b => [b.x, b.y, b.width, b.height])""")
        size = page.evaluate("() => { const b = document.querySelector('svg.map')"
                             ".getBoundingClientRect(); return [b.width, b.height]; }")
        browser.close()
    assert (tmp_path / "grenada-score.png").stat().st_size > 5_000
    tallest = max(b[3] for b in boxes)
    mainland_height = max(b[1] + b[3] for b in boxes if b[3] > 0.2 * tallest) - min(
        b[1] for b in boxes if b[3] > 0.2 * tallest)
    assert mainland_height > 0.6 * size[1], (mainland_height, size)
