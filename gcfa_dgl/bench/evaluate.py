"""Full-ranking evaluation of all users against one dense users x videos product plus top-k.

    python -m gcfa_dgl.bench.evaluate [--chunks 16 64 256] [--repeats 5] [--datasets ml1m synthetic:1000000]
                                      [--json f]

Every user with a validation video is scored against all videos by random 64-d towers: the
reference is `torch.topk(zu @ zv.T, K)` over all of them at once (no masking, no metrics); ours is
`Evaluator` (chunks of users, train videos masked, every metric) for each `eval.chunk_mb`, and
with `eval.full_auc=true`. Timings are interleaved, median of `--repeats` after a warm-up round.
The chunks bound the evaluator's memory by construction (tests/test_metrics.py checks the plan).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from gcfa_dgl.bench.common import config, finish, median, ml1m, synthetic
from gcfa_dgl.evaluator import Evaluator
from gcfa_dgl.factory import load_data

# Random towers scored by dot product: the evaluation's cost without a model's.
DOT = SimpleNamespace(eval=lambda: None, score_matrix=lambda zu, zv: zu @ zv.T)


def run_dataset(which: str, chunks: list[int], repeats: int) -> dict:
    overrides, label = ml1m() if which == "ml1m" else (synthetic(int(which[10:])), f"synthetic, {int(which[10:]):,}")
    data = load_data(config(overrides))
    gen = torch.Generator().manual_seed(0)
    z = (torch.randn(data.n_users, 64, generator=gen), torch.randn(data.n_videos, 64, generator=gen))
    ev = {f"Evaluator, chunk {c} MiB": Evaluator(data, [1], [10, 20], chunk_mb=c) for c in chunks}
    ev["Evaluator with full AUC, chunk 64 MiB"] = Evaluator(data, [1], [10, 20], chunk_mb=64, full_auc=True)
    indptr = next(iter(ev.values())).valid_csr[0]
    users = torch.nonzero(indptr[1:] > indptr[:-1]).squeeze(1)
    calls = {"dense product + topk": lambda: torch.topk(z[0][users] @ z[1].T, 20, dim=1)}
    calls.update({k: (lambda e=e: e.evaluate(DOT, None, "valid", ["full"], z)) for k, e in ev.items()})
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(repeats + 1):  # interleaved; the first round warms up
        for k, fn in calls.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    med = {k: median(v[1:]) for k, v in times.items()}
    ref = med["dense product + topk"]
    return {"caption": f"{label}: {len(users):,} users × {data.n_videos:,} videos "
                       f"(dense scores {len(users) * data.n_videos * 4 / 2**20:.0f} MiB)",
            "columns": ["method", "seconds", "ratio to dense"],
            "rows": [[k, round(s, 3), f"×{s / ref:.2f}"] for k, s in med.items()]}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chunks", type=int, nargs="+", default=[16, 64, 256])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--datasets", nargs="+", default=["ml1m", "synthetic:1000000"], help='"ml1m" or "synthetic:N"')
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    return finish({"title": "Full-ranking evaluation",
                   "text": "`python -m gcfa_dgl.bench.evaluate`: every user with a validation video against all videos, "
                           "random 64-d towers; the reference is one dense users × videos product and `torch.topk`. "
                           f"Median of {a.repeats} interleaved timings.",
                   "tables": [run_dataset(w, a.chunks, a.repeats) for w in a.datasets]}, a.json)


if __name__ == "__main__":
    main()
