"""Threads and seeds: torch and DGL share the thread count, and a seed samples the same
neighbourhoods in every process, however the OpenMP threads of those processes are scheduled."""

from __future__ import annotations

import subprocess
import sys

import torch
from dgl.utils import get_num_threads as dgl_threads

from gcfa_dgl.seeding import set_threads

# Weighted sampling of a two-layer neighbourhood on a graph large enough for DGL to split the
# seeds over two threads; prints a digest of the sampled edge ids.
SAMPLE = """
import hashlib, sys
import numpy as np, torch, dgl
from data_prep.graph import RATED_BY, RATES
from gcfa_dgl.sampling import ImportanceSampler
from gcfa_dgl.seeding import seed_all, set_threads
set_threads(2)
rng = np.random.default_rng(0)
users, videos = rng.integers(0, 20000, 400000), rng.integers(0, 3000, 400000)
g = dgl.heterograph({RATES: (users, videos), RATED_BY: (videos, users)})
t = torch.from_numpy(rng.random(400000).astype("float32"))
g.edges[RATES].data["tightness"] = t
g.edges[RATED_BY].data["tightness"] = t
s = ImportanceSampler([5, 5], mode="weighted")
s.prepare(g)
seed_all(int(sys.argv[1]))
_, _, blocks = s.sample_blocks(g, {"user": torch.arange(0, 20000, 2), "video": torch.arange(3000)})
ids = torch.cat([b.edges[et].data[dgl.EID] for b in blocks for et in b.canonical_etypes])
print(hashlib.md5(ids.numpy().tobytes()).hexdigest())
"""


def test_set_threads_reaches_dgl():
    """torch and DGL load separate OpenMP runtimes: one setting must reach both."""
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1
        assert (torch.get_num_threads(), dgl_threads()) == (1, 1)
        assert set_threads(2) == 2
        assert (torch.get_num_threads(), dgl_threads()) == (2, 2)
    finally:
        set_threads(before)


def test_a_seed_samples_the_same_in_concurrent_processes():
    """Which OpenMP thread first reaches DGL's random engine decides which stream the main thread
    samples from, and DGL's threads share out the seeds in a varying order. Six processes competing
    for two cores schedule their threads differently: the stream order of `gcfa_dgl.seeding` and
    the one-thread sampling of `ImportanceSampler` are both needed for their samples to agree."""
    procs = [subprocess.Popen([sys.executable, "-c", SAMPLE, str(seed)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for seed in [7] * 6 + [8]]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        outs.append(out.strip())
    assert len(set(outs[:6])) == 1, outs
    assert outs[6] != outs[0]  # and the digest does depend on the seed
