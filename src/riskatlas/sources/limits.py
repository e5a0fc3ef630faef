"""Limits on what one input may cost, so that any file -- broken, hostile or simply not what
it claims to be -- is read or refused quickly, within bounded memory: no hang and a peak RSS
under 500 MB for any file up to 200 MB. Every reader applies these constants; a breach raises
:class:`~riskatlas.errors.LimitError` with the message ``limit.<name>`` naming the file, the
place in it (``where``: an archive member, a sheet, a line ...) and the limit.

The constants are read when a check runs (``limits.MAX_VALUE_CHARS``), so a test or a program
embedding RiskAtlas may change them. They are not :class:`ReadOptions` because detection
(which opens archives and workbooks before any reader is chosen) has no options.

This module also holds the guards the readers share: :func:`check_zip` (declared sizes, before
anything is decompressed), :class:`Budget` and :class:`LimitedReader` (decompressed bytes
counted while streaming, since declared sizes can lie), and :func:`longest_run`.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import IO, Any

from riskatlas.errors import LimitError

KiB, MiB, GiB = 1024, 1024**2, 1024**3

MAX_UNPACKED_BYTES = 2 * GiB
"""Decompressed bytes one archive (zip, xlsx, tar.gz) may yield, its members together.
The real DesInventar exports unpack to 1-9 MB and the largest national databases to a few
hundred MB; 2 GiB bounds the time a single archive can take to a few minutes."""

MAX_RATIO = 200
"""Decompressed / compressed size of one zip member (or of a whole .tar.gz). Real exports:
XML 13-43, workbook parts ≤ 8, shapefiles ≤ 13; a deflate bomb reaches about 1,000."""

RATIO_MIN_BYTES = 1 * MiB
"""Members that unpack to less than this are not held to :data:`MAX_RATIO` (harmless)."""

MAX_MEMBERS = 10_000
"""Entries of a zip or tar archive (each costs memory before anything is read). Exports hold
about 10, workbooks about 20, a DesInventar 8 tree a few hundred."""

MAX_VALUE_CHARS = 1 * MiB
"""Characters of one value: an XML element's text, a CSV field, a workbook cell, an SQLite
field. The longest value in the real data is 1,723 characters (a DesInventar 8 Info text)."""

MAX_ROW_CHARS = 16 * MiB
"""Characters of one row: an XML ``<TR>``, a CSV record (all its lines), or any stretch of
an XML file without a complete element. Real rows are a few KB."""

MAX_COLUMNS = 16_384
"""Columns of one row: Excel's own maximum, so no workbook (nor a CSV saved from one) that a
user can make has more. Real tables have 7-150."""

MAX_XML_DEPTH = 256
"""Nesting of XML elements. Export rows are three levels deep (section, row, field); the
limit is libxml2's own default, which the XML parser enforces (RiskAtlas names it)."""

MAX_SHEET_CELLS = 3_000_000
"""Cells of one workbook sheet once loaded: its rows times its columns, empty cells included,
because the workbook reader (calamine) holds a sheet as a dense grid, ~85 bytes a cell
(3 M cells ≈ 250 MB). EM-DAT's whole public table is 1.2 M cells."""

MAX_SHEET_TEXT_BYTES = 128 * MiB
"""Text held by the cells of one sheet once loaded: each cell of a shared string gets its
own copy, so a short workbook can hold gigabytes of text."""

MAX_LAYER_BYTES = 64 * MiB
"""Size of one map layer's ``.shp``: its shapes are held as GeoJSON text until the commit.
A bigger layer is skipped with a note (the records are imported without its boundaries)."""


def size_text(n: float) -> str:
    """A byte count for messages: ``1 MiB``, ``2 GiB``, ``1.5 MiB``, ``800 B``."""
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= factor:
            value = n / factor
            return f"{value:.0f} {unit}" if value >= 100 or value == int(value) \
                else f"{value:.1f} {unit}"
    return f"{int(n)} B"


def count_text(n: int) -> str:
    return f"{n:,}"


def fail(key: str, path: str | Path, where: str | None = None, **params: Any) -> LimitError:
    """The error of limit ``key`` (``limit.value`` ...) for the file ``path``; ``where`` is a
    ``limit.where.*`` key rendered with ``params``."""
    return LimitError(key, path=Path(path).name, where=where, **params)


def longest_run(data: bytes | bytearray | memoryview, start: int = 0, end: int | None = None
                ) -> tuple[int, int]:
    """Length and offset of the longest stretch without ``<`` in ``data[start:end]``."""
    view = bytes(memoryview(data)[start:end])
    best = at = offset = 0
    for piece in view.split(b"<"):
        if len(piece) > best:
            best, at = len(piece), start + offset
        offset += len(piece) + 1
    return best, at


# -- archives -------------------------------------------------------------------------------
def _central_directory(path: Path) -> tuple[int, int] | None:
    """(declared entries, central directory bytes) from a zip's end record, or None."""
    with path.open("rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        tail = min(size, 22 + 65535 + 20)
        fh.seek(size - tail)
        data = fh.read(tail)
        at = data.rfind(b"PK\x05\x06")
        if at < 0 or len(data) - at < 22:
            return None
        entries = int.from_bytes(data[at + 10:at + 12], "little")
        cd_size = int.from_bytes(data[at + 12:at + 16], "little")
        locator = data.rfind(b"PK\x06\x07", 0, at)
        if locator >= 0 and (entries == 0xFFFF or cd_size == 0xFFFFFFFF):  # zip64
            fh.seek(int.from_bytes(data[locator + 8:locator + 16], "little"))
            record = fh.read(56)
            if record[:4] == b"PK\x06\x06":
                entries = int.from_bytes(record[32:40], "little")
                cd_size = int.from_bytes(record[40:48], "little")
    return entries, cd_size


def check_zip(path: Path) -> None:
    """Refuse a zip whose declared contents break a limit: too many entries (checked from
    its end record, before the entries are read into memory), more than
    :data:`MAX_UNPACKED_BYTES` in all, or a member compressed more than :data:`MAX_RATIO`.
    Reads only the central directory. A zip that cannot be read is left to its reader."""
    try:
        found = _central_directory(path)
    except OSError:
        return
    if found is not None:  # before zipfile reads the entries into memory
        entries, cd_size = found
        if max(entries, cd_size // KiB) > MAX_MEMBERS:
            raise fail("limit.members", path, count=count_text(entries),
                       limit=count_text(MAX_MEMBERS))
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return
    if len(infos) > MAX_MEMBERS:
        raise fail("limit.members", path, count=count_text(len(infos)),
                   limit=count_text(MAX_MEMBERS))
    total = 0
    for info in infos:
        total += info.file_size
        if total > MAX_UNPACKED_BYTES:
            raise fail("limit.unpacked", path, "limit.where.member", member=info.filename,
                       limit=size_text(MAX_UNPACKED_BYTES))
        check_ratio(path, info.filename, info.file_size, info.compress_size)


def check_ratio(path: str | Path, member: str, unpacked: int, packed: int) -> None:
    if unpacked > RATIO_MIN_BYTES and unpacked > MAX_RATIO * max(packed, 1):
        raise fail("limit.ratio", path, "limit.where.member" if member else None,
                   member=member, ratio=count_text(unpacked // max(packed, 1)),
                   limit=count_text(MAX_RATIO))


class Budget:
    """Decompressed bytes read from one archive so far, held to :data:`MAX_UNPACKED_BYTES`
    (and, when ``packed`` gives the archive's size, to :data:`MAX_RATIO` of it)."""

    def __init__(self, path: str | Path, packed: int | None = None) -> None:
        self.path, self.packed, self.used = path, packed, 0

    def spend(self, n: int, member: str = "") -> None:
        self.used += n
        if self.used > MAX_UNPACKED_BYTES:
            raise fail("limit.unpacked", self.path, "limit.where.member" if member else None,
                       member=member, limit=size_text(MAX_UNPACKED_BYTES))
        if self.packed is not None:
            check_ratio(self.path, member, self.used, self.packed)


class LimitedReader:
    """A binary stream of one archive member that counts what it yields against a
    :class:`Budget` and the member's own ratio (``packed``: its compressed size), and stops
    with a :class:`LimitError` the moment a limit is passed -- whatever the sizes declared.
    Seeking forward (a tar skipping a member) counts as reading, since it decompresses."""

    def __init__(self, raw: IO[bytes], budget: Budget, member: str = "",
                 packed: int | None = None) -> None:
        self.raw, self.budget, self.member, self.packed = raw, budget, member, packed
        self.done = 0

    def _count(self, n: int) -> None:
        self.done += n
        self.budget.spend(n, self.member)
        if self.packed is not None:
            check_ratio(self.budget.path, self.member, self.done, self.packed)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            blocks = []
            while block := self.read(MiB):
                blocks.append(block)
            return b"".join(blocks)
        data = self.raw.read(size)
        self._count(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self._count(n or 0)
        return n or 0

    def peek(self, size: int = 1) -> bytes:
        peek = getattr(self.raw, "peek", None)
        return peek(size) if peek is not None else b""

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        here = self.raw.tell()
        target = offset if whence == os.SEEK_SET else here + offset if whence == os.SEEK_CUR \
            else None
        if target is not None:  # forward: the bytes skipped; backward: read again from 0
            self._count(target - here if target >= here else target)
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self.raw.seekable()

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> LimitedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget
                ) -> LimitedReader:
    """A guarded stream of one zip member."""
    return LimitedReader(archive.open(info), budget, info.filename, info.compress_size)
