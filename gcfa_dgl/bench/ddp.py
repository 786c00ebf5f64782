"""Training throughput of 2-process DDP (gloo) against 1 process, same global batch.

    python -m gcfa_dgl.bench.ddp [--interactions 100000] [--batch 1024] [--repeats 3] [--json f]

Each measurement is one epoch of GCFA through the real entry point on a seeded synthetic dataset:
1 process with `--batch` edges per step and every core, against `torchrun --nproc_per_node=2` with
half the batch per rank and one thread per rank (so both use the whole machine). Throughput is
training positive pairs per second of the epoch (rank 0's clock, which includes waiting for the
other rank); runs are interleaved and the median of `--repeats` is reported with the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from gcfa_dgl.bench.common import CONF, write_json
from gcfa_dgl.distributed import usable_cores


def _train(args: list[str], out: Path, procs: int) -> float:
    cmd = [sys.executable, "-m", "gcfa_dgl.train", *args, f"hydra.run.dir={out}"]
    env = dict(os.environ)
    if procs > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={procs}", "--master_port=29531",
               *cmd[1:], "trainer.ddp=true"]
        env["OMP_NUM_THREADS"] = str(max(1, usable_cores() // procs))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=CONF.parent)
    if r.returncode != 0:
        sys.exit(f"error: training failed ({' '.join(cmd)}):\n{r.stderr[-2000:]}")
    return json.loads((out / "timing.json").read_text())["epoch_seconds"][0]


def run(interactions: int, batch: int, repeats: int) -> dict:
    n_users, n_items = max(100, interactions // 50), max(50, interactions // 100)
    with tempfile.TemporaryDirectory(prefix="gcfa-bench-ddp-") as tmp:
        base = ["dataset=synthetic", "dataset.name=synthetic_bench_ddp", f"dataset.synthetic.n_users={n_users}",
                f"dataset.synthetic.n_items={n_items}", f"dataset.synthetic.n_interactions={interactions}",
                f"paths.processed_dir={tmp}/processed", "train.epochs=1", "train.tensorboard=false",
                "eval.protocols=[sampled]", "train.monitor=sampled/auc"]
        meta = None
        secs: dict[int, list[float]] = {1: [], 2: []}
        for i in range(repeats):
            for procs in (1, 2):
                out = Path(tmp) / f"run{i}_{procs}"
                secs[procs].append(_train([*base, f"sampler.batch_size={batch // procs}"], out, procs))
                if meta is None:
                    meta = json.loads(next(Path(tmp, "processed").rglob("meta.json")).read_text())
    n_train = meta["counts"]["train"]
    rate = {p: n_train / statistics.median(s) for p, s in secs.items()}
    return {"dataset": f"synthetic, {interactions:,} interactions ({n_train:,} train edges)",
            "global_batch": batch, "cores": usable_cores(), "repeats": repeats, "epoch_seconds": secs,
            "pairs_per_second": {"1 process": rate[1], "2 processes (DDP, gloo)": rate[2]},
            "ratio_2_over_1": rate[2] / rate[1]}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--interactions", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    res = run(a.interactions, a.batch, a.repeats)
    print(f"GCFA, one epoch, {res['dataset']}, global batch {a.batch}, {res['cores']} cores, median of {a.repeats}")
    print("| setting | training pairs / s | ratio |\n|---|---:|---:|")
    base = res["pairs_per_second"]["1 process"]
    for name, r in res["pairs_per_second"].items():
        print(f"| {name} | {r:,.0f} | ×{r / base:.2f} |")
    if a.json:
        write_json(a.json, res)


if __name__ == "__main__":
    main()
