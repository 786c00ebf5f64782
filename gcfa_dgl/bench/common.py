"""Shared benchmark helpers: the ML-1M-sized graph, robust timing."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from hydra import compose, initialize_config_dir

CONF = Path(__file__).resolve().parents[2] / "conf"


def compose_prep(overrides: list[str]):
    from data_prep.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="prep", overrides=overrides)


def train_pairs(cfg) -> int:
    """Training interactions of the dataset a config selects (its meta.json; prepared if needed)."""
    import json

    from data_prep.pipeline import prepare

    return int(json.loads((prepare(cfg) / "meta.json").read_text())["counts"]["train"])


def train_count(overrides: list[str]) -> int:
    """Training interactions of the dataset these prep overrides select."""
    return train_pairs(compose_prep(overrides))


ML1M_SIZED = ["dataset=synthetic", "dataset.name=synthetic_ml1m_size", "dataset.synthetic.n_users=6040",
              "dataset.synthetic.n_items=3706", "dataset.synthetic.n_interactions=1000209",
              "dataset.synthetic.n_info=18"]


def ml1m_overrides() -> tuple[list[str], str]:
    """ML-1M (ratings_notime through the csv source) when GCFA_RAW_DIR has it, else a synthetic
    dataset of the same size (6,040 users, 3,706 videos, 1,000,209 interactions)."""
    raw = os.environ.get("GCFA_RAW_DIR")
    if raw and (Path(raw) / "ml-1m" / "ratings_notime.csv").exists():
        return ["dataset=ml1m_notime"], "ML-1M (ratings_notime)"
    return list(ML1M_SIZED), "synthetic, ML-1M-sized"


def ml1m_sized(processed_dir: str | None = None):
    """The processed ML-1M-sized dataset of `ml1m_overrides`, prepared if needed, and its label."""
    from data_prep.pipeline import prepare
    from gcfa_dgl.data import load_processed

    extra = [f"paths.processed_dir={processed_dir}"] if processed_dir else []
    overrides, label = ml1m_overrides()
    return load_processed(prepare(compose_prep([*overrides, *extra]))), label


def median_rate(fn: Callable[[], int], repeats: int = 5) -> float:
    """Median of `repeats` runs of items processed per second (fn returns the item count)."""
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t))
    return statistics.median(rates)


def interleaved_medians(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each call over `repeats` rounds, after one warm-up call each. Rounds
    alternate between the cases, so drift on a shared machine hits them alike."""
    for fn in cases.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeats):
        for k, fn in cases.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def run_child(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> dict:
    """Run `cmd` to completion: wall seconds and the child's own peak RSS (wait4's rusage, so
    earlier children do not count), with its output. Exits with the child's stderr on failure."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd or CONF.parent)
        _, status, usage = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if p.returncode != 0:
        sys.exit(f"error: benchmark child failed ({' '.join(map(str, cmd))}):\n{stderr[-3000:]}")
    return {"seconds": seconds, "peak_rss_gb": usage.ru_maxrss / 2**20, "stdout": stdout, "stderr": stderr}


def loglog_slope(x: list[float], y: list[float]) -> float:
    """Least-squares exponent b of y = a * x^b: 1.0 is linear growth."""
    import numpy as np

    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


class PeakRSS:
    """Peak resident memory above the starting level while the block runs, polled every 2 ms
    (ru_maxrss only ever grows, so it cannot isolate one step of a process)."""

    def __init__(self, interval: float = 0.002) -> None:
        import psutil

        self._proc, self._interval = psutil.Process(), interval
        self.peak_gb = 0.0

    def __enter__(self) -> PeakRSS:
        import threading

        self._start = self._proc.memory_info().rss
        self._peak, self._stop = self._start, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self._proc.memory_info().rss)
            self._stop.wait(self._interval)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._proc.memory_info().rss)
        self.peak_gb = (self._peak - self._start) / 2**30


def median(values: list[float]) -> float:
    return statistics.median(values)


# What a measurement depends on: a change elsewhere (docs, tests) does not make it "dirty".
CODE_PATHS = ("gcfa_dgl", "data_prep", "conf", "pyproject.toml")


def git_commit() -> str:
    """The checkout's short commit, with `-dirty` when the code or configs differ from it
    (`unknown` outside a git checkout, or when git cannot tell)."""
    import subprocess

    def git(*args: str) -> str | None:
        r = subprocess.run(["git", "--no-optional-locks", *args], capture_output=True, text=True, cwd=CONF.parent)
        return r.stdout.strip() if r.returncode == 0 else None

    try:
        head = git("rev-parse", "--short=7", "HEAD")
        changed = git("status", "--porcelain", "--", *CODE_PATHS)
    except OSError:
        return "unknown"
    if not head or changed is None:
        return "unknown"
    return head + ("-dirty" if changed else "")


# The commit of the code this process measures: taken when a benchmark starts, so that a commit
# made while it runs does not relabel its figures.
MEASURED_AT = git_commit()


def write_json(path: Path, obj) -> None:
    """`obj` as a JSON file, written atomically, stamped with the commit it was measured at."""
    from data_prep.store import atomic_write_json

    atomic_write_json(path, {**obj, "commit": MEASURED_AT} if isinstance(obj, dict) else obj)
