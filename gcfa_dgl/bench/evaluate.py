"""Full-ranking evaluation of all users against one dense users x videos product plus top-k.

    python -m gcfa_dgl.bench.evaluate [--chunks 16 64 256] [--repeats 5] [--json f]

On ML-1M (or its synthetic stand-in) and on synthetic data with 1M interactions, every user with a
validation video is scored against all videos by a dot-product model with random 64-d towers:
- reference: `torch.topk(zu @ zv.T, K)` over all those users at once (no masking, no metrics);
- ours: `Evaluator` with the default `eval.full_auc=false` (chunks of users, train videos masked,
  Recall/NDCG/HR@10,20 and MRR), for each `eval.chunk_mb` in `--chunks`;
- ours with `eval.full_auc=true` (a sort of every row), at the default chunk size.
Timings are interleaved, median of `--repeats`; memory is the peak RSS above the level before
the call (polled), so the reference's users x videos matrix shows against our chunk bound.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from gcfa_dgl.bench.common import PeakRSS, compose_prep, median, ml1m_sized, write_json

SYNTHETIC_1M = ["dataset=synthetic", "dataset.name=synthetic_1000000", "dataset.synthetic.n_interactions=1000000",
                "dataset.synthetic.n_users=10000", "dataset.synthetic.n_items=1000", "dataset.synthetic.n_info=50"]


class DotModel:
    """Random towers scored by dot product: the evaluation cost without any model cost."""

    def __init__(self, n_users: int, n_videos: int, dim: int = 64) -> None:
        gen = torch.Generator().manual_seed(0)
        self.zu, self.zv = torch.randn(n_users, dim, generator=gen), torch.randn(n_videos, dim, generator=gen)

    def eval(self) -> None:
        pass

    def score_matrix(self, zu: torch.Tensor, zv: torch.Tensor) -> torch.Tensor:
        return zu @ zv.T


def measure(fn, repeats: int) -> tuple[float, float]:
    """(median seconds, max peak RSS above the start in GB) of `repeats` calls."""
    secs, mem = [], []
    for _ in range(repeats):
        with PeakRSS() as peak:
            t = time.perf_counter()
            fn()
            secs.append(time.perf_counter() - t)
        mem.append(peak.peak_gb)
    return median(secs), max(mem)


def bench_dataset(data, label: str, chunks: list[int], repeats: int) -> dict:
    from gcfa_dgl.evaluate import Evaluator

    model = DotModel(data.n_users, data.n_videos)
    z = (model.zu, model.zv)
    ev = {c: Evaluator(data, [1], [10, 20], chunk_mb=c) for c in chunks}
    default = 64 if 64 in chunks else chunks[0]
    ev_auc = Evaluator(data, [1], [10, 20], chunk_mb=default, full_auc=True)
    indptr = ev[default].valid_csr[0]
    users = torch.nonzero(indptr[1:] > indptr[:-1]).squeeze(1)

    def reference():
        torch.topk(model.zu[users] @ model.zv.T, 20, dim=1)

    cases = {"dense product + topk": reference}
    for c, e in ev.items():
        cases[f"Evaluator, chunk {c} MiB"] = lambda e=e: e._full(model, *z, "valid")
    cases[f"Evaluator with full AUC, chunk {default} MiB"] = lambda: ev_auc._full(model, *z, "valid")
    for fn in cases.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    mems: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeats):
        for k, fn in cases.items():
            s, m = measure(fn, 1)
            times[k].append(s)
            mems[k].append(m)
    ref = median(times["dense product + topk"])
    return {
        "dataset": label, "users": int(len(users)), "videos": data.n_videos,
        "dense_matrix_mb": round(len(users) * data.n_videos * 4 / 2**20, 1),
        "seconds": {k: round(median(v), 4) for k, v in times.items()},
        "ratio_vs_dense": {k: round(median(v) / ref, 3) for k, v in times.items()},
        "peak_extra_mb": {k: round(max(v) * 1024, 1) for k, v in mems.items()},
    }


def run(chunks: list[int], repeats: int) -> dict:
    from data_prep.pipeline import prepare
    from gcfa_dgl.data import load_processed

    ml1m, label = ml1m_sized()
    syn = load_processed(prepare(compose_prep(SYNTHETIC_1M)))
    return {"threads": torch.get_num_threads(), "cores": os.cpu_count(), "repeats": repeats,
            "results": [bench_dataset(ml1m, label, chunks, repeats),
                        bench_dataset(syn, "synthetic, 1,000,000 interactions", chunks, repeats)]}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chunks", type=int, nargs="+", default=[16, 64, 256])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    res = run(a.chunks, a.repeats)
    for r in res["results"]:
        print(f"{r['dataset']}: {r['users']:,} users x {r['videos']:,} videos "
              f"(dense scores {r['dense_matrix_mb']} MiB), median of {a.repeats}", file=sys.stdout)
        print("| method | seconds | ratio | peak extra memory |\n|---|---:|---:|---:|")
        for k, s in r["seconds"].items():
            print(f"| {k} | {s:.3f} | x{r['ratio_vs_dense'][k]:.2f} | {r['peak_extra_mb'][k]:.0f} MiB |")
    if a.json:
        write_json(a.json, res)
    return res


if __name__ == "__main__":
    main()
