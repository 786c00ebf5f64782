"""GraphRec (Fan et al., WWW 2019), with the user-user co-interaction graph standing in for the
social network (the datasets have none).

- item aggregation: h^I_u = σ(W Σ_j α_j x_uj + b), x_uj = g_v([q_j ⊕ e_r]), attention α over the
  user's videos with the user's embedding;
- social aggregation: h^S_u = σ(W Σ_o β_o h^I_o + b), attention β over the user's neighbours'
  item-space factors h^I_o (a second hop: the neighbours' own histories);
- user latent h_u = MLP([h^I_u ⊕ h^S_u]); item latent z_j = user aggregation with opinions and
  attention over the video's users; score = MLP([h_u ⊕ z_j]).
Neighbours are sampled uniformly (`sampler=uniform`), as in the paper. Defaults: dim 64, Adam
lr 1e-3, dropout 0.5 in the predictor.
"""

from __future__ import annotations

from typing import Any

import dgl
import dgl.function as fn
import torch
from dgl.nn.functional import edge_softmax
from torch import nn

from data_prep.graph import RATED_BY, RATES, SIMILAR
from gcfa_dgl.loaders import layerwise_inference
from gcfa_dgl.models.base import MLPScorer, Recommender
from gcfa_dgl.models.layers import OpinionAttention, mlp, xavier_
from gcfa_dgl.sampling import ImportanceSampler


class SocialAttention(nn.Module):
    """h^S = relu(W Σ β h^I_o + b), β = softmax(w2ᵀ relu(W1 [h^I_o ⊕ e_u])) over the neighbours."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.att = mlp([2 * dim, dim, 1])
        self.out = nn.Linear(dim, dim)

    def forward(self, block, h_src, e_dst):
        sub = block[SIMILAR]
        if sub.num_edges() == 0:
            return torch.relu(self.out(torch.zeros_like(e_dst)))
        with sub.local_scope():
            src, dst = sub.edges()
            beta = edge_softmax(sub, self.att(torch.cat([h_src[src], e_dst[dst]], 1)))
            sub.edata["m"] = h_src[src] * beta
            sub.update_all(fn.copy_e("m", "m"), fn.sum("m", "h"))
            return torch.relu(self.out(sub.dstdata["h"]))


class GraphRec(Recommender):
    name = "graphrec"
    edge_types = ("rates", "rated_by", "similar")
    block_layers = 2  # a user's videos, then its neighbours' videos (the social aggregation)

    def __init__(self, n_users: int, n_videos: int, n_ratings: int = 1, dim: int = 64, lr: float = 1e-3,
                 l2: float = 0.0, dropout: float = 0.5, **_: Any) -> None:
        super().__init__(lr=lr, l2=l2)
        self.dim = dim
        self.emb = nn.ModuleDict({"user": nn.Embedding(n_users, dim), "video": nn.Embedding(n_videos, dim)})
        self.opinion = nn.Embedding(max(n_ratings, 1), dim)
        self.item_agg = OpinionAttention(dim, attention=True, opinion=True)
        self.user_agg = OpinionAttention(dim, attention=True, opinion=True)
        self.social = SocialAttention(dim)
        self.user_mlp = mlp([2 * dim, dim, dim])
        self.predictor = MLPScorer(dim, dim, dropout)
        xavier_(self)

    def item_space(self, block, raw) -> dict[str, torch.Tensor]:
        """h^I for the block's dst users and the item latent z for its dst videos."""
        out = {}
        if block.num_dst_nodes("user"):
            e = raw["user"][: block.num_dst_nodes("user")]
            levels = block.edges[RATED_BY].data["rating_level"]
            out["user"] = self.item_agg(block, RATED_BY, raw["video"], e, levels, self.opinion.weight)
        if block.num_dst_nodes("video"):
            e = raw["video"][: block.num_dst_nodes("video")]
            levels = block.edges[RATES].data["rating_level"]
            out["video"] = self.user_agg(block, RATES, raw["user"], e, levels, self.opinion.weight)
        return out

    def user_latent(self, block, h_item_src, raw_user_dst, h_item_dst):
        h_s = self.social(block, h_item_src, raw_user_dst)
        return self.user_mlp(torch.cat([h_item_dst, h_s], 1))

    def _raw(self, ids):
        return {nt: self.emb[nt](i) for nt, i in ids.items() if nt in self.emb}

    def forward(self, input_nodes, pair_graph, neg_graph, blocks):
        first, last = blocks[0], blocks[-1]
        h1 = self.item_space(first, self._raw(first.srcdata[dgl.NID]))
        raw_last = self._raw(last.srcdata[dgl.NID])
        n_u = last.num_dst_nodes("user")
        zu = self.user_latent(last, h1["user"], raw_last["user"][:n_u], h1["user"][:n_u])
        zv = self.item_space(last, raw_last)["video"]
        u, v = self.pair_index(pair_graph)
        nu, nv = self.pair_index(neg_graph)
        pos, neg = self.predictor.index(zu, zv, u, v), self.predictor.index(zu, zv, nu, nv)
        need = self.reached([last])
        reg = sum(p[need[nt]].pow(2).sum() for nt, p in raw_last.items())
        return pos, neg, self.l2 / 2 * reg / max(len(pos), 1)

    def score_pairs(self, zu, zv):
        return self.predictor(zu, zv)

    def score_matrix(self, zu, zv):
        return self.predictor.matrix(zu, zv)

    @torch.no_grad()
    def embed_all(self, g, sampler: ImportanceSampler, batch_size: int = 4096):
        raw = {nt: self.emb[nt].weight for nt in ("user", "video")}

        h_item = layerwise_inference(g, sampler.layer(0), lambda _, b, h: self.item_space(b, h), raw, batch_size)
        both = {"user": torch.cat([raw["user"], h_item["user"]], 1), "video": raw["video"]}

        def latent(_, block, h):
            n_u = block.num_dst_nodes("user")
            out = {}
            if n_u:
                src = h["user"]
                out["user"] = self.user_latent(block, src[:, self.dim :], src[:n_u, : self.dim], src[:n_u, self.dim :])
            return out

        zu = layerwise_inference(g, sampler.layer(-1), latent, both, batch_size)["user"]
        return zu, self.item_space_all(g, sampler.layer(-1), raw, batch_size)

    def item_space_all(self, g, sampler, raw, batch_size):
        return layerwise_inference(g, sampler, lambda _, b, h: self.item_space(b, h), raw, batch_size)["video"]
