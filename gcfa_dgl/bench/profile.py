"""Where a GCFA training step spends its time on ML-1M: phases and the heaviest operators.

    python -m gcfa_dgl.bench.profile [--batch 4096] [--batches 20] [--json f] [overrides ...]

Runs the trainer's own pieces (data, sampler, loader, model, Adam) for `--batches` steps after 3
warm-up steps and reports (1) seconds per step in each phase: sampling (the loader's next batch),
forward, backward, optimiser; (2) torch.profiler's operators by self CPU time over those steps.
Extra arguments are Hydra overrides of the training config (e.g. `model.attention=false`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from gcfa_dgl.bench.common import CONF, ml1m_overrides, write_json
from gcfa_dgl.distributed import usable_cores


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from gcfa_dgl.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=overrides)


def run(batch: int, batches: int, overrides: list[str], data_args: list[str] | None = None) -> dict:
    from torch.profiler import ProfilerActivity, profile

    from data_prep.config import value
    from gcfa_dgl import trainer as T
    from gcfa_dgl.sampling import VideoNegativeSampler, edge_loader

    data_overrides, label = (data_args, " ".join(data_args)) if data_args else ml1m_overrides()
    cfg = compose(["experiment=table1_ml1m", *data_overrides, "model=gcfa", f"sampler.batch_size={batch}", *overrides])
    data = T.load_data(cfg)
    T.seed_all(cfg.seed)
    model = T.build_model(cfg, data)
    sampler = T.make_sampler(cfg, data, model, train=True)
    s = cfg.sampler
    negs = VideoNegativeSampler(s.num_negatives, value(s.negative), s.reject_positives)
    loader = edge_loader(data.graph, torch.arange(data.graph.num_edges("rates")), sampler, negs, batch)
    opt = torch.optim.Adam(model.parameters(), lr=model.lr)
    it = iter(loader)
    phases = {"sampling": 0.0, "forward": 0.0, "backward": 0.0, "optimiser": 0.0}

    def step(timed: bool) -> None:
        t0 = time.perf_counter()
        input_nodes, pair, neg, blocks = next(it)
        t1 = time.perf_counter()
        pos, negative, reg = model(input_nodes, pair, neg, blocks)
        loss = model.loss(pos, negative) + reg
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        opt.step()
        t4 = time.perf_counter()
        if timed:
            for k, a, b in (("sampling", t0, t1), ("forward", t1, t2), ("backward", t2, t3), ("optimiser", t3, t4)):
                phases[k] += b - a

    model.train()
    for _ in range(3):
        step(False)
    for _ in range(batches):
        step(True)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(batches):
            step(False)
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops) or 1.0
    top = [{"op": e.key, "self_share": round(e.self_cpu_time_total / total, 4), "calls_per_step": e.count / batches}
           for e in ops[:15]]
    per_step = {k: round(v / batches, 4) for k, v in phases.items()}
    return {"dataset": label, "batch": batch, "batches": batches, "threads": torch.get_num_threads(),
            "cores": usable_cores(), "overrides": overrides, "seconds_per_step": per_step,
            "step_total": round(sum(per_step.values()), 4), "top_ops": top}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--data", nargs="+", default=None, help="dataset overrides in place of ML-1M")
    a, overrides = p.parse_known_args(argv)
    res = run(a.batch, a.batches, overrides, a.data)
    print(f"GCFA on {res['dataset']}, batch {a.batch}, {a.batches} steps: {res['step_total']:.3f} s per step")
    for k, v in res["seconds_per_step"].items():
        print(f"  {k:<10} {v:.3f} s ({v / res['step_total']:.0%})")
    print("heaviest operators (self CPU time):")
    for o in res["top_ops"][:10]:
        print(f"  {o['op']:<40} {o['self_share']:.1%}  {o['calls_per_step']:.0f} calls per step")
    if a.json:
        write_json(a.json, res)
    return res


if __name__ == "__main__":
    main()
