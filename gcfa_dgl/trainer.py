"""The training loop: data, sampler, model, Adam, early stopping, checkpoints, logs.

A run directory holds: `.hydra/` (the resolved config), `metrics.json` (per epoch and final,
validation and test; identical for the same config and seed), `timing.json`, `curves.png`,
`best.pt` and `last.pt`, and `tensorboard/`.
"""

from __future__ import annotations

import io
import logging
import math
import signal
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from data_prep.config import value
from data_prep.errors import UserError
from data_prep.graph import ETYPE_NAMES
from data_prep.store import atomic_write, atomic_write_json
from gcfa_dgl import checkpoint
from gcfa_dgl.config import validate, validate_against_data
from gcfa_dgl.data import ProcessedData, load_processed
from gcfa_dgl.distributed import Dist, intra_op_threads, startup_contention
from gcfa_dgl.evaluate import Evaluator
from gcfa_dgl.sampling import ImportanceSampler, VideoNegativeSampler, edge_loader, restart_order
from gcfa_dgl.seeding import dgl_threads, seed_all, set_threads

log = logging.getLogger(__name__)

class TrainingError(UserError):
    """Training cannot go on (for example a NaN loss); the message says what was kept."""


class Interrupted(Exception):
    pass


def load_data(cfg: Any) -> ProcessedData:
    from data_prep.pipeline import prepare

    return load_processed(prepare(cfg))


def build_model(cfg: Any, data: ProcessedData):
    g = data.graph
    feat = g.nodes["video"].data.get("feat") if "feat" in g.nodes["video"].data else None
    return instantiate(
        cfg.model,
        n_users=data.n_users,
        n_videos=data.n_videos,
        n_info=data.meta.counts.info,
        n_ratings=max(1, len(data.meta.rating_values)),
        video_feat=feat,
        graph=g,
        _convert_="all",
    )


def effective_fanouts(cfg: Any, model) -> list[Any]:
    """The sampler fanouts, one per layer (a single entry serves every layer), with 0 for the
    edge types the model does not read."""
    fanouts = OmegaConf.to_container(cfg.sampler.fanouts, resolve=True)
    layers = max(1, int(cfg.model.get("propagation_layers", len(fanouts))))
    if len(fanouts) == 1 and layers > 1:
        fanouts = fanouts * layers
    if not model.uses_blocks:
        return [0]
    if model.edge_types is None:
        return fanouts
    out = []
    for f in fanouts:
        f = dict(f) if isinstance(f, dict) else {et: f for et in ETYPE_NAMES}
        out.append({et: (k if et in model.edge_types else 0) for et, k in f.items()})
    return out


def make_sampler(cfg: Any, data: ProcessedData, model, train: bool = True) -> ImportanceSampler:
    s = cfg.sampler
    mode = value(s.mode if train else s.eval_mode)
    sampler = ImportanceSampler(effective_fanouts(cfg, model), mode=mode, alpha=float(s.alpha),
                                deterministic=bool(s.deterministic), kernel=value(s.kernel))
    sampler.prepare(data.graph)
    return sampler


def build_evaluator(cfg: Any, data: ProcessedData) -> Evaluator:
    e = cfg.eval
    return Evaluator(data, list(e.ks_sampled), list(e.ks_full), e.chunk_mb, e.batch_size,
                     bool(e.get("full_auc", False)))


class StopOnSignal:
    """SIGINT/SIGTERM set a flag; the loop stops at the next batch, keeping the last epoch."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignal:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.signal = signum

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _plot(history: list[dict], monitor: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(ep, [h["loss"] for h in history], marker="o")
    a.set(xlabel="epoch", ylabel="training loss", title="loss")
    pts = [(h["epoch"], h[f"valid/{monitor}"]) for h in history if f"valid/{monitor}" in h]
    if pts:
        b.plot(*zip(*pts), marker="o", color="tab:green")
    b.set(xlabel="epoch", ylabel=monitor, title=f"validation {monitor}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def _clean(res: dict) -> dict:
    return {k: v for k, v in res.items() if k != "buckets"}


def run(cfg: Any, out_dir: Path, parallel_jobs: int = 1) -> float:
    """Train and evaluate one configuration; return the best validation value of the monitor.

    `parallel_jobs`: runs sharing this machine's cores (a parallel sweep), to size torch threads.
    """
    validate(cfg)
    threads = set_threads(intra_op_threads(cfg.train.threads, parallel_jobs))
    log.info("intra-op threads: torch %d, DGL %d", threads, dgl_threads())
    warning = startup_contention(threads, parallel_jobs)
    if warning:
        log.warning(warning)
    d = Dist.start(cfg.trainer)
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
    if not d.main:
        d.broadcast(None)  # rank 0 prepares the dataset first; the others then only load it
    data = load_data(cfg)
    if d.main:
        d.broadcast(None)
    validate_against_data(cfg, data.n_videos, data.meta.negatives_per_positive)
    seed_all(cfg.seed)
    model = build_model(cfg, data)
    evaluator = build_evaluator(cfg, data)
    eval_sampler = make_sampler(cfg, data, model, train=False)
    protocols = list(cfg.eval.protocols)
    monitor = cfg.train.monitor
    timing: dict[str, Any] = {"epoch_seconds": [], "batch_work": []}
    state: dict[str, Any] = {"epoch": 0, "best": -math.inf, "best_epoch": 0, "bad": 0, "history": []}
    if model.trainable:
        state = _train(cfg, data, model, evaluator, eval_sampler, out_dir, state, timing, d)
    if not d.main:
        return float(state["best"])
    seed_all(cfg.seed)
    if model.trainable and (out_dir / "best.pt").exists():
        model.load_state_dict(checkpoint.load(out_dir / "best.pt")["model"])
    t = time.perf_counter()
    z = evaluator.embed(model, eval_sampler)
    valid = evaluator.evaluate(model, eval_sampler, "valid", protocols, z)
    test = evaluator.evaluate(model, eval_sampler, "test", protocols, z)
    timing["final_eval_seconds"] = round(time.perf_counter() - t, 2)
    best = state["best"] if model.trainable else valid[monitor]
    metrics = {
        "model": cfg.model.name,
        "dataset": cfg.dataset.name,
        "seed": int(cfg.seed),
        "monitor": monitor,
        "best_epoch": state["best_epoch"],
        "best_valid": best,
        "valid": _clean(valid),
        "test": _clean(test),
        "buckets": {"valid": valid["buckets"], "test": test["buckets"]},
        "history": state["history"],
    }
    atomic_write_json(out_dir / "metrics.json", metrics)
    atomic_write_json(out_dir / "timing.json", timing)
    if state["history"]:
        _plot(state["history"], monitor, out_dir / "curves.png")
    summary = "  ".join(f"{k}={v:.4f}" for k, v in metrics["test"].items()
                        if k.split("/")[1] in ("auc", "ndcg@10", "recall@20", "ndcg@20"))
    print(f"{cfg.model.name} on {cfg.dataset.name}: test {summary}\nrun directory: {out_dir}")
    return float(best)


def _train(cfg, data, model, evaluator, eval_sampler, out_dir: Path, state, timing, d: Dist) -> dict:
    t_cfg = cfg.train
    g = data.graph
    sampler = make_sampler(cfg, data, model, train=True)
    s = cfg.sampler
    negs = VideoNegativeSampler(s.num_negatives, value(s.negative), s.reject_positives)
    eids = torch.arange(g.num_edges("rates"))
    if d.enabled:  # DGL gives each rank a contiguous slice: shuffle once so slices mix users
        eids = eids[torch.randperm(len(eids), generator=torch.Generator().manual_seed(cfg.seed))]
    loader = edge_loader(g, eids, sampler, negs, s.batch_size, num_workers=s.num_workers,
                         persistent_workers=s.persistent_workers, use_ddp=d.enabled)
    net = d.wrap(model)
    opt = torch.optim.Adam(model.parameters(), lr=model.lr)
    last = out_dir / "last.pt"
    if d.main:  # temporary files of writes cut short by a kill -9; the files they were to replace are intact
        for stale in out_dir.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
    if t_cfg.resume and last.exists():
        ck = checkpoint.load(last)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        state = {k: ck[k] for k in ("epoch", "best", "best_epoch", "bad", "history")}
        timing["epoch_seconds"] = list(ck.get("epoch_seconds", []))
        # a checkpoint from before batch_work was recorded: None for its epochs keeps the lists aligned
        timing["batch_work"] = list(ck.get("batch_work") or [None] * len(timing["epoch_seconds"]))
        log.info("resuming %s after epoch %d", out_dir, state["epoch"])
    elif t_cfg.resume:
        log.warning("train.resume=true but %s does not exist: starting from scratch", last)
    writer = None
    if t_cfg.tensorboard and d.main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out_dir / "tensorboard"))
    n_batches = len(loader) if t_cfg.max_batches is None else min(len(loader), t_cfg.max_batches)
    monitor = t_cfg.monitor
    with StopOnSignal() as stop:
        for epoch in range(state["epoch"], t_cfg.epochs):
            if state["bad"] >= t_cfg.patience:
                break
            seed_all(cfg.seed * 100_003 + epoch)  # per-epoch seeds make resuming exact
            restart_order(loader)
            model.train()
            t0 = time.perf_counter()
            total, count = 0.0, 0
            steps, nodes, edges = 0, 0, 0  # what the batches touched: input nodes and sampled block edges
            step_seconds, tick = [], t0  # each batch, loading included: their median leaves out warm-up
            bar = tqdm(loader, total=n_batches, desc=f"epoch {epoch + 1}/{t_cfg.epochs}", unit="batch",
                       leave=False, dynamic_ncols=True, disable=not d.main)
            for i, (input_nodes, pair, neg, blocks) in enumerate(bar):
                if stop.signal is not None:
                    break
                steps += 1
                nodes += sum(v.numel() for v in input_nodes.values())
                edges += sum(b.num_edges() for b in blocks)
                pos_s, neg_s, reg = net(input_nodes, pair, neg, blocks)
                loss = model.loss(pos_s, neg_s) + reg
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"loss became {loss.item()} at epoch {epoch + 1}, batch {i + 1}; stopped. The last "
                        f"good checkpoints are kept in {out_dir} (try a lower model.lr)"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), t_cfg.grad_clip)
                opt.step()
                total += loss.item() * len(pos_s)
                count += len(pos_s)
                bar.set_postfix(loss=f"{total / count:.4f}")
                step_seconds.append(time.perf_counter() - tick)
                tick += step_seconds[-1]
                if i + 1 >= n_batches:
                    break
            bar.close()
            if stop.signal is not None:
                name = signal.Signals(stop.signal).name
                raise Interrupted(
                    f"{name} during epoch {epoch + 1}: stopped. Epoch {state['epoch']} is saved in {last}; "
                    f"resume with: python -m gcfa_dgl.train <same overrides> hydra.run.dir={out_dir} train.resume=true"
                )
            seconds = time.perf_counter() - t0
            total, count = d.sum(total, count)
            record: dict[str, Any] = {"epoch": epoch + 1, "loss": total / max(count, 1)}
            timing["epoch_seconds"].append(round(seconds, 2))
            # this process's batches (under DDP, rank 0's share of each global batch)
            timing["batch_work"].append({"input_nodes": round(nodes / max(steps, 1)),
                                         "sampled_edges": round(edges / max(steps, 1)),
                                         "median_batch_seconds": round(statistics.median(step_seconds), 4)
                                         if step_seconds else None})
            if not d.main:  # rank 0 evaluates, saves and decides when to stop
                state = d.broadcast(None)
                continue
            if (epoch + 1) % t_cfg.eval_every == 0 or epoch + 1 == t_cfg.epochs:
                seed_all(cfg.seed)
                # The sort behind the full AUC only when the monitor needs it; the final
                # evaluation reports it as configured.
                exact = evaluator.full_auc and monitor in ("full/auc", "full/mrr")
                val = _clean(evaluator.evaluate(model, eval_sampler, "valid", list(cfg.eval.protocols), full_auc=exact))
                record.update({f"valid/{k}": v for k, v in val.items()})
                if val[monitor] > state["best"]:
                    state.update(best=val[monitor], best_epoch=epoch + 1, bad=0)
                    checkpoint.save(out_dir / "best.pt", {"model": model.state_dict(), "epoch": epoch + 1})
                else:
                    state["bad"] += 1
            state["history"].append(record)
            state["epoch"] = epoch + 1
            checkpoint.save(last, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                   "epoch_seconds": timing["epoch_seconds"], "batch_work": timing["batch_work"],
                                   **state})
            if writer:
                for k, v in record.items():
                    if k != "epoch":
                        writer.add_scalar(k if "/" in k else f"train/{k}", v, epoch + 1)
                writer.flush()
            _plot(state["history"], monitor, out_dir / "curves.png")
            d.broadcast(state)
            shown = f"valid {monitor}={record[f'valid/{monitor}']:.4f}" if f"valid/{monitor}" in record else ""
            log.info("epoch %d  loss %.4f  %s  (%.1fs)", epoch + 1, record["loss"], shown, seconds)
    if writer:
        writer.close()
    return state
