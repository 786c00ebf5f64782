"""Threads and random seeds of torch and DGL, set together so that a run is reproducible.

torch and DGL each load their own OpenMP runtime, so `torch.set_num_threads` does not reach DGL's
kernels (neighbour sampling, message passing): `set_threads` sets both.

DGL gives each OpenMP thread its own random stream, seeded with `seed + index`, where a thread's
index is handed out the first time it touches DGL's random engine, in whatever order the threads
arrive. `dgl.seed` on several threads is such a race: left alone, the main thread gets stream 0 in
some processes and stream 1 in others, and the same seed samples different neighbourhoods.
`claim_streams` hands the indices out in a fixed order instead (the main thread first, then one
new OpenMP thread at a time), so the main thread always draws from stream `seed + 0`; sampling on
that thread alone (`ImportanceSampler(deterministic=True)`) then gives the same neighbourhoods
for the same seed.
"""

from __future__ import annotations

import random

import dgl
import numpy as np
import torch

from gcfa_dgl.dgl_compat import dgl_threads, set_dgl_threads

_claimed = 0  # OpenMP threads of DGL whose random-stream index is fixed


def claim_streams(threads: int) -> None:
    """Fix the random-stream index of DGL's first `threads` OpenMP threads: i for thread i.

    Growing DGL's thread team by one at a time makes each `dgl.seed` meet exactly one thread that
    has no index yet. It must run before anything else draws from DGL's random engine on several
    threads, which is why importing this module already claims the default thread count.
    """
    global _claimed
    if threads <= _claimed:
        return
    current = dgl_threads()
    try:
        for k in range(_claimed + 1, threads + 1):
            set_dgl_threads(k)
            dgl.seed(0)
    finally:
        set_dgl_threads(current)
    _claimed = threads


def set_threads(threads: int | None) -> int:
    """Use `threads` intra-op threads in torch and in DGL (None: torch's default for both)."""
    if threads:
        torch.set_num_threads(threads)
    n = torch.get_num_threads()
    claim_streams(n)
    set_dgl_threads(n)
    return n


def seed_all(seed: int) -> None:
    """Seed every generator, and make torch pick its deterministic kernels: with more than one
    thread, the backward of a gather (`z[index]`) otherwise accumulates with parallel atomic adds,
    whose float rounding varies from run to run."""
    torch.use_deterministic_algorithms(True)
    # That mode also fills every new uninitialised tensor with NaN (a debugging aid costing about a
    # tenth of a GCFA step); nothing here reads memory before writing it.
    torch.utils.deterministic.fill_uninitialized_memory = False
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (libraries draw from the global generator)
    torch.manual_seed(seed)
    claim_streams(dgl_threads())
    dgl.seed(seed)


claim_streams(dgl_threads())
