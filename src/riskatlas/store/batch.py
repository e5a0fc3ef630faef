"""An import batch: rows are staged as Parquet files, then swapped in by one transaction.

Readers put records, set-aside rows, admin units, hazard catalogues and any other source
section into a batch. Nothing touches the store until :meth:`ImportBatch.commit`, which
runs in a single DuckDB transaction: a failed or killed import leaves the store as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from riskatlas.errors import RecordError, StoreError
from riskatlas.model.schema import record_arrow_schema

if TYPE_CHECKING:
    from riskatlas.store.store import Store

log = logging.getLogger(__name__)
RECORD_SCHEMA = record_arrow_schema()
EXTENSION_SCHEMA = pa.schema([("native_key", pa.string()), ("extension", pa.string())])
_FLUSH_ROWS = 20_000


@dataclass
class AdminUnit:
    country_iso3: str
    level: int
    code: str
    name: str | None = None
    name_en: str | None = None
    parent_code: str | None = None
    centroid_lon: float | None = None
    centroid_lat: float | None = None
    bbox: tuple[float, float, float, float] | None = None
    geometry: str | None = None  # GeoJSON geometry, WGS84


@dataclass
class HazardTerm:
    term: str
    term_en: str | None = None
    description: str | None = None


@dataclass
class FileStats:
    name: str
    path: str
    sha256: str
    size: int
    format: str
    read: int = 0
    imported: int = 0
    quarantined: int = 0


@dataclass
class Rejected:
    source_file: str
    record_ref: str
    field: str
    reason_key: str
    reason_params: dict[str, Any]
    reason: str
    raw: Mapping[str, Any] | None

    @classmethod
    def from_error(cls, error: RecordError, raw: Mapping[str, Any] | None) -> Rejected:
        params = {k: v for k, v in error.params.items()}
        return cls(error.path, error.record, error.field, error.key, params,
                   error.reason("en"), raw)


@dataclass
class BatchResult:
    dataset_id: int
    files: list[FileStats]
    unmapped_terms: list[str]
    notes: list[dict[str, Any]] = field(default_factory=list)


class ImportBatch:
    """Staging area of one dataset (one or more files of one source)."""

    def __init__(self, store: Store, *, source_key: str, name: str, format: str,
                 crosswalk_version: str, country_iso3: str | None = None,
                 disambiguate_keys: bool = False, synthetic: bool = False) -> None:
        self.store = store
        self.source_key, self.name, self.format = source_key, name, format
        self.crosswalk_version = crosswalk_version
        self.country_iso3 = country_iso3
        self.disambiguate_keys = disambiguate_keys
        self.synthetic = synthetic
        self.dataset_id = store.next_dataset_id()
        self.files: dict[str, FileStats] = {}
        self.staging = Path(tempfile.mkdtemp(prefix="riskatlas-import-"))
        self._rows: list[dict[str, Any]] = []
        self._ext_rows: list[dict[str, Any]] = []
        self._parts: list[Path] = []
        self._ext_parts: list[Path] = []
        self.rejected: list[Rejected] = []
        self.units: dict[tuple[str, int, str], AdminUnit] = {}
        self.levels: dict[int, tuple[str | None, str | None]] = {}
        self.terms: dict[str, HazardTerm] = {}
        self.sections: list[tuple[str, str, int, str]] = []
        self.notes: list[dict[str, Any]] = []

    # -- what readers call ------------------------------------------------------------
    def add_file(self, stats: FileStats) -> None:
        self.files[stats.name] = stats

    def count_read(self, file_name: str, n: int = 1) -> None:
        self.files[file_name].read += n

    def add_record(self, record: dict[str, Any]) -> None:
        self._rows.append(record)
        if len(self._rows) >= _FLUSH_ROWS:
            self._flush()

    def add_records_parquet(self, path: Path) -> None:
        """A Parquet file of records in the staging schema, written by a worker."""
        self._parts.append(path)

    def add_extension(self, native_key: str, extension_json: str) -> None:
        self._ext_rows.append({"native_key": native_key, "extension": extension_json})
        if len(self._ext_rows) >= _FLUSH_ROWS:
            self._flush()

    def add_extensions_parquet(self, path: Path) -> None:
        self._ext_parts.append(path)

    def reject(self, error: RecordError, raw: Mapping[str, Any] | None) -> None:
        self.rejected.append(Rejected.from_error(error, raw))

    def add_rejected(self, rejected: Iterable[Rejected]) -> None:
        self.rejected.extend(rejected)

    def add_unit(self, unit: AdminUnit) -> None:
        key = (unit.country_iso3, unit.level, unit.code)
        known = self.units.get(key)
        if known is None:
            self.units[key] = unit
            return
        for attr in ("name", "name_en", "parent_code", "centroid_lon", "centroid_lat",
                     "bbox", "geometry"):
            if getattr(unit, attr) is not None:
                setattr(known, attr, getattr(unit, attr))

    def add_level(self, level: int, name: str | None, name_en: str | None) -> None:
        self.levels[level] = (name, name_en)

    def add_term(self, term: HazardTerm) -> None:
        self.terms.setdefault(term.term, term)

    def add_section_rows(self, file_name: str, section: str,
                         rows: Iterable[Mapping[str, Any]]) -> None:
        """Rows of any other source table, kept verbatim."""
        for i, row in enumerate(rows, start=1):
            self.sections.append((file_name, section, i, orjson.dumps(row).decode()))

    def note(self, key: str, **params: Any) -> None:
        self.notes.append({"key": key, **params})

    # -- staging ----------------------------------------------------------------------
    def part_path(self, kind: str) -> Path:
        return self.staging / f"{kind}-{len(self._parts) + len(self._ext_parts):06d}.parquet"

    def _flush(self) -> None:
        if self._rows:
            path = self.part_path("records")
            pq.write_table(pa.Table.from_pylist(self._rows, RECORD_SCHEMA), path)
            self._parts.append(path)
            self._rows = []
        if self._ext_rows:
            path = self.part_path("ext")
            pq.write_table(pa.Table.from_pylist(self._ext_rows, EXTENSION_SCHEMA), path)
            self._ext_parts.append(path)
            self._ext_rows = []

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    # -- commit -----------------------------------------------------------------------
    def commit(self) -> BatchResult:
        """Swap the staged rows into the store in one transaction."""
        self._flush()
        con = self.store.connection
        con.execute("BEGIN TRANSACTION")
        try:
            result = self._commit(con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            self.discard()
        return result

    def _staged_relation(self, con: Any) -> None:
        if self._parts:
            con.execute("CREATE OR REPLACE TEMP VIEW staged_raw AS SELECT * FROM "
                        f"read_parquet({_sql_list(self._parts)})")
        else:
            con.register("staged_empty", RECORD_SCHEMA.empty_table())
            con.execute("CREATE OR REPLACE TEMP VIEW staged_raw AS SELECT * FROM staged_empty")
        if self._ext_parts:
            con.execute("CREATE OR REPLACE TEMP VIEW staged_ext AS SELECT native_key, "
                        "first(extension) AS extension FROM "
                        f"read_parquet({_sql_list(self._ext_parts)}) GROUP BY native_key")
        else:
            con.execute("CREATE OR REPLACE TEMP VIEW staged_ext AS SELECT NULL::VARCHAR AS "
                        "native_key, NULL::VARCHAR AS extension WHERE false")

    def _commit(self, con: Any) -> BatchResult:
        self._staged_relation(con)
        # number duplicates of a key in order of reading
        con.execute("""CREATE OR REPLACE TEMP TABLE staged AS
            SELECT *, row_number() OVER (PARTITION BY record_id
                                         ORDER BY source_file, source_row) AS dup_rank
            FROM staged_raw""")
        if self.disambiguate_keys:
            con.execute("""UPDATE staged SET record_id = record_id || '~' || dup_rank,
                           native_key = native_key || '~' || dup_rank WHERE dup_rank > 1""")
            con.execute("UPDATE staged SET dup_rank = 1")
        self._quarantine_sql(con, "dup_rank > 1", "record.duplicate_key",
                             "'{\"key\": ' || to_json(native_key) || '}'")
        self._quarantine_sql(
            con, "record_id IN (SELECT record_id FROM records)", "record.already_in_store",
            "'{\"key\": ' || to_json(native_key) || ', \"dataset\": ' || "
            "(SELECT dataset_id FROM records r WHERE r.record_id = staged.record_id) || '}'")
        columns = [f.name for f in RECORD_SCHEMA]
        special = {"extension": "coalesce(s.extension, e.extension)",
                   "dataset_id": str(int(self.dataset_id))}
        select = ", ".join(special.get(c, f"s.{c}") for c in columns)
        con.execute(f"""INSERT INTO records ({', '.join(columns)})
            SELECT {select} FROM staged s LEFT JOIN staged_ext e USING (native_key)
            WHERE s.dup_rank = 1""")
        orphans = con.execute("""SELECT count(*) FROM staged_ext e WHERE NOT EXISTS
            (SELECT 1 FROM staged s WHERE s.native_key = e.native_key)""").fetchone()[0]
        if orphans:
            con.execute("""INSERT INTO source_tables SELECT ?, NULL, 'extension_without_card',
                row_number() OVER (), extension FROM staged_ext e WHERE NOT EXISTS
                (SELECT 1 FROM staged s WHERE s.native_key = e.native_key)""", [self.dataset_id])
            self.note("import.extension_orphans", count=orphans)
        self._insert_rejected(con)
        self._count_per_file(con)
        unmapped = self._insert_terms(con)
        self._insert_units(con)
        self._insert_sections(con)
        self._insert_dataset(con)
        for table in ("staged",):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        return BatchResult(self.dataset_id, list(self.files.values()), unmapped, self.notes)

    def _quarantine_sql(self, con: Any, where: str, key: str, params_sql: str) -> None:
        from riskatlas.i18n import translate

        rows = con.execute(f"""SELECT source_file, native_key, {params_sql}, raw, record_id
                               FROM staged WHERE {where}""").fetchall()
        for source_file, native_key, params, raw, _ in rows:
            parsed = orjson.loads(params)
            self.rejected.append(Rejected(
                source_file, str(native_key), "native_key", key, parsed,
                translate(key, "en", **parsed), orjson.loads(raw) if raw else None))
        if rows:
            con.execute(f"DELETE FROM staged WHERE {where}")

    def _insert_rejected(self, con: Any) -> None:
        rows = [(self.dataset_id, r.source_file, r.record_ref, r.field, r.reason_key,
                 orjson.dumps(r.reason_params, default=str).decode(), r.reason,
                 orjson.dumps(r.raw, default=str).decode() if r.raw is not None else None)
                for r in self.rejected]
        if rows:
            con.executemany("INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def _count_per_file(self, con: Any) -> None:
        imported = dict(con.execute(
            "SELECT source_file, count(*) FROM records WHERE dataset_id = ? GROUP BY 1",
            [self.dataset_id]).fetchall())
        quarantined = Counter(r.source_file for r in self.rejected)
        for stats in self.files.values():
            stats.imported = imported.get(stats.name, 0)
            stats.quarantined = quarantined.get(stats.name, 0)
            if stats.read != stats.imported + stats.quarantined:
                raise StoreError("import.unreconciled", path=stats.name, read=stats.read,
                                 imported=stats.imported, quarantined=stats.quarantined)

    def _insert_terms(self, con: Any) -> list[str]:
        used = con.execute("""SELECT hazard_term, any_value(hazard_term_en), any_value(hips_code),
                any_value(hazard_group), count(*) FROM records WHERE dataset_id = ?
                GROUP BY 1""", [self.dataset_id]).fetchall()
        seen = {}
        for term, term_en, code, group, n in used:
            info = self.terms.get(term)
            seen[term] = (term, term_en or (info.term_en if info else None),
                          info.description if info else None, code, group, n, info is not None)
        crosswalk = self.store.crosswalk
        for term, info in self.terms.items():
            if term not in seen:
                match = crosswalk.match(term, info.term_en)
                seen[term] = (term, info.term_en, info.description,
                              match.hips_code if match else None,
                              match.group if match else None, 0, True)
        con.executemany("INSERT INTO hazard_terms VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [(self.dataset_id, *row) for row in seen.values()])
        return sorted(t for t, row in seen.items() if row[4] is None)

    def _insert_units(self, con: Any) -> None:
        rows = []
        for u in self.units.values():
            xmin, ymin, xmax, ymax = u.bbox or (None, None, None, None)
            rows.append((u.country_iso3, u.level, u.code, u.name, u.name_en, u.parent_code,
                         u.centroid_lon, u.centroid_lat, xmin, ymin, xmax, ymax, u.geometry,
                         self.dataset_id))
        if rows:
            names = ["country_iso3", "level", "code", "name", "name_en", "parent_code",
                     "centroid_lon", "centroid_lat", "xmin", "ymin", "xmax", "ymax", "geometry",
                     "dataset_id"]
            con.register("units_new", pa.Table.from_pylist([dict(zip(names, r, strict=True))
                                                            for r in rows]))
            con.execute("""INSERT INTO admin_units SELECT * FROM units_new
                ON CONFLICT DO UPDATE SET
                name = coalesce(excluded.name, name), name_en = coalesce(excluded.name_en, name_en),
                parent_code = coalesce(excluded.parent_code, parent_code),
                centroid_lon = coalesce(excluded.centroid_lon, centroid_lon),
                centroid_lat = coalesce(excluded.centroid_lat, centroid_lat),
                xmin = coalesce(excluded.xmin, xmin), ymin = coalesce(excluded.ymin, ymin),
                xmax = coalesce(excluded.xmax, xmax), ymax = coalesce(excluded.ymax, ymax),
                geometry = coalesce(excluded.geometry, geometry)""")
            con.unregister("units_new")
        if self.levels:
            con.executemany("INSERT INTO admin_levels VALUES (?, ?, ?, ?)",
                            [(self.dataset_id, lv, n, ne) for lv, (n, ne) in self.levels.items()])

    def _insert_sections(self, con: Any) -> None:
        if self.sections:
            con.executemany("INSERT INTO source_tables VALUES (?, ?, ?, ?, ?)",
                            [(self.dataset_id, *row) for row in self.sections])

    def _insert_dataset(self, con: Any) -> None:
        files = list(self.files.values())
        con.execute("INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            self.dataset_id, self.source_key, self.name, self.format,
            self.store.importer_version, self.crosswalk_version, self.country_iso3,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
            sum(f.read for f in files), sum(f.imported for f in files),
            sum(f.quarantined for f in files), orjson.dumps(self.notes).decode(),
            self.synthetic])
        con.executemany("INSERT INTO dataset_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            (self.dataset_id, f.name, f.path, f.sha256, f.size, f.format, f.read, f.imported,
             f.quarantined) for f in files])


def _sql_list(paths: list[Path]) -> str:
    """A SQL list literal of our own staging paths (never user text)."""
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"
