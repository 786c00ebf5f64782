"""Checkpoints written atomically and read back without unpickling code, and whole runs reloaded
from their directory (for `evaluate` and `recommend`)."""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from data_prep.errors import DataError, UserError
from data_prep.store import atomic_write


def save(path: Path, state: dict[str, Any]) -> None:
    """torch.save into memory, then an atomic write: a kill mid-save leaves the old file."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, lambda f: f.write(buf.getbuffer()))


def load(path: Path) -> dict[str, Any]:
    """Tensors, numbers, strings and containers only (`weights_only=True`): no code runs."""
    if not path.exists():
        raise UserError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
        raise DataError(path, f"not a readable checkpoint ({str(e).splitlines()[0]})") from e


@dataclass
class Run:
    cfg: Any
    data: Any
    model: Any
    evaluator: Any
    eval_sampler: Any


def parse_run_args(argv: list[str], keys: set[str]) -> dict[str, str]:
    """`key=value` arguments of the run CLIs (evaluate, recommend); run_dir is required."""
    pairs = [a.split("=", 1) for a in argv]
    bad = [a[0] for a in pairs if len(a) != 2 or a[0] not in keys]
    if bad:
        raise UserError(f"unknown argument(s) {bad}; known: {', '.join(sorted(keys))}")
    args = dict(pairs)
    if "run_dir" not in args:
        raise UserError("run_dir=<run directory> is required")
    return args


def load_run(run_dir: Path, which: str = "best") -> Run:
    """Rebuild a finished run: its config, processed data, model weights and evaluator."""
    from gcfa_dgl.trainer import build_evaluator, build_model, load_data, make_sampler

    cfg_path = run_dir / ".hydra" / "config.yaml"
    if not cfg_path.exists():
        raise UserError(f"{run_dir} is not a run directory (no .hydra/config.yaml)")
    if which not in ("best", "last"):
        raise UserError(f"checkpoint must be best or last, got {which!r}")
    cfg = OmegaConf.load(cfg_path)
    data = load_data(cfg)
    model = build_model(cfg, data)
    if model.trainable:
        model.load_state_dict(load(run_dir / f"{which}.pt")["model"])
    return Run(cfg, data, model, build_evaluator(cfg, data), make_sampler(cfg, data, model, train=False))
