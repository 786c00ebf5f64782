"""What the benchmarks share: data settings, child processes, fits, and one result format.

A result is a JSON object: `title`, `text` (command and setting), `tables` (`columns`, `rows`,
optional `caption`), `notes`, optionally `series` (curves of the scaling plot), raw measurements,
and `commit`, the checkout measured. `bench.report` renders every result the same way.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_module

from data_prep.config import CONFIG_PACKAGE
from data_prep.pipeline import prepare
from data_prep.store import atomic_write_json
from gcfa_dgl.config import register_configs
from gcfa_dgl.report import markdown_table

ROOT = Path(__file__).resolve().parents[2]
median = statistics.median


def config(overrides: list[str], name: str = "config"):
    """The composed training (`config`) or preparation (`prep`) config."""
    register_configs()
    with initialize_config_module(CONFIG_PACKAGE, version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


def synthetic(n: int) -> list[str]:
    """Synthetic data with n interactions: 1 user per 100 and 1 video per 1,000 (at least 100 and
    400, so that small sizes leave 99 unseen videos per user), 50 info tags."""
    return ["dataset=synthetic", f"dataset.name=synthetic_{n}", f"dataset.synthetic.n_interactions={n}",
            f"dataset.synthetic.n_users={max(n // 100, 100)}", f"dataset.synthetic.n_items={max(n // 1000, 400)}",
            "dataset.synthetic.n_info=50"]


def ml1m() -> tuple[list[str], str]:
    """ML-1M when GCFA_RAW_DIR holds it, else synthetic data of its size: overrides and a label."""
    raw = os.environ.get("GCFA_RAW_DIR")
    if raw and (Path(raw) / "ml-1m" / "ratings_notime.csv").exists():
        return ["dataset=ml1m_notime"], "ML-1M (ratings_notime)"
    return ["dataset=synthetic", "dataset.name=synthetic_ml1m_size", "dataset.synthetic.n_users=6040",
            "dataset.synthetic.n_items=3706", "dataset.synthetic.n_interactions=1000209",
            "dataset.synthetic.n_info=18"], "synthetic, ML-1M-sized"


def train_pairs(overrides: list[str]) -> int:
    """Training interactions of the dataset these overrides select (prepared if needed)."""
    return int(json.loads((prepare(config(overrides, "prep")) / "meta.json").read_text())["counts"]["train"])


def run_child(cmd: list[str], env: dict | None = None) -> dict:
    """Run `cmd` to completion: wall seconds, the child's peak RSS (wait4) and its stdout; exit
    with the child's stderr when it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"error: benchmark child failed ({' '.join(map(str, cmd))}):\n{err.read().decode()[-3000:]}")
        return {"seconds": seconds, "peak_rss_gb": usage.ru_maxrss / 2**20, "stdout": out.read().decode()}


def train_once(args: list[str], batch: int, max_batches: int | None, out: Path, env: dict | None = None,
               launcher: tuple[str, ...] = ()) -> dict:
    """One epoch through the entry point in a child process (started by `launcher`, e.g. torchrun):
    the batch loop's seconds, the child's peak RSS and what its batches touched (`BatchWork`)."""
    cmd = [sys.executable, *launcher, "-m", "gcfa_dgl.train", *args, f"sampler.batch_size={batch}", "train.epochs=1",
           "eval.protocols=[sampled]", "train.monitor=sampled/auc", "eval.full_auc=false", "train.tensorboard=false",
           "callbacks=batch_work", f"hydra.run.dir={out}"] + ([f"train.max_batches={max_batches}"] if max_batches else [])
    r = run_child(cmd, env)
    work = json.loads((out / "batch_work.json").read_text())[0]
    timing = json.loads((out / "timing.json").read_text())
    return {"seconds": timing["epoch_seconds"][0], "scope": timing["sampler_scope"], "peak_rss_gb": r["peak_rss_gb"], **work}


def slope(x: list[float], y: list[float]) -> float:
    """Least-squares exponent b of y = a x^b: 1.0 is linear growth."""
    return round(float(np.polyfit(np.log(x), np.log(y), 1)[0]), 3)


def git_commit() -> str:
    """The checkout's short commit, `-dirty` when code or configs differ from it ("unknown" outside git)."""
    def git(*a: str) -> str:
        return subprocess.run(["git", "--no-optional-locks", *a], capture_output=True, text=True, cwd=ROOT).stdout.strip()

    try:
        head = git("rev-parse", "--short=7", "HEAD")
        dirty = git("status", "--porcelain", "--", "gcfa_dgl", "data_prep", "conf", "pyproject.toml")
    except OSError:
        return "unknown"
    return head + ("-dirty" if dirty else "") if head else "unknown"


MEASURED_AT = git_commit()  # taken at the start: a commit made during a long run does not relabel it


def finish(result: dict, path: Path | None) -> dict:
    """Print a result's tables and notes; write it, stamped with the commit, to `path` if given."""
    for t in result["tables"]:
        print("\n".join(markdown_table(t["columns"], t["rows"], t.get("caption"))) + "\n")
    print("\n".join(result.get("notes", [])))
    if path:
        atomic_write_json(path, {**result, "commit": MEASURED_AT})
    return result
