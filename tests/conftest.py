"""Shared fixtures: compose the real Hydra configs and write small raw files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from data_prep.config import CONFIG_PACKAGE, register_configs

# Tests run beside each other (`make test` starts one pytest worker per core) and start training
# processes, which inherit this: idle OpenMP threads sleep instead of spinning on the cores the
# other worker needs. It changes no result, only how idle threads wait.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
register_configs()


# `make test` hands whole files to its workers in collection order. Starting the longest files
# first keeps one worker from finishing the run alone on a long file (longest-first scheduling);
# the list is `make test`'s --durations summed by file, longest first.
LONGEST_FIRST = ("test_scaling.py", "test_train_entry.py", "test_reliability.py", "test_baselines.py",
                 "test_faults.py", "test_bench.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files keep their order


def commands(path) -> list[str]:
    """Each command line of the file's ```bash blocks (continuation lines joined, comments dropped,
    a block's `NAME="..."` assignments substituted for `$NAME` in its later lines, as a shell would)."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S):
        names: dict[str, str] = {}
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if not line or line.startswith("#"):
                continue
            if m := re.fullmatch(r'([A-Z_][A-Z0-9_]*)="([^"$]*)"', line):
                names[m[1]] = m[2]
                continue
            for name, value in names.items():
                line = re.sub(rf"\${name}\b", value, line)
            out.append(line)
    return out


def compose_prep(overrides: list[str]):
    with initialize_config_module(CONFIG_PACKAGE, version_base="1.3"):
        return compose(config_name="prep", overrides=overrides)


def run_module(module: str, *args: str, env: dict | None = None, cwd: Path | None = None):
    """Run `python -m module args` as a user would; return the CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=900,
    )


@pytest.fixture(scope="session")
def tiny_processed(tmp_path_factory) -> Path:
    """The tiny synthetic dataset of experiment=tiny_synthetic, prepared once by `make data`'s
    entry point; training tests only load it."""
    from gcfa_dgl.config import register_configs as register_train

    register_train()
    d = tmp_path_factory.mktemp("processed")
    with initialize_config_module(CONFIG_PACKAGE, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["experiment=tiny_synthetic"])
    ds = [f"dataset.synthetic.{k}={v}" for k, v in cfg.dataset.synthetic.items()] + \
         [f"dataset.negatives.num={cfg.dataset.negatives.num}"]
    r = run_module("data_prep", "dataset=synthetic", *ds, f"paths.processed_dir={d}")
    assert r.returncode == 0, r.stderr[-2000:]
    return d


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    raw, processed = tmp_path / "raw", tmp_path / "processed"
    raw.mkdir()
    return {"raw": raw, "processed": processed}


def path_overrides(d: dict[str, Path]) -> list[str]:
    return [f"paths.raw_dir={d['raw']}", f"paths.processed_dir={d['processed']}", "paths.download=false",
            "paths.verify_checksums=false"]


def write_ml100k(raw: Path, n_users: int = 30, n_items: int = 40, per_user: int = 8, seed: int = 0) -> Path:
    """A small dataset in the exact ml-100k file formats."""
    rng = np.random.default_rng(seed)
    d = raw / "ml-100k"
    d.mkdir(parents=True, exist_ok=True)
    lines = []
    for u in range(1, n_users + 1):
        for i in rng.choice(np.arange(1, n_items + 1), per_user, replace=False):
            lines.append(f"{u}\t{i}\t{rng.integers(1, 6)}\t{880000000 + rng.integers(0, 10**6)}")
    (d / "u.data").write_text("\n".join(lines) + "\n")
    genres = ["unknown", "Action", "Comedy", "Drama"]
    (d / "u.genre").write_text("".join(f"{g}|{k}\n" for k, g in enumerate(genres)) + "\n")
    rows = []
    for i in range(1, n_items + 1):
        flags = ["1" if (i + k) % 3 == 0 else "0" for k in range(len(genres))]
        rows.append(f"{i}|Film {i} (1995)|01-Jan-1995||http://x|" + "|".join(flags))
    (d / "u.item").write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    return d


def write_table(path: Path, rows: list[tuple], header: tuple | None, sep: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ([sep.join(map(str, header))] if header else []) + [sep.join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path
