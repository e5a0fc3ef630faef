"""Constructed test stores: a few data cards written as a DesConsultar CSV export and
imported through the real flat reader. Values are invented for the tests."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import riskatlas
from riskatlas.sources.registry import ReadOptions

COLUMNS = {  # DesConsultar English labels → keyword used by the tests
    "Serial": "serial", "Year": "year", "Month": "month", "Day": "day", "Event": "event",
    "Deaths": "deaths", "Missing": "missing", "Injured": "injured",
    "Houses Destroyed": "destroyed", "Houses Damaged": "damaged",
    "Directly affected": "affected", "Glide": "glide", "Level0": "l0", "Name0": "n0",
    "Level1": "l1", "Name1": "n1", "Losses $USD": "usd", "Comments": "comments",
}


def card(serial: int, event: str, year: int, l0: str, *, month: int | str = 6,
         day: int | str = 1, l1: str = "", **impacts: Any) -> dict[str, Any]:
    """One card; impacts are deaths, missing, injured, destroyed, damaged, affected."""
    return {"serial": serial, "event": event, "year": year, "month": month, "day": day,
            "l0": l0, "n0": f"Unit {l0}", "l1": l1, "n1": f"Unit {l1}" if l1 else "",
            **impacts}


def write_cards(path: Path, cards: Iterable[dict[str, Any]]) -> Path:
    lines = [";".join(COLUMNS)]
    for c in cards:
        lines.append(";".join(str(c.get(key, 0 if key in ("deaths", "missing", "injured",
                                                          "destroyed", "damaged", "affected")
                                         else "")) for key in COLUMNS.values()))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def store_with(tmp_path: Path, cards: Iterable[dict[str, Any]], *, country: str = "LKA",
               name: str = "cards", db: Path | str | None = None) -> Path:
    """A fresh store holding ``cards`` (at ``db``: a DuckDB path or a PostgreSQL URL, by
    default tmp_path/NAME.duckdb); returns where it is."""
    db = db or tmp_path / f"{name}.duckdb"
    with riskatlas.open(db) as atlas:
        atlas.import_paths([write_cards(tmp_path / f"{name}.csv", cards)],
                           options=ReadOptions(country=country))
    return db
