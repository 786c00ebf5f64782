"""The trainer's collaborators: each decides or records one thing about a training run.

- `StopOnSignal`: SIGINT/SIGTERM end the run at the next batch, keeping the last finished epoch;
- `EarlyStopping`: the best validation value so far and when to stop;
- `Progress`: a progress bar on a terminal, a plain line every `every` seconds in a log;
- `Callback`: hooks for extra per-batch and per-epoch work, chosen by the config group
  `callbacks:` (conf/callbacks/), such as `BatchWork`.
"""

from __future__ import annotations

import logging
import signal
import statistics
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm.auto import tqdm

from data_prep.store import atomic_write_json

log = logging.getLogger("gcfa_dgl.trainer")


class StopOnSignal:
    """SIGINT/SIGTERM set a flag that the loop reads between batches."""

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

    @property
    def name(self) -> str:
        return signal.Signals(self.signal).name if self.signal is not None else ""


class EarlyStopping:
    """Stop after `patience` evaluations without a better value; the state lives in the dict the
    checkpoint saves (`best`, `best_epoch`, `bad`), so a resumed run decides as an uninterrupted one."""

    def __init__(self, patience: int, state: dict[str, Any]) -> None:
        self.patience, self.state = patience, state

    @property
    def should_stop(self) -> bool:
        return self.state["bad"] >= self.patience

    def update(self, value: float, epoch: int) -> bool:
        """Record an evaluation; True when it is the best so far."""
        if value > self.state["best"]:
            self.state.update(best=value, best_epoch=epoch, bad=0)
            return True
        self.state["bad"] += 1
        return False


class Progress:
    """Batches of one epoch with their running loss: a tqdm bar when stderr is a terminal, else a
    plain log line at most every `every` seconds, so that a log file holds a few lines per epoch."""

    def __init__(self, batches: Iterable, total: int, desc: str, enabled: bool = True, every: float = 30.0) -> None:
        self.tty = enabled and sys.stderr.isatty()
        self.batches, self.total, self.desc, self.every = batches, total, desc, every
        self.enabled = enabled
        self.loss = float("nan")
        self._bar = tqdm(batches, total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True) \
            if self.tty else None
        self._last = time.monotonic()

    def __iter__(self) -> Iterator:
        return iter(self._bar if self._bar is not None else self.batches)

    def update(self, done: int, loss: float) -> None:
        self.loss = loss
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{loss:.4f}")
        elif self.enabled and time.monotonic() - self._last >= self.every:
            self._last = time.monotonic()
            log.info("%s: batch %d/%d, loss %.4f", self.desc, done, self.total, loss)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class Callback:
    """Extra work at fixed points of training; override what is needed. `trainer` gives access to
    the run directory (`trainer.out_dir`) and the model."""

    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        pass

    def on_batch_end(self, trainer: Any, input_nodes: dict, blocks: list) -> None:
        pass

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        pass


class BatchWork(Callback):
    """`callbacks=batch_work`: per epoch, the average batch's input nodes and sampled block edges and
    the median batch's seconds (loading included; the median leaves out first-batch costs), in
    `<run>/batch_work.json`. The epoch and training benchmarks read it."""

    def __init__(self) -> None:
        self.epochs: list[dict] = []

    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        self.nodes, self.edges, self.seconds, self.tick = 0, 0, [], time.perf_counter()

    def on_batch_end(self, trainer: Any, input_nodes: dict, blocks: list) -> None:
        now, self.tick = self.tick, time.perf_counter()
        self.seconds.append(self.tick - now)
        self.nodes += sum(v.numel() for v in input_nodes.values())
        self.edges += sum(b.num_edges() for b in blocks)

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        n = max(len(self.seconds), 1)
        self.epochs.append({"input_nodes": round(self.nodes / n), "sampled_edges": round(self.edges / n),
                            "median_batch_seconds": round(statistics.median(self.seconds), 4) if self.seconds else None})
        atomic_write_json(trainer.out_dir / "batch_work.json", self.epochs)
