"""Training speed and memory of every model on ML-1M, one epoch each, through the real entry point.

    python -m gcfa_dgl.bench.train [--models gcfa lightgcn ...] [--batch 4096] [--repeats 3]
                                   [--max-batches N] [--json f]

Every model trains one epoch of Table 1's ML-1M setting (`experiment=table1_ml1m`, each model
with its Table 1 sampler) at the same batch size, in a fresh child process; `gcfa_dgl_kernel` is
GCFA with weighted draws by DGL's kernel (`sampler.kernel=dgl`), `gcfa_topk` GCFA with
`sampler=topk`, `gcfa_topk_att16` that with `model.attention_dim=16`. Seconds per epoch come
from the run's `timing.json` (the batch loop only, not data loading or evaluation); throughput is
training positive pairs per second; peak RSS is the child's whole lifetime (loading, training, its
final evaluation). Models are interleaved and each figure is the median of `--repeats` runs
(RSS: the maximum). `--max-batches N` times only N batches and scales to a full epoch (for
quick checks; the shuffled edge loader makes every batch alike). Without ML-1M under
GCFA_RAW_DIR, a synthetic dataset of ML-1M's size stands in.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

from gcfa_dgl.bench.common import median, ml1m_overrides, run_child, train_pairs, write_json
from gcfa_dgl.distributed import usable_cores

# Each model's sampler in Table 1 (the Makefile's table1 target): GraphRec samples uniformly,
# GC-MC convolves over full neighbourhoods; the others use the defaults.
TABLE1_SAMPLERS = {
    "graphrec": ["sampler=uniform"],
    "gcmc": ["sampler=full", "sampler.fanouts=[-1]"],
}
# Variants timed as extra rows: name -> (model, overrides).
VARIANTS = {"gcfa_dgl_kernel": ("gcfa", ["sampler.kernel=dgl"]),
            "gcfa_topk": ("gcfa", ["sampler=topk"]),
            "gcfa_topk_att16": ("gcfa", ["sampler=topk", "model.attention_dim=16"])}
MODELS = ["bpr", "neumf", "lightgcn", "gcmc", "graphrec", "gcfa", "gcfa_dgl_kernel", "gcfa_topk", "gcfa_topk_att16"]


def train_once(model: str, overrides: list[str], batch: int, max_batches: int | None, out: Path,
               experiment: str = "table1_ml1m", env: dict | None = None) -> dict:
    """One epoch in a child process: its batch-loop seconds, the child's peak RSS and what an
    average batch touched (input nodes, sampled edges)."""
    model, extra = VARIANTS.get(model, (model, []))
    cmd = [sys.executable, "-m", "gcfa_dgl.train", f"experiment={experiment}", *overrides, f"model={model}",
           *TABLE1_SAMPLERS.get(model, []), *extra, f"sampler.batch_size={batch}", "train.epochs=1",
           "eval.protocols=[sampled]", "train.monitor=sampled/auc", "eval.full_auc=false",
           "train.tensorboard=false", f"hydra.run.dir={out}"]
    if max_batches:
        cmd.append(f"train.max_batches={max_batches}")
    r = run_child(cmd, env=env)
    timing = json.loads((out / "timing.json").read_text())
    return {"seconds": timing["epoch_seconds"][0], "peak_rss_gb": r["peak_rss_gb"],
            "batch_work": timing["batch_work"][0]}


def train_edges(out: Path) -> int:
    """Training interactions of the dataset a finished run used (its saved config)."""
    from gcfa_dgl.report import run_config

    return train_pairs(run_config(out))


def run(models: list[str], batch: int, repeats: int, max_batches: int | None,
        data: list[str] | None = None) -> dict:
    overrides, label = (data, "custom: " + " ".join(data)) if data else ml1m_overrides()
    runs: dict[str, list[dict]] = {m: [] for m in models}
    n_train = None
    with tempfile.TemporaryDirectory(prefix="gcfa-bench-train-") as tmp:
        for i in range(repeats):  # interleaved, so drift on a shared machine hits every model alike
            for m in models:
                out = Path(tmp) / f"{m}_{i}"
                runs[m].append(train_once(m, overrides, batch, max_batches, out))
                if n_train is None:
                    n_train = train_edges(out)
                print(f"  {m:<9} run {i + 1}/{repeats}: {runs[m][-1]['seconds']:.1f} s", file=sys.stderr, flush=True)
    assert n_train is not None
    batches = math.ceil(n_train / batch)
    rows = {}
    for m, rs in runs.items():
        measured = median([r["seconds"] for r in rs])
        per_epoch = measured * batches / min(max_batches, batches) if max_batches else measured
        rows[m] = {"seconds_per_epoch": round(per_epoch, 2), "pairs_per_second": round(n_train / per_epoch),
                   "peak_rss_gb": round(max(r["peak_rss_gb"] for r in rs), 2),
                   "runs_seconds": [r["seconds"] for r in rs]}
    ref = rows.get("lightgcn", {}).get("seconds_per_epoch")

    def over_lightgcn(m: str) -> float | None:
        return round(rows[m]["seconds_per_epoch"] / ref, 3) if ref and m in rows else None

    return {"dataset": label, "train_edges": n_train, "batch": batch, "batches_per_epoch": batches,
            "max_batches": max_batches, "repeats": repeats, "cores": usable_cores(), "models": rows,
            "variants": {v: VARIANTS[v][1] for v in rows if v in VARIANTS},
            "over_lightgcn": {m: over_lightgcn(m) for m in rows if m.startswith("gcfa") and ref},
            "gcfa_over_lightgcn": over_lightgcn("gcfa"), "gcfa_topk_over_lightgcn": over_lightgcn("gcfa_topk")}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-batches", type=int, default=None)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--data", nargs="+", default=None, help="dataset overrides in place of ML-1M")
    a = p.parse_args(argv)
    res = run(a.models, a.batch, a.repeats, a.max_batches, a.data)
    print(f"{res['dataset']}: {res['train_edges']:,} training pairs, batch {a.batch}, median of {a.repeats}")
    print("| model | s / epoch | pairs / s | peak RSS |\n|---|---:|---:|---:|")
    for m, r in res["models"].items():
        print(f"| {m} | {r['seconds_per_epoch']:.1f} | {r['pairs_per_second']:,} | {r['peak_rss_gb']:.2f} GB |")
    for m, ratio in res["over_lightgcn"].items():
        how = " ".join(res["variants"].get(m, [])) or "defaults"
        print(f"{m} ({how}) / lightgcn seconds per epoch: x{ratio:.2f}")
    if a.json:
        write_json(a.json, res)
    return res


if __name__ == "__main__":
    main()
