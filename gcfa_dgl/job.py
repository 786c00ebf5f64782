"""One training job from its config to its run directory: checks, data, model, training, the final
evaluation of the best checkpoint, and the files a run leaves.

A run directory holds `.hydra/` (the resolved config, written by Hydra), `metrics.json` (per
epoch and final, validation and test; identical for the same config and seed), `timing.json`
(seconds per epoch and of the final evaluation), `curves.png`, `best.pt`, `last.pt` and
`tensorboard/`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from hydra.utils import instantiate

from data_prep.store import atomic_write_json
from gcfa_dgl import checkpoint
from gcfa_dgl.config import validate
from gcfa_dgl.dgl_compat import dgl_threads
from gcfa_dgl.distributed import Dist, intra_op_threads, startup_contention
from gcfa_dgl.evaluator import Evaluator
from gcfa_dgl.factory import (
    build_model,
    layer_fanouts,
    load_data,
    make_objective,
    make_sampler,
    objective_name,
    training_loader,
)
from gcfa_dgl.seeding import seed_all, set_threads
from gcfa_dgl.trainer import Trainer, new_state, plot_curves

log = logging.getLogger(__name__)

SUMMARY = ("auc", "ndcg@10", "recall@20", "ndcg@20")  # the test metrics printed at the end


def choose_l2(model: Any, validate: Any, monitor: str) -> list[dict[str, float]]:
    """A closed-form model's λ: each of `model.l2_grid` scored on validation by the monitor; the
    model keeps the best (the earlier in the grid on a tie). Returns what each scored."""
    tried = []
    for l2 in model.l2_grid:
        model.l2 = float(l2)
        tried.append({"l2": model.l2, monitor: validate(model)[monitor]})
    best = max(tried, key=lambda r: r[monitor])
    model.l2 = best["l2"]
    log.info("model.l2=%g chosen on validation (%s %.4f)", best["l2"], monitor, best[monitor])
    return tried


def run(cfg: Any, out_dir: Path, parallel_jobs: int = 1) -> float:
    """Train and evaluate one configuration; return the best validation value of the monitor.

    `parallel_jobs`: runs sharing this machine's cores (a parallel sweep), to size torch threads.
    """
    validate(cfg)
    layer_fanouts(cfg)  # the sampler's depth against the model's, before any data is read
    objective_name(cfg)
    threads = set_threads(intra_op_threads(cfg.train.threads, parallel_jobs))
    log.info("intra-op threads: torch %d, DGL %d", threads, dgl_threads())
    warning = startup_contention(threads, parallel_jobs)
    if warning:
        log.warning(warning)
    d = Dist.start(cfg.distributed)
    try:
        best = _run(cfg, Path(d.broadcast(str(out_dir))), d)
        # Rank 0 evaluates after the others have finished; tearing the gloo group down while a
        # peer has already left can hang, so every rank leaves together.
        d.barrier()
        return best
    finally:
        d.stop()


def _run(cfg: Any, out_dir: Path, d: Dist) -> float:
    if d.main:
        out_dir.mkdir(parents=True, exist_ok=True)
    else:
        d.broadcast(None)  # rank 0 prepares the dataset first; the others then only load it
    data = load_data(cfg)
    if d.main:
        d.broadcast(None)
    seed_all(cfg.seed)
    model = build_model(cfg, data)
    evaluator = Evaluator.from_config(cfg.eval, data)
    eval_sampler = make_sampler(cfg, data, model, train=False)
    protocols, monitor = list(cfg.eval.protocols), cfg.train.monitor
    # The sort behind the full AUC only when the monitor needs it during training; the final
    # evaluation reports it as configured.
    exact = evaluator.full_auc and monitor in ("full/auc", "full/mrr")

    def validate_epoch(m) -> dict[str, float]:
        seed_all(cfg.seed)
        res = evaluator.evaluate(m, eval_sampler, "valid", protocols, full_auc=exact)
        return {k: v for k, v in res.items() if k != "buckets"}

    state, scope = new_state(), None
    if model.trainable:
        loader = training_loader(cfg, data, model, distributed=d.enabled)
        scope = loader.graph_sampler.sampler.scope  # the ImportanceSampler inside the edge wrapper
        callbacks = [instantiate(c) for c in cfg.callbacks.values()]
        trainer = Trainer(cfg.train, model, loader, out_dir, validate_epoch, seed=cfg.seed, dist=d, callbacks=callbacks,
                          objective=make_objective(cfg, data, model))
        state = trainer.fit()
    t = time.perf_counter()
    selection = choose_l2(model, validate_epoch, monitor) if getattr(model, "l2_grid", None) else None
    fit_seconds = round(time.perf_counter() - t, 2) if selection else None
    if not d.main:
        return float(state["best"])
    seed_all(cfg.seed)
    if model.trainable and (out_dir / "best.pt").exists():
        model.load_state_dict(checkpoint.load(out_dir / "best.pt")["model"])
    t = time.perf_counter()
    z = evaluator.embed(model, eval_sampler)
    valid = evaluator.evaluate(model, eval_sampler, "valid", protocols, z)
    test = evaluator.evaluate(model, eval_sampler, "test", protocols, z)
    final_seconds = round(time.perf_counter() - t, 2)
    best = state["best"] if model.trainable else valid[monitor]
    metrics = {
        "model": cfg.model.name,
        "dataset": cfg.dataset.name,
        "seed": int(cfg.seed),
        "monitor": monitor,
        "best_epoch": state["best_epoch"],
        "best_valid": best,
        "valid": {k: v for k, v in valid.items() if k != "buckets"},
        "test": {k: v for k, v in test.items() if k != "buckets"},
        "buckets": {"valid": valid["buckets"], "test": test["buckets"]},
        "history": state["history"],
    }
    if selection:
        metrics["l2_selection"] = selection
    atomic_write_json(out_dir / "metrics.json", metrics)
    atomic_write_json(out_dir / "timing.json", {"epoch_seconds": state["epoch_seconds"],
                                                "elapsed_seconds": state["elapsed_seconds"],
                                                "final_eval_seconds": final_seconds, "sampler_scope": scope,
                                                "fit_seconds": fit_seconds})
    if state["history"]:
        plot_curves(state["history"], monitor, out_dir / "curves.png")
    summary = "  ".join(f"{k}={v:.4f}" for k, v in metrics["test"].items() if k.split("/")[1] in SUMMARY)
    print(f"{cfg.model.name} on {cfg.dataset.name}: test {summary}\nrun directory: {out_dir}")
    return float(best)
