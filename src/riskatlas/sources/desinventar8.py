"""DesInventar 8 ("online") databases: a region's SQLite ``desinventar.db``.

Accepted inputs: the ``desinventar.db`` file itself, a folder holding it (or a DesInventar 8
tree with ``database/<RegionId>/desinventar.db``), or an archive of such a tree (``.tar.gz``,
``.tgz``, ``.tar``, ``.zip``). From an archive the database is copied into the batch
staging folder and the shapefiles are read in memory; nothing is written elsewhere. The
core/base databases under ``main/`` are not read.

How the data card maps to canonical records:

* ``DisasterId`` (a UUID) is the native key and the uuid; ``DisasterSerial`` the serial.
* ``DisasterBeginTime`` is ``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY``; ``00`` parts are unknown.
* ``GeographyId`` is hierarchical, 5 characters a level (``00001`` → ``0000100010``).
  Units and the records' ``levelN_code`` use ``GeographyCode`` (the code users see, also the
  code of the shapefiles); ``GeographyId`` is used only where a code is blank or repeated in
  its level. Names come from ``Geography`` in the database language.
* ``hazard_term`` is the ``EventName`` in the database language (``Inundación``) and
  ``hazard_term_en`` the predefined ``EventId`` (``FLOOD``); a custom event's id is a UUID
  and gives no English term. ``cause`` is the ``CauseName``, ``cause_description`` the
  ``CauseNotes``.
* People and house effects: ``EffectPeopleDead`` holds the number entered, ``-1`` for "there
  were some" or ``0``; ``EffectPeopleDeadQ`` the number (negative values set to 0). The
  value is the number; ``-1`` with no number is *reported but unknown*; other negative
  values are not reported. The other effects are values, ``-1`` being reported but unknown.
  The row is renamed to DesInventar fields and read by the shared card rules
  (``desinventar_fields.card_values``): directly affected = victims (``Harmed``) + affected.
* ``DisasterSiteNotes`` (the card's "site") is the place; ``EventNotes`` and ``EffectNotes``
  are joined into ``comments``. Every column stays in ``raw``.
* ``RecordStatus``: PUBLISHED → published, READY → submitted, DRAFT → draft, anything else
  → draft (with a notice). DELETED (and TRASH) cards are counted and set aside with the
  reason "deleted at the source", never dropped.
* The ``EEData`` row of a card is its extension; every other table (Event, Cause, Geography,
  GeoLevel, GeoCarto, Info, EEField, EEGroup, DatabaseLog, Sync ...) is kept verbatim.
* Boundaries: the shapefiles named in ``GeoCarto`` (``GeoLevelLayerFile``, ``...Code``,
  ``...Name``), parts with the same code dissolved into one geometry.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import lzma
import re
import shutil
import sqlite3
import tarfile
import tempfile
import zipfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

import orjson
from lxml import etree
from shapely import GEOSException, make_valid
from shapely.geometry import mapping, shape
from shapely.ops import unary_union

from riskatlas.errors import RecordError, RiskAtlasError, SourceFormatError
from riskatlas.model.countries import is_iso3
from riskatlas.sources import limits
from riskatlas.sources.boundaries import (
    Parts,
    admin_level,
    check_layer_size,
    member_stem,
    read_layer,
    shapefile_parts,
)
from riskatlas.sources.convert import RecordBuilder, text, to_number
from riskatlas.sources.desinventar_fields import CANONICAL_TO_CARD, CARD_FIELDS, HAY_FLAGS
from riskatlas.sources.desinventar_fields import card_values as shared_card_values
from riskatlas.sources.registry import Reader, ReadOptions
from riskatlas.store.batch import AdminUnit, HazardTerm

log = logging.getLogger(__name__)
FORMAT = "desinventar8"
DB_NAME = "desinventar.db"
INFO_NAME = "info.xml"
CORE_FOLDER = "main"  # core.db, base.db and an empty template desinventar.db
SQLITE_MAGIC = b"SQLite format 3\x00"
GZIP_MAGIC = b"\x1f\x8b"
SNIFF_MEMBERS = 64  # tar members looked at when sniffing
SNIFF_TAR_BYTES = 256 * 1024 * 1024  # ... as long as they start within this many bytes
LAYER_SUFFIXES = (".shp", ".shx", ".dbf")  # the map layer parts taken out of an archive
LEVEL_WIDTH = 5  # characters of GeographyId per level
RECORD_TABLES = ("Disaster", "EEData")
REQUIRED_COLUMNS = frozenset({"DisasterId", "DisasterBeginTime", "EffectPeopleDeadQ"})
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_BEGIN = re.compile(r"^\s*(\d{1,4})(?:[-/](\d{1,2}))?(?:[-/](\d{1,2}))?(?!\d)")
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

# DI8 column → DesInventar field (desinventar_fields.CARD_FIELDS), copied as they are
DIRECT_FIELDS: dict[str, str] = {
    "DisasterId": "clave",
    "DisasterSerial": "serial",
    "DisasterSiteNotes": "lugar",
    "DisasterLatitude": "latitude",
    "DisasterLongitude": "longitude",
    "DisasterSource": "fuentes",
    "RecordAuthor": "fechapor",
    "RecordCreation": "fechafec",
    "EventDuration": "duracion",
    "EventMagnitude": "magnitud2",
    "CauseNotes": "descausa",
    "EffectOtherLosses": "otros",
    "SectorTransport": "transporte",
    "SectorCommunications": "comunicaciones",
    "SectorRelief": "socorro",
    "SectorAgricultural": "agropecuario",
    "SectorWaterSupply": "acueducto",
    "SectorSewerage": "alcantarillado",
    "SectorEducation": "educacion",
    "SectorPower": "energia",
    "SectorIndustry": "industrias",
    "SectorHealth": "salud",
    "SectorOther": "hay_otros",
}
# effects entered as a number or -1 ("there were some"), with the number in <column>Q:
# the DesInventar field of the number (its hay_* flag is set for -1)
QUANTITY_EFFECTS: dict[str, str] = {
    "EffectPeopleDead": "muertos",
    "EffectPeopleMissing": "desaparece",
    "EffectPeopleInjured": "heridos",
    "EffectPeopleHarmed": "damnificados",
    "EffectPeopleAffected": "afectados",
    "EffectPeopleEvacuated": "evacuados",
    "EffectPeopleRelocated": "reubicados",
    "EffectHousesDestroyed": "vivdest",
    "EffectHousesAffected": "vivafec",
}
# effects that are the value itself; -1 is "there were some" (DesInventar has no flag)
VALUE_EFFECTS: dict[str, str] = {
    "EffectLossesValueLocal": "valorloc",
    "EffectLossesValueUSD": "valorus",
    "EffectRoads": "kmvias",
    "EffectFarmingAndForest": "nhectareas",
    "EffectLiveStock": "cabezas",
    "EffectEducationCenters": "nescuelas",
    "EffectMedicalCenters": "nhospitales",
}
_HAY_FLAG = {CANONICAL_TO_CARD[canon]: flag for flag, canon in HAY_FLAGS.items()}
NOTE_COLUMNS = ("EventNotes", "EffectNotes")  # joined into comments
STATUSES: dict[str, str] = {"PUBLISHED": "published", "READY": "submitted", "DRAFT": "draft"}
DELETED_STATUSES = frozenset({"DELETED", "TRASH"})
UNKNOWN_STATUS = "draft"

# canonical field → DI8 column, for messages
FIELD_NAMES: dict[str, str] = {
    **{CARD_FIELDS[name]: col for col, name in DIRECT_FIELDS.items()},
    **{CARD_FIELDS[name]: col + "Q" for col, name in QUANTITY_EFFECTS.items()},
    **{CARD_FIELDS[name]: col for col, name in VALUE_EFFECTS.items()},
    "start_year": "DisasterBeginTime", "start_month": "DisasterBeginTime",
    "start_day": "DisasterBeginTime", "hazard_term": "EventId", "cause": "CauseId",
    "comments": "EffectNotes", "approval_status": "RecordStatus",
    "directly_affected": "EffectPeopleHarmedQ+EffectPeopleAffectedQ",
}


# -- locating the database ---------------------------------------------------------------
@dataclass
class Database:
    """A DesInventar 8 database on disk and the files beside it."""

    db: Path
    name: str  # the input file name, for messages and provenance
    sibling: Callable[[str], bytes | None]  # bytes of a file beside the database, by name
    sibling_names: list[str] = field(default_factory=list)

    def shapefile(self, stem: str) -> Parts | None:
        """{ext: read} of the shapefile ``stem`` beside the database (case-insensitive)."""
        files = ((n, partial(self._sibling_bytes, n)) for n in self.sibling_names)
        return shapefile_parts(files, {stem.lower()}).get(stem.lower())

    def _sibling_bytes(self, name: str) -> bytes:
        return self.sibling(name) or b""


def _is_archive(path: Path, head: bytes) -> bool:
    return head.startswith((GZIP_MAGIC, b"PK\x03\x04")) or head[257:262] == b"ustar"


def _pick_db(paths: list[str], where: str) -> str:
    """The region database among the ``desinventar.db`` paths of a tree."""
    regions = [p for p in paths if PurePosixPath(p).parent.name.lower() != CORE_FOLDER]
    chosen = regions or paths
    if not chosen:
        raise SourceFormatError("di8.no_database", path=where)
    if len(chosen) > 1:
        raise SourceFormatError("di8.several_databases", path=where,
                                databases=", ".join(sorted(chosen)))
    return chosen[0]


def _db_in_folder(folder: Path) -> Path:
    direct = folder / DB_NAME
    if direct.is_file():
        return direct
    found = [p.relative_to(folder).as_posix() for p in folder.glob(f"*/*/{DB_NAME}")]
    found += [p.relative_to(folder).as_posix() for p in folder.glob(f"*/{DB_NAME}")]
    return folder / _pick_db(found, str(folder))


def _folder_database(db: Path, name: str, too_big: Mapping[str, int] | None = None
                     ) -> Database:
    """The database ``db`` and the files beside it; ``too_big``: map layer parts left in
    the archive for their size (reading them raises ``LayerTooBig``)."""
    folder = db.parent
    too_big = too_big or {}

    def sibling(file_name: str) -> bytes | None:  # only map layers are read beside it
        path = folder / file_name
        if file_name in too_big:
            check_layer_size(too_big[file_name])
        if not path.is_file():
            return None
        check_layer_size(path.stat().st_size)
        return path.read_bytes()

    names = [p.name for p in folder.iterdir() if p.is_file()]
    return Database(db, name, sibling, [*names, *too_big])


_DECOMPRESSORS: tuple[tuple[bytes, Callable[[IO[bytes]], Any]], ...] = (
    (GZIP_MAGIC, lambda raw: gzip.GzipFile(fileobj=raw)),
    (b"BZh", lambda raw: bz2.BZ2File(raw)),
    (b"\xfd7zXZ\x00", lambda raw: lzma.LZMAFile(raw)),  # noqa: SIM115 - closed in close()
)


class _Archive:
    """Uniform access to the members of a tar (any compression) or zip archive. Everything
    read (or skipped over, which decompresses too) counts against the archive's limits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        self.tar: tarfile.TarFile | None = None
        self._streams: list[IO[bytes]] = []
        self.budget = limits.Budget(path)
        try:
            if zipfile.is_zipfile(path):
                limits.check_zip(path)
                self.zip = zipfile.ZipFile(path)
            else:
                self.tar = tarfile.open(  # noqa: SIM115 - closed in close()
                    fileobj=cast(IO[bytes], self._tar_stream()), mode="r:")
        except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, lzma.LZMAError) as exc:
            self.close()
            raise SourceFormatError("di8.bad_archive", path=path.name, reason=str(exc)) from exc
        except limits.LimitError:
            self.close()
            raise

    def _tar_stream(self) -> limits.LimitedReader:
        """The decompressed tar, guarded: a .tar.gz is held to the ratio as a whole."""
        raw = self.path.open("rb")
        self._streams.append(raw)
        head = raw.read(6)
        raw.seek(0)
        for magic, opener in _DECOMPRESSORS:
            if head.startswith(magic):
                stream = opener(raw)
                self._streams.append(stream)
                self.budget.packed = self.path.stat().st_size
                return limits.LimitedReader(stream, self.budget)
        return limits.LimitedReader(raw, self.budget)

    def close(self) -> None:
        for archive in (self.zip, self.tar):
            if archive is not None:
                archive.close()
        for stream in reversed(self._streams):
            stream.close()

    def names(self) -> list[str]:
        """Paths of the regular files of the archive."""
        try:
            if self.zip is not None:
                return [i.filename for i in self.zip.infolist() if not i.is_dir()]
            assert self.tar is not None
            names = []
            for count, member in enumerate(self.tar, start=1):
                if count > limits.MAX_MEMBERS:
                    raise limits.fail("limit.members", self.path, count=f"> {count - 1:,}",
                                      limit=limits.count_text(limits.MAX_MEMBERS))
                if member.isfile():
                    names.append(member.name)
            return names
        except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, zlib.error,
                lzma.LZMAError) as exc:
            raise SourceFormatError("di8.bad_archive", path=self.path.name,
                                    reason=str(exc)) from exc

    def size(self, member: str) -> int:
        if self.zip is not None:
            return self.zip.getinfo(member).file_size
        assert self.tar is not None
        return int(self.tar.getmember(member).size)

    def _fail(self, exc: BaseException) -> SourceFormatError:
        return SourceFormatError("di8.bad_archive", path=self.path.name, reason=str(exc))

    def open(self, member: str) -> IO[bytes]:
        """A stream of one member."""
        try:
            if self.zip is not None:
                return cast(IO[bytes], limits.open_member(self.zip, self.zip.getinfo(member),
                                                          self.budget))
            assert self.tar is not None
            stream = self.tar.extractfile(member)
        except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
            raise self._fail(exc) from exc
        if stream is None:
            raise self._fail(ValueError(f"{member} is not a file"))
        return stream

    def copy(self, member: str, target: Path) -> None:
        with self.open(member) as stream, target.open("wb") as out:
            try:
                shutil.copyfileobj(stream, out, 1 << 20)
            except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError,
                    lzma.LZMAError) as exc:
                raise self._fail(exc) from exc

    def read(self, member: str) -> bytes:
        with self.open(member) as stream:
            try:
                return stream.read()
            except (tarfile.TarError, zipfile.BadZipFile, zlib.error, OSError, EOFError,
                    lzma.LZMAError) as exc:
                raise self._fail(exc) from exc

    def extract(self, members: list[str], folder: Path) -> dict[str, int]:
        """Copy members (by their file name) into ``folder`` in one pass in archive order
        (a compressed tar is decompressed once more, not once a member). The first is the
        database; map layer parts bigger than the limit are left out: {name: size}."""
        wanted = set(members)
        infos: list[Any] = (self.zip.infolist() if self.zip is not None
                            else self.tar.getmembers())  # type: ignore[union-attr]
        too_big = {}
        for info in infos:
            name = info.filename if self.zip is not None else info.name
            size = info.file_size if self.zip is not None else info.size
            if name not in wanted:
                continue
            if name != members[0] and size > limits.MAX_LAYER_BYTES:
                too_big[PurePosixPath(name).name] = size
                continue
            self.copy(name, folder / PurePosixPath(name).name)
        return too_big


@contextmanager
def open_database(path: Path, workdir: Path) -> Iterator[Database]:
    """The database of an input; archives are extracted into ``workdir``."""
    if path.is_dir():
        yield _folder_database(_db_in_folder(path), path.name)
        return
    with path.open("rb") as fh:
        head = fh.read(512)
    if head.startswith(SQLITE_MAGIC) or not _is_archive(path, head):
        yield _folder_database(path, path.name)
        return
    archive = _Archive(path)
    try:
        names = archive.names()
        member = _pick_db([n for n in names if PurePosixPath(n).name.lower() == DB_NAME],
                          path.name)
        folder = PurePosixPath(member).parent
        layers = [n for n in names if PurePosixPath(n).parent == folder
                  and PurePosixPath(n).suffix.lower() in LAYER_SUFFIXES]
        target = workdir / "di8"
        target.mkdir(exist_ok=True)
        too_big = archive.extract([member, *layers], target)
    finally:
        archive.close()
    yield _folder_database(target / PurePosixPath(member).name, path.name, too_big)


def connect(db: Path) -> sqlite3.Connection:
    """A read-only connection that never writes beside the file (no journal, no lock)."""
    uri = db.resolve().as_uri() + "?mode=ro&immutable=1"
    try:
        con = sqlite3.connect(uri, uri=True)
        # a longer value raises SQLITE_TOOBIG when read, instead of being loaded
        con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limits.MAX_VALUE_CHARS)
        con.row_factory = sqlite3.Row
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise SourceFormatError("di8.bad_database", path=db.name, reason=str(exc)) from exc
    return con


def _has_disaster_table(con: sqlite3.Connection) -> bool:
    columns = {r[1] for r in con.execute("PRAGMA table_info('Disaster')")}
    return REQUIRED_COLUMNS.issubset(columns)


# -- sniffing and naming -----------------------------------------------------------------
def sniff(path: Path, head: bytes) -> bool:
    """A DI8 SQLite database, its info.xml beside it, or an archive holding desinventar.db."""
    if head.startswith(SQLITE_MAGIC):
        try:
            with closing(connect(path)) as con:
                return _has_disaster_table(con)
        except (SourceFormatError, sqlite3.DatabaseError):
            return False
    if b"<RegionInfo" in head[:1024] and path.name.lower() == INFO_NAME:
        return (path.parent / DB_NAME).is_file()
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                return any(PurePosixPath(n).name.lower() == DB_NAME for n in archive.namelist())
        except (zipfile.BadZipFile, OSError, EOFError):
            return False
    if head.startswith(GZIP_MAGIC) or head[257:262] == b"ustar":
        return _tar_has_db(path)
    return False


def _tar_has_db(path: Path) -> bool:
    """Whether one of the first members of a tar is a desinventar.db (cheap for any size)."""
    try:
        with tarfile.open(path, "r:*") as archive:
            for _ in range(SNIFF_MEMBERS):
                member = archive.next()
                if member is None:
                    return False
                if member.isfile() and PurePosixPath(member.name).name.lower() == DB_NAME:
                    return True
                if member.offset_data + member.size > SNIFF_TAR_BYTES:
                    return False
    except (tarfile.TarError, OSError, EOFError, ValueError):
        return False
    return False


def family(path: Path) -> str:
    """A database and the info.xml beside it are one dataset."""
    resolved = path.resolve()
    if resolved.name.lower() in (DB_NAME, INFO_NAME):
        return str(resolved.parent)
    return str(resolved)


def region_info(path: Path) -> dict[str, str]:
    """The region's general settings (RegionId, CountryIso, LangIsoCode ...)."""
    if path.is_file() and path.name.lower() == INFO_NAME:
        too_big = path.stat().st_size > limits.MAX_VALUE_CHARS  # refused when read
        return {} if too_big else _info_from_xml(path.read_bytes())
    if path.is_file():
        with path.open("rb") as fh:
            head = fh.read(512)
        if not head.startswith(SQLITE_MAGIC) and _is_archive(path, head):
            return _archive_info(path)
    db = _db_in_folder(path) if path.is_dir() else path
    with closing(connect(db)) as con:
        return _info_table(con)


def _archive_info(path: Path) -> dict[str, str]:
    archive = _Archive(path)
    try:
        names = archive.names()
        member = _pick_db([n for n in names if PurePosixPath(n).name.lower() == DB_NAME],
                          path.name)
        info = str(PurePosixPath(member).parent / INFO_NAME)
        if info in names:
            return _info_from_xml(archive.read(info)) \
                if archive.size(info) <= limits.MAX_VALUE_CHARS else {}
        with tempfile.TemporaryDirectory(prefix="riskatlas-di8-") as folder:
            db = Path(folder) / DB_NAME
            archive.copy(member, db)  # streamed: the database is never held in memory
            with closing(connect(db)) as con:
                return _info_table(con)
    finally:
        archive.close()


def _info_from_xml(data: bytes) -> dict[str, str]:
    try:
        root = etree.fromstring(data, _XML_PARSER)
    except etree.XMLSyntaxError:
        return {}
    general = root.find("General")
    if general is None:
        return {}
    return {el.tag: (el.text or "").strip() for el in general if isinstance(el.tag, str)}


def _info_table(con: sqlite3.Connection) -> dict[str, str]:
    """Info rows without a language (the region's settings)."""
    try:
        rows = con.execute("SELECT InfoKey, LangIsoCode, InfoValue FROM Info").fetchall()
    except sqlite3.DatabaseError:
        return {}
    return {r[0]: text(r[2]) or "" for r in rows if not text(r[1]) and r[0]}


def source_key(path: Path, options: ReadOptions) -> str:
    """``DI8-`` + the RegionId (else the country, else the file name)."""
    try:
        info = region_info(path)
    except SourceFormatError:
        info = {}
    name = info.get("RegionId") or info.get("CountryIso") or _stem(path)
    return f"DI8-{name}"


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".tar.gz", ".tgz", ".tar", ".zip", ".db"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


# -- catalogues --------------------------------------------------------------------------
class _ValueTooLong(RiskAtlasError):
    """A value of ``table`` is longer than :data:`~limits.MAX_VALUE_CHARS` (SQLITE_TOOBIG);
    :func:`read` turns it into a :class:`~riskatlas.errors.LimitError` naming the file."""

    key = "di8.value_too_long"

    def __init__(self, table: str) -> None:
        super().__init__(table=table)
        self.table = table


def _select(con: sqlite3.Connection, table: str, columns: str = "*") -> Iterator[sqlite3.Row]:
    """The rows of a table; a value past the limit on values names the table."""
    quoted = '"' + table.replace('"', '""') + '"'
    try:
        yield from con.execute(f"SELECT {columns} FROM {quoted}")
    except sqlite3.DataError as exc:
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_TOOBIG":
            raise _ValueTooLong(table) from None
        raise


def _rows(con: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    return [_plain_row(r) for r in _select(con, table)]


def _plain_row(row: sqlite3.Row) -> dict[str, Any]:
    return {k: _plain(row[k]) for k in row.keys()}  # noqa: SIM118 - sqlite3.Row


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _tables(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")]


def _in_language(rows: Iterable[dict[str, Any]], key: str, lang: str
                 ) -> dict[str, dict[str, Any]]:
    """One row per ``key``: the one in ``lang`` when there is one, else the first."""
    chosen: dict[str, dict[str, Any]] = {}
    for row in rows:
        value = text(row.get(key))
        if value is None:
            continue
        if value not in chosen or (row.get("LangIsoCode") == lang
                                   and chosen[value].get("LangIsoCode") != lang):
            chosen[value] = row
    return chosen


def _english(rows: Iterable[dict[str, Any]], key: str, name: str) -> dict[str, str]:
    return {text(r.get(key)) or "": text(r.get(name)) or "" for r in rows
            if r.get("LangIsoCode") == "eng" and text(r.get(name))}


@dataclass
class Place:
    level: int
    code: str
    name: str | None
    parent_id: str | None


@dataclass
class Catalogues:
    """Lookups a data card needs, in the database language."""

    country: str | None
    events: dict[str, tuple[str, str | None]]  # EventId → (term, English term)
    causes: dict[str, str]  # CauseId → name
    places: dict[str, Place]  # GeographyId → place
    unknown_places: Counter[str] = field(default_factory=Counter)

    def place_values(self, geography_id: Any) -> dict[str, Any]:
        """level0..2 code and name from a GeographyId and its ancestors."""
        values: dict[str, Any] = {}
        gid = text(geography_id)
        if gid is None:
            return values
        if gid not in self.places:
            self.unknown_places[gid] += 1
            return values
        chain: list[Place] = []
        current: str | None = gid
        while current is not None and current in self.places:
            chain.append(self.places[current])
            current = self.places[current].parent_id
        for place in reversed(chain):
            if 0 <= place.level <= 2:
                values[f"level{place.level}_code"] = place.code
                values[f"level{place.level}_name"] = place.name
        return values


def _places(rows: list[dict[str, Any]], lang: str) -> dict[str, Place]:
    """Geography by GeographyId with the user-facing code (GeographyCode when usable)."""
    chosen = _in_language(rows, "GeographyId", lang)
    levels = {gid: _level_of(gid, row) for gid, row in chosen.items()}
    codes = Counter((levels[gid], text(r.get("GeographyCode"))) for gid, r in chosen.items())
    places = {}
    for gid, row in chosen.items():
        code = text(row.get("GeographyCode"))
        if code in (None, "---") or codes[(levels[gid], code)] > 1:
            code = gid
        parent = next((gid[:end] for end in range(len(gid) - LEVEL_WIDTH, 0, -LEVEL_WIDTH)
                       if gid[:end] in chosen), None)
        places[gid] = Place(levels[gid], code, text(row.get("GeographyName")), parent)
    return places


def _level_of(gid: str, row: Mapping[str, Any]) -> int:
    level = admin_level(row.get("GeographyLevel"))
    return level if level is not None else max(len(gid) // LEVEL_WIDTH - 1, 0)


def _events(rows: list[dict[str, Any]], lang: str) -> dict[str, tuple[str, str | None]]:
    english = _english(rows, "EventId", "EventName")
    events = {}
    for event_id, row in _in_language(rows, "EventId", lang).items():
        term_en = english.get(event_id) if _UUID.match(event_id) else event_id
        events[event_id] = (text(row.get("EventName")) or event_id, term_en)
    return events


def _catalogues(con: sqlite3.Connection, tables: dict[str, list[dict[str, Any]]],
                options: ReadOptions) -> tuple[Catalogues, str]:
    info = _info_table(con)
    lang = info.get("LangIsoCode") or ""
    country = (options.country or info.get("CountryIso") or "").upper() or None
    if country is not None and not is_iso3(country):
        country = None
    causes = {k: text(r.get("CauseName")) or k
              for k, r in _in_language(tables.get("Cause", []), "CauseId", lang).items()}
    return Catalogues(country, _events(tables.get("Event", []), lang), causes,
                      _places(tables.get("Geography", []), lang)), lang


# -- data cards --------------------------------------------------------------------------
def begin_time(value: Any) -> tuple[Any, int | None, int | None]:
    """(year, month, day) of a DisasterBeginTime; 00 parts are unknown (None).

    Text that is not a date is returned as the year, for the record builder to report.
    """
    literal = text(value)
    if literal is None:
        return None, None, None
    found = _BEGIN.match(literal)
    if found is None:
        return literal, None, None
    year, month, day = (int(g) if g else None for g in found.groups())
    return year, month or None, day or None


def _number(value: Any) -> float | None:
    try:
        return to_number(value)
    except ValueError:
        return None


def quantity(flag: Any, number: Any) -> tuple[Any, bool]:
    """(value, reported but unknown) of a people/house effect and its Q column."""
    q, entered = _number(number), _number(flag)
    if q is None and number not in (None, "") and entered is None:
        return number, False  # not a number: the builder names the field
    if q is not None and q > 0:
        return number, False
    if entered is not None and entered > 0:
        return flag, False
    if entered == -1:
        return None, True
    if entered is not None and entered < 0:
        return None, False
    return (number if q is not None else flag if entered is not None else None), False


def _comments(row: Mapping[str, Any]) -> str | None:
    notes = [t for t in (text(row.get(c)) for c in NOTE_COLUMNS) if t]
    return "\n\n".join(notes) or None


def card_fields(row: Mapping[str, Any], cat: Catalogues) -> tuple[dict[str, Any], list[str]]:
    """A Disaster row in DesInventar field names (``desinventar_fields.CARD_FIELDS``), its
    codes resolved through the catalogues and its effects decoded: a people or house effect
    entered as -1 sets the field's hay_* flag; a value effect of -1 is left blank and
    returned as reported but unknown (DesInventar has no flag for those)."""
    fields: dict[str, Any] = {name: row.get(col) for col, name in DIRECT_FIELDS.items()}
    key = text(row.get("DisasterId"))
    fields["uu_id"] = key if key and _UUID.match(key) else None
    fields["fechano"], fields["fechames"], fields["fechadia"] = begin_time(
        row.get("DisasterBeginTime"))
    fields.update({CANONICAL_TO_CARD[canon]: value
                   for canon, value in cat.place_values(row.get("GeographyId")).items()})
    event_id = text(row.get("EventId"))
    fields["evento"] = cat.events.get(event_id or "", (event_id, None))[0]
    cause_id = text(row.get("CauseId"))
    fields["causa"] = cat.causes.get(cause_id or "", cause_id)
    fields["di_comments"] = _comments(row)
    for col, name in QUANTITY_EFFECTS.items():
        fields[name], reported = quantity(row.get(col), row.get(col + "Q"))
        fields[_HAY_FLAG[name]] = -1 if reported else None
    unknown = []
    for col, name in VALUE_EFFECTS.items():
        value = row.get(col)
        if _number(value) == -1:
            value = None
            unknown.append(CARD_FIELDS[name])
        fields[name] = value
    return fields, unknown


def card_values(row: Mapping[str, Any], cat: Catalogues) -> tuple[dict[str, Any], list[str]]:
    """Canonical values and the impacts reported but unknown, from one Disaster row: its
    DesInventar fields (:func:`card_fields`) read by the readers' shared
    :func:`~riskatlas.sources.desinventar_fields.card_values`."""
    fields, unknown_values = card_fields(row, cat)
    values, unknown = shared_card_values(fields)
    event_id = text(row.get("EventId"))
    term_en = cat.events.get(event_id or "", (event_id, None))[1]
    values["hazard_term_en"] = term_en or (
        event_id if event_id and not _UUID.match(event_id) else None)
    values["country_iso3"] = cat.country
    return values, unknown + unknown_values


def status_of(value: Any) -> str | None:
    """The canonical approval status of a RecordStatus (None when blank)."""
    literal = (text(value) or "").upper()
    if not literal:
        return None
    return STATUSES.get(literal, UNKNOWN_STATUS)


def _record_ref(row: Mapping[str, Any], number: int) -> str:
    serial, key = text(row.get("DisasterSerial")), text(row.get("DisasterId"))
    if serial:
        return f"DisasterSerial {serial}"
    return f"DisasterId {key}" if key else f"row {number}"


# -- the reader --------------------------------------------------------------------------
def read(path: Path, batch: Any, options: ReadOptions) -> None:
    """Read one DesInventar 8 database (or its info.xml) into an import batch."""
    if path.is_file() and path.name.lower() == INFO_NAME:
        if path.stat().st_size > limits.MAX_VALUE_CHARS:  # kept whole, as one value
            raise limits.fail("limit.value", path, limit=limits.count_text(limits.MAX_VALUE_CHARS))
        batch.add_section_rows(path.name, INFO_NAME,
                               [{"xml": path.read_bytes().decode("utf-8", "replace")}])
        options.advance(path.stat().st_size)
        return
    with open_database(path, Path(batch.staging)) as database, \
            closing(connect(database.db)) as con:
        try:
            if not _has_disaster_table(con):
                raise SourceFormatError("di8.bad_database", path=database.name,
                                        reason="no Disaster table with DisasterBeginTime")
            _read_database(con, database, batch, options)
        except _ValueTooLong as exc:
            raise limits.fail("limit.value", database.name, "limit.where.table",
                              table=exc.table,
                              limit=limits.count_text(limits.MAX_VALUE_CHARS)) from None
        except sqlite3.DatabaseError as exc:  # damaged beyond its first page
            raise SourceFormatError("di8.bad_database", path=database.name,
                                    reason=str(exc)) from exc
    if path.is_file():
        options.advance(path.stat().st_size)


def _read_database(con: sqlite3.Connection, database: Database, batch: Any,
                   options: ReadOptions) -> None:
    names = _tables(con)
    tables = {t: _rows(con, t) for t in names if t not in RECORD_TABLES}
    cat, lang = _catalogues(con, tables, options)
    if batch.country_iso3 is None:
        batch.country_iso3 = cat.country
    extensions = _extensions(con, names)
    _read_cards(con, database.name, batch, cat, extensions)
    cards = _card_keys(con)
    orphans = [ext for key, ext in extensions.items() if key not in cards]
    if orphans:
        batch.add_section_rows(database.name, "EEData", orphans)
        batch.note("import.extension_orphans", count=len(orphans))
    if cat.unknown_places:
        batch.note("di8.unknown_geography", path=database.name,
                   count=sum(cat.unknown_places.values()),
                   ids=", ".join(sorted(cat.unknown_places)[:10]))
    for table in names:
        if table not in RECORD_TABLES:
            batch.add_section_rows(database.name, table, tables[table])
    _apply_catalogues(tables, cat, lang, batch)
    _apply_boundaries(tables.get("GeoCarto", []), database, cat, batch)


def _extensions(con: sqlite3.Connection, tables: list[str]) -> dict[str, dict[str, Any]]:
    if "EEData" not in tables:
        return {}
    return {text(r.get("DisasterId")) or "": r for r in _rows(con, "EEData")}


def _card_keys(con: sqlite3.Connection) -> set[str]:
    return {text(r[0]) or "" for r in _select(con, "Disaster", "DisasterId")}


def _read_cards(con: sqlite3.Connection, name: str, batch: Any, cat: Catalogues,
                extensions: dict[str, dict[str, Any]]) -> None:
    builder = RecordBuilder(source_key=batch.source_key, source_file=name,
                            crosswalk=batch.store.crosswalk, policy=batch.policy,
                            field_names=FIELD_NAMES)
    odd_statuses: Counter[str] = Counter()
    for number, row in enumerate(_select(con, "Disaster"), start=1):
        raw = _plain_row(row)
        batch.count_read(name)
        ref = _record_ref(raw, number)
        status = (text(raw.get("RecordStatus")) or "").upper()
        if status in DELETED_STATUSES:
            batch.reject(RecordError("di8.deleted", path=name, record=ref,
                                     field="RecordStatus", status=raw.get("RecordStatus")), raw)
            continue
        if status and status not in STATUSES:
            odd_statuses[status] += 1
        values, unknown = card_values(raw, cat)
        values["approval_status"] = status_of(status)
        try:
            batch.add_record(builder.build(
                values, row=number, record_ref=ref, raw=raw, unknown=unknown,
                extension=extensions.get(text(raw.get("DisasterId")) or "")))
        except RecordError as exc:
            batch.reject(exc, raw)
    if odd_statuses:
        batch.note("di8.unknown_status", path=name, count=sum(odd_statuses.values()),
                   statuses=", ".join(sorted(odd_statuses)), status=UNKNOWN_STATUS)


def _apply_catalogues(tables: dict[str, list[dict[str, Any]]], cat: Catalogues, lang: str,
                      batch: Any) -> None:
    """Hazard terms, admin levels and admin units."""
    descriptions = {k: text(r.get("EventDesc"))
                    for k, r in _in_language(tables.get("Event", []), "EventId", lang).items()}
    for event_id, (term, term_en) in cat.events.items():
        batch.add_term(HazardTerm(term, term_en, descriptions.get(event_id)))
    levels = tables.get("GeoLevel", [])
    english = _english(levels, "GeoLevelId", "GeoLevelName") if lang != "eng" else {}
    for level_id, row in _in_language(levels, "GeoLevelId", lang).items():
        level = admin_level(level_id)
        if level is None:
            continue
        batch.add_level(level, text(row.get("GeoLevelName")), english.get(level_id))
    for place in cat.places.values():
        parent = cat.places[place.parent_id].code if place.parent_id else None
        batch.add_unit(AdminUnit(cat.country or "", place.level, place.code, place.name,
                                 None, parent))


def _apply_boundaries(carto: list[dict[str, Any]], database: Database, cat: Catalogues,
                      batch: Any) -> None:
    """Boundaries of each level from the shapefiles named in GeoCarto."""
    codes: dict[int, dict[str, str]] = defaultdict(dict)
    for gid, place in cat.places.items():
        codes[place.level].setdefault(gid, place.code)
        codes[place.level][place.code] = place.code
    done = set()
    for row in carto:
        layer = text(row.get("GeoLevelLayerFile"))
        code_field = text(row.get("GeoLevelLayerCode"))
        level = admin_level(row.get("GeoLevelId"))
        if level is None or not layer or not code_field or (level, layer.lower()) in done:
            continue
        done.add((level, layer.lower()))
        parts = database.shapefile(member_stem(layer))
        if parts is None:
            batch.note("di8.no_shapefile", path=database.name, layer=layer, level=level)
            continue
        boundaries = read_layer(parts, code_field, text(row.get("GeoLevelLayerName")),
                                path=database.name, layer=layer, note=batch.note)
        for code, (name, geometry) in _dissolve(boundaries or ()).items():
            unit_code = codes[level].get(code, code)
            known = (cat.country or "", level, unit_code) in batch.units
            center, bbox = geometry.centroid, geometry.bounds
            batch.add_unit(AdminUnit(cat.country or "", level, unit_code,
                                     None if known else name, None, None, center.x, center.y,
                                     bbox, orjson.dumps(mapping(geometry)).decode()))


def _dissolve(boundaries: Iterable[Any]) -> dict[str, tuple[str | None, Any]]:
    """One geometry per code: shapefiles repeat a code for each part (islands)."""
    grouped: dict[str, list[Any]] = defaultdict(list)
    names: dict[str, str | None] = {}
    for b in boundaries:
        grouped[b.code].append(shape(orjson.loads(b.geometry)))
        names.setdefault(b.code, b.name)
    merged = {}
    for code, geoms in grouped.items():
        if len(geoms) == 1:
            geometry = geoms[0]
        else:
            try:
                geometry = unary_union(geoms)
            except GEOSException:
                geometry = unary_union([make_valid(g) for g in geoms])
        if not geometry.is_empty:
            merged[code] = (names[code], geometry)
    return merged


# registered through the entry point riskatlas.readers (pyproject.toml)
READER = Reader(FORMAT, "DesInventar 8 database (desinventar.db, its folder, or a .tar.gz/.zip "
                "of the tree)", sniff, read, source_key, family=family, order=30)
