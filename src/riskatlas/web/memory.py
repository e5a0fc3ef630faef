"""How a process serving the web app allocates memory (issue 13, item 10: at most 600 MB
of RSS per worker).

Two allocators kept what an analysis freed instead of giving it back, so a worker's RSS
rose to the peak of the analyses it had run: Arrow's default pool (mimalloc), which holds
freed pages for reuse, and glibc's malloc, which serves a block above its mmap threshold
from its own mapping (returned when freed) but raises the threshold, up to 32 MB, whenever
such a block is freed, so that later arrays of an analysis come from the heap and stay
there. A serving process gives Arrow the system allocator and fixes the threshold at
64 KB. Measured with the realistic mix (2 workers, 1,009,184 records, 30 s, 2026-12-07):
peak RSS per worker 738–755 MB with the defaults, 639–662 MB with the system allocator for
Arrow, 581–606 MB with the fixed threshold as well; 545–574 answers either way.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

MMAP_THRESHOLD = 64 * 1024  # bytes: larger blocks are mapped, and unmapped when freed
_M_MMAP_THRESHOLD = -3  # mallopt's parameter (glibc <malloc.h>)


def give_freed_memory_back() -> None:
    """Allocate as :mod:`this module <riskatlas.web.memory>` says, in this process."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    try:
        if not ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD):
            log.debug("mallopt refused the mmap threshold")
    except (OSError, AttributeError):  # no glibc: the allocator's own defaults
        log.debug("no mallopt: memory allocated with the C library's defaults")
