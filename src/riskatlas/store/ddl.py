"""Tables of the store. The records table is generated from the canonical schema."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any

from riskatlas.model.schema import record_columns

if TYPE_CHECKING:
    import duckdb

SCHEMA_VERSION = 8  # 2: accounts, web workflow and audit log (web/); 3: population.gdp_usd;
# 4: quality_issues, fields_flagged; 5: dataset_files.fields_read, fields_accepted;
# 6: sessions (web sign-ins); 7: links, link_members, place_matches (issue 17);
# 8: user_countries (country accounts, issue 16)


# the verbatim source rows are large and rarely read: compressed hard, column by column, so
# that the analysis columns keep DuckDB's fast default encodings
VERBATIM = "USING COMPRESSION zstd"


def _records_table() -> str:
    cols = ",\n  ".join(f"{name} {sql}" + (f" {VERBATIM}" if name == "raw" else "")
                         for name, sql in record_columns() if name != "extension")
    return f"CREATE TABLE IF NOT EXISTS records (\n  {cols},\n  PRIMARY KEY (record_id)\n)"


STATEMENTS = (
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE SEQUENCE IF NOT EXISTS dataset_seq START 1",
    """CREATE TABLE IF NOT EXISTS datasets (
        dataset_id BIGINT PRIMARY KEY, source_key VARCHAR, name VARCHAR, format VARCHAR,
        importer_version VARCHAR, crosswalk_version VARCHAR, country_iso3 VARCHAR,
        imported_at TIMESTAMP, records_read BIGINT, records_imported BIGINT,
        records_quarantined BIGINT, notes JSON, synthetic BOOLEAN, fields_flagged BIGINT)""",
    """CREATE TABLE IF NOT EXISTS dataset_files (
        dataset_id BIGINT, file_name VARCHAR, path VARCHAR, sha256 VARCHAR, size BIGINT,
        format VARCHAR, records_read BIGINT, records_imported BIGINT,
        records_quarantined BIGINT, fields_flagged BIGINT, fields_read BIGINT,
        fields_accepted BIGINT)""",
    _records_table(),
    f"""CREATE TABLE IF NOT EXISTS record_extensions (
        record_id VARCHAR PRIMARY KEY, dataset_id BIGINT, extension VARCHAR {VERBATIM})""",
    """CREATE OR REPLACE VIEW records_full AS SELECT r.*, e.extension FROM records r
        LEFT JOIN record_extensions e ON e.record_id = r.record_id""",
    f"""CREATE TABLE IF NOT EXISTS quarantine (
        dataset_id BIGINT, source_file VARCHAR, record_ref VARCHAR, field VARCHAR,
        reason_key VARCHAR, reason_params JSON, reason VARCHAR, raw JSON {VERBATIM})""",
    # one row per record and field whose value was not taken as read (sources/convert.py)
    """CREATE TABLE IF NOT EXISTS quality_issues (
        dataset_id BIGINT, record_id VARCHAR, source_file VARCHAR, source_row BIGINT,
        record_ref VARCHAR, field VARCHAR, source_field VARCHAR, raw_value VARCHAR,
        rule VARCHAR, params JSON, action VARCHAR, message_en VARCHAR, message_zh VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS admin_units (
        country_iso3 VARCHAR, level INTEGER, code VARCHAR, name VARCHAR, name_en VARCHAR,
        parent_code VARCHAR, centroid_lon DOUBLE, centroid_lat DOUBLE,
        xmin DOUBLE, ymin DOUBLE, xmax DOUBLE, ymax DOUBLE, geometry JSON,
        dataset_id BIGINT, PRIMARY KEY (country_iso3, level, code))""",
    """CREATE TABLE IF NOT EXISTS admin_levels (
        dataset_id BIGINT, level INTEGER, name VARCHAR, name_en VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS hazard_terms (
        dataset_id BIGINT, term VARCHAR, term_en VARCHAR, description VARCHAR,
        hips_code VARCHAR, hazard_group VARCHAR, records BIGINT, in_catalogue BOOLEAN)""",
    f"""CREATE TABLE IF NOT EXISTS source_tables (
        dataset_id BIGINT, source_file VARCHAR, section VARCHAR, row_number BIGINT,
        row JSON {VERBATIM})""",
    """CREATE TABLE IF NOT EXISTS population (
        country_iso3 VARCHAR, level INTEGER, admin_code VARCHAR, year INTEGER,
        population DOUBLE, households DOUBLE, source VARCHAR, gdp_usd DOUBLE,
        PRIMARY KEY (country_iso3, level, admin_code, year))""",
    # accounts and the card workflow (riskatlas.services.accounts, riskatlas.services.cards)
    """CREATE TABLE IF NOT EXISTS users (
        name VARCHAR PRIMARY KEY, role VARCHAR NOT NULL, password_hash VARCHAR,
        disabled BOOLEAN NOT NULL DEFAULT false, created_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS api_tokens (
        token_hash VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL, created_at TIMESTAMP,
        last_used TIMESTAMP)""",
    # a web sign-in: the SHA-256 of its opaque id (the cookie holds the id), its CSRF token
    """CREATE TABLE IF NOT EXISTS sessions (
        id_hash VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL, csrf VARCHAR NOT NULL,
        created_at TIMESTAMP, expires_at TIMESTAMP NOT NULL, last_seen TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS card_authors (
        record_id VARCHAR PRIMARY KEY, created_by VARCHAR NOT NULL, created_at TIMESTAMP)""",
    # the countries a user acts in (riskatlas.services.accounts: none granted on the whole
    # store, everyone acts everywhere; once any is, only granted countries count)
    """CREATE TABLE IF NOT EXISTS user_countries (
        user_name VARCHAR NOT NULL, country_iso3 VARCHAR NOT NULL, granted_by VARCHAR,
        granted_at TIMESTAMP, PRIMARY KEY (user_name, country_iso3))""",
    "CREATE SEQUENCE IF NOT EXISTS audit_seq START 1",
    """CREATE TABLE IF NOT EXISTS audit_log (
        id BIGINT PRIMARY KEY, "at" TIMESTAMP NOT NULL, "user" VARCHAR, action VARCHAR NOT NULL,
        record_id VARCHAR, before JSON, after JSON, reason VARCHAR)""",
    # links between the events of two datasets (riskatlas.services.links): the linker's
    # features (linking.linker.PAIR_COLUMNS), its verdict (proposed_as: link / possible),
    # the review status (proposed, possible, accepted, rejected) and the decision
    "CREATE SEQUENCE IF NOT EXISTS link_seq START 1",
    """CREATE TABLE IF NOT EXISTS links (
        link_id BIGINT PRIMARY KEY, from_dataset BIGINT NOT NULL, to_dataset BIGINT NOT NULL,
        from_event VARCHAR, to_event VARCHAR, country_iso3 VARCHAR, from_group VARCHAR,
        to_group VARCHAR, hazard DOUBLE, hazard_basis VARCHAR, "date" DOUBLE,
        gap_days BIGINT, window_days BIGINT, place DOUBLE, place_basis VARCHAR,
        place_level INTEGER, shared_units BIGINT, of_units BIGINT, glide VARCHAR,
        glide_from VARCHAR, glide_to VARCHAR, impacts DOUBLE, deaths_from DOUBLE,
        deaths_to DOUBLE, score DOUBLE, proposed_as VARCHAR, status VARCHAR NOT NULL,
        methods_version VARCHAR, methods_digest VARCHAR, created_at TIMESTAMP,
        decided_by VARCHAR, decided_at TIMESTAMP, reason VARCHAR)""",
    # the record ids of a link's events (side: from / to): event ids are formed from data,
    # so a link proposed again is found again by its members and keeps its decision
    """CREATE TABLE IF NOT EXISTS link_members (
        link_id BIGINT NOT NULL, side VARCHAR NOT NULL, record_id VARCHAR NOT NULL)""",
    # EM-DAT places matched to admin units (linking.places.MATCH_COLUMNS); a person
    # settles a review-list row (settled_by, settled_code: a unit's code, or none)
    "CREATE SEQUENCE IF NOT EXISTS place_seq START 1",
    """CREATE TABLE IF NOT EXISTS place_matches (
        place_id BIGINT PRIMARY KEY, dataset_id BIGINT, record_id VARCHAR,
        country_iso3 VARCHAR, origin VARCHAR, role VARCHAR, text VARCHAR, context VARCHAR,
        source_level VARCHAR, source_code VARCHAR, level INTEGER, code VARCHAR,
        unit_name VARCHAR, method VARCHAR, score DOUBLE, candidates VARCHAR,
        settled_by VARCHAR, settled_at TIMESTAMP, settled_code VARCHAR, reason VARCHAR)""",
)


def schema_current(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the store is at this schema version: opening it then writes nothing (two
    writers of one process, e.g. the web app's, would otherwise conflict on the
    catalogue)."""
    return _up_to_date(con)


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create missing tables and record the schema version, in the caller's transaction
    (one commit for all: a new store 4 times quicker; :meth:`Store.transaction`)."""
    migrate(con)


# The versions of the schema, in order: (version, what it brought). Versions up to 8 only
# add tables and columns, which STATEMENTS and the ALTERs of _create add to any older store
# (CREATE … IF NOT EXISTS); a later change that cannot be said so (a rename, moved data)
# puts its statements in STEPS[version], run in order before STATEMENTS on stores below it.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, "datasets, records, quarantine, admin units, hazard terms, source tables, population"),
    (2, "accounts, web workflow and audit log"), (3, "population.gdp_usd"),
    (4, "quality_issues, fields_flagged"), (5, "dataset_files.fields_read, fields_accepted"),
    (6, "sessions"), (7, "links, link_members, place_matches"), (8, "user_countries"),
)
STEPS: dict[int, tuple[str, ...]] = {}
MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"""


def stored_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version of a store: its last migration (0 for an empty database; the
    meta row for a store made before migrations were recorded)."""
    tables = {str(r[0]) for r in con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema()").fetchall()}
    if "schema_migrations" in tables:
        row = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
        if row and row[0] is not None:
            return int(row[0])
    if "meta" in tables:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row and str(row[0]).isdigit():
            return int(row[0])
    return 0


def applied_migrations(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str, Any]]:
    """(version, name, applied at) of each migration recorded in the store."""
    return [(int(v), str(n), at) for v, n, at in con.execute(
        "SELECT version, name, applied_at FROM schema_migrations ORDER BY version").fetchall()]


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Bring the store to SCHEMA_VERSION in the caller's transaction: the steps of the
    versions it lacks, then every table and column of this version; each version applied
    is recorded in ``schema_migrations``. Returns those versions."""
    current = stored_version(con)
    if current > SCHEMA_VERSION:
        from riskatlas.errors import StoreError

        raise StoreError("store.newer_schema", found=current, supported=SCHEMA_VERSION)
    for version, _name in MIGRATIONS:
        if current and version > current:
            for statement in STEPS.get(version, ()):
                con.execute(statement)
    _create(con)
    con.execute(MIGRATIONS_TABLE)
    done = {int(r[0]) for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    new = [(v, name, None if v <= current else now) for v, name in MIGRATIONS
           if v not in done]  # those of a store made before they were recorded: no date
    for row in new:
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", list(row))
    return [v for v, _n, at in new if at is not None]


def _create(con: duckdb.DuckDBPyConnection) -> None:
    for statement in STATEMENTS:
        con.execute(statement)
    # stores made before GDP series were supported
    con.execute("ALTER TABLE population ADD COLUMN IF NOT EXISTS gdp_usd DOUBLE")
    # stores made before field-level data quality
    for table in ("datasets", "dataset_files"):
        con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS fields_flagged BIGINT")
    for column in ("fields_read", "fields_accepted"):  # stores made before fields reconciled
        con.execute(f"ALTER TABLE dataset_files ADD COLUMN IF NOT EXISTS {column} BIGINT")
    con.execute("INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) "
                "DO UPDATE SET value = excluded.value", [str(SCHEMA_VERSION)])
    # the key that signs the web app's session cookies (riskatlas.web.auth), made once
    con.execute("INSERT INTO meta VALUES ('web_session_key', ?) ON CONFLICT DO NOTHING",
                [secrets.token_hex(32)])


def _up_to_date(con: duckdb.DuckDBPyConnection) -> bool:
    import duckdb

    try:
        rows = con.execute("SELECT key, value FROM meta WHERE key IN "
                           "('schema_version', 'web_session_key')").fetchall()
    except duckdb.CatalogException:  # a new store: no meta table yet
        return False
    except Exception as exc:  # PostgreSQL: undefined table (any other error goes on)
        if type(exc).__name__ != "UndefinedTable":
            raise
        return False
    found = dict(rows)
    return found.get("schema_version") == str(SCHEMA_VERSION) and "web_session_key" in found
