"""Importance-based neighbour sampling on the heterograph, and the loaders built on it.

For every layer and edge type, each seed node keeps at most `k` of its in-neighbours, chosen by
relationship tightness (docs/sampling.md):

- `weighted`: without replacement, with probability proportional to tightness ** alpha;
- `topk`: the k tightest (ties to the smaller edge id, as DGL's kernel does);
- `uniform`: without replacement, uniformly (the control);
- `full`: every neighbour (fanouts are ignored).

All selection runs in DGL's C++ kernels (`sample_neighbors_fused`, `sample_neighbors`,
`select_topk`); Python only loops over layers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dgl
import torch
from dgl.dataloading import BlockSampler
from dgl.utils import get_num_threads as dgl_threads
from dgl.utils import set_num_threads as set_dgl_threads

from data_prep.graph import ETYPE_NAMES as KNOWN_ETYPES
from data_prep.graph import RATED_BY, RATES
from gcfa_dgl.seeding import claim_streams

MODES = ("weighted", "topk", "uniform", "full")
Fanout = int | Mapping[Any, int]


class ImportanceSampler(BlockSampler):
    """A multi-layer block sampler selecting neighbours by tightness.

    `fanouts[i]` is layer i's fanout (layer 0 is nearest the input): one number for every edge
    type, or a dict keyed by edge type name or canonical triple (missing types get 0; -1 means
    all neighbours).
    """

    def __init__(
        self,
        fanouts: Sequence[Fanout],
        mode: str = "weighted",
        alpha: float = 1.0,
        weight: str = "tightness",
        deterministic: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # DGL's samplers hand seeds to their OpenMP threads, each with its own random stream, in an
        # order that varies from run to run; on one thread (stream 0, gcfa_dgl.seeding) the same
        # seed gives the same neighbourhoods.
        self.deterministic = deterministic
        claim_streams(dgl_threads())
        if mode not in MODES:
            raise ValueError(f"sampler mode must be one of {MODES}, got {mode!r}")
        if not fanouts:
            raise ValueError("fanouts must name at least one layer")
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        for fanout in fanouts:
            for key in fanout if isinstance(fanout, Mapping) else ():
                name = key[1] if isinstance(key, list | tuple) else key
                if name not in KNOWN_ETYPES:
                    raise KeyError(f"unknown edge type {name!r} in fanouts; known: {sorted(KNOWN_ETYPES)}")
        self.fanouts = list(fanouts)
        self.mode = mode
        self.alpha = float(alpha)
        self.weight = weight
        self.prob_key = weight if self.alpha == 1.0 else f"_{weight}_pow"
        self._mapping: dict = {}
        self._topk_graphs: dict = {}
        self._graph: dgl.DGLGraph | None = None
        self._fanouts: list[dict] = []

    def __getstate__(self) -> dict:
        """Caches stay behind when a worker process receives the sampler."""
        state = dict(self.__dict__)
        state.update(_mapping={}, _topk_graphs={}, _graph=None, _fanouts=[])
        return state

    @property
    def num_layers(self) -> int:
        return len(self.fanouts)

    def layer(self, i: int) -> ImportanceSampler:
        """A one-layer sampler with layer i's fanout and the same settings (layer-wise inference)."""
        return ImportanceSampler([self.fanouts[i]], mode=self.mode, alpha=self.alpha, weight=self.weight,
                                 deterministic=self.deterministic)

    def prepare(self, g: dgl.DGLGraph) -> dgl.DGLGraph:
        """Add the sampling probability tightness ** alpha to every edge type (once per graph)."""
        if self.mode == "weighted" and self.prob_key != self.weight:
            for et in g.canonical_etypes:
                if self.prob_key not in g.edges[et].data:
                    g.edges[et].data[self.prob_key] = g.edges[et].data[self.weight].pow(self.alpha)
        return g

    def _fanout(self, g: dgl.DGLGraph, fanout: Fanout) -> dict[tuple[str, str, str], int]:
        if self.mode == "full":
            return {et: -1 for et in g.canonical_etypes}
        if not isinstance(fanout, Mapping):
            return {et: int(fanout) for et in g.canonical_etypes}
        out = {et: 0 for et in g.canonical_etypes}
        for key, k in fanout.items():
            name = key[1] if isinstance(key, list | tuple) else key
            if name not in g.etypes:
                continue  # a known type this graph lacks, e.g. info edges without side information
            out[g.to_canonical_etype(tuple(key) if isinstance(key, list | tuple) else key)] = int(k)
        return out

    def _bind(self, g: dgl.DGLGraph) -> None:
        """Per-graph set-up, once: check the probability feature, reset the caches."""
        if self.mode == "weighted":
            missing = [et for et in g.canonical_etypes if self.prob_key not in g.edges[et].data]
            if missing:
                raise KeyError(f"edge feature {self.prob_key!r} missing on {missing}; call sampler.prepare(g)")
        self._mapping, self._topk_graphs, self._graph = {}, {}, g
        self._fanouts = [self._fanout(g, f) for f in self.fanouts]

    def sample_blocks(self, g, seed_nodes, exclude_eids=None):
        if g is not self._graph:
            self._bind(g)
        threads = dgl_threads()
        if not self.deterministic or threads == 1:
            return self._sample(g, seed_nodes, exclude_eids)
        set_dgl_threads(1)  # DGL's own OpenMP runtime: torch.set_num_threads does not reach it
        try:
            return self._sample(g, seed_nodes, exclude_eids)
        finally:
            set_dgl_threads(threads)

    def _sample(self, g, seed_nodes, exclude_eids):
        output_nodes = seed_nodes
        blocks = []
        for fo in reversed(self._fanouts):
            if self.mode == "topk" and exclude_eids is None:
                block = self._topk_block(g, seed_nodes, fo)
            elif self.mode == "topk":
                frontier = self._topk_frontier(g, seed_nodes, fo, exclude_eids)
                eids = frontier.edata[dgl.EID]
                block = dgl.to_block(frontier, seed_nodes)
                block.edata[dgl.EID] = eids  # to_block numbers edges by the frontier
            else:
                prob = self.prob_key if self.mode == "weighted" else None
                uniform = len(set(fo.values())) == 1  # one number: let DGL skip the dict
                block = g.sample_neighbors_fused(
                    seed_nodes, next(iter(fo.values())) if uniform else fo, prob=prob,
                    exclude_edges=exclude_eids, mapping=self._mapping,
                )
            seed_nodes = block.srcdata[dgl.NID]
            blocks.insert(0, block)
        return seed_nodes, output_nodes, blocks

    def _topk_block(self, g, seeds, fanout):
        """Top-k without exclusions is a fixed subgraph: select it once for all nodes, then take
        the seeds' full in-neighbourhoods in it with the fused kernel."""
        key = tuple(sorted((et, k) for et, k in fanout.items()))
        if key not in self._topk_graphs:
            sub = dgl.sampling.select_topk(g, fanout, self.weight)
            for et in sub.canonical_etypes:
                sub.edges[et].data["_parent_eid"] = sub.edges[et].data.pop(dgl.EID)
            self._topk_graphs[key] = (sub, {})
        sub, mapping = self._topk_graphs[key]
        block = sub.sample_neighbors_fused(seeds, -1, mapping=mapping)
        for et in block.canonical_etypes:
            block.edges[et].data[dgl.EID] = block.edges[et].data.pop("_parent_eid")
        return block

    def _topk_frontier(self, g, seeds, fanout, exclude_eids):
        """The k tightest in-edges per seed, excluded edges left out before choosing."""
        if exclude_eids is None:
            return dgl.sampling.select_topk(g, fanout, self.weight, nodes=seeds)
        exclude = exclude_eids if isinstance(exclude_eids, Mapping) else {g.canonical_etypes[0]: exclude_eids}
        exclude = {g.to_canonical_etype(k): v for k, v in exclude.items() if len(v)}
        if not exclude:
            return dgl.sampling.select_topk(g, fanout, self.weight, nodes=seeds)
        # Take k plus the most excluded edges any node has, drop the excluded, keep the top k.
        widened = dict(fanout)
        for et, eids in exclude.items():
            if fanout[et] >= 0:
                _, dst = g.find_edges(eids, etype=et)
                widened[et] = fanout[et] + int(torch.bincount(dst).max())
        frontier = dgl.sampling.select_topk(g, widened, self.weight, nodes=seeds)
        drop = {}
        for et, eids in exclude.items():
            parent = frontier.edges[et].data[dgl.EID]
            drop[et] = torch.nonzero(torch.isin(parent, eids.to(parent.dtype))).squeeze(1)
        for et in frontier.canonical_etypes:
            frontier.edges[et].data["_parent_eid"] = frontier.edges[et].data[dgl.EID]
        for et, d in drop.items():
            if len(d):
                frontier.remove_edges(d, etype=et)
        final = dgl.sampling.select_topk(frontier, fanout, self.weight, nodes=seeds)
        for et in final.canonical_etypes:
            final.edges[et].data[dgl.EID] = final.edges[et].data.pop("_parent_eid")
        return final


# --- negatives -------------------------------------------------------------------------------


class VideoNegativeSampler(dgl.dataloading.negative_sampler._BaseNegativeSampler):
    """k negative videos per positive (user, video) edge, drawn from TRAIN information only.

    `distribution`: `uniform` over videos, or `popularity` (train degree ** 0.75).
    `reject_positives`: redraw, in vectorised rounds (at most `rounds`), any negative that is a
    train positive of its user. Validation and test interactions are never consulted: knowing them would leak.
    """

    def __init__(self, k: int = 1, distribution: str = "uniform", reject_positives: bool = False,
                 rounds: int = 100) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if distribution not in ("uniform", "popularity"):
            raise ValueError(f"distribution must be uniform or popularity, got {distribution!r}")
        self.k = k
        self.distribution = distribution
        self.reject_positives = reject_positives
        self.rounds = rounds
        self._probs: torch.Tensor | None = None
        self._graph_id: int | None = None

    def _draw(self, g, n: int) -> torch.Tensor:
        n_videos = g.num_nodes("video")
        if self.distribution == "uniform":
            return torch.randint(0, n_videos, (n,))
        if self._probs is None or self._graph_id != id(g):
            deg = g.in_degrees(etype=RATES).double()
            self._probs, self._graph_id = (deg + 1e-9).pow(0.75), id(g)  # unseen videos: ~0
        return torch.multinomial(self._probs, n, replacement=True)

    def _generate(self, g, eids, canonical_etype):
        src, _ = g.find_edges(eids, etype=canonical_etype)
        src = src.repeat_interleave(self.k)
        dst = self._draw(g, len(src))
        if self.reject_positives:
            for _ in range(self.rounds):
                bad = torch.nonzero(g.has_edges_between(src, dst, etype=RATES)).squeeze(1)
                if not len(bad):
                    break
                dst[bad] = self._draw(g, len(bad))
        return src, dst


# --- loaders ---------------------------------------------------------------------------------


def edge_loader(
    g: dgl.DGLGraph,
    eids: torch.Tensor,
    sampler: ImportanceSampler,
    negative_sampler: VideoNegativeSampler | None,
    batch_size: int,
    shuffle: bool = True,
    num_workers: int = 0,
    persistent_workers: bool = False,
    use_ddp: bool = False,
    drop_last: bool = False,
) -> dgl.dataloading.DataLoader:
    """Minibatches of (user, video) train edges with negatives, for link prediction.

    The batch's own `rates` edges and their `rated_by` reverses are excluded from the blocks that
    compute its endpoints, so a positive never informs its own score.
    """
    sampler.prepare(g)
    edge_sampler = dgl.dataloading.as_edge_prediction_sampler(
        sampler,
        exclude="reverse_types",
        reverse_etypes={RATES: RATED_BY, RATED_BY: RATES},
        negative_sampler=negative_sampler,
    )
    loader = dgl.dataloading.DataLoader(
        g,
        {RATES: eids},
        edge_sampler,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=num_workers,
        persistent_workers=persistent_workers and num_workers > 0,
        use_ddp=use_ddp,
    )
    loader.initial_order = loader.dataset._indices.clone()
    return loader


def restart_order(loader: dgl.dataloading.DataLoader) -> None:
    """Put the edge order back to where it started.

    DGL shuffles its index array in place each epoch, so epoch e's order depends on every earlier
    epoch. Restoring it first makes an epoch's order a function of the RNG seed alone, which is what
    lets an interrupted run resume to exactly the same result.
    """
    loader.dataset._indices.copy_(loader.initial_order)


LayerFn = Callable[[int, Any, dict[str, torch.Tensor]], dict[str, torch.Tensor]]


@torch.no_grad()
def layerwise_inference(
    g: dgl.DGLGraph,
    sampler: ImportanceSampler,
    layer_fn: LayerFn,
    inputs: dict[str, torch.Tensor],
    batch_size: int = 4096,
    num_workers: int = 0,
) -> dict[str, torch.Tensor]:
    """Representations of ALL nodes, one layer at a time (DGL's offline inference pattern).

    Layer l is computed for every node from layer l-1's stored outputs through one-layer blocks
    of that layer's fanout, so each node's neighbourhood is sampled once per layer instead of
    once per (layer, seed), and memory stays at two layers of embeddings.
    """
    sampler.prepare(g)
    h = inputs
    nodes = {nt: torch.arange(g.num_nodes(nt)) for nt in g.ntypes}
    for layer in range(sampler.num_layers):
        one = sampler.layer(layer)
        loader = dgl.dataloading.DataLoader(
            g, nodes, one, batch_size=batch_size, shuffle=False, num_workers=num_workers
        )
        out: dict[str, torch.Tensor] = {}
        for _, output_nodes, blocks in loader:
            block = blocks[0]
            src = {nt: h[nt][ids] for nt, ids in block.srcdata[dgl.NID].items() if nt in h}
            res = layer_fn(layer, block, src)
            for nt, val in res.items():
                if nt not in out:
                    out[nt] = torch.zeros(g.num_nodes(nt), *val.shape[1:], dtype=val.dtype)
                out[nt][output_nodes[nt]] = val
        h = out
    return h


def score_candidates(
    score_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    users: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    batch_size: int = 4096,
) -> torch.Tensor:
    """(len(users), 1 + N) scores: column 0 the held-out positive, then its N fixed negatives."""
    cand = torch.cat([positives[:, None], negatives], dim=1)
    out = torch.empty(cand.shape, dtype=torch.float32)
    for start in range(0, len(users), batch_size):
        u = users[start : start + batch_size]
        c = cand[start : start + batch_size]
        out[start : start + batch_size] = score_fn(u.repeat_interleave(c.shape[1]), c.reshape(-1)).view(c.shape)
    return out
