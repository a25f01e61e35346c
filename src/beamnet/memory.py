"""Keep a long batch-by-batch run's resident memory at the size of a batch.

glibc's ``malloc`` serves a request above its mmap threshold with a fresh mapping, and by
default raises that threshold to the size of each such block freed (up to 32 MiB). After the
first few batches, a batch's arrays (megabytes each: rows of a cache, their decoded fields)
are then carved from the heap, and the small tensors a step keeps between batches (per-sample
losses, counts) pin the heap's top, so that freed batches are not returned: on a 54,000-row
cache, resident memory grew by one float32 batch per batch read, 1.2 GB over one pass.
A fixed threshold turns that off, so every batch-sized block is its own mapping, returned to
the system when freed. The outputs do not change; only where their memory comes from.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("beamnet")

M_MMAP_THRESHOLD = -3  # mallopt parameter number in glibc's <malloc.h>
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's documented default, held fixed


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Hold glibc's mmap threshold at ``threshold`` bytes (``mallopt(M_MMAP_THRESHOLD, ...)``,
    which also ends its dynamic adjustment). Returns whether it was applied: False where the C
    library is not glibc (macOS, musl), where nothing needs doing or nothing can be done."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    applied = bool(mallopt(M_MMAP_THRESHOLD, threshold))
    if not applied:
        log.debug("mallopt(M_MMAP_THRESHOLD, %d) was refused; the heap keeps its default policy", threshold)
    return applied
