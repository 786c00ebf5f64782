"""A finished run rebuilt from its directory (config, data, model weights, evaluator, evaluation
sampler), for `evaluate` and `recommend`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from data_prep.errors import UserError
from gcfa_dgl import checkpoint
from gcfa_dgl.config import run_config
from gcfa_dgl.data import ProcessedData
from gcfa_dgl.evaluator import Evaluator
from gcfa_dgl.factory import build_model, load_data, make_sampler
from gcfa_dgl.models.base import Recommender
from gcfa_dgl.sampling import ImportanceSampler


@dataclass
class Run:
    cfg: DictConfig
    data: ProcessedData
    model: Recommender
    evaluator: Evaluator
    eval_sampler: ImportanceSampler


def load_run(run_dir: Path, which: str = "best") -> Run:
    """Rebuild a finished run with the weights of its `best` or `last` checkpoint."""
    cfg = run_config(run_dir)
    if cfg is None:
        raise UserError(f"{run_dir} is not a run directory (no .hydra/config.yaml)")
    if which not in ("best", "last"):
        raise UserError(f"checkpoint must be best or last, got {which!r}")
    data = load_data(cfg)
    model = build_model(cfg, data)
    if model.trainable:
        model.load_state_dict(checkpoint.load(run_dir / f"{which}.pt")["model"])
    return Run(cfg, data, model, Evaluator.from_config(cfg.eval, data), make_sampler(cfg, data, model, train=False))
