"""Processes and threads: data-parallel training under torchrun, and thread counts that do not
oversubscribe the cores when several runs or ranks share a machine.

    torchrun --nproc_per_node=2 -m gcfa_dgl.train distributed.ddp=true

Each rank trains on its share of the edges (`DataLoader(use_ddp=True)`) and DDP averages the
gradients, so the global batch is `sampler.batch_size x world size`. Rank 0 alone evaluates (on
every user, so nothing needs reducing), writes the run directory and broadcasts the early-stopping
decision; the training loss is summed over ranks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from data_prep.config import value
from data_prep.errors import ConfigError


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def env_rank() -> int:
    return int(os.environ.get("RANK", 0))


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask: taskset, cpusets), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # platforms without affinity masks
        return os.cpu_count() or 1


def intra_op_threads(requested: int, parallel_jobs: int = 1) -> int | None:
    """Torch threads for this process: `requested` if set, else the cores divided among the
    processes sharing them (ranks on this node x parallel sweep jobs); None keeps torch's default."""
    if requested:
        return requested
    procs = int(os.environ.get("LOCAL_WORLD_SIZE", 1)) * max(1, parallel_jobs)
    if procs <= 1:
        return None
    return max(1, usable_cores() // procs)


def busy_cores(window: float = 0.05) -> float | None:
    """How many of this process's cores other work kept busy over `window` seconds, from the
    per-CPU counters of /proc/stat (Linux); None where they cannot be read. In a container whose
    CPUs are shared with other tenants their work counts too, and a cgroup CPU quota is not seen."""
    import time

    cpus = {f"cpu{i}" for i in (os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else ())}
    if not cpus:
        return None

    def sample() -> tuple[int, int]:
        total = idle = 0
        with open("/proc/stat") as f:
            for line in f:
                name, *fields = line.split()
                if name in cpus:
                    ticks = [int(x) for x in fields[:8]]  # user .. steal; guest time is inside user
                    total += sum(ticks)
                    idle += ticks[3] + ticks[4]  # idle, iowait
        return total, idle

    try:
        t0, i0 = sample()
        time.sleep(window)
        t1, i1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if t1 <= t0:
        return None
    return len(cpus) * (1.0 - (i1 - i0) / (t1 - t0))


def contention_warning(threads: int, cores: int, busy: float | None) -> str | None:
    """A warning when this run's threads plus the cores already busy exceed the machine.

    Each process holds two OpenMP runtimes (torch's and DGL's) whose idle threads spin before they
    sleep, so runs that together ask for more threads than there are cores slow each other far
    more than their share: two GCFA runs at once on two cores, each with two threads, take about
    six times as long per batch as one run alone (docs/benchmarks.md). Idle threads that sleep at
    once (OMP_WAIT_POLICY=PASSIVE) do not spin, so then there is nothing to warn about.
    """
    if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":
        return None
    if busy is None or threads <= 1 or busy < 0.5 or threads + busy <= cores + 0.5:
        return None
    return (f"{busy:.1f} of this machine's {cores} cores were busy with other processes when this run started, "
            f"and it uses {threads} threads: concurrent multi-threaded runs can slow each other several-fold. "
            "Give concurrent runs no more threads in total than cores (train.threads=1 each for two runs on "
            "two cores), or set OMP_WAIT_POLICY=PASSIVE.")


def startup_contention(threads: int, parallel_jobs: int = 1) -> str | None:
    """The contention warning for a run starting now, or None. Parallel sweep jobs and torchrun
    ranks size their threads to share the cores, so they are not checked (each would see the
    others busy)."""
    if parallel_jobs > 1 or launched_by_torchrun():
        return None
    return contention_warning(threads, usable_cores(), busy_cores())


@dataclass
class Dist:
    """This process's place in the run: rank 0 of 1 unless distributed.ddp is on."""

    rank: int = 0
    world: int = 1

    @property
    def enabled(self) -> bool:
        return self.world > 1 or dist.is_initialized()

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def start(cls, cfg: Any) -> Dist:
        if not cfg.ddp:
            return cls()
        if not launched_by_torchrun():
            raise ConfigError(
                "distributed.ddp=true needs the processes that torchrun starts, e.g. "
                "torchrun --nproc_per_node=2 -m gcfa_dgl.train distributed.ddp=true"
            )
        backend = value(cfg.backend)
        if backend == "nccl":
            raise ConfigError("distributed.backend=nccl: training runs on the CPU, where only gloo works "
                              "(GPU training is not implemented); use distributed.backend=gloo")
        if not dist.is_initialized():
            dist.init_process_group(backend)
        return cls(dist.get_rank(), dist.get_world_size())

    def stop(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, find_unused_parameters=True)

    def sum(self, *values: float) -> list[float]:
        """Element-wise sum over ranks (the epoch's loss total and count)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.enabled:
            dist.barrier()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's value of `obj` on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]
