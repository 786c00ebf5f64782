"""The malloc tuning of gcfa_dgl.allocator: it takes effect where glibc is the allocator."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from gcfa_dgl.allocator import raise_mmap_threshold

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# In a fresh process: bytes glibc holds in mmapped blocks while a 4 MiB block is allocated.
PROBE = """
import ctypes, sys
from gcfa_dgl.allocator import raise_mmap_threshold
libc = ctypes.CDLL(None)
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
if sys.argv[1] != "0":
    assert raise_mmap_threshold(int(sys.argv[1]))
before = libc.mallinfo2().hblkhd
p = libc.malloc(4 << 20)
print(libc.mallinfo2().hblkhd - before)
libc.free(ctypes.c_void_p(p))
"""


def mapped_bytes_of_a_4mib_block(threshold_mb: int) -> int:
    r = subprocess.run([sys.executable, "-c", PROBE, str(threshold_mb)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def test_zero_leaves_malloc_alone():
    assert raise_mmap_threshold(0) is False


@pytest.mark.skipif(not GLIBC, reason="mallopt's mmap threshold is glibc's")
def test_raised_threshold_serves_a_4mib_block_from_the_heap():
    assert mapped_bytes_of_a_4mib_block(0) >= 4 << 20  # glibc's default: its own mapping
    assert mapped_bytes_of_a_4mib_block(32) == 0  # below the raised threshold: the heap
