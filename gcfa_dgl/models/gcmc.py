"""GC-MC (van den Berg, Kipf & Welling, 2017): one rating-specific graph convolution over the
user-video graph, a dense layer, and a bilinear decoder.

Encoder: for each node, μ = σ(Σ_r Σ_{n ∈ N_r} (1/|N|) W_r e_n) (left normalisation, one weight
matrix per rating level, accumulated), then z = W μ + b. The paper writes z = σ(W μ); the authors'
code uses the identity there, and so does this class: a ReLU on a 64-wide output zeroes whole
towers of sparse nodes, and a zero tower scores every pair zero. Decoder: logit = z_uᵀ Q z_v with
Q = Σ_s a_s P_s over basis matrices (weight sharing across rating levels in the paper). Here the
task is ranking implicit feedback, so the decoder emits one logit trained with log loss on sampled
negatives. Paper defaults: hidden 500 and embedding 75 on ML-1M, dropout 0.7, 2 basis matrices;
here dim 64 (hidden 2 x dim), dropout 0.3, full neighbourhoods (sampler=full).
"""

from __future__ import annotations

from typing import Any

import dgl
import dgl.function as fn
import torch
from torch import nn

from data_prep.graph import RATED_BY, RATES
from gcfa_dgl.loaders import layerwise_inference
from gcfa_dgl.models.base import Recommender
from gcfa_dgl.models.layers import xavier_
from gcfa_dgl.sampling import ImportanceSampler


class GCMC(Recommender):
    name = "gcmc"
    edge_types = ("rates", "rated_by")

    def __init__(self, n_users: int, n_videos: int, n_ratings: int = 1, dim: int = 64, lr: float = 1e-3,
                 l2: float = 0.0, dropout: float = 0.3, bases: int = 2, **_: Any) -> None:
        super().__init__(lr=lr, l2=l2)
        hidden = 2 * dim
        self.emb = nn.ModuleDict({"user": nn.Embedding(n_users, dim), "video": nn.Embedding(n_videos, dim)})
        self.n_ratings, self.hidden = max(n_ratings, 1), hidden
        self.w_rating = nn.ModuleDict({
            "rates": nn.Linear(dim, hidden * self.n_ratings, bias=False),
            "rated_by": nn.Linear(dim, hidden * self.n_ratings, bias=False),
        })
        self.dense = nn.ModuleDict({"user": nn.Linear(hidden, dim), "video": nn.Linear(hidden, dim)})
        self.bases = nn.Parameter(torch.empty(bases, dim, dim))
        self.coef = nn.Parameter(torch.ones(bases) / bases)
        self.drop = nn.Dropout(dropout)
        xavier_(self)
        nn.init.xavier_uniform_(self.bases)

    def encode(self, block: dgl.DGLGraph, h: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for et, dst in ((RATED_BY, "user"), (RATES, "video")):
            n_dst = block.num_dst_nodes(dst)
            if not n_dst:
                continue
            sub = block[et]
            if sub.num_edges():
                proj = self.w_rating[et[1]](self.drop(h[et[0]]))  # (sources, levels x hidden)
                mu = torch.relu(self._mean_by_level(sub, proj.reshape(-1, self.hidden), n_dst))
            else:
                mu = torch.zeros(n_dst, self.hidden)
            out[dst] = self.dense[dst](self.drop(mu))
        return out

    def _mean_by_level(self, sub: dgl.DGLGraph, proj: torch.Tensor, n_dst: int) -> torch.Tensor:
        """Mean over a node's edges of W_r e_src, r the edge's rating level: each (source, level)
        pair is a node of a bipartite block, so one sparse product reads the projections in
        place of an edges x hidden gather (whose backward scatters back every edge)."""
        src, dst = sub.edges()
        pairs = dgl.create_block((src * self.n_ratings + sub.edata["rating_level"], dst),
                                 num_src_nodes=len(proj), num_dst_nodes=n_dst)
        pairs.srcdata["p"] = proj
        pairs.update_all(fn.copy_u("p", "m"), fn.mean("m", "mu"))
        return pairs.dstdata["mu"]

    def forward(self, input_nodes, pair_graph, neg_graph, blocks):
        block = blocks[-1]
        h = {nt: self.emb[nt](ids) for nt, ids in block.srcdata[dgl.NID].items() if nt in self.emb}
        z = self.encode(block, h)
        u, v = self.pair_index(pair_graph)
        nu, nv = self.pair_index(neg_graph)
        pos, neg = self.score_pairs(z["user"][u], z["video"][v]), self.score_pairs(z["user"][nu], z["video"][nv])
        reg = sum(p.pow(2).sum() for p in h.values())
        return pos, neg, self.l2 / 2 * reg / max(len(pos), 1)

    def q(self) -> torch.Tensor:
        return torch.einsum("s,sij->ij", self.coef, self.bases)

    def score_pairs(self, zu, zv):
        return ((zu @ self.q()) * zv).sum(-1)

    def score_matrix(self, zu, zv):
        return (zu @ self.q()) @ zv.T

    @torch.no_grad()
    def embed_all(self, g, sampler: ImportanceSampler, batch_size: int = 4096):
        raw = {nt: self.emb[nt].weight for nt in ("user", "video")}
        z = layerwise_inference(g, sampler.layer(-1), lambda _, b, h: self.encode(b, h), raw, batch_size)
        return z["user"], z["video"]
