"""An import batch: rows are staged as Parquet files, then swapped in by one transaction.

Readers put records, set-aside rows, admin units, hazard catalogues and any other source
section into a batch. Nothing touches the store until :meth:`ImportBatch.commit`, which
runs in a single DuckDB transaction: a failed or killed import leaves the store as it was.
A caller may add its own rows to that transaction (``on_commit``: the web upload's audit
row and card authorship).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from riskatlas.errors import RecordError, StoreError
from riskatlas.model.quality import (
    FIELDS_ACCEPTED,
    FIELDS_READ,
    ISSUES_KEY,
    QualityIssue,
    QualityPolicy,
    staged_record_schema,
)
from riskatlas.store import arrow_rows

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import duckdb

    from riskatlas.model.hazards import Crosswalk


class BatchStore(Protocol):
    """What a batch needs of its store (:class:`riskatlas.store.store.Store`)."""

    connection: duckdb.DuckDBPyConnection
    importer_version: str

    @property
    def crosswalk(self) -> Crosswalk: ...

    def next_dataset_id(self) -> int: ...

    def new_staging_dir(self) -> Path: ...

    def transaction(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

log = logging.getLogger(__name__)
RECORD_SCHEMA = staged_record_schema()  # the records table's columns and two counts
_COUNT_COLUMNS = (FIELDS_READ, FIELDS_ACCEPTED)  # staged only (fields reconciliation)
EXTENSION_SCHEMA = pa.schema([("native_key", pa.string()), ("extension", pa.string())])
_FLUSH_ROWS = 20_000
ISSUE_SCHEMA = pa.schema([(n, pa.int64() if n == "source_row" else pa.string()) for n in (
    "source_file", "source_row", "record_ref", "field", "source_field", "raw_value", "rule",
    "params", "action", "message_en", "message_zh")])
_TEXT, _INT, _REAL = pa.string(), pa.int64(), pa.float64()
QUARANTINE_SCHEMA = pa.schema([("dataset_id", _INT)] + [(n, _TEXT) for n in (
    "source_file", "record_ref", "field", "reason_key", "reason_params", "reason", "raw")])
SECTION_SCHEMA = pa.schema([("dataset_id", _INT), ("source_file", _TEXT), ("section", _TEXT),
                            ("row_number", _INT), ("row", _TEXT)])
UNIT_SCHEMA = pa.schema(
    [("country_iso3", _TEXT), ("level", pa.int32())]
    + [(n, _TEXT) for n in ("code", "name", "name_en", "parent_code")]
    + [(n, _REAL) for n in ("centroid_lon", "centroid_lat", "xmin", "ymin", "xmax", "ymax")]
    + [("geometry", _TEXT), ("dataset_id", _INT)])
IMPORT_MEMORY_LIMIT = "192MB"  # DuckDB spills to disk beyond this during an import

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
    flagged: int = 0  # fields not taken as read (quality_issues)
    fields_read: int = 0  # fields of the imported records that the source gave
    fields_accepted: int = 0  # of those, stored as read (fields_read = accepted + flagged)


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
        return cls(error.path, error.record, error.field, error.key, dict(error.params),
                   error.reason("en"), raw)


@dataclass
class BatchResult:
    dataset_id: int
    files: list[FileStats]
    unmapped_terms: list[str]
    notes: list[dict[str, Any]] = field(default_factory=list)


# called with the connection and the result inside the commit's transaction
OnCommit = Callable[[Any, BatchResult], None]


class ImportBatch:
    """Staging area of one dataset (one or more files of one source)."""

    def __init__(self, store: BatchStore, *, source_key: str, name: str, format: str,
                 crosswalk_version: str, country_iso3: str | None = None,
                 disambiguate_keys: bool = False, synthetic: bool = False,
                 policy: QualityPolicy | None = None, review: bool = False,
                 on_commit: OnCommit | None = None, dataset_id: int | None = None) -> None:
        self.store = store
        self.review = review  # no card arrives published or validated: all await review
        self.on_commit = on_commit  # the caller's own rows, in the import's transaction
        self.source_key, self.name, self.format = source_key, name, format
        self.crosswalk_version = crosswalk_version
        self.country_iso3 = country_iso3
        self.disambiguate_keys = disambiguate_keys
        self.synthetic = synthetic
        self.policy = policy or QualityPolicy()
        self.dataset_id = store.next_dataset_id() if dataset_id is None else dataset_id
        self.files: dict[str, FileStats] = {}
        self.staging = store.new_staging_dir()
        self._rows: list[dict[str, Any]] = []
        self._parts: list[Path] = []
        self._record_extensions = False  # whether staged records may carry an extension
        self._ext_parts: list[Path] = []
        self.rejected: list[Rejected] = []
        self.issues: list[QualityIssue] = []
        self._issue_parts: list[Path] = []
        self.units: dict[tuple[str, int, str], AdminUnit] = {}
        self.levels: dict[int, tuple[str | None, str | None]] = {}
        self.terms: dict[str, HazardTerm] = {}
        self.sections: list[tuple[str, str, int, str]] = []
        self.notes: list[dict[str, Any]] = []
        self._fields: dict[str, tuple[int, int]] = {}  # file → (fields read, accepted)

    # -- what readers call ------------------------------------------------------------
    def add_file(self, stats: FileStats) -> None:
        self.files[stats.name] = stats

    def count_read(self, file_name: str, n: int = 1) -> None:
        self.files[file_name].read += n

    def add_record(self, record: dict[str, Any]) -> None:
        if ISSUES_KEY in record:
            self.add_issues(record.pop(ISSUES_KEY))
        self._rows.append(record)
        if len(self._rows) >= _FLUSH_ROWS:
            self._flush()

    def add_records_parquet(self, path: Path, *, extensions: bool = True) -> None:
        """A Parquet file of records in the staging schema, written by a worker
        (``extensions=False``: its ``extension`` column is empty)."""
        self._parts.append(path)
        self._record_extensions |= extensions

    def add_extensions_parquet(self, path: Path) -> None:
        self._ext_parts.append(path)

    def reject(self, error: RecordError, raw: Mapping[str, Any] | None) -> None:
        self.rejected.append(Rejected.from_error(error, raw))

    def add_rejected(self, rejected: Iterable[Rejected]) -> None:
        self.rejected.extend(rejected)

    def add_issues(self, issues: Iterable[QualityIssue]) -> None:
        self.issues.extend(issues)
        if len(self.issues) >= _FLUSH_ROWS:
            self._stage_issues()

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
            self.add_records_parquet(path)
            self._rows = []

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    # -- commit -----------------------------------------------------------------------
    def commit(self) -> BatchResult:
        """Swap the staged rows into the store in one transaction."""
        self._flush()
        con = self.store.connection
        saved = self.store.query(
            "SELECT current_setting('memory_limit'), current_setting('threads')")[0]
        # inserts run on one thread anyway; a second one only waits for memory
        con.execute(f"SET memory_limit = '{IMPORT_MEMORY_LIMIT}'")
        con.execute("SET threads = 1")
        try:
            with self.store.transaction():
                result = self._commit(con)
                if self.on_commit is not None:
                    self.on_commit(con, result)
        finally:
            con.execute(f"SET memory_limit = {_sql_text(saved[0])}")
            con.execute(f"SET threads = {int(saved[1])}")
            self.discard()
        return result

    def _staged_relation(self, con: Any) -> None:
        if self._parts:
            con.execute("CREATE OR REPLACE TEMP VIEW staged_raw AS SELECT * FROM "
                        f"read_parquet({_sql_list(self._parts)})")
        else:
            con.register("staged_empty", RECORD_SCHEMA.empty_table())
            con.execute("CREATE OR REPLACE TEMP VIEW staged_raw AS SELECT * FROM staged_empty")

    def _commit(self, con: Any) -> BatchResult:
        """Insert staged rows. Only key columns are ever sorted or joined, so DuckDB's memory
        stays small whatever the size of the raw rows."""
        self._staged_relation(con)
        con.execute("""CREATE OR REPLACE TEMP TABLE excluded (source_file VARCHAR,
                       source_row BIGINT)""")
        con.execute("""CREATE OR REPLACE TEMP TABLE staged_keys AS
            SELECT source_file, source_row, record_id, native_key,
                   row_number() OVER (PARTITION BY record_id
                                      ORDER BY source_file, source_row) AS rank
            FROM staged_raw""")
        if self.disambiguate_keys:
            con.execute("""UPDATE staged_keys SET record_id = record_id || '~' || rank,
                           native_key = native_key || '~' || rank, rank = 1 WHERE rank > 1""")
            con.execute("""CREATE OR REPLACE TEMP TABLE renames AS SELECT source_file,
                source_row, record_id, native_key FROM staged_keys
                WHERE contains(record_id, '~')""")
        else:
            con.execute("""CREATE OR REPLACE TEMP TABLE renames AS SELECT source_file,
                source_row, record_id, native_key FROM staged_keys WHERE false""")
        self._exclude(con, "k.rank > 1", "record.duplicate_key",
                      "json_object('key', k.native_key)")
        self._exclude(con, "k.record_id IN (SELECT record_id FROM records)",
                      "record.already_in_store",
                      "json_object('key', k.native_key, 'dataset', (SELECT r.dataset_id FROM "
                      "records r WHERE r.record_id = k.record_id))")
        source = """FROM staged_raw s
            LEFT JOIN renames n ON n.source_file = s.source_file AND n.source_row = s.source_row
            WHERE NOT EXISTS (SELECT 1 FROM excluded x WHERE x.source_file = s.source_file
                              AND x.source_row = s.source_row)"""
        special = {"record_id": "coalesce(n.record_id, s.record_id)",
                   "native_key": "coalesce(n.native_key, s.native_key)",
                   "dataset_id": str(int(self.dataset_id))}
        if not self.store.scalar("SELECT (SELECT count(*) FROM renames) + "
                                 "(SELECT count(*) FROM excluded)"):
            # the common case: every staged row goes in as it is (no join to pay for)
            source = "FROM staged_raw s WHERE true"
            special.update(record_id="s.record_id", native_key="s.native_key")
        if self.review:
            special["approval_status"] = ("CASE WHEN s.approval_status IN ('draft', "
                                          "'needs_revision') THEN s.approval_status "
                                          "ELSE 'submitted' END")
        columns = [c for c in RECORD_SCHEMA.names if c not in ("extension", *_COUNT_COLUMNS)]
        select = ", ".join(special.get(c, f"s.{c}") for c in columns)
        con.execute(f"INSERT INTO records ({', '.join(columns)}) SELECT {select} {source}")
        self._fields = {name: (int(read or 0), int(accepted or 0)) for name, read, accepted in
                        con.execute(f"""SELECT s.source_file, sum(s.{FIELDS_READ}),
                            sum(s.{FIELDS_ACCEPTED}) {source} GROUP BY 1""").fetchall()}
        if self._record_extensions:
            con.execute(f"""INSERT INTO record_extensions SELECT {special["record_id"]},
                {int(self.dataset_id)}, s.extension {source} AND s.extension IS NOT NULL""")
        self._insert_extension_rows(con)
        self._insert_rejected(con)
        self._insert_issues(con)
        self._count_per_file(con)
        unmapped = self._insert_terms(con)
        self._insert_units(con)
        self._insert_sections(con)
        self._insert_dataset(con)
        for table in ("staged_keys", "renames", "excluded", "ext_keys"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        return BatchResult(self.dataset_id, list(self.files.values()), unmapped, self.notes)

    def _exclude(self, con: Any, where: str, key: str, params_sql: str) -> None:
        """Set aside the staged rows matching ``where`` (over staged_keys ``k``)."""
        from riskatlas.i18n import translate

        rows = con.execute(f"""SELECT k.source_file, k.source_row, k.native_key, {params_sql},
                s.raw FROM staged_keys k JOIN staged_raw s ON s.source_file = k.source_file
                AND s.source_row = k.source_row WHERE {where}""").fetchall()
        for source_file, _row, native_key, params, raw in rows:
            parsed = orjson.loads(params)
            self.rejected.append(Rejected(
                source_file, str(native_key), "native_key", key, parsed,
                translate(key, "en", **parsed), orjson.loads(raw) if raw else None))
        if rows:
            con.executemany("INSERT INTO excluded VALUES (?, ?)", [r[:2] for r in rows])
            con.execute(f"DELETE FROM staged_keys k WHERE {where}")

    def _insert_extension_rows(self, con: Any) -> None:
        """Extension rows of a separate section (DesInventar XML), matched by key only.
        Rows without a card, and repeats of a key after the first, stay as source rows.
        Keys are ranked apart from the rows, so only key columns are ever sorted."""
        if not self._ext_parts:
            return
        # parts are numbered in file order: (filename, row) orders rows as in the file
        parts = _sql_list(self._ext_parts)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE ext_keys AS
            SELECT *, record_id IN (SELECT record_id FROM records
                                    WHERE dataset_id = {int(self.dataset_id)}) AS card
            FROM (SELECT filename, file_row_number, native_key, row_number() OVER (
                          PARTITION BY native_key ORDER BY filename, file_row_number) AS rank,
                         {_sql_text(self.source_key)} || ':' || native_key AS record_id
                  FROM read_parquet({parts}, filename = true, file_row_number = true))""")
        odd = self.store.scalar("SELECT count(*) FROM ext_keys WHERE rank > 1 OR NOT card")
        if not odd:  # every row has its card, once: no join
            con.execute(f"""INSERT INTO record_extensions
                SELECT {_sql_text(self.source_key)} || ':' || native_key, ?, extension
                FROM read_parquet({parts})""", [self.dataset_id])
            return

        def rows(where: str) -> str:
            """Staged rows whose keys match ``where``, in file order (a semi join: the
            hash table holds keys only)."""
            return f"""read_parquet({parts}, filename = true, file_row_number = true) e
                WHERE EXISTS (SELECT 1 FROM ext_keys k WHERE k.filename = e.filename
                              AND k.file_row_number = e.file_row_number AND {where})"""

        con.execute(f"""INSERT INTO record_extensions
            SELECT {_sql_text(self.source_key)} || ':' || native_key, ?, extension
            FROM {rows("k.rank = 1 AND k.card")}""", [self.dataset_id])
        for section, where, key in (
                ("extension_without_card", "NOT k.card", "import.extension_orphans"),
                ("extension_repeated_key", "k.rank > 1", "import.extension_duplicates")):
            con.execute(f"""INSERT INTO source_tables SELECT ?, NULL, '{section}',
                row_number() OVER (), extension FROM {rows(where)}""", [self.dataset_id])
            count = self.store.scalar("SELECT count(*) FROM source_tables WHERE dataset_id = ? "
                                      "AND section = ?", [self.dataset_id, section])
            if count:
                self.note(key, count=count)

    def _insert_rejected(self, con: Any) -> None:
        rows = [(self.dataset_id, r.source_file, r.record_ref, r.field, r.reason_key,
                 orjson.dumps(r.reason_params, default=str).decode(), r.reason,
                 orjson.dumps(r.raw, default=str).decode() if r.raw is not None else None)
                for r in self.rejected]
        _insert_rows(con, "quarantine", QUARANTINE_SCHEMA, rows)

    def _stage_issues(self) -> None:
        """Issues go to a Parquet part every ``_FLUSH_ROWS`` (a file whose every row has a bad
        value must not hold them all in memory), with their messages in both languages."""
        if not self.issues:
            return
        from riskatlas.i18n import translate

        rows = [(i.source_file, i.source_row, i.record_ref, i.field, i.source_field,
                 i.raw_value, i.rule, orjson.dumps(i.params, default=str).decode(), i.action,
                 translate(i.rule, "en", **i.params), translate(i.rule, "zh-TW", **i.params))
                for i in self.issues]
        table = arrow_rows.table(rows, ISSUE_SCHEMA)
        path = self.staging / f"issues-{len(self._issue_parts):06d}.parquet"
        pq.write_table(table, path)
        self._issue_parts.append(path)
        self.issues = []

    def _insert_issues(self, con: Any) -> None:
        """Issues of the records that went in (a record set aside takes its issues along:
        its raw row is in quarantine), under their final record ids."""
        self._stage_issues()
        if not self._issue_parts:
            return
        columns = ", ".join("i." + n for n in ISSUE_SCHEMA.names)
        con.execute(f"""INSERT INTO quality_issues SELECT {int(self.dataset_id)}, r.record_id,
            {columns} FROM read_parquet({_sql_list(self._issue_parts)}) i
            JOIN records r ON r.dataset_id = {int(self.dataset_id)}
             AND r.source_file = i.source_file AND r.source_row = i.source_row""")

    def _count_per_file(self, con: Any) -> None:
        imported = dict(con.execute(
            "SELECT source_file, count(*) FROM records WHERE dataset_id = ? GROUP BY 1",
            [self.dataset_id]).fetchall())
        flagged = dict(con.execute(
            "SELECT source_file, count(*) FROM quality_issues WHERE dataset_id = ? GROUP BY 1",
            [self.dataset_id]).fetchall())
        quarantined = Counter(r.source_file for r in self.rejected)
        for stats in self.files.values():
            stats.imported = imported.get(stats.name, 0)
            stats.flagged = flagged.get(stats.name, 0)
            stats.quarantined = quarantined.get(stats.name, 0)
            stats.fields_read, stats.fields_accepted = self._fields.get(stats.name, (0, 0))
            if stats.read != stats.imported + stats.quarantined:
                raise StoreError("import.unreconciled", path=stats.name, read=stats.read,
                                 imported=stats.imported, quarantined=stats.quarantined)
            if stats.fields_read != stats.fields_accepted + stats.flagged:
                raise StoreError("import.fields_unreconciled", path=stats.name,
                                 read=stats.fields_read, accepted=stats.fields_accepted,
                                 flagged=stats.flagged)

    def _insert_terms(self, con: Any) -> list[str]:
        return write_terms(con, self.dataset_id, self.terms, self.store.crosswalk)

    def _insert_units(self, con: Any) -> None:
        rows = []
        for u in self.units.values():
            xmin, ymin, xmax, ymax = u.bbox or (None, None, None, None)
            rows.append((u.country_iso3, u.level, u.code, u.name, u.name_en, u.parent_code,
                         u.centroid_lon, u.centroid_lat, xmin, ymin, xmax, ymax, u.geometry,
                         self.dataset_id))
        if rows:
            con.register("units_new", arrow_rows.table(rows, UNIT_SCHEMA))
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
        _insert_rows(con, "source_tables", SECTION_SCHEMA,
                     [(self.dataset_id, *row) for row in self.sections])

    def _insert_dataset(self, con: Any) -> None:
        files = list(self.files.values())
        insert_dataset(con, dataset_id=self.dataset_id, source_key=self.source_key,
                       name=self.name, format=self.format,
                       importer_version=self.store.importer_version,
                       crosswalk_version=self.crosswalk_version,
                       country_iso3=self.country_iso3
                       or _records_country(con, self.dataset_id),
                       records_read=sum(f.read for f in files),
                       records_imported=sum(f.imported for f in files),
                       records_quarantined=sum(f.quarantined for f in files),
                       notes=self.notes, synthetic=self.synthetic,
                       fields_flagged=sum(f.flagged for f in files))
        con.executemany("""INSERT INTO dataset_files (dataset_id, file_name, path, sha256,
            size, format, records_read, records_imported, records_quarantined, fields_flagged,
            fields_read, fields_accepted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", [
            (self.dataset_id, f.name, f.path, f.sha256, f.size, f.format, f.read, f.imported,
             f.quarantined, f.flagged, f.fields_read, f.fields_accepted) for f in files])


def _records_country(con: Any, dataset_id: int) -> str | None:
    """The one country of a dataset's records (None for none or several)."""
    found = con.execute("SELECT DISTINCT country_iso3 FROM records WHERE dataset_id = ? "
                        "AND country_iso3 IS NOT NULL LIMIT 2", [dataset_id]).fetchall()
    return str(found[0][0]) if len(found) == 1 else None


def insert_dataset(con: Any, *, dataset_id: int, source_key: str, name: str, format: str,
                   importer_version: str, crosswalk_version: str, country_iso3: str | None,
                   records_read: int = 0, records_imported: int = 0,
                   records_quarantined: int = 0, notes: list[dict[str, Any]] | None = None,
                   synthetic: bool = False, fields_flagged: int = 0) -> None:
    """One row of ``datasets`` (its provenance), by column name, imported now (the
    caller's transaction)."""
    con.execute("""INSERT INTO datasets (dataset_id, source_key, name, format,
        importer_version, crosswalk_version, country_iso3, imported_at, records_read,
        records_imported, records_quarantined, notes, synthetic, fields_flagged)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", [
        dataset_id, source_key, name, format, importer_version, crosswalk_version,
        country_iso3, dt.datetime.now(dt.UTC).replace(tzinfo=None), records_read,
        records_imported, records_quarantined, orjson.dumps(notes or []).decode(),
        synthetic, fields_flagged])


def write_terms(con: Any, dataset_id: int, catalogue: Mapping[str, HazardTerm],
                crosswalk: Crosswalk) -> list[str]:
    """A dataset's ``hazard_terms`` (the caller's transaction): every term its records use,
    with their count, and every term of its source's ``catalogue`` (mapped by
    ``crosswalk``), replacing any it had. Returns the unmapped terms."""
    used = con.execute("""SELECT hazard_term, any_value(hazard_term_en), any_value(hips_code),
            any_value(hazard_group), count(*) FROM records WHERE dataset_id = ?
            GROUP BY 1""", [dataset_id]).fetchall()
    seen = {}
    for term, term_en, code, group, n in used:
        info = catalogue.get(term)
        seen[term] = (term, term_en or (info.term_en if info else None),
                      info.description if info else None, code, group, n, info is not None)
    for term, info in catalogue.items():
        if term not in seen:
            match = crosswalk.match(term, info.term_en)
            seen[term] = (term, info.term_en, info.description,
                          match.hips_code if match else None,
                          match.group if match else None, 0, True)
    con.execute("DELETE FROM hazard_terms WHERE dataset_id = ?", [dataset_id])
    if seen:  # DuckDB refuses an empty executemany (a file whose rows were all set aside)
        con.executemany("""INSERT INTO hazard_terms (dataset_id, term, term_en, description,
            hips_code, hazard_group, records, in_catalogue) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                        [(dataset_id, *row) for row in seen.values()])
    return sorted(t for t, row in seen.items() if row[4] is None)


def refresh_dataset(con: Any, dataset_id: int, crosswalk: Crosswalk) -> None:
    """A dataset written card by card (the web's): its record counts and hazard terms
    recomputed as an import's commit records them (the caller's transaction)."""
    n = int(con.execute("SELECT count(*) FROM records WHERE dataset_id = ?",
                        [dataset_id]).fetchone()[0])
    con.execute("UPDATE datasets SET records_read = ?, records_imported = ? "
                "WHERE dataset_id = ?", [n, n, dataset_id])
    write_terms(con, dataset_id, {}, crosswalk)


def _sql_list(paths: list[Path]) -> str:
    """A SQL list literal of our own staging paths (never user text)."""
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _insert_rows(con: Any, table: str, schema: pa.Schema, rows: list[tuple[Any, ...]]) -> None:
    """Bulk insert of Python rows through Arrow (executemany is slow in DuckDB)."""
    if not rows:
        return
    con.register("rows_new", arrow_rows.table(rows, schema))
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(schema.names)}) SELECT * FROM rows_new")
    finally:
        con.unregister("rows_new")
