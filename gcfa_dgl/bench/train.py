"""Training speed and memory on ML-1M through the entry point: every model, two processes at once,
or each model's time to its best epoch.

    python -m gcfa_dgl.bench.train [--suite models|parallel|best] [--only NAME ...] [--batch 4096]
                                   [--max-batches N] [--repeats 3] [--data k=v ...] [--json f]

Each setting trains one epoch (or `--max-batches` batches, scaled to an epoch) of Table 1's ML-1M
setting (`experiment=table1_ml1m`) in fresh processes, settings interleaved, median of `--repeats`
(peak RSS: the maximum over a whole process).
- `models`: every model with its Table 1 sampler at the same batch size, and GCFA variants;
- `parallel`: GCFA as two runs started together under several thread settings, and as one run over
  two DDP processes (half the batch each). Each process holds two OpenMP runtimes (torch's and
  DGL's) whose idle threads spin before they sleep: processes that together ask for more threads
  than there are cores take the cores from each other.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gcfa_dgl.bench import common
from gcfa_dgl.distributed import usable_cores

DDP = ("-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531")
TABLE1 = {"graphrec": ["sampler=uniform"], "gcmc": ["sampler=full"]}  # each model's Table 1 sampler
VARIANTS = {"gcfa_blocks": ["sampler.scope=blocks"], "gcfa_graph": ["sampler.scope=graph"]}
# name: (processes started together, training overrides, environment, launcher)
TABLE1_MODELS = ("bpr", "neumf", "lightgcn", "simgcl", "xsimgcl", "gcmc", "graphrec", "gcfa")
SUITES = {
    "models": {m: (1, [f"model={m}", *TABLE1.get(m, [])], {}, ()) for m in TABLE1_MODELS}
    | {v: (1, ["model=gcfa", *o], {}, ()) for v, o in VARIANTS.items()},
    "parallel": {"one run, default threads": (1, [], {}, ()),
                 "one run, OMP_WAIT_POLICY=PASSIVE": (1, [], {"OMP_WAIT_POLICY": "PASSIVE"}, ()),
                 "two runs at once, default threads": (2, [], {}, ()),
                 "two runs at once, train.threads=1": (2, ["train.threads=1"], {}, ()),
                 "two runs at once, OMP_WAIT_POLICY=PASSIVE": (2, [], {"OMP_WAIT_POLICY": "PASSIVE"}, ()),
                 "one run, two DDP processes (gloo)": (1, ["distributed.ddp=true"], {"OMP_NUM_THREADS": "1"}, DDP)},
}


def run(suite: str, only: list[str] | None, batch: int, max_batches: int | None, repeats: int,
        data: list[str] | None) -> dict:
    overrides, label = (data, " ".join(data)) if data else common.ml1m()
    settings = {k: v for k, v in SUITES[suite].items() if not only or k in only}
    n_train = common.train_pairs(overrides)
    batches = math.ceil(n_train / batch)
    timed = min(max_batches or batches, batches)
    # The settings decide the OpenMP variables; the caller's own would make every row the same.
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    runs: dict[str, list[dict]] = {k: [] for k in settings}
    with tempfile.TemporaryDirectory(prefix="gcfa-bench-train-") as tmp, ThreadPoolExecutor(2) as pool:
        for r in range(repeats):  # interleaved, so drift on a shared machine hits every setting alike
            for j, (name, (n, extra, env, launcher)) in enumerate(settings.items()):
                args = ["experiment=table1_ml1m", "model=gcfa", *overrides, *extra]
                runs[name] += pool.map(lambda i, a=args, e=env, x=launcher, t=f"{r}_{j}": common.train_once(
                    a, batch // 2 if x else batch, max_batches, Path(tmp) / f"{t}_{i}", {**base, **e}, x), range(n))
                print(f"  {name}: {[round(x['seconds'], 1) for x in runs[name][-n:]]} s", file=sys.stderr, flush=True)
    per_batch = {k: common.median([x["seconds"] for x in v]) / timed for k, v in runs.items()}
    rate = {k: settings[k][0] * batch / s for k, s in per_batch.items()}
    ref = "lightgcn" if suite == "models" else next(iter(settings))
    ratio = {k: round(per_batch[k] / per_batch[ref], 3) for k in settings if ref in per_batch}
    return {"title": "Training speed and memory on ML-1M" if suite == "models" else "Two processes on the same cores",
            "text": f"`python -m gcfa_dgl.bench.train --suite {suite}`: {label}, {n_train:,} training pairs, batch {batch} "
                    f"({batches} per epoch), {'one full epoch' if timed == batches else f'{timed} batches'} per run, "
                    f"median of {repeats}, {usable_cores()} core(s); peak RSS of a whole training process.",
            "tables": [{"columns": ["setting", "s / batch", "s / epoch", "training pairs / s, all runs", "time ratio",
                                    "peak RSS (GB)"],
                        "rows": [[k, round(s, 4), round(s * batches, 1), round(rate[k]), f"×{ratio.get(k, float('nan')):.2f}",
                                  round(max(x["peak_rss_gb"] for x in runs[k]), 2)] for k, s in per_batch.items()]}],
            "notes": [f"Time ratio: seconds per batch against {ref}'s."],
            "train_edges": n_train, "batch": batch, "seconds_per_epoch": {k: round(s * batches, 2) for k, s in per_batch.items()},
            "ratio": ratio, "runs_seconds": {k: [x["seconds"] for x in v] for k, v in runs.items()}}


def time_to_best(models: list[str], data: list[str] | None) -> dict:
    """Each model trained to early stopping in Table 1's ML-1M setting: wall time (training and
    validation) to its best validation epoch, and that epoch's validation and test NDCG@20."""
    overrides, label = (data, " ".join(data)) if data else common.ml1m()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gcfa-bench-best-") as tmp:
        for m in models:
            out = Path(tmp) / m
            common.run_child([sys.executable, "-m", "gcfa_dgl.train", "experiment=table1_ml1m", *overrides,
                              f"model={m}", *TABLE1.get(m, []), "train.tensorboard=false", f"hydra.run.dir={out}"])
            met, tim = (json.loads((out / f).read_text()) for f in ("metrics.json", "timing.json"))
            b = met["best_epoch"]
            rows.append([m, b, len(met["history"]), tim["elapsed_seconds"][b - 1] if b else tim["fit_seconds"] or 0.0,
                         round(met["best_valid"], 4), round(met["test"]["full/ndcg@20"], 4)])
            print(f"  {m}: best epoch {b}, {rows[-1][3]} s", file=sys.stderr, flush=True)
    return {"title": "Time to a good model on ML-1M",
            "text": f"`python -m gcfa_dgl.bench.train --suite best`: {label}, every model with Table 1's ML-1M protocol "
                    "(`experiment=table1_ml1m`: batch 4,096, early stopping on validation NDCG@20), default threads; wall "
                    "time of training and validation up to the best epoch.",
            "tables": [{"columns": ["model", "best epoch", "epochs run", "s to best", "valid NDCG@20", "test NDCG@20"],
                        "rows": rows}]}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", choices=[*SUITES, "best"], default="models")
    p.add_argument("--only", nargs="+", help="only these settings (rows) of the suite")
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--max-batches", type=int)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data", nargs="+", help="dataset overrides in place of ML-1M")
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    if a.suite == "best":
        return common.finish(time_to_best(a.only or ["pop", "ease", *TABLE1_MODELS], a.data), a.json)
    if set(a.only or []) - set(SUITES[a.suite]):
        p.error(f"--only: unknown setting(s) {sorted(set(a.only) - set(SUITES[a.suite]))}; known: {list(SUITES[a.suite])}")
    return common.finish(run(a.suite, a.only, a.batch, a.max_batches, a.repeats, a.data), a.json)


if __name__ == "__main__":
    main()
