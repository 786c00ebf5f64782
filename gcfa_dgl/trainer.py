"""The training loop: batches, Adam, an evaluation per epoch, early stopping, checkpoints, logs.

What it writes to the run directory: `best.pt` (weights of the best validation epoch), `last.pt`
(everything a resume needs), `curves.png` and `tensorboard/`. How a batch is scored and how the
model is validated come from outside: the model's forward and loss, and a `validate` callable.
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dgl
import torch

from data_prep.errors import UserError
from data_prep.graph import RATES
from data_prep.store import atomic_write
from gcfa_dgl import checkpoint
from gcfa_dgl.callbacks import Callback, EarlyStopping, Progress, StopOnSignal
from gcfa_dgl.distributed import Dist
from gcfa_dgl.loaders import restart_order
from gcfa_dgl.models.base import Recommender
from gcfa_dgl.objectives import Objective
from gcfa_dgl.seeding import seed_all

log = logging.getLogger(__name__)


class TrainingError(UserError):
    """Training cannot go on (for example a NaN loss); the message says what was kept."""


class Interrupted(Exception):
    pass


def negative_videos(neg_graph: dgl.DGLGraph, blocks: list[dgl.DGLGraph]) -> torch.Tensor:
    """Video ids of a batch's negative pairs, in the order of their scores."""
    _, v = neg_graph.edges(etype=RATES)
    return blocks[-1].dstdata[dgl.NID]["video"][v.long()]


def new_state() -> dict[str, Any]:
    """What `last.pt` keeps beside the weights: the epoch reached, early stopping and history."""
    return {"epoch": 0, "best": -math.inf, "best_epoch": 0, "bad": 0, "history": [], "epoch_seconds": [],
            "elapsed_seconds": []}


class Trainer:
    """Trains `model` on `loader`'s batches for `cfg.epochs` (the `train:` config group).

    `validate(model)` returns the validation metrics; `cfg.monitor` among them selects the best
    epoch and stops early. Under DDP (`dist`), rank 0 validates, saves and decides; the other
    ranks follow its decisions.
    """

    def __init__(self, cfg: Any, model: Recommender, loader, out_dir: Path,
                 validate: Callable[[Recommender], dict[str, float]], seed: int = 0, dist: Dist | None = None,
                 callbacks: Sequence[Callback] = (), objective: Objective | None = None) -> None:
        self.cfg, self.model, self.loader, self.out_dir = cfg, model, loader, Path(out_dir)
        self.objective = objective or Objective(model.objective)
        self.validate, self.seed, self.dist, self.callbacks = validate, seed, dist or Dist(), list(callbacks)
        self.net = self.dist.wrap(model)
        self.opt = torch.optim.Adam(model.parameters(), lr=model.lr)
        self.state = new_state()
        self.stopping = EarlyStopping(cfg.patience, self.state)
        self.batches = len(loader) if cfg.max_batches is None else min(len(loader), cfg.max_batches)
        self.last = self.out_dir / "last.pt"

    # -- checkpoints --------------------------------------------------------------------------
    def resume(self) -> None:
        """Continue from `last.pt` when `train.resume` is set, after removing the temporary files of
        writes cut short by a kill -9 (the files they were to replace are intact)."""
        if self.dist.main:
            for stale in self.out_dir.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
        if not self.cfg.resume:
            return
        if not self.last.exists():
            log.warning("train.resume=true but %s does not exist: starting from scratch", self.last)
            return
        ck = checkpoint.load(self.last)
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        self.state.update({k: ck[k] for k in new_state() if k in ck})
        log.info("resuming %s after epoch %d", self.out_dir, self.state["epoch"])

    def _save(self, improved: bool) -> None:
        if improved:
            checkpoint.save(self.out_dir / "best.pt", {"model": self.model.state_dict(), "epoch": self.state["epoch"]})
        checkpoint.save(self.last, {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(), **self.state})

    # -- the loop -----------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train to the last epoch or early stop; return the state (history, best value and epoch)."""
        self.resume()
        writer = self._tensorboard()
        with StopOnSignal() as stop:
            for epoch in range(self.state["epoch"], self.cfg.epochs):
                if self.stopping.should_stop:
                    break
                t0 = time.perf_counter()
                before = self.state["elapsed_seconds"][-1] if self.state["elapsed_seconds"] else 0.0
                loss = self._epoch(epoch, stop)
                seconds = time.perf_counter() - t0
                record = {"epoch": epoch + 1, "loss": loss}
                if not self.dist.main:  # rank 0 evaluates, saves and decides when to stop
                    self.state.update(self.dist.broadcast(None))
                    continue
                improved = False
                if (epoch + 1) % self.cfg.eval_every == 0 or epoch + 1 == self.cfg.epochs:
                    record.update({f"valid/{k}": v for k, v in self.validate(self.model).items()})
                    improved = self.stopping.update(record[f"valid/{self.cfg.monitor}"], epoch + 1)
                self.state["history"].append(record)
                self.state["epoch"] = epoch + 1
                self.state["epoch_seconds"].append(round(seconds, 2))
                # training and validation since the start: a model's time to its best epoch
                self.state["elapsed_seconds"].append(round(before + time.perf_counter() - t0, 2))
                self._save(improved)
                self._log(record, seconds, writer)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, record)
                self.dist.broadcast(self.state)
        if writer:
            writer.close()
        return self.state

    def _epoch(self, epoch: int, stop: StopOnSignal) -> float:
        """One pass over the batches; the mean training loss (summed over DDP ranks)."""
        seed_all(self.seed * 100_003 + epoch)  # per-epoch seeds make resuming exact
        restart_order(self.loader)
        self.model.train()
        for cb in self.callbacks:
            cb.on_epoch_start(self, epoch)
        total, count = 0.0, 0
        bar = Progress(self.loader, self.batches, f"epoch {epoch + 1}/{self.cfg.epochs}", enabled=self.dist.main)
        try:
            for i, (input_nodes, pair, neg, blocks) in enumerate(bar):
                if stop.signal is not None:
                    break
                pos_s, neg_s, reg = self.net(input_nodes, pair, neg, blocks)
                loss = self.objective(pos_s, neg_s, negative_videos(neg, blocks) if self.objective.log_q else None) + reg
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"loss became {loss.item()} at epoch {epoch + 1}, batch {i + 1}; stopped. The last "
                        f"good checkpoints are kept in {self.out_dir} (try a lower model.lr)")
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
                self.opt.step()
                total += loss.item() * len(pos_s)
                count += len(pos_s)
                bar.update(i + 1, total / count)
                for cb in self.callbacks:
                    cb.on_batch_end(self, input_nodes, blocks)
                if i + 1 >= self.batches:
                    break
        finally:
            bar.close()
        if stop.signal is not None:
            raise Interrupted(
                f"{stop.name} during epoch {epoch + 1}: stopped. Epoch {self.state['epoch']} is saved in "
                f"{self.last}; resume with: python -m gcfa_dgl.train <same overrides> "
                f"hydra.run.dir={self.out_dir} train.resume=true")
        total, count = self.dist.sum(total, count)
        return total / max(count, 1)

    # -- logs ---------------------------------------------------------------------------------
    def _tensorboard(self):
        if not (self.cfg.tensorboard and self.dist.main):
            return None
        from torch.utils.tensorboard import SummaryWriter  # slow to import: only when asked for

        return SummaryWriter(str(self.out_dir / "tensorboard"))

    def _log(self, record: dict[str, Any], seconds: float, writer) -> None:
        monitor = self.cfg.monitor
        if writer:
            for k, v in record.items():
                if k != "epoch":
                    writer.add_scalar(k if "/" in k else f"train/{k}", v, record["epoch"])
            writer.flush()
        plot_curves(self.state["history"], monitor, self.out_dir / "curves.png")
        key = f"valid/{monitor}"
        shown = f"valid {monitor}={record[key]:.4f}" if key in record else ""
        log.info("epoch %d  loss %.4f  %s  (%.1fs)", record["epoch"], record["loss"], shown, seconds)


def plot_curves(history: list[dict], monitor: str, path: Path) -> None:
    """The training loss and the monitored validation metric per epoch, as one PNG."""
    import matplotlib  # slow to import: only where a figure is drawn

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
