"""What a config builds: the processed data, the model, its samplers and its training loader.

Used by a training job and by the tools that reload a finished run, so both build the same objects
from the same config.
"""

from __future__ import annotations

import logging
from typing import Any

import dgl
import torch
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from data_prep.config import check, value
from data_prep.graph import ETYPE_NAMES
from data_prep.pipeline import prepare
from gcfa_dgl.config import validate_against_data
from gcfa_dgl.data import ProcessedData, load_processed
from gcfa_dgl.loaders import edge_loader
from gcfa_dgl.models.base import Recommender
from gcfa_dgl.negatives import VideoNegativeSampler, draw_probabilities
from gcfa_dgl.objectives import Objective
from gcfa_dgl.sampling import ImportanceSampler

log = logging.getLogger(__name__)


def load_data(cfg: Any) -> ProcessedData:
    """The processed dataset of `cfg.dataset`, prepared first when it is missing or stale. The
    config's checks against the number of videos run as soon as it is known, before a build."""
    return load_processed(prepare(cfg, lambda n_videos: validate_against_data(cfg, n_videos)))


def model_class(cfg: Any) -> type[Recommender]:
    return get_class(cfg.model._target_)


def layer_fanouts(cfg: Any) -> list[Any]:
    """`sampler.fanouts` as one entry per block layer of the model. The depth comes from the model
    alone (`Recommender.depth`, e.g. GCFA's `model.propagation_layers`); the fanouts give one entry
    for every layer, or exactly one per layer. Checked before any data is loaded."""
    fanouts = OmegaConf.to_container(cfg.sampler.fanouts, resolve=True)
    depth = model_class(cfg).depth(cfg.model)
    if depth == 0:
        return []
    check(len(fanouts) in (1, depth), "sampler.fanouts",
          f"has {len(fanouts)} entries but {cfg.model.name} samples {depth} layer(s) here: give one entry "
          f"for every layer (e.g. sampler.fanouts=[10]) or exactly {depth}, one per layer")
    return fanouts * depth if len(fanouts) == 1 else fanouts


def objective_name(cfg: Any) -> str:
    """`model.objective`, or the model's own; ccl only for a model that scores by dot product
    (it then scores by cosine). Checked before any data is loaded."""
    name = value(cfg.model.get("objective")) or model_class(cfg).objective
    check(name != "ccl" or model_class(cfg).scores_by_dot(cfg.model), "model.objective",
          f"ccl needs cosine scores, and {cfg.model.name} does not score by a dot product here"
          + (": set model.predictor=dot" if cfg.model.name == "gcfa" else ": pick bpr, bce or softmax"))
    return name


def build_model(cfg: Any, data: ProcessedData) -> Recommender:
    g = data.graph
    model = instantiate(
        cfg.model,
        n_users=data.n_users,
        n_videos=data.n_videos,
        n_info=data.meta.counts.info,
        n_ratings=max(1, len(data.meta.rating_values)),
        video_feat=g.nodes["video"].data.get("feat"),
        graph=g,
        _convert_="all",
    )
    model.cosine = objective_name(cfg) == "ccl"
    return model


def effective_fanouts(cfg: Any, model: Recommender) -> list[Any]:
    """The layer fanouts with 0 for the edge types the model does not read ([0]: no neighbours)."""
    fanouts = layer_fanouts(cfg)
    if not fanouts:
        return [0]
    if model.edge_types is None:
        return fanouts
    out = []
    for f in fanouts:
        f = dict(f) if isinstance(f, dict) else {et: f for et in ETYPE_NAMES}
        out.append({et: (k if et in model.edge_types else 0) for et, k in f.items()})
    return out


def make_sampler(cfg: Any, data: ProcessedData, model: Recommender, train: bool = True,
                 scope: str = "blocks") -> ImportanceSampler:
    s = cfg.sampler
    sampler = ImportanceSampler(effective_fanouts(cfg, model), mode=value(s.mode if train else s.eval_mode),
                                alpha=float(s.alpha), deterministic=bool(s.deterministic), kernel=value(s.kernel),
                                ties="hash" if train else value(s.eval_ties), tie_seed=int(s.tie_seed), scope=scope)
    sampler.prepare(data.graph)
    return sampler


def training_scope(cfg: Any, data: ProcessedData, model: Recommender) -> str:
    """`sampler.scope`, with `auto` resolved: `graph` when the inner layers of a probe batch's
    blocks (its first `batch_size` training edges in a seeded order, with negatives) reach at
    least `sampler.graph_share` of all nodes. The probe leaves the random state as it found it."""
    scope = value(cfg.sampler.scope)
    if scope != "auto":
        return scope
    if len(layer_fanouts(cfg)) < 2:
        return "blocks"  # one layer of blocks: both scopes compute the same
    g = data.graph
    with torch.random.fork_rng(devices=[]):
        eids = torch.randperm(g.num_edges("rates"), generator=torch.Generator().manual_seed(cfg.seed))
        probe = edge_loader(g, eids[: cfg.sampler.batch_size], make_sampler(cfg, data, model),
                            VideoNegativeSampler(cfg.sampler.num_negatives), cfg.sampler.batch_size, shuffle=False)
        blocks = next(iter(probe))[3]
    share = blocks[1].num_src_nodes() / g.num_nodes()  # the nodes the inner layers draw for
    scope = "graph" if share >= cfg.sampler.graph_share else "blocks"
    log.info("sampler scope: %s (a batch's inner layers reach %.0f%% of the nodes; graph from %.0f%%)",
             scope, 100 * share, 100 * cfg.sampler.graph_share)
    return scope


def make_objective(cfg: Any, data: ProcessedData, model: Recommender) -> Objective:
    """`model.objective` (or the model's own) with its settings; the softmax corrects for the
    negatives' law when it is not uniform (`sampler.negative`)."""
    name = objective_name(cfg)
    log_q = None
    if name == "softmax" and value(cfg.sampler.negative) != "uniform":
        table = draw_probabilities(data.graph, value(cfg.sampler.negative)).log().float()

        def log_q(videos: torch.Tensor) -> torch.Tensor:
            return table[videos.long()]
    m = cfg.model
    return Objective(name, float(m.temperature), log_q, float(m.margin), float(m.negative_weight))


def training_loader(cfg: Any, data: ProcessedData, model: Recommender, distributed: bool = False
                    ) -> dgl.dataloading.DataLoader:
    """Batches of train edges with their negatives and sampled blocks. Under DDP, DGL gives each
    rank a contiguous slice of the edge ids: they are shuffled once so that slices mix users."""
    s = cfg.sampler
    g = data.graph
    eids = torch.arange(g.num_edges("rates"))
    if distributed:
        eids = eids[torch.randperm(len(eids), generator=torch.Generator().manual_seed(cfg.seed))]
    negatives = VideoNegativeSampler(s.num_negatives, value(s.negative), s.reject_positives)
    sampler = make_sampler(cfg, data, model, train=True, scope=training_scope(cfg, data, model))
    return edge_loader(g, eids, sampler, negatives, s.batch_size, num_workers=s.num_workers,
                       persistent_workers=s.persistent_workers, use_ddp=distributed)
