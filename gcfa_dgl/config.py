"""Typed configs of training and evaluation, registered with Hydra's ConfigStore.

The dataset schema comes from `data_prep.config` (the two apps share `conf/dataset/`). Types catch
misspelt keys and wrong types when Hydra composes; `validate_*` catch bad values, naming the key,
before any data is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from data_prep.config import (
    CONFIG_PATH,
    DatasetConfig,
    PathsConfig,
    check,
    check_composed,
    validate_dataset,
)
from data_prep.config import register_configs as register_prep_configs
from data_prep.graph import ETYPE_NAMES as KNOWN_ETYPES

__all__ = ["CONFIG_PATH", "Config", "register_configs", "run_config", "validate", "validate_against_data"]


class SamplerMode(str, Enum):
    weighted = "weighted"
    topk = "topk"
    uniform = "uniform"
    full = "full"


class Scope(str, Enum):
    auto = "auto"
    blocks = "blocks"
    graph = "graph"


class TieRule(str, Enum):
    all = "all"
    hash = "hash"


class SamplerKernel(str, Enum):
    torch = "torch"
    dgl = "dgl"


class NegativeDist(str, Enum):
    uniform = "uniform"
    popularity = "popularity"
    in_batch = "in_batch"


@dataclass
class SamplerConfig:
    """Neighbour sampling for training and evaluation (docs/sampling.md)."""

    mode: SamplerMode = SamplerMode.weighted
    # Neighbours kept per node, edge type and layer: one entry for every layer, or one per layer
    # (nearest the input first). An entry is a number for every edge type or a mapping
    # {edge type: number}; -1 takes every neighbour. How many layers is the model's choice
    # (GCFA: model.propagation_layers), never the length of this list.
    fanouts: list[Any] = field(default_factory=lambda: [10])
    alpha: float = 1.0
    # What a training step samples: `blocks`, each batch's own layered neighbourhood; `graph`, every
    # node's neighbours in the inner layers (the same law; for batches that reach most of the graph
    # anyway); `auto` picks graph when a probe batch's inner layers reach at least `graph_share` of
    # the nodes. The model computes the same either way.
    scope: Scope = Scope.auto
    graph_share: float = 0.9
    # Evaluation uses deterministic neighbourhoods: the k tightest, with the training fanouts.
    eval_mode: SamplerMode = SamplerMode.topk
    # Neighbours as tight as the k-th at evaluation: `all` keeps every one of them, so that no
    # order among equally tight neighbours decides a result; `hash` keeps k, ties broken in the
    # fixed pseudo-random order of `tie_seed` (what training's top-k does).
    eval_ties: TieRule = TieRule.all
    tie_seed: int = 0
    batch_size: int = 1024
    num_negatives: int = 1
    negative: NegativeDist = NegativeDist.uniform
    reject_positives: bool = True
    num_workers: int = 0
    persistent_workers: bool = True
    # Run DGL's sampling kernels (uniform; weighted with kernel=dgl) on one thread so the same seed
    # gives the same neighbourhoods (DGL's multi-threaded sampling is not reproducible); false lets
    # them use every thread. The default weighted draws are reproducible on any thread count.
    deterministic: bool = True
    # How `weighted` draws: `torch`, tensor ops at a cost per draw (gcfa_dgl/weighted.py), or `dgl`,
    # DGL's kernel, which reads every in-edge of every seed (runs before this option used it).
    # The same law, except that DGL's kernel drops a batch's excluded edges after drawing, leaving
    # those seeds short of k; the draws themselves differ (docs/sampling.md).
    kernel: SamplerKernel = SamplerKernel.torch


class Aggregator(str, Enum):
    pooling = "pooling"
    weighted = "weighted"
    mean = "mean"


class ObjectiveName(str, Enum):
    bpr = "bpr"
    bce = "bce"
    softmax = "softmax"
    ccl = "ccl"


class Reduction(str, Enum):
    mean = "mean"
    sum = "sum"


class Predictor(str, Enum):
    mlp = "mlp"
    dot = "dot"


@dataclass
class ModelConfig:
    """Fields every model has; `_target_` names its class for hydra.utils.instantiate."""

    _target_: str = MISSING
    name: str = MISSING
    dim: int = 64
    lr: float = 1e-3
    l2: float = 1e-5
    # Training objective (gcfa_dgl/objectives.py); null: the model's own (BPR for BPR-MF and
    # LightGCN, BCE for the others). `temperature` scales the softmax's logits; `margin` and
    # `negative_weight` are ccl's (which makes a dot-product model score by cosine).
    objective: ObjectiveName | None = None
    temperature: float = 0.1
    margin: float = 0.5
    negative_weight: float = 10.0


@dataclass
class GCFAConfig(ModelConfig):
    _target_: str = "gcfa_dgl.models.gcfa.GCFA"
    name: str = "gcfa"
    lr: float = 5e-3
    dropout: float = 0.1
    aggregator: Aggregator = Aggregator.pooling
    attention: bool = True
    attention_dim: int | None = None
    opinion: bool = True
    info_edges: bool = True
    social_edges: bool = True
    propagation_layers: int = 2
    predictor: Predictor = Predictor.mlp
    video_features: bool = True


@dataclass
class BPRConfig(ModelConfig):
    _target_: str = "gcfa_dgl.models.mf.BPR"
    name: str = "bpr"
    l2: float = 1e-4


@dataclass
class NeuMFConfig(ModelConfig):
    _target_: str = "gcfa_dgl.models.mf.NeuMF"
    name: str = "neumf"
    l2: float = 0.0
    dropout: float = 0.0
    hidden: list[int] | None = None  # the MLP tower's sizes after its 2·dim input; null: [dim, dim / 2]


@dataclass
class GCMCConfig(ModelConfig):
    _target_: str = "gcfa_dgl.models.gcmc.GCMC"
    name: str = "gcmc"
    l2: float = 0.0
    dropout: float = 0.3
    bases: int = 2


@dataclass
class GraphRecConfig(ModelConfig):
    _target_: str = "gcfa_dgl.models.graphrec.GraphRec"
    name: str = "graphrec"
    l2: float = 0.0
    dropout: float = 0.5


@dataclass
class LightGCNConfig(ModelConfig):
    _target_: str = "gcfa_dgl.models.lightgcn.LightGCN"
    name: str = "lightgcn"
    l2: float = 1e-4
    layers: int = 3


@dataclass
class SimGCLConfig(ModelConfig):
    _target_: str = "gcfa_dgl.models.simgcl.SimGCL"
    name: str = "simgcl"
    l2: float = 1e-4
    layers: int = 2
    eps: float = 0.1             # length of each layer's noise
    cl_weight: float = 0.5       # λ of the contrastive term
    cl_temperature: float = 0.2  # τ of its InfoNCE
    cl_reduction: Reduction = Reduction.mean  # over the batch's nodes: mean (authors' code) or sum (paper, RecBole-GNN)


@dataclass
class XSimGCLConfig(ModelConfig):
    _target_: str = "gcfa_dgl.models.xsimgcl.XSimGCL"
    name: str = "xsimgcl"
    l2: float = 1e-4
    layers: int = 2
    eps: float = 0.2
    cl_weight: float = 0.2
    cl_temperature: float = 0.2
    cl_layer: int = 1            # the layer whose output is contrasted with the final embeddings


@dataclass
class EASEConfig(ModelConfig):
    _target_: str = "gcfa_dgl.models.ease.EASE"
    name: str = "ease"
    l2: float = 500.0
    # λ candidates the job compares on validation (the monitor), keeping the best; [] uses model.l2.
    l2_grid: list[float] = field(default_factory=lambda: [50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0])
    max_videos: int = 30_000  # the videos x videos weights are dense


@dataclass
class PopConfig(ModelConfig):
    _target_: str = "gcfa_dgl.models.pop.Pop"
    name: str = "pop"


@dataclass
class TrainConfig:
    epochs: int = 30
    patience: int = 5
    # Metric that selects the best epoch and stops early, computed on the VALIDATION split.
    monitor: str = "full/ndcg@20"
    grad_clip: float = 5.0
    eval_every: int = 1
    # Cap on batches per epoch (null: the whole epoch); for smoke runs.
    max_batches: int | None = None
    resume: bool = False
    threads: int = 0  # torch and DGL intra-op threads; 0: torch's default, shared by parallel runs
    tensorboard: bool = True


@dataclass
class EvalConfig:
    protocols: list[str] = field(default_factory=lambda: ["sampled", "full"])
    ks_sampled: list[int] = field(default_factory=lambda: [1, 2, 5, 10])
    ks_full: list[int] = field(default_factory=lambda: [10, 20])
    chunk_mb: int = 64
    batch_size: int = 4096
    # Full-protocol AUC over every unseen video needs a sort of each user's scores (several times
    # the cost of the other metrics, which come from torch.topk): on request only.
    full_auc: bool = False


class DistBackend(str, Enum):
    gloo = "gloo"
    nccl = "nccl"


@dataclass
class DistributedConfig:
    """Data-parallel training over torchrun's processes (gcfa_dgl/distributed.py)."""

    ddp: bool = False
    backend: DistBackend = DistBackend.gloo  # gloo (CPU); nccl is refused until GPU training exists


@dataclass
class Config:
    dataset: DatasetConfig = MISSING
    model: Any = MISSING
    sampler: SamplerConfig = MISSING
    train: TrainConfig = MISSING
    eval: EvalConfig = MISSING
    distributed: DistributedConfig = MISSING
    paths: PathsConfig = MISSING
    # Extra trainer callbacks by name, each a `_target_` (gcfa_dgl.callbacks.Callback) with its
    # arguments; the `callbacks:` group (conf/callbacks/) fills it.
    callbacks: dict[str, Any] = field(default_factory=dict)
    seed: int = 0


def validate_sampler(s: Any) -> None:
    check(len(s.fanouts) >= 1, "sampler.fanouts", "needs one entry per layer")
    for i, f in enumerate(s.fanouts):
        key = f"sampler.fanouts[{i}]"
        items = f.items() if isinstance(f, Mapping) else [(None, f)]
        for et, k in items:
            check(et is None or et in KNOWN_ETYPES, key, f"unknown edge type {et!r}; known: {sorted(KNOWN_ETYPES)}")
            check(isinstance(k, int) and (k > 0 or k == -1), key, f"fanout must be a positive integer or -1, got {k!r}")
    check(s.alpha > 0, "sampler.alpha", f"must be > 0, got {s.alpha}")
    check(0 <= s.graph_share <= 1, "sampler.graph_share", f"must be in [0, 1], got {s.graph_share}")
    check(s.batch_size >= 1, "sampler.batch_size", f"must be >= 1, got {s.batch_size}")
    check(s.num_negatives >= 1, "sampler.num_negatives", f"must be >= 1, got {s.num_negatives}")
    check(s.num_workers >= 0, "sampler.num_workers", f"must be >= 0, got {s.num_workers}")


MODEL_SCHEMAS = {c.name: c for c in (GCFAConfig, BPRConfig, NeuMFConfig, GCMCConfig, GraphRecConfig, LightGCNConfig,
                                     SimGCLConfig, XSimGCLConfig, PopConfig, EASEConfig)}


def register_configs() -> None:
    register_prep_configs()
    cs = ConfigStore.instance()
    # Schemas live in their own `schema` group, which each YAML extends (`/schema/<group>@_here_`):
    # so they are not among a group's options, where choosing one would leave values empty.
    for group, node in (("sampler", SamplerConfig), ("train", TrainConfig), ("eval", EvalConfig),
                        ("distributed", DistributedConfig)):
        cs.store(group="schema", name=group, node=node)
    for name, node in MODEL_SCHEMAS.items():
        cs.store(group="schema/model", name=name, node=node)
    cs.store(name="base_config", node=Config)


def validate(cfg: Any) -> None:
    """Every key and value check, before any data is loaded."""
    check_composed(cfg, Config, {"model": MODEL_SCHEMAS.get(cfg.model.get("name"), ModelConfig)})
    validate_dataset(cfg.dataset)
    validate_sampler(cfg.sampler)
    m, t, e = cfg.model, cfg.train, cfg.eval
    check(m.dim >= 1, "model.dim", f"must be >= 1, got {m.dim}")
    check(m.lr > 0 or m.name in ("pop", "ease"), "model.lr", f"must be > 0, got {m.lr}")
    check(m.l2 >= 0, "model.l2", f"must be >= 0, got {m.l2}")
    check(m.temperature > 0, "model.temperature", f"must be > 0, got {m.temperature}")
    check(-1 <= m.margin < 1, "model.margin", f"must be in [-1, 1) (a cosine), got {m.margin}")
    check(m.negative_weight >= 0, "model.negative_weight", f"must be >= 0, got {m.negative_weight}")
    if "l2_grid" in m:
        check(all(x > 0 for x in m.l2_grid), "model.l2_grid", f"every λ must be > 0, got {list(m.l2_grid)}")
    if m.get("attention_dim") is not None:
        check(m.attention_dim >= 1, "model.attention_dim", f"must be >= 1 or null (= model.dim), got {m.attention_dim}")
    if "dropout" in m:
        check(0 <= m.dropout < 1, "model.dropout", f"must be in [0, 1), got {m.dropout}")
    if m.get("hidden") is not None:
        check(len(m.hidden) >= 1 and all(h >= 1 for h in m.hidden), "model.hidden",
              f"must be a non-empty list of sizes >= 1 or null, got {list(m.hidden)}")
    if "layers" in m:
        check(m.layers >= 1, "model.layers", f"must be >= 1, got {m.layers}")
    if "eps" in m:
        check(m.eps >= 0, "model.eps", f"must be >= 0, got {m.eps}")
        check(m.cl_weight >= 0, "model.cl_weight", f"must be >= 0, got {m.cl_weight}")
        check(m.cl_temperature > 0, "model.cl_temperature", f"must be > 0, got {m.cl_temperature}")
    if "cl_layer" in m:
        check(1 <= m.cl_layer <= m.layers, "model.cl_layer",
              f"must be in [1, model.layers={m.layers}], got {m.cl_layer}")
    if "propagation_layers" in m:
        layers = m.propagation_layers
        check(0 <= layers <= 8, "model.propagation_layers", f"must be in [0, 8], got {layers}")
    check(t.epochs >= 1, "train.epochs", f"must be >= 1, got {t.epochs}")
    check(t.patience >= 1, "train.patience", f"must be >= 1, got {t.patience}")
    check(t.eval_every >= 1, "train.eval_every", f"must be >= 1, got {t.eval_every}")
    check(t.max_batches is None or t.max_batches >= 1, "train.max_batches", "must be >= 1 or null")
    check(t.grad_clip > 0, "train.grad_clip", f"must be > 0, got {t.grad_clip}")
    bad = [p for p in e.protocols if p not in ("sampled", "full")]
    check(not bad and len(e.protocols) > 0, "eval.protocols", f"known protocols are sampled and full, got {list(e.protocols)}")
    check(all(k >= 1 for k in [*e.ks_sampled, *e.ks_full]), "eval.ks_full", "every K must be >= 1")
    n = cfg.dataset.negatives.num + 1
    check(all(k <= n for k in e.ks_sampled), "eval.ks_sampled",
          f"every K must be at most the {n} candidates per positive (dataset.negatives.num + 1), got {list(e.ks_sampled)}")
    proto, _, metric = t.monitor.partition("/")
    check(proto in ("sampled", "sampled_n1", "full") and bool(metric), "train.monitor",
           f"must look like full/ndcg@20 or sampled/auc, got {t.monitor!r}")
    check(proto.startswith("sampled") and "sampled" in e.protocols or proto == "full" and "full" in e.protocols,
           "train.monitor", f"{t.monitor!r} needs its protocol in eval.protocols")
    check(t.monitor not in ("full/auc", "full/mrr") or bool(e.get("full_auc", False)), "train.monitor",
          f"{t.monitor!r} is computed only with eval.full_auc=true")
    _, _, k = metric.partition("@")
    ks = e.ks_full if proto == "full" else e.ks_sampled
    check(not k.isdigit() or int(k) in ks, "train.monitor",
          f"{t.monitor!r} needs K={k} in eval.ks_{'full' if proto == 'full' else 'sampled'}, which has {list(ks)}")


def validate_against_data(cfg: Any, n_videos: int) -> None:
    """Checks that need the dataset's size: a full-ranking K against the number of videos."""
    for k in cfg.eval.ks_full:
        check(k <= n_videos, "eval.ks_full", f"K={k} exceeds the {n_videos} videos of the dataset")


def run_config(run: Path) -> DictConfig | None:
    """The config a finished run saved (its `.hydra/config.yaml`), or None for a directory without one."""
    path = Path(run) / ".hydra" / "config.yaml"
    return OmegaConf.load(path) if path.exists() else None
