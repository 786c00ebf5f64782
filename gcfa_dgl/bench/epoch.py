"""How one GCFA training epoch grows with the data: synthetic 1M, 5M and 20M interactions.

    python -m gcfa_dgl.bench.epoch [--interactions 1000000 5000000 20000000] [--batch 4096]
                                   [--batches-per-epoch N] [--max-batches 50] [--repeats 3]
                                   [--synthetic-overrides k=v ...] [--overrides k=v ...] [--json f]

Each size (the synthetic data of `bench.prep`, prepared first) trains `--max-batches` batches of
GCFA through the entry point in a fresh process. An epoch's seconds are the median batch's
(loading included, which leaves out first-batch costs) times the batch count, so they grow
linearly exactly when a batch's cost does not grow with the graph. `--batches-per-epoch N` grows
the batch with the data instead (training pairs / N); `--overrides` change the training config.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

from gcfa_dgl.bench import common

COLUMNS = {"interactions": "interactions", "batch": "batch", "scope": "scope", "seconds_per_batch": "s / batch",
           "seconds_per_epoch": "s / epoch", "input_nodes": "input nodes / batch", "sampled_edges": "sampled edges / batch",
           "us_per_sampled_edge": "µs / sampled edge", "peak_rss_gb": "peak RSS (GB)"}


def size(n: int, batch: int, per_epoch: int | None, max_batches: int, repeats: int, data: list[str],
         overrides: list[str], tmp: str) -> dict:
    common.run_child([sys.executable, "-m", "data_prep", *data])  # prepared first: the RSS is training's alone
    n_train = common.train_pairs(data)
    b = math.ceil(n_train / per_epoch) if per_epoch else batch
    runs = [common.train_once(["experiment=table1", "model=gcfa", *data, *overrides], b, max_batches,
                              Path(tmp) / f"{n}_{i}") for i in range(repeats)]
    per_batch = common.median([r["median_batch_seconds"] for r in runs])
    print(f"  {n:,}: {per_batch:.3f} s per batch", file=sys.stderr, flush=True)
    return {"interactions": n, "train_edges": n_train, "batch": b, "scope": runs[0]["scope"], "seconds_per_batch": round(per_batch, 4),
            "seconds_per_epoch": round(per_batch * math.ceil(n_train / b), 1), "input_nodes": runs[0]["input_nodes"],
            "sampled_edges": runs[0]["sampled_edges"], "us_per_sampled_edge": round(per_batch / runs[0]["sampled_edges"] * 1e6, 3),
            "peak_rss_gb": round(max(r["peak_rss_gb"] for r in runs), 2)}


def run(sizes: list[int], batch: int, per_epoch: int | None, max_batches: int, repeats: int, extra: list[str],
        overrides: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="gcfa-bench-epoch-") as tmp:
        rows = [size(n, batch, per_epoch, max_batches, repeats, common.synthetic(n) + extra, overrides, tmp)
                for n in sorted(sizes)]
    x = [r["interactions"] for r in rows]
    fit = {k: common.slope(x, [r[k] for r in rows]) for k in ("seconds_per_epoch", "peak_rss_gb", "seconds_per_batch",
                                                              "sampled_edges")} if len(rows) > 1 else {}
    how = (f"the batch grown with the data ({per_epoch} batches per epoch)" if per_epoch else f"batch {batch}") + \
        "".join(f", {o}" for o in [*overrides, *extra] if "max_degree" not in o)  # the cap is in the text
    return {"title": f"Scaling of a GCFA epoch: {how}",
            "text": f"`python -m gcfa_dgl.bench.epoch`: GCFA, {how}, {max_batches} batches timed, the median batch times "
                    f"the batches of an epoch, median of {repeats}; peak RSS of the training process"
                    + (f"; data prepared with `{' '.join(extra)}`." if extra else "."),
            "tables": [{"columns": list(COLUMNS.values()), "rows": [[r[k] for k in COLUMNS] for r in rows]}],
            "notes": [f"Fitted exponent: **time {fit['seconds_per_epoch']:.2f}, memory {fit['peak_rss_gb']:.2f}**; per "
                      f"batch: time {fit['seconds_per_batch']:.2f}, sampled edges {fit['sampled_edges']:.2f}."] if fit else [],
            "sizes": rows, "exponent": fit, "synthetic_overrides": extra, "overrides": overrides,
            "series": [{"label": f"GCFA epoch, {how}", "x": x, "seconds": [r["seconds_per_epoch"] for r in rows],
                        "peak_rss_gb": [r["peak_rss_gb"] for r in rows],
                        "exponent": {"seconds": fit.get("seconds_per_epoch"), "peak_rss_gb": fit.get("peak_rss_gb")}}]}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--interactions", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000])
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--batches-per-epoch", type=int)
    p.add_argument("--max-batches", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--synthetic-overrides", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--overrides", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    if a.batches_per_epoch is not None and a.batches_per_epoch < 1:
        p.error(f"--batches-per-epoch must be at least 1, got {a.batches_per_epoch}")
    return common.finish(run(a.interactions, a.batch, a.batches_per_epoch, a.max_batches, a.repeats,
                             a.synthetic_overrides, a.overrides), a.json)


if __name__ == "__main__":
    main()
