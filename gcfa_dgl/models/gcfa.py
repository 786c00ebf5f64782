"""GCFA: graph collaborative filtering with importance sampling, pooling aggregation and
opinion-aware attention (the paper of docs/model.md; equation numbers in brackets).

For each seed node of a batch, over blocks sampled by tightness:
- e: embeddings of users, videos, info nodes and rating levels (opinions) [1]; a video's
  projected features are added to its embedding when the dataset has them;
- h: opinion-aware attention over the node's sampled history (videos of a user, users of a
  video) [5-10];
- agg: aggregation of its user-user / video-video and video-info neighbours, pooling or
  tightness-weighted [2-4];
- e^(L): L layers of embedding propagation over the blocks, LeakyReLU [11, 12];
- towers z = MLP([h ⊕ agg ⊕ e^(L)]) and a predictor MLP([z_u ⊕ z_v]) or z_u · z_v;
- loss: BCE on positives and sampled negatives plus λ/2 ‖·‖² on the batch's parameters [13].
"""

from __future__ import annotations

from typing import Any

import dgl
import torch
from torch import nn

from data_prep.config import value
from data_prep.graph import CO_WATCHED, DESCRIBES, HAS, RATED_BY, RATES, SIMILAR
from gcfa_dgl.loaders import layerwise_inference
from gcfa_dgl.models.base import MLPScorer, Recommender
from gcfa_dgl.models.layers import NeighbourAggregator, OpinionAttention, Propagation, mlp, xavier_
from gcfa_dgl.sampling import ImportanceSampler


class GCFA(Recommender):
    name = "gcfa"

    def __init__(
        self,
        n_users: int,
        n_videos: int,
        n_info: int = 0,
        n_ratings: int = 1,
        video_feat: torch.Tensor | None = None,
        dim: int = 64,
        lr: float = 1e-3,
        l2: float = 1e-5,
        dropout: float = 0.1,
        aggregator: str = "pooling",
        attention: bool = True,
        attention_dim: int | None = None,
        opinion: bool = True,
        info_edges: bool = True,
        social_edges: bool = True,
        propagation_layers: int = 2,
        predictor: str = "mlp",
        video_features: bool = True,
        **_: Any,
    ) -> None:
        super().__init__(lr=lr, l2=l2)
        if predictor not in ("mlp", "dot"):
            raise ValueError(f"predictor must be mlp or dot, got {predictor!r}")
        self.dim = dim
        self.use_info = info_edges and n_info > 0
        self.use_social = social_edges
        self.layers = propagation_layers
        self.emb = nn.ModuleDict({
            "user": nn.Embedding(n_users, dim),
            "video": nn.Embedding(n_videos, dim),
            "info": nn.Embedding(max(n_info, 1), dim),
        })
        self.opinion_emb = nn.Embedding(max(n_ratings, 1), dim)
        self.feat_proj = None
        if video_features and video_feat is not None and video_feat.shape[1] > 0:
            self.register_buffer("video_feat", video_feat.float(), persistent=False)
            self.feat_proj = nn.Linear(video_feat.shape[1], dim)
        etypes = [RATES, RATED_BY]
        if self.use_social:
            etypes += [SIMILAR, CO_WATCHED]
        if self.use_info:
            etypes += [HAS, DESCRIBES]
        self.etypes = etypes
        self.edge_types = tuple(et[1] for et in etypes)
        self.props = nn.ModuleList(Propagation(dim, etypes, opinion, dropout) for _ in range(propagation_layers))
        self.hist = nn.ModuleDict({
            "user": OpinionAttention(dim, attention, opinion, dropout, attention_dim),
            "video": OpinionAttention(dim, attention, opinion, dropout, attention_dim),
        })
        self.agg = nn.ModuleDict()
        if self.use_social:
            self.agg["similar"] = NeighbourAggregator(dim, aggregator)
            self.agg["co_watched"] = NeighbourAggregator(dim, aggregator)
        if self.use_info:
            self.agg["describes"] = NeighbourAggregator(dim, aggregator)
        n_user_parts = 2 + self.use_social
        n_video_parts = 2 + self.use_social + self.use_info
        self.tower = nn.ModuleDict({
            "user": mlp([n_user_parts * dim, dim, dim], dropout),
            "video": mlp([n_video_parts * dim, dim, dim], dropout),
        })
        self.predictor = MLPScorer(dim, dim, dropout) if predictor == "mlp" else None
        xavier_(self)

    @classmethod
    def depth(cls, cfg: Any) -> int:
        """One block per propagation layer, and at least one for the history attention."""
        return max(1, int(cfg.propagation_layers))

    @classmethod
    def scores_by_dot(cls, cfg: Any) -> bool:
        return value(cfg.predictor) == "dot"

    # -- pieces -------------------------------------------------------------------------------
    def embed(self, ntype: str, ids: torch.Tensor) -> torch.Tensor:
        e = self.emb[ntype].weight.index_select(0, ids)
        if ntype == "video" and self.feat_proj is not None:
            e = e + self.feat_proj(self.video_feat[ids])
        return e

    def propagate(self, layer: int, block: dgl.DGLGraph, h: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.props[layer](block, h, self.opinion_emb.weight)

    def head(self, block: dgl.DGLGraph, raw: dict[str, torch.Tensor], top: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Towers of the block's dst nodes: h (history attention), agg (neighbours), e^(L)."""
        out = {}
        n_dst = {nt: block.num_dst_nodes(nt) for nt in block.dsttypes}
        if n_dst.get("user"):
            e = raw["user"][: n_dst["user"]]
            levels = block.edges[RATED_BY].data["rating_level"]
            parts = [self.hist["user"](block, RATED_BY, raw["video"], e, levels, self.opinion_emb.weight)]
            if self.use_social:
                parts.append(self.agg["similar"](block, SIMILAR, raw["user"], e))
            parts.append(top["user"])
            out["user"] = self.tower["user"](torch.cat(parts, dim=1))
        if n_dst.get("video"):
            e = raw["video"][: n_dst["video"]]
            levels = block.edges[RATES].data["rating_level"]
            parts = [self.hist["video"](block, RATES, raw["user"], e, levels, self.opinion_emb.weight)]
            if self.use_social:
                parts.append(self.agg["co_watched"](block, CO_WATCHED, raw["video"], e))
            if self.use_info:
                parts.append(self.agg["describes"](block, DESCRIBES, raw["info"], e))
            parts.append(top["video"])
            out["video"] = self.tower["video"](torch.cat(parts, dim=1))
        return out

    def _raw(self, ids: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {nt: self.embed(nt, i) for nt, i in ids.items()}

    # -- training -----------------------------------------------------------------------------
    def forward(self, input_nodes, pair_graph, neg_graph, blocks):
        h0 = self._raw(input_nodes)
        h = h0
        for layer in range(self.layers):
            h = self.propagate(layer, blocks[layer - self.layers], h)
        last = blocks[-1]
        ids = last.srcdata[dgl.NID]
        same = ids.keys() == input_nodes.keys() and all(torch.equal(ids[nt], input_nodes[nt]) for nt in ids)
        raw = h0 if same else self._raw(ids)  # whole-graph steps: the last block reads every node, as the first
        top = h if self.layers else {nt: v[: last.num_dst_nodes(nt)] for nt, v in raw.items()}
        z = self.head(last, raw, top)
        pos, neg = self._score(pair_graph, neg_graph, z)
        need = self.reached(blocks)
        reg = sum(v[need[nt]].pow(2).sum() for nt, v in h0.items()) + sum(
            p.pow(2).sum() for n, p in self.named_parameters() if not n.startswith("emb.")
        )
        return pos, neg, self.l2 / 2 * reg / max(len(pos), 1)

    def _score(self, pair_graph, neg_graph, z):
        """Scores of the positive and the negative pairs; the MLP predictor scores both in one call,
        so that its first layer runs once per seed rather than per pair."""
        if self.predictor is None:
            return self.dot_pairs(pair_graph, z["user"], z["video"]), self.dot_pairs(neg_graph, z["user"], z["video"])
        (pu, pv), (nu, nv) = self.pair_index(pair_graph), self.pair_index(neg_graph)
        both = self.predictor.index(z["user"], z["video"], torch.cat([pu, nu]), torch.cat([pv, nv]))
        return both[: len(pu)], both[len(pu) :]

    def score_pairs(self, zu, zv):
        return self.predictor(zu, zv) if self.predictor is not None else self.dot(zu, zv)

    def score_matrix(self, zu, zv):
        return self.predictor.matrix(zu, zv) if self.predictor is not None else self.dot_matrix(zu, zv)

    # -- evaluation ---------------------------------------------------------------------------
    @torch.no_grad()
    def embed_all(self, g: dgl.DGLGraph, sampler: ImportanceSampler, batch_size: int = 4096):
        """Towers of every user and video: propagation layer by layer, then the head."""
        raw = {nt: self.embed(nt, torch.arange(g.num_nodes(nt))) for nt in g.ntypes}
        top = raw
        if self.layers:
            top = layerwise_inference(g, sampler, self.propagate, raw, batch_size)
        last = sampler.layer(-1)
        both = {nt: torch.cat([raw[nt], top.get(nt, raw[nt])], dim=1) for nt in raw}

        def head_fn(_, block, h):
            r = {nt: v[:, : self.dim] for nt, v in h.items()}
            t = {nt: v[: block.num_dst_nodes(nt), self.dim :] for nt, v in h.items()}
            return self.head(block, r, t)

        z = layerwise_inference(g, last, head_fn, both, batch_size)
        return z["user"], z["video"]
