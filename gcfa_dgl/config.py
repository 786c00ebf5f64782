"""Typed configs of training and evaluation, registered with Hydra's ConfigStore.

The dataset schema comes from `data_prep.config` (the two apps share `conf/dataset/`). Types catch
misspelt keys and wrong types when Hydra composes; `validate_*` catch bad values, naming the key,
before any data is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore

from data_prep.errors import ConfigError
from data_prep.graph import ETYPE_NAMES as KNOWN_ETYPES


class SamplerMode(str, Enum):
    weighted = "weighted"
    topk = "topk"
    uniform = "uniform"
    full = "full"


class NegativeDist(str, Enum):
    uniform = "uniform"
    popularity = "popularity"


@dataclass
class SamplerConfig:
    """Neighbour sampling for training and evaluation (docs/sampling.md)."""

    mode: SamplerMode = SamplerMode.weighted
    # One entry per propagation layer, nearest the input first: a number for every edge type or
    # a mapping {edge type: number}; -1 takes every neighbour.
    fanouts: list[Any] = field(default_factory=lambda: [10, 10])
    alpha: float = 1.0
    # Evaluation uses deterministic neighbourhoods: the k tightest, with the training fanouts.
    eval_mode: SamplerMode = SamplerMode.topk
    batch_size: int = 1024
    num_negatives: int = 1
    negative: NegativeDist = NegativeDist.uniform
    reject_positives: bool = True
    num_workers: int = 0
    persistent_workers: bool = True


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"config key {key}: {message}")


def validate_sampler(s: Any) -> None:
    _check(len(s.fanouts) >= 1, "sampler.fanouts", "needs one entry per layer")
    for i, f in enumerate(s.fanouts):
        key = f"sampler.fanouts[{i}]"
        items = f.items() if isinstance(f, Mapping) else [(None, f)]
        for et, k in items:
            _check(et is None or et in KNOWN_ETYPES, key, f"unknown edge type {et!r}; known: {sorted(KNOWN_ETYPES)}")
            _check(isinstance(k, int) and (k > 0 or k == -1), key, f"fanout must be a positive integer or -1, got {k!r}")
    _check(s.alpha > 0, "sampler.alpha", f"must be > 0, got {s.alpha}")
    _check(s.batch_size >= 1, "sampler.batch_size", f"must be >= 1, got {s.batch_size}")
    _check(s.num_negatives >= 1, "sampler.num_negatives", f"must be >= 1, got {s.num_negatives}")
    _check(s.num_workers >= 0, "sampler.num_workers", f"must be >= 0, got {s.num_workers}")


def register_configs() -> None:
    from data_prep.config import register_configs as register_prep

    register_prep()
    cs = ConfigStore.instance()
    cs.store(group="sampler", name="base_sampler", node=SamplerConfig)
