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

Python's cyclic garbage collector runs a full collection, which scans every object the
process holds, each time enough new objects outlive a few young collections. A worker holds
many (its kept results: pages of thousands of units, each a few dicts), and an answer makes
many: in process, 240 answers of the realistic mix ran 11 full collections of ~120 ms each
(1.3 s of 16 s). A serving process collects young objects after 20,000 allocations instead
of 700 (most objects are freed by their reference count, not the collector), and leaves out
of every collection what it holds once started (modules, the app): 28 collections in 0.13 s
for the same answers, 61 ms an answer instead of 67.
"""

from __future__ import annotations

import ctypes
import gc
import logging

log = logging.getLogger(__name__)

MMAP_THRESHOLD = 64 * 1024  # bytes: larger blocks are mapped, and unmapped when freed
_M_MMAP_THRESHOLD = -3  # mallopt's parameter (glibc <malloc.h>)
# the collector's thresholds: allocations between young collections, and young (then
# middle) collections between collections of the next generation (Python's: 700, 10, 10)
GC_THRESHOLDS = (20_000, 20, 20)


def give_freed_memory_back() -> None:
    """Allocate as :mod:`this module <riskatlas.web.memory>` says, in this process."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    try:
        if not ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD):
            log.debug("mallopt refused the mmap threshold")
    except (OSError, AttributeError):  # no glibc: the allocator's own defaults
        log.debug("no mallopt: memory allocated with the C library's defaults")


def collect_rarely() -> None:
    """Collect garbage as :mod:`this module <riskatlas.web.memory>` says, in this process:
    call it once the app is made (what the process holds then is never collected)."""
    gc.collect()  # what is garbage now is not frozen with the rest
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
