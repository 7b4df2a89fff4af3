"""Keep the importer's memory flat on glibc.

An import allocates and frees many buffers of 100 KB to tens of MB (MIME bytes, base64 text,
XML requests) from several threads. glibc's default raises its mmap threshold each time such a
block is freed, after which big buffers come from per-thread heap arenas that fragment and are
rarely given back: measured 324 MB peak RSS for a 200 MB PST, against 64 MB of live Python
objects. A fixed 128 KB threshold (which also stops the dynamic adjustment) sends big buffers
to mmap, returned to the system on free: 173 MB on the same run.

But on a VM each fresh mmap costs page faults: with a 128 KB threshold the 4 GB scale import
spent 14 s of 69 CPU seconds in the kernel. A 1 MB threshold keeps the many 128 KB-1 MB buffers
(attachment chunks, their base64) in the heap, reused without faults, and a fixed 8 MB trim
threshold gives free heap back once that much sits at its top: 6 s in the kernel, peak RSS
136 -> 140 MB (the 100 MB PST: 128 MB).

libpff (inside pypff) allocates its item tree of a folder in many small blocks: ~3.3 KB per item,
134 MB for a folder of 40,000 messages, freed when the folder object goes but kept by glibc in
the heap. Planning opens every folder to count it, so a 4 GB PST started its upload with 134 MB
of freed memory still resident; `release_free_memory` (malloc_trim) hands it back, after
planning and after each folder is read.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 1024 * 1024
TRIM_THRESHOLD_BYTES = 8 * 1024 * 1024
ARENA_MAX = 2

_done = False
_libc: ctypes.CDLL | None = None


def tune_malloc() -> bool:
    """Apply the settings once per process; False where the C library is not glibc."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = all(
        mallopt(param, value)
        for param, value in (
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
            (M_ARENA_MAX, ARENA_MAX),
        )
    )
    _done = ok
    log.debug("malloc tuned: %s", ok)
    return ok


def release_free_memory() -> bool:
    """Give the heap's free pages back to the system (glibc `malloc_trim`); False elsewhere."""
    global _libc
    if not sys.platform.startswith("linux"):
        return False
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = _libc.malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True
