"""DesInventar XML export (``DI_export_xxx.xml`` or the downloaded ``.zip`` with shapefiles).

The file is read as a stream: a scanner cuts each section into chunks of whole ``<TR>``
rows, and worker processes parse the chunks of the large sections (fichas, extension)
in parallel, writing Parquet parts into the import batch; from a plain ``.xml`` file the
workers read their chunks themselves. Rows of the export's usual flat layout are matched
by a pattern built from the first row and typed column by column; anything else goes
through lxml, so the result is the same either way. Memory stays bounded whatever the
file size. Element names are matched case-insensitively; illegal control characters are
removed; documents with a DOCTYPE are refused (no entity is ever resolved).

The parts, each usable (and tested) on its own:

- :mod:`.scanner`  -- :func:`scan` cuts a byte stream into :class:`Chunk`\\ s;
- :mod:`.rows`     -- :func:`parse_rows`: the rows of a chunk through lxml (the reference);
- :mod:`.patterns` -- :func:`read_rows`, :func:`fast_extension`: the regex fast path;
- :mod:`.arrow`    -- :func:`card_table`, :func:`extension_table`: rows typed as Arrow;
- :mod:`.workers`  -- :func:`init_worker`, :func:`convert_chunk`, the forkserver pool;
- :mod:`.reader`   -- :func:`read`, the :data:`READER` and the sections it applies.
"""

from __future__ import annotations

from riskatlas.sources.desinventar_xml.arrow import card_table, extension_table
from riskatlas.sources.desinventar_xml.patterns import fast_extension, read_rows
from riskatlas.sources.desinventar_xml.reader import (
    CARD_CHUNK_BYTES,
    FORMAT,
    READER,
    Utf8Reader,
    read,
    sniff,
    source_key,
)
from riskatlas.sources.desinventar_xml.rows import Repeats, lower_keys, parse_rows, row_values
from riskatlas.sources.desinventar_xml.scanner import (
    BIG_SECTIONS,
    CHUNK_BYTES,
    Chunk,
    chunk_data,
    chunk_first_row,
    chunk_line,
    rows_between,
    scan,
)
from riskatlas.sources.desinventar_xml.workers import (
    PARALLEL_MIN_BYTES,
    ChunkResult,
    convert_chunk,
    early_pool,
    early_pools,
    init_worker,
    new_pool,
    start_workers,
)

__all__ = [
    "BIG_SECTIONS", "CARD_CHUNK_BYTES", "CHUNK_BYTES", "FORMAT", "PARALLEL_MIN_BYTES", "READER",
    "Chunk", "ChunkResult", "Repeats", "Utf8Reader", "card_table", "chunk_data",
    "chunk_first_row", "chunk_line", "convert_chunk", "early_pool", "early_pools",
    "extension_table", "fast_extension", "init_worker", "lower_keys", "new_pool", "parse_rows",
    "read", "read_rows", "row_values", "rows_between", "scan", "sniff", "source_key",
    "start_workers",
]
