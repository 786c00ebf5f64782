"""Seeds per second of ImportanceSampler against DGL's NeighborSampler(prob='tightness').

    python -m gcfa_dgl.bench.sampler [--fanouts 10 10] [--batch 1024] [--batches 40] [--json f]

Both samplers run on the same ML-1M-sized heterograph, with the same fanouts on every edge type and
the same random seed batches (half users, half videos), interleaved, median of 5 repetitions each.
The ratio ours / DGL is the figure of merit (>= 1.0: ours is no slower); a second DGL instance
gives the noise floor of the measurement. Weighted rows use the default kernel (tensor-op draws,
reproducible on any thread count) unless they say `DGL kernel`: that one with every DGL thread, as
DGL's sampler, and once on one DGL thread (`deterministic=True`), the setting that makes DGL's
draws reproducible. Top-k and uniform use every DGL thread.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dgl
import torch

from gcfa_dgl.bench.common import median_rate, ml1m_sized, write_json
from gcfa_dgl.sampling import ImportanceSampler


def run(fanouts: list[int], batch: int, batches: int, repeats: int = 5) -> dict:
    data, label = ml1m_sized()
    g = data.graph
    gen = torch.Generator().manual_seed(0)
    seeds = [
        {"user": torch.randint(0, g.num_nodes("user"), (batch // 2,), generator=gen),
         "video": torch.randint(0, g.num_nodes("video"), (batch - batch // 2,), generator=gen)}
        for _ in range(batches)
    ]
    samplers = {
        "dgl NeighborSampler(prob='tightness')": dgl.dataloading.NeighborSampler(fanouts, prob="tightness"),
        # A second, identical DGL sampler: its ratio shows the run-to-run noise of this machine.
        "dgl NeighborSampler, second instance": dgl.dataloading.NeighborSampler(fanouts, prob="tightness"),
        "ImportanceSampler weighted": ImportanceSampler(fanouts, mode="weighted"),
        "ImportanceSampler weighted alpha=2": ImportanceSampler(fanouts, mode="weighted", alpha=2.0),
        "ImportanceSampler weighted, DGL kernel": ImportanceSampler(fanouts, mode="weighted", kernel="dgl",
                                                                    deterministic=False),
        "ImportanceSampler topk": ImportanceSampler(fanouts, mode="topk", deterministic=False),
        "ImportanceSampler uniform": ImportanceSampler(fanouts, mode="uniform", deterministic=False),
        "ImportanceSampler weighted, DGL kernel, reproducible (one DGL thread)": ImportanceSampler(
            fanouts, mode="weighted", kernel="dgl"),
    }
    for s in samplers.values():
        if isinstance(s, ImportanceSampler):
            s.prepare(g)

    def once(s):
        def go() -> int:
            for b in seeds:
                s.sample(g, b)
            return batch * batches
        return go

    for s in samplers.values():  # warm-up
        s.sample(g, seeds[0])
    rates: dict[str, list[float]] = {k: [] for k in samplers}
    for _ in range(repeats):  # interleaved, so drift on a shared machine hits all alike
        for k, s in samplers.items():
            rates[k].append(median_rate(once(s), repeats=1))
    med = {k: sorted(v)[len(v) // 2] for k, v in rates.items()}
    ref = med["dgl NeighborSampler(prob='tightness')"]
    return {
        "graph": label,
        "nodes": {nt: g.num_nodes(nt) for nt in g.ntypes},
        "edges": int(g.num_edges()),
        "fanouts": fanouts,
        "batch": batch,
        "threads": torch.get_num_threads(),
        "dgl_threads": dgl.utils.get_num_threads(),
        "seeds_per_second": {k: round(v) for k, v in med.items()},
        "ratio_vs_dgl": {k: round(v / ref, 3) for k, v in med.items()},
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fanouts", type=int, nargs="+", default=[10, 10])
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    res = run(args.fanouts, args.batch, args.batches)
    print(f"{res['graph']}: {res['edges']:,} edges, fanouts {res['fanouts']}, {res['batch']} seeds per batch")
    for k, v in res["seeds_per_second"].items():
        print(f"  {k:<58} {v:>10,} seeds/s   x{res['ratio_vs_dgl'][k]:.2f}")
    if args.json:
        write_json(args.json, res)
    return res


if __name__ == "__main__":
    main()
