"""How one GCFA training epoch grows with the data: synthetic 1M, 5M and 20M interactions.

    python -m gcfa_dgl.bench.epoch [--interactions 1000000 5000000 20000000] [--batch 4096]
                                   [--max-batches 50] [--repeats 3] [--model gcfa|gcfa_topk]
                                   [--batches-per-epoch N]
                                   [--synthetic-overrides k=v ...] [--json f]

The synthetic datasets of `bench.prep` (1 user per 100 and 1 video per 1,000 interactions),
prepared first if needed. Each measurement is a child process of the real entry point (GCFA,
Table 1 protocol) that trains `--max-batches` batches; seconds per epoch are the median batch's
time (loading included) times the epoch's batch count, so they grow linearly exactly when the
cost of a batch does not grow with the graph. The median leaves out the first batches' one-time
costs, which a whole epoch amortises; the mean over the timed batches is kept beside it. Each
row also records what an average batch touched (input nodes and sampled block edges), which
shows whether a batch costs more on a larger graph. Peak RSS is the child's
(loading, training, its final sampled evaluation).
Median of `--repeats` (RSS: maximum); the fitted exponents over sizes are the figures of merit.
`--model gcfa_topk` measures GCFA with `sampler=topk` (the k tightest neighbours, from lists
ranked once per graph) instead of the default weighted sampler. `--batches-per-epoch N` grows
the batch with the data instead of fixing it: each size trains with batch ceil(train pairs / N),
so every epoch has N batches (pass a smaller `--max-batches`: the batches are large).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

from gcfa_dgl.bench.common import loglog_slope, median, run_child, train_count, write_json
from gcfa_dgl.bench.prep import synthetic
from gcfa_dgl.bench.train import train_edges, train_once
from gcfa_dgl.distributed import usable_cores


def run(sizes: list[int], batch: int, max_batches: int, repeats: int, synthetic_overrides: list[str] | None = None,
        model: str = "gcfa", batches_per_epoch: int | None = None) -> dict:
    """`batches_per_epoch`: grow the batch with the data (ceil(train pairs / it)) instead of `batch`."""
    extra = list(synthetic_overrides or [])
    rows, sampler = [], {}
    with tempfile.TemporaryDirectory(prefix="gcfa-bench-epoch-") as tmp:
        for n in sorted(sizes):
            run_child([sys.executable, "-m", "data_prep", *synthetic(n), *extra])  # a no-op when prepared: RSS is training's
            n_train = train_count(synthetic(n) + extra)
            size_batch = math.ceil(n_train / batches_per_epoch) if batches_per_epoch else batch
            runs = []
            for i in range(repeats):
                out = Path(tmp) / f"{n}_{i}"
                runs.append(train_once(model, synthetic(n) + extra, size_batch, max_batches, out, experiment="table1"))
                print(f"  {n:,}: run {i + 1}/{repeats} {runs[-1]['seconds']:.1f} s", file=sys.stderr, flush=True)
            trained = train_edges(out)
            if trained != n_train:  # the prep config and the run's must select the same data
                raise RuntimeError(f"{out}: the run trained on {trained:,} pairs, not {n_train:,}")
            sampler = sampler_settings(out)
            batches = math.ceil(n_train / size_batch)
            # A batch's steady cost: the median batch of each run (the first batches also pay one-time
            # costs, such as building the weighted draws' index, which a whole epoch amortises).
            per_batch = median([r["batch_work"]["median_batch_seconds"] for r in runs])
            with_warmup = median([r["seconds"] for r in runs]) / min(max_batches, batches)
            rows.append({"interactions": n, "train_edges": n_train, "batch": size_batch, "batches_per_epoch": batches,
                         "seconds_per_batch": round(per_batch, 4),
                         "seconds_per_batch_with_warmup": round(with_warmup, 4),
                         "seconds_per_epoch": round(per_batch * batches, 1),
                         "input_nodes_per_batch": runs[0]["batch_work"]["input_nodes"],
                         "sampled_edges_per_batch": runs[0]["batch_work"]["sampled_edges"],
                         "peak_rss_gb": round(max(r["peak_rss_gb"] for r in runs), 3)})
    fit = {}
    if len(rows) >= 2:
        x = [r["interactions"] for r in rows]
        fit = {"seconds_per_epoch": round(loglog_slope(x, [r["seconds_per_epoch"] for r in rows]), 3),
               "peak_rss_gb": round(loglog_slope(x, [r["peak_rss_gb"] for r in rows]), 3),
               "seconds_per_batch": round(loglog_slope(x, [r["seconds_per_batch"] for r in rows]), 3),
               "sampled_edges_per_batch": round(loglog_slope(x, [r["sampled_edges_per_batch"] for r in rows]), 3)}
    return {"model": model, "sampler": sampler, "per_batch": "median", "batch": None if batches_per_epoch else batch,
            "batches_per_epoch": batches_per_epoch, "max_batches": max_batches,
            "repeats": repeats, "cores": usable_cores(), "sizes": rows, "exponent": fit, "synthetic_overrides": extra}


def sampler_settings(out: Path) -> dict:
    """The sampler mode and weighted kernel a finished run used (its saved config)."""
    from gcfa_dgl.report import run_config

    s = run_config(out).sampler
    return {"mode": str(s.mode), "kernel": str(s.get("kernel", "dgl"))}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--interactions", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000])
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--max-batches", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--synthetic-overrides", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--model", choices=["gcfa", "gcfa_topk"], default="gcfa")
    p.add_argument("--batches-per-epoch", type=int, default=None,
                   help="grow the batch with the data: ceil(train pairs / N) at each size, in place of --batch")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    if a.batches_per_epoch is not None and a.batches_per_epoch < 1:
        p.error(f"--batches-per-epoch must be at least 1, got {a.batches_per_epoch}")
    res = run(a.interactions, a.batch, a.max_batches, a.repeats, a.synthetic_overrides, a.model, a.batches_per_epoch)
    how = f"{a.batches_per_epoch} batches per epoch" if a.batches_per_epoch else f"batch {a.batch}"
    print(f"{a.model}, {how}, {a.max_batches} batches timed, median of {a.repeats}")
    print("| interactions | batch | s / batch | s / epoch | sampled edges / batch | peak RSS |\n|---:|---:|---:|---:|---:|---:|")
    for r in res["sizes"]:
        print(f"| {r['interactions']:,} | {r['batch']:,} | {r['seconds_per_batch']:.3f} | {r['seconds_per_epoch']:.0f} | "
              f"{r['sampled_edges_per_batch']:,} | {r['peak_rss_gb']:.2f} GB |")
    if res["exponent"]:
        x = res["exponent"]
        print(f"fitted exponent: time {x['seconds_per_epoch']:.2f}, memory {x['peak_rss_gb']:.2f}; per batch: "
              f"time {x['seconds_per_batch']:.2f}, sampled edges {x['sampled_edges_per_batch']:.2f}")
    if a.json:
        write_json(a.json, res)
    return res


if __name__ == "__main__":
    main()
