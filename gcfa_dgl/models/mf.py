"""Matrix-factorisation baselines: BPR-MF and NeuMF. Neither reads the graph's neighbourhoods,
so the trainer samples no neighbours for them (`block_layers = 0`)."""

from __future__ import annotations

from typing import Any

import dgl
import torch
from torch import nn

from gcfa_dgl.models.base import Recommender
from gcfa_dgl.models.layers import mlp, xavier_


class BPR(Recommender):
    """BPR-MF (Rendle et al., UAI 2009): score = e_u · e_v, trained with the pairwise loss
    -log σ(s(u, v+) - s(u, v-)) plus λ/2 ‖e‖² on the batch's embeddings. Defaults: dim 64, Adam
    lr 1e-3, λ 1e-4 (the usual settings of later reproductions such as LightGCN's)."""

    name = "bpr"
    objective = "bpr"
    block_layers = 0

    @classmethod
    def scores_by_dot(cls, cfg: Any) -> bool:
        return True

    def __init__(self, n_users: int, n_videos: int, dim: int = 64, lr: float = 1e-3, l2: float = 1e-4,
                 **_: Any) -> None:
        super().__init__(lr=lr, l2=l2)
        self.user = nn.Embedding(n_users, dim)
        self.video = nn.Embedding(n_videos, dim)
        xavier_(self)

    def forward(self, input_nodes, pair_graph, neg_graph, blocks):
        seeds = blocks[-1].dstdata[dgl.NID]
        eu, ev = self.user(seeds["user"]), self.video(seeds["video"])
        u, v = self.pair_index(pair_graph)
        _, nv = self.pair_index(neg_graph)
        pos, neg = self.dot_pairs(pair_graph, eu, ev), self.dot_pairs(neg_graph, eu, ev)
        reg = self.sq_norms(eu, u) + self.sq_norms(ev, v) + self.sq_norms(ev, nv)
        return pos, neg, self.l2 / 2 * reg / max(len(pos), 1)

    @torch.no_grad()
    def embed_all(self, g, sampler=None, batch_size: int = 4096):
        return self.user.weight.detach().clone(), self.video.weight.detach().clone()


class NeuMF(Recommender):
    """NeuMF (He et al., WWW 2017): a GMF branch (e_u ⊙ e_v) and an MLP branch over
    [e'_u ⊕ e'_v], fused by a linear layer into a logit; log loss on positives and sampled
    negatives (the paper samples 4 per positive: `sampler.num_negatives`). `hidden` gives the MLP's
    layer sizes after its 2·dim input (null: [dim, dim / 2], the paper's halving tower; RecBole-GNN
    tunes [32, 16, 8] on ML-1M). Defaults: dim 64 for both branches, MLP 128 -> 64 -> 32, Adam lr 1e-3."""

    name = "neumf"
    block_layers = 0

    def __init__(self, n_users: int, n_videos: int, dim: int = 64, lr: float = 1e-3, l2: float = 0.0,
                 dropout: float = 0.0, hidden: list[int] | None = None, **_: Any) -> None:
        super().__init__(lr=lr, l2=l2)
        hidden = list(hidden) if hidden else [dim, dim // 2]
        self.gmf_u, self.gmf_v = nn.Embedding(n_users, dim), nn.Embedding(n_videos, dim)
        self.mlp_u, self.mlp_v = nn.Embedding(n_users, dim), nn.Embedding(n_videos, dim)
        self.first = nn.Linear(2 * dim, hidden[0])
        self.rest = mlp(hidden, dropout, last_act=True)
        self.out = nn.Linear(dim + hidden[-1], 1)
        self.dim = dim
        xavier_(self)

    def _z(self, users, videos):
        return (torch.cat([self.gmf_u(users), self.mlp_u(users)], 1),
                torch.cat([self.gmf_v(videos), self.mlp_v(videos)], 1))

    def forward(self, input_nodes, pair_graph, neg_graph, blocks):
        seeds = blocks[-1].dstdata[dgl.NID]
        zu, zv = self._z(seeds["user"], seeds["video"])
        u, v = self.pair_index(pair_graph)
        nu, nv = self.pair_index(neg_graph)
        parts = self._node_parts(zu, zv)
        pos, neg = self._score_index(parts, u, v), self._score_index(parts, nu, nv)
        # Σ over pairs of ‖z‖², from each seed's squared norm (no per-pair rows)
        su, sv = zu.pow(2).sum(1), zv.pow(2).sum(1)
        reg = su.index_select(0, u).sum() + sv.index_select(0, v).sum() + sv.index_select(0, nv).sum()
        return pos, neg, self.l2 / 2 * reg / max(len(pos), 1)

    def _node_parts(self, zu, zv):
        """What score_pairs computes per row but depends on one side only, once per seed node: the
        first MLP layer split by sides, W [e_u ⊕ e_v] + b = (W_u e_u + b) + W_v e_v, and the GMF
        branch's output weights folded into the user side."""
        d, w = self.dim, self.first.weight
        return (zu[:, d:] @ w[:, :d].T + self.first.bias, zv[:, d:] @ w[:, d:].T,
                zu[:, :d] * self.out.weight[0, :d], zv[:, :d])

    def _score_index(self, parts, u, v):
        """score_pairs(zu[u], zv[v]) from `_node_parts`: per pair, only a gather, the hidden layers
        and the output (a training batch has many more pairs than seed nodes)."""
        a, b, gu, gv = parts
        h = self.rest(torch.relu(a.index_select(0, u) + b.index_select(0, v)))
        gmf = (gu.index_select(0, u) * gv.index_select(0, v)).sum(-1)
        return gmf + h @ self.out.weight[0, self.dim :] + self.out.bias[0]

    def score_pairs(self, zu, zv):
        d = self.dim
        gmf = zu[..., :d] * zv[..., :d]
        h = self.rest(torch.relu(self.first(torch.cat([zu[..., d:], zv[..., d:]], -1))))
        return self.out(torch.cat([gmf, h], -1)).squeeze(-1)

    def score_matrix(self, zu, zv, max_cells: int = 1 << 24):
        """Users x videos in chunks; the first MLP layer is split into its user and video parts."""
        d = self.dim
        w = self.first.weight
        a = zu[:, d:] @ w[:, :d].T + self.first.bias
        b = zv[:, d:] @ w[:, d:].T
        w_gmf, w_mlp = self.out.weight[0, :d], self.out.weight[0, d:]
        gmf = (zu[:, :d] * w_gmf) @ zv[:, :d].T
        out = torch.empty(len(zu), len(zv))
        step = max(1, max_cells // max(1, len(zv) * d))
        for s in range(0, len(zu), step):
            h = self.rest(torch.relu(a[s : s + step, None, :] + b[None, :, :]))
            out[s : s + step] = gmf[s : s + step] + h @ w_mlp + self.out.bias
        return out

    @torch.no_grad()
    def embed_all(self, g, sampler=None, batch_size: int = 4096):
        return self._z(torch.arange(g.num_nodes("user")), torch.arange(g.num_nodes("video")))
