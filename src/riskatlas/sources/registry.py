"""The reader registry. Readers come from the entry points ``riskatlas.readers``
(:mod:`riskatlas.plugins`): the built-in ones are declared in RiskAtlas's own
``pyproject.toml`` exactly as an outside plug-in declares its own."""

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
    # detection order: lower first (the built-in readers: 10-50, the catch-all mapped table
    # last of them); ties in the order of the entry points (built-in, then by distribution)
    order: int = 100


REGISTRY: dict[str, Reader] = {}
_PLUGINS_LOADED = False


def register(reader: Reader) -> Reader:
    """Add a reader (after those of the entry points, which :func:`readers` loads first)."""
    REGISTRY[reader.format] = reader
    return reader


def _load_plugins() -> None:
    """Register the reader of every ``riskatlas.readers`` entry point, in detection order
    (the built-in ones first). A plug-in that cannot be loaded, or is not a :class:`Reader`,
    raises :class:`~riskatlas.errors.PluginError` naming it; no built-in reader at all means
    the package is not installed (its entry points are its metadata)."""
    from riskatlas import plugins

    loaded = []
    for plugin in plugins.installed(plugins.READERS):
        reader = plugin.object()
        if not isinstance(reader, Reader):
            raise plugin.error("plugin.wrong_kind", kind=type(reader).__name__,
                               expected="riskatlas.sources.registry.Reader")
        loaded.append(reader)
    loaded.sort(key=lambda reader: reader.order)  # stable: ties keep the entry point order
    added = dict(REGISTRY)  # readers registered by hand go after those of the entry points
    REGISTRY.clear()
    for reader in (*loaded, *added.values()):
        REGISTRY[reader.format] = reader


def readers(*, reload: bool = False) -> dict[str, Reader]:
    """Every registered reader, those of the entry points loaded first (in detection
    order); ``reload``: read the entry points again (a plug-in installed meanwhile)."""
    global _PLUGINS_LOADED
    if reload or not _PLUGINS_LOADED:
        _load_plugins()
        _PLUGINS_LOADED = True
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
