"""Shared benchmark inputs: the real Nepal records replicated into a large RiskAtlas store.

``build(records)`` imports the 25,849 Nepal records (../shared/data/desinventar/npl-xlsx)
once, then replicates them in a copy of that store to at least ``records`` rows (new record
ids, ``raw`` emptied) and exports the columns the analyses read to a Parquet twin. Stores
are cached in ``benchmarks/work/analysis/`` (where ``bench_analysis.py`` always kept them,
so existing caches stay valid) and reused by every benchmark that needs them.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "analysis"
SHARED_DATA = HERE.parents[1] / "shared" / "data"
NEPAL = SHARED_DATA / "desinventar" / "npl-xlsx"
CORE = ("deaths", "missing", "injured", "directly_affected", "houses_destroyed",
        "houses_damaged")
PARQUET_COLUMNS = ("country_iso3", "level1_code", "level1_name", "hazard_group", "hazard_term",
                   "climate_related", "start_year", "approval_status", *CORE,
                   *(f"{c}_unknown" for c in CORE))


def build(records: int, work: Path = WORK) -> tuple[Path, Path, dict[str, Any]]:
    """The replicated store and its Parquet twin: (store, parquet, metadata), cached."""
    import duckdb

    work.mkdir(parents=True, exist_ok=True)
    db, parquet, meta_path = (work / f"npl_{records}.duckdb", work / f"npl_{records}.parquet",
                              work / f"npl_{records}.json")
    if meta_path.exists() and db.exists() and parquet.exists():
        return db, parquet, json.loads(meta_path.read_text())
    base = work / "npl_base.duckdb"
    if not base.exists():
        import riskatlas
        from riskatlas.sources.registry import ReadOptions

        with riskatlas.open(base) as atlas:
            atlas.import_paths([NEPAL], options=ReadOptions(country="NPL"))
    print(f"building a store of {records:,} records (once) ...", flush=True)
    shutil.copyfile(base, db)
    con = duckdb.connect(str(db))
    n_base = con.execute("SELECT count(*) FROM records").fetchone()[0]
    copies = math.ceil(records / n_base)
    con.execute("CREATE TEMP TABLE base AS SELECT * FROM records")
    con.execute("INSERT INTO records SELECT base.* REPLACE (record_id || '#' || i::VARCHAR AS "
                f"record_id, NULL AS raw) FROM base, range(1, {copies}) t(i)")
    total = con.execute("SELECT count(*) FROM records").fetchone()[0]
    con.execute(f"COPY (SELECT {', '.join(PARQUET_COLUMNS)} FROM records) TO '{parquet}' "
                "(FORMAT parquet)")
    con.execute("CHECKPOINT")
    con.close()
    meta = {"records": total, "base_records": n_base, "copies": copies,
            "store_mb": db.stat().st_size / 1e6, "parquet_mb": parquet.stat().st_size / 1e6}
    meta_path.write_text(json.dumps(meta))
    return db, parquet, meta


# the other countries of the real data, imported at their real sizes next to the replicated
# Nepal records: Grenada (162 cards, parishes) and the Sendai roll-up (911 national cards of
# 110 countries)
OTHER_COUNTRIES = (SHARED_DATA / "desinventar" / "grd" / "DI_export_grd.zip",
                   SHARED_DATA / "desinventar" / "s20" / "DI_export_s20.zip")


def build_multi(records: int, work: Path = WORK) -> tuple[Path, dict[str, Any]]:
    """The replicated Nepal store of :func:`build` plus the other countries' real files
    imported once: (store, metadata with records per country), cached."""
    import duckdb

    db, meta_path = work / f"multi_{records}.duckdb", work / f"multi_{records}.json"
    if meta_path.exists() and db.exists():
        return db, json.loads(meta_path.read_text())
    source, _, meta = build(records, work)
    print(f"adding {', '.join(p.name for p in OTHER_COUNTRIES)} to a copy (once) ...",
          flush=True)
    partial = db.with_suffix(".partial")
    shutil.copyfile(source, partial)
    import riskatlas

    with riskatlas.open(partial) as atlas:
        atlas.import_paths(list(OTHER_COUNTRIES))
    con = duckdb.connect(str(partial), read_only=True)
    countries = dict(con.execute("SELECT coalesce(country_iso3, 'XXX'), count(*) FROM records "
                                 "GROUP BY ALL ORDER BY 2 DESC").fetchall())
    con.close()
    partial.rename(db)
    meta = {**meta, "records": sum(countries.values()), "countries": countries,
            "store_mb": db.stat().st_size / 1e6,
            "other_files": [p.name for p in OTHER_COUNTRIES]}
    meta_path.write_text(json.dumps(meta))
    return db, meta
