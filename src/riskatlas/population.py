"""Population (and households, GDP) by admin unit and year, for per-100,000 rates and
Sendai C-1. ``level`` -1 is the whole country (``admin_code`` = its ISO3 code)."""

from __future__ import annotations

import csv
from pathlib import Path

from riskatlas.errors import RecordError, SourceFormatError
from riskatlas.sources.convert import to_number
from riskatlas.store.store import Store

REQUIRED = ("country_iso3", "level", "admin_code", "year", "population")


def import_population(store: Store, path: Path) -> int:
    """Upsert every row of a population CSV in one transaction; returns rows loaded."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise SourceFormatError("population.columns", path=str(path),
                                    missing=", ".join(missing))
        rows = []
        for i, row in enumerate(reader, start=2):
            try:
                rows.append((row["country_iso3"].strip().upper(), int(row["level"]),
                             row["admin_code"].strip(), int(row["year"]),
                             to_number(row["population"]), to_number(row.get("households")),
                             row.get("source") or path.name, to_number(row.get("gdp_usd"))))
            except (ValueError, TypeError, AttributeError) as exc:
                raise RecordError("record.bad_row", path=str(path), record=f"line {i}",
                                  field="-", reason=str(exc)) from None
    with store.transaction() as con:
        con.executemany("INSERT OR REPLACE INTO population (country_iso3, level, admin_code, "
                        "year, population, households, source, gdp_usd) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)
