"""The reader registry. Built-in readers register here the same way a plug-in would."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from riskatlas.errors import SourceFormatError
from riskatlas.sources.tables import text_head

if TYPE_CHECKING:
    from riskatlas.sources.headers import ColumnReport
    from riskatlas.store.batch import ImportBatch

SNIFF_BYTES = 64 * 1024
# a reader's note listing the columns of a file read as no field: the importer moves it to
# ``FileResult.unmapped_columns`` (``unmapped_columns`` of ``riskatlas import --json``)
UNMAPPED_COLUMNS_NOTE = "import.unmapped_columns"


@dataclass
class ReadOptions:
    """What the user said about the input, and where to report progress."""

    country: str | None = None
    mapping: Path | None = None
    workers: int | None = None
    progress: Callable[[int], None] | None = None  # called with bytes advanced
    synthetic: bool = False  # the input is made-up data (the demo): said on the dataset
    strict: bool = False  # --strict: a bad value sets its whole record aside
    columns: dict[str, str] = field(default_factory=dict)  # --column FIELD=COLUMN
    review: bool = False  # web uploads: every card arrives submitted (or draft), for review

    def advance(self, n: int) -> None:
        if self.progress is not None and n:
            self.progress(n)


@dataclass(frozen=True)
class Reader:
    """One input format. ``family`` groups files that form one dataset (multi-part exports)."""

    format: str
    description: str
    sniff: Callable[[Path, bytes], bool]
    read: Callable[[Path, ImportBatch, ReadOptions], None]
    source_key: Callable[[Path, ReadOptions], str]
    family: Callable[[Path], str] = lambda path: str(path)
    disambiguate_keys: bool = False
    # how the columns of a table would be read, without reading it (``import --inspect``)
    inspect: Callable[[Path, ReadOptions], ColumnReport] | None = None
    # work started before a dataset's files are hashed, kept until its import ends (e.g.
    # worker processes whose start-up then overlaps the hashing)
    prepare: Callable[[Sequence[Path], ReadOptions], AbstractContextManager[None]] | None = None


REGISTRY: dict[str, Reader] = {}
_BUILTINS_LOADED = False


def register(reader: Reader) -> Reader:
    REGISTRY[reader.format] = reader
    return reader


def _load_builtins() -> None:
    # importing the modules registers their readers
    from riskatlas.sources import desinventar_xml  # noqa: F401

    for optional in ("desinventar_flat", "desinventar8", "emdat", "mapped"):
        try:
            __import__(f"riskatlas.sources.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"riskatlas.sources.{optional}":
                raise


def readers() -> dict[str, Reader]:
    """Every registered reader, the built-in ones loaded first (in detection order)."""
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        _load_builtins()
    return REGISTRY


def head_bytes(path: Path) -> bytes:
    """The first bytes of a file, or of the first member of a zip."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if not n.endswith("/")]
                first = next((n for n in names if n.lower().endswith((".xml", ".csv", ".db"))),
                             names[0] if names else None)
                if first is not None:
                    with archive.open(first) as member:
                        return head + b"\n" + text_head(member.read(SNIFF_BYTES))
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError):
            return head
    return text_head(head)


def check_input(path: Path) -> None:
    """Refuse an archive or workbook that breaks a limit (:mod:`riskatlas.sources.limits`)
    before any reader opens it: sniffing a workbook loads its first sheet."""
    from riskatlas.sources import limits, workbooks

    if path.is_file() and zipfile.is_zipfile(path):
        limits.check_zip(path)
        workbooks.check_workbook(path)


def detect(path: Path, forced: str | None = None) -> Reader:
    """The reader for a file: the forced format, else the first whose sniff accepts it.
    An input that breaks a limit raises :class:`~riskatlas.errors.LimitError`."""
    check_input(path)
    available = readers()
    if forced:
        if forced not in available:
            raise SourceFormatError("import.unknown_format", path=str(path), format=forced,
                                    formats=", ".join(sorted(available)))
        return available[forced]
    head = head_bytes(path)
    for reader in available.values():
        if reader.sniff(path, head):
            return reader
    raise SourceFormatError("import.undetected", path=str(path),
                            formats=", ".join(sorted(available)))


def inspect(path: Path, forced: str | None = None, options: ReadOptions | None = None
            ) -> ColumnReport:
    """How a table's columns would be read (column → field, with sample values); reads the
    head of the file only and writes nothing. A format without columns to show raises
    :class:`~riskatlas.errors.SourceFormatError` (``import.no_inspect``)."""
    reader = detect(path, forced)
    if reader.inspect is None:
        raise SourceFormatError("import.no_inspect", path=path.name, format=reader.format)
    return reader.inspect(path, options or ReadOptions())
