"""Full-ranking evaluation of all users against one dense users x videos product plus top-k.

    python -m gcfa_dgl.bench.evaluate [--chunks 16 64 256] [--repeats 5] [--datasets ml1m synthetic:1000000]
                                      [--json f]

On ML-1M (or its synthetic stand-in) and on synthetic data with 1M interactions (the shape of
`bench.prep`), every user with a
validation video is scored against all videos by a dot-product model with random 64-d towers:
- reference: `torch.topk(zu @ zv.T, K)` over all those users at once (no masking, no metrics);
- ours: `Evaluator` with the default `eval.full_auc=false` (chunks of users, train videos masked,
  Recall/NDCG/HR@10,20 and MRR), for each `eval.chunk_mb` in `--chunks`;
- ours with `eval.full_auc=true` (a sort of every row), at the default chunk size.
Timings are interleaved in one process, median of `--repeats`. Memory is measured once per case
in a fresh child process (so no allocator cache from earlier calls hides it): the peak RSS above
the level just before the call, polled every 2 ms. The reference's users x videos matrix shows
against our chunk bound.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from gcfa_dgl.bench.common import (
    PeakRSS,
    compose_prep,
    interleaved_medians,
    ml1m_overrides,
    run_child,
    write_json,
)
from gcfa_dgl.bench.prep import synthetic
from gcfa_dgl.distributed import usable_cores


class DotModel:
    """Random towers scored by dot product: the evaluation cost without any model cost."""

    def __init__(self, n_users: int, n_videos: int, dim: int = 64) -> None:
        gen = torch.Generator().manual_seed(0)
        self.zu, self.zv = torch.randn(n_users, dim, generator=gen), torch.randn(n_videos, dim, generator=gen)

    def eval(self) -> None:
        pass

    def score_matrix(self, zu: torch.Tensor, zv: torch.Tensor) -> torch.Tensor:
        return zu @ zv.T


def cases(data, chunks: list[int]) -> dict:
    """name -> a call that evaluates every user with a validation video once."""
    from gcfa_dgl.evaluate import Evaluator

    model = DotModel(data.n_users, data.n_videos)
    z = (model.zu, model.zv)
    default = 64 if 64 in chunks else chunks[0]
    ev = {c: Evaluator(data, [1], [10, 20], chunk_mb=c) for c in chunks}
    ev_auc = Evaluator(data, [1], [10, 20], chunk_mb=default, full_auc=True)
    indptr = ev[default].valid_csr[0]
    users = torch.nonzero(indptr[1:] > indptr[:-1]).squeeze(1)
    out = {"dense product + topk": lambda: torch.topk(model.zu[users] @ model.zv.T, 20, dim=1)}
    for c, e in ev.items():
        out[f"Evaluator, chunk {c} MiB"] = lambda e=e: e._full(model, *z, "valid")
    out[f"Evaluator with full AUC, chunk {default} MiB"] = lambda: ev_auc._full(model, *z, "valid")
    return out, int(len(users))


def load(which: str):
    """A processed dataset by name: "ml1m" (ML-1M or its stand-in), "synthetic:N", or Hydra
    dataset overrides joined by spaces."""
    from data_prep.pipeline import prepare
    from gcfa_dgl.data import load_processed

    if which == "ml1m":
        overrides, label = ml1m_overrides()
    elif which.startswith("synthetic:"):
        n = int(which.split(":", 1)[1])
        overrides, label = synthetic(n), f"synthetic, {n:,} interactions"
    else:
        overrides, label = which.split(), which
    return load_processed(prepare(compose_prep(overrides))), label


def child_memory(which: str, chunks: list[int], case: str) -> float:
    """Peak RSS above the start, in MiB, of one call of `case` in this fresh process."""
    data, _ = load(which)
    fn = cases(data, chunks)[0][case]
    with PeakRSS() as peak:
        fn()
    return peak.peak_gb * 1024


def bench_dataset(which: str, chunks: list[int], repeats: int) -> dict:
    data, label = load(which)
    calls, n_users = cases(data, chunks)
    times = interleaved_medians(calls, repeats)
    mem = {}
    for k in calls:
        cmd = [sys.executable, "-m", "gcfa_dgl.bench.evaluate", "--child", which, k, "--chunks", *map(str, chunks)]
        mem[k] = round(json.loads(run_child(cmd)["stdout"].strip().splitlines()[-1])["peak_extra_mb"], 1)
    ref = times["dense product + topk"]
    return {
        "dataset": label, "users": n_users, "videos": data.n_videos,
        "dense_matrix_mb": round(n_users * data.n_videos * 4 / 2**20, 1),
        "seconds": {k: round(v, 4) for k, v in times.items()},
        "ratio_vs_dense": {k: round(v / ref, 3) for k, v in times.items()},
        "peak_extra_mb": mem,
    }


def run(chunks: list[int], repeats: int, datasets: list[str]) -> dict:
    return {"threads": torch.get_num_threads(), "cores": usable_cores(), "repeats": repeats,
            "results": [bench_dataset(w, chunks, repeats) for w in datasets]}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chunks", type=int, nargs="+", default=[16, 64, 256])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--datasets", nargs="+", default=["ml1m", "synthetic:1000000"],
                   help='"ml1m", "synthetic:N", or dataset overrides in one quoted string')
    p.add_argument("--child", nargs=2, metavar=("DATASET", "CASE"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        print(json.dumps({"peak_extra_mb": child_memory(a.child[0], a.chunks, a.child[1])}))
        return {}
    res = run(a.chunks, a.repeats, a.datasets)
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
