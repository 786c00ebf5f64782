"""Seeds per second of ImportanceSampler against DGL's NeighborSampler(prob='tightness').

    python -m gcfa_dgl.bench.sampler [--fanouts 10 10] [--batch 1024] [--batches 40] [--json f]

Every sampler draws the same random seed batches (half users, half videos) on the ML-1M-sized
graph, interleaved, median of 5. The ratio to DGL is the figure of merit; a second DGL instance
shows the noise floor. `weighted, DGL kernel` runs DGL's weighted kernel on one thread, which is
what makes its draws reproducible.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import dgl
import torch

from gcfa_dgl.bench import common
from gcfa_dgl.dgl_compat import dgl_threads
from gcfa_dgl.factory import load_data
from gcfa_dgl.sampling import ImportanceSampler


def run(fanouts: list[int], batch: int, batches: int, repeats: int = 5) -> dict:
    overrides, label = common.ml1m()
    g = load_data(common.config(overrides)).graph
    gen = torch.Generator().manual_seed(0)
    seeds = [{"user": torch.randint(0, g.num_nodes("user"), (batch // 2,), generator=gen),
              "video": torch.randint(0, g.num_nodes("video"), (batch - batch // 2,), generator=gen)} for _ in range(batches)]
    dgl_ref = "DGL NeighborSampler(prob='tightness')"
    samplers = {dgl_ref: dgl.dataloading.NeighborSampler(fanouts, prob="tightness"),
                "DGL NeighborSampler, second instance": dgl.dataloading.NeighborSampler(fanouts, prob="tightness"),
                "weighted": ImportanceSampler(fanouts, mode="weighted"),
                "weighted, DGL kernel": ImportanceSampler(fanouts, mode="weighted", kernel="dgl"),
                "topk": ImportanceSampler(fanouts, mode="topk", deterministic=False),
                "uniform": ImportanceSampler(fanouts, mode="uniform", deterministic=False)}
    rates: dict[str, list[float]] = {k: [] for k in samplers}
    for s in samplers.values():
        s.sample(g, seeds[0])  # warm-up: per-graph caches
    for _ in range(repeats):  # interleaved, so drift on a shared machine hits all alike
        for k, s in samplers.items():
            t = time.perf_counter()
            for b in seeds:
                s.sample(g, b)
            rates[k].append(batch * batches / (time.perf_counter() - t))
    med = {k: round(common.median(v)) for k, v in rates.items()}
    return {"title": "Sampling",
            "text": f"`python -m gcfa_dgl.bench.sampler`: {label}, fanouts {fanouts}, {batch} seeds per batch, "
                    f"{dgl_threads()} DGL thread(s); seeds per second, median of {repeats}, interleaved.",
            "tables": [{"columns": ["sampler", "seeds / s", "ratio to DGL"],
                        "rows": [[k, v, f"×{v / med[dgl_ref]:.2f}"] for k, v in med.items()]}],
            "seeds_per_second": med}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fanouts", type=int, nargs="+", default=[10, 10])
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    return common.finish(run(a.fanouts, a.batch, a.batches), a.json)


if __name__ == "__main__":
    main()
