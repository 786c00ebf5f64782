"""Where a GCFA training step spends its time on ML-1M: phases and the heaviest operators.

    python -m gcfa_dgl.bench.profile [--batch 4096] [--batches 20] [--data k=v ...] [--json f] [overrides ...]

Builds a run's own pieces (`gcfa_dgl.factory`) and times `--batches` steps after 3 warm-up steps:
sampling (the loader's next batch), forward, backward and the optimiser; then torch.profiler's
operators by self CPU time. Extra arguments are training overrides.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from gcfa_dgl.bench import common
from gcfa_dgl.factory import build_model, load_data, training_loader
from gcfa_dgl.seeding import seed_all


def run(batch: int, batches: int, overrides: list[str], data_args: list[str] | None) -> dict:
    data_overrides, label = (data_args, " ".join(data_args)) if data_args else common.ml1m()
    cfg = common.config(["experiment=table1_ml1m", *data_overrides, "model=gcfa", f"sampler.batch_size={batch}", *overrides])
    data = load_data(cfg)
    seed_all(cfg.seed)
    model = build_model(cfg, data).train()
    it, opt = iter(training_loader(cfg, data, model)), torch.optim.Adam(model.parameters(), lr=model.lr)
    phases = dict.fromkeys(("sampling", "forward", "backward", "optimiser"), 0.0)

    def step(timed: bool) -> None:
        t = [time.perf_counter()]
        input_nodes, pair, neg, blocks = next(it)
        t.append(time.perf_counter())
        pos, negative, reg = model(input_nodes, pair, neg, blocks)
        loss = model.loss(pos, negative) + reg
        t.append(time.perf_counter())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t.append(time.perf_counter())
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        opt.step()
        t.append(time.perf_counter())
        for k, a, b in zip(phases, t, t[1:]):
            phases[k] += (b - a) * timed

    for i in range(3 + batches):
        step(i >= 3)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(batches):
            step(False)
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops) or 1.0
    per_step = {k: round(v / batches, 4) for k, v in phases.items()}
    step_total = sum(per_step.values())
    return {"title": "Profile of a GCFA training step",
            "text": f"`python -m gcfa_dgl.bench.profile`: {label}, batch {batch}, {batches} steps, "
                    f"{torch.get_num_threads()} threads: {step_total:.3f} s per step.",
            "tables": [{"columns": ["phase", "s / step", "share"],
                        "rows": [[k, v, f"{v / step_total:.0%}"] for k, v in per_step.items()]},
                       {"columns": ["operator (torch.profiler, self CPU)", "share", "calls / step"],
                        "rows": [[f"`{e.key}`", f"{e.self_cpu_time_total / total:.1%}", round(e.count / batches)]
                                 for e in ops[:10]]}],
            "seconds_per_step": per_step, "overrides": overrides}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--data", nargs="+", help="dataset overrides in place of ML-1M")
    p.add_argument("--json", type=Path)
    a, overrides = p.parse_known_args(argv)
    return common.finish(run(a.batch, a.batches, overrides, a.data), a.json)


if __name__ == "__main__":
    main()
