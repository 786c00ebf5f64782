"""What every model offers the trainer and the evaluator.

Training: `forward(input_nodes, pair_graph, neg_graph, blocks)` returns logits of the batch's
positive and negative (user, video) edges plus a regularisation term; `loss` turns them into the
objective. Evaluation: `embed_all` returns one representation per user and per video (computed
layer by layer over the whole graph), scored by `score_pairs` (row-aligned) or `score_matrix`
(users x all videos).
"""

from __future__ import annotations

from typing import Any

import dgl
import torch
from torch import nn
from torch.nn import functional as F

from data_prep.graph import RATES
from gcfa_dgl.objectives import Objective


class Recommender(nn.Module):
    name = "base"
    trainable = True
    # The objective of the model's paper (gcfa_dgl/objectives.py): "bce", binary cross-entropy on
    # positives and negatives [13]; "bpr", -log σ(pos - neg). `model.objective` overrides it.
    objective = "bce"
    # Layers of sampled blocks a step reads (0: none; the trainer then samples no neighbours).
    block_layers = 1
    # Edge types the model reads (None: all); the others get fanout 0 and are never sampled.
    edge_types: tuple[str, ...] | None = None
    # The sampled protocol reads candidates from each user's row of `score_matrix` instead of
    # scoring gathered pairs: for representations as wide as the catalogue (EASE).
    score_rows = False
    # Scores are cosine similarities instead of dot products (set for the ccl objective; only
    # models whose `scores_by_dot` is true take it).
    cosine = False

    def __init__(self, lr: float = 1e-3, l2: float = 0.0) -> None:
        super().__init__()
        self.lr = lr
        self.l2 = l2

    @classmethod
    def depth(cls, cfg: Any) -> int:
        """Layers of sampled blocks this model reads with the settings of `cfg` (its `model:`
        config): the one source of the sampler's depth."""
        return cls.block_layers

    @classmethod
    def scores_by_dot(cls, cfg: Any) -> bool:
        """Whether the model with the settings of `cfg` scores a pair by z_u · z_v (so that it can
        score by cosine for the ccl objective)."""
        return False

    def dot(self, zu: torch.Tensor, zv: torch.Tensor) -> torch.Tensor:
        """Row-wise z_u · z_v, or their cosine when `cosine`."""
        if self.cosine:
            zu, zv = F.normalize(zu, dim=-1), F.normalize(zv, dim=-1)
        return (zu * zv).sum(-1)

    def dot_pairs(self, pair_graph: dgl.DGLGraph, zu: torch.Tensor, zv: torch.Tensor) -> torch.Tensor:
        """`dot` for every user-video edge of a pair graph, zu and zv indexed by its nodes, in edge
        order. DGL's SDDMM scores each edge in place: with tens of negatives per positive, first
        gathering (pairs x dim) rows costs more than the rest of a step."""
        if self.cosine:
            zu, zv = F.normalize(zu, dim=-1), F.normalize(zv, dim=-1)
        return dgl.ops.u_dot_v(pair_graph[RATES], zu, zv).squeeze(-1)

    @staticmethod
    def sq_norms(z: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Σ_i ‖z[idx_i]‖², repeats counted, from per-row norms (no (len(idx) x dim) gather)."""
        return z.pow(2).sum(1).index_select(0, idx).sum()

    def dot_matrix(self, zu: torch.Tensor, zv: torch.Tensor) -> torch.Tensor:
        if self.cosine:
            zu, zv = F.normalize(zu, dim=-1), F.normalize(zv, dim=-1)
        return zu @ zv.T

    # -- training ---------------------------------------------------------------------------
    def forward(self, input_nodes, pair_graph, neg_graph, blocks) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def loss(self, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        """The model's own objective (its paper's); `model.objective` chooses another for training."""
        return Objective(self.objective)(pos, neg)

    # -- evaluation -------------------------------------------------------------------------
    def embed_all(self, g: dgl.DGLGraph, sampler: Any, batch_size: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def score_pairs(self, zu: torch.Tensor, zv: torch.Tensor) -> torch.Tensor:
        return self.dot(zu, zv)

    def score_matrix(self, zu: torch.Tensor, zv: torch.Tensor) -> torch.Tensor:
        return self.dot_matrix(zu, zv)

    @staticmethod
    def reached(blocks: list[dgl.DGLGraph]) -> dict[str, torch.Tensor]:
        """Which sources of `blocks[0]` feed the last block's destinations (the batch's seeds),
        per node type: every source of per-batch blocks; in whole-graph scope only the nodes
        within the sampled hops of the seeds. L2 terms "on the batch's parameters" take these
        rows, so both scopes regularise the same embeddings."""
        last = blocks[-1]
        need = {nt: torch.ones(last.num_dst_nodes(nt), dtype=torch.uint8) for nt in last.dsttypes}
        for b in reversed(blocks):
            src = {nt: torch.zeros(b.num_src_nodes(nt), dtype=torch.uint8) for nt in b.srctypes}
            for nt, m in need.items():
                src[nt][: len(m)] = m  # a block's destinations lead its sources
            for et in b.canonical_etypes:
                if b.num_edges(et):
                    s, d = b.edges(etype=et)
                    want = need[et[2]]
                    if bool(want.all()):
                        src[et[0]][s.long()] = 1
                    else:  # an edge marks its source if its destination is needed
                        src[et[0]].scatter_reduce_(0, s.long(), want.index_select(0, d.long()), "amax")
            need = src
        return {nt: m.bool() for nt, m in need.items()}

    @staticmethod
    def pair_index(pair_graph: dgl.DGLGraph) -> tuple[torch.Tensor, torch.Tensor]:
        """(user, video) endpoints of a pair graph's edges, as indices of the seed nodes."""
        return pair_graph.edges(etype=RATES)


class MLPScorer(nn.Module):
    """score = MLP([z_u ⊕ z_v]) with one hidden layer; `matrix` scores users x videos in chunks by
    splitting the first layer: W [z_u ⊕ z_v] = W_u z_u + W_v z_v."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0, max_cells: int = 1 << 25) -> None:
        super().__init__()
        self.first = nn.Linear(2 * dim, hidden)
        self.drop = nn.Dropout(dropout)
        self.last = nn.Linear(hidden, 1)
        self.dim = dim
        self.max_cells = max_cells

    def forward(self, zu: torch.Tensor, zv: torch.Tensor) -> torch.Tensor:
        return self.last(self.drop(torch.relu(self.first(torch.cat([zu, zv], dim=-1))))).squeeze(-1)

    def index(self, zu: torch.Tensor, zv: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """forward(zu[u], zv[v]). With more pairs than rows (many negatives per positive) the first
        layer is applied per row, split by sides, and only its output is gathered per pair."""
        if len(u) <= len(zu) + len(zv):
            return self(zu.index_select(0, u), zv.index_select(0, v))
        w = self.first.weight
        a = zu @ w[:, : self.dim].T + self.first.bias
        b = zv @ w[:, self.dim :].T
        return self.last(self.drop(torch.relu(a.index_select(0, u) + b.index_select(0, v)))).squeeze(-1)

    def matrix(self, zu: torch.Tensor, zv: torch.Tensor) -> torch.Tensor:
        w_u, w_v = self.first.weight[:, : self.dim], self.first.weight[:, self.dim :]
        a = zu @ w_u.T + self.first.bias
        b = zv @ w_v.T
        out = torch.empty(len(zu), len(zv))
        step = max(1, self.max_cells // max(1, len(zv) * b.shape[1]))
        for s in range(0, len(zu), step):
            h = torch.relu(a[s : s + step, None, :] + b[None, :, :])
            out[s : s + step] = (h @ self.last.weight.T).squeeze(-1) + self.last.bias
        return out
