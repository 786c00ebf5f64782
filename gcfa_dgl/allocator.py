"""glibc malloc's mmap threshold, raised so that a training step's temporaries reuse heap memory.

By default glibc serves every allocation above a threshold (128 KiB at start, then adjusted up to
32 MiB by what gets freed) with its own `mmap`, and returns it to the system on `free`. A training
step allocates and frees hundreds of tensors of that size (the sampler's index arrays, the
model's per-edge activations), so each is a fresh mapping whose pages fault in again on every
step. A fixed, higher threshold keeps them in the heap, where freed blocks are reused
(docs/benchmarks.md measures the effect). Larger allocations are still mapped and returned.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h


def raise_mmap_threshold(megabytes: int) -> bool:
    """Serve allocations below `megabytes` MiB from the heap (glibc only; 0 leaves malloc alone).
    Returns whether the setting took effect."""
    if megabytes <= 0:
        return False
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (macOS, musl): nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, megabytes * 2**20) == 1
    if not ok:
        log.warning("malloc's mmap threshold could not be set to %d MiB (train.mmap_threshold_mb)", megabytes)
    return ok
