"""LightGCN (He et al., SIGIR 2020): e^(k+1) = Ã e^(k) on the symmetric-normalised user-video
graph of TRAIN interactions, no weights or non-linearities; the final embedding is the mean of
layers 0..K; BPR loss with λ/2 ‖e^(0)‖² on the batch's ego embeddings. Paper defaults: dim 64,
K = 3, Adam lr 1e-3, λ 1e-4. Propagation runs on the whole graph each step (the model is cheap:
one sparse product per layer), as in the paper; the sampler only supplies the batch's pairs."""

from __future__ import annotations

import warnings
from typing import Any

import dgl
import torch
from torch import nn

from data_prep.graph import RATES
from gcfa_dgl.models.base import Recommender
from gcfa_dgl.models.layers import xavier_


def normalised_adjacency(g: dgl.DGLGraph) -> torch.Tensor:
    """Ã = D^-1/2 A D^-1/2 of the bipartite graph, users first, as a sparse CSR tensor."""
    n_u, n_v = g.num_nodes("user"), g.num_nodes("video")
    u, v = g.edges(etype=RATES)
    rows = torch.cat([u, v + n_u])
    cols = torch.cat([v + n_u, u])
    deg = torch.bincount(rows, minlength=n_u + n_v).float().clamp(min=1)
    vals = deg[rows].rsqrt() * deg[cols].rsqrt()
    adj = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (n_u + n_v, n_u + n_v))
    with warnings.catch_warnings():  # torch's "sparse CSR support is in beta" notice, once per run
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return adj.coalesce().to_sparse_csr()


def perturb(e: torch.Tensor, eps: float) -> torch.Tensor:
    """e + Δ with Δ = eps · sign(e) ⊙ u/‖u‖, u ~ U(0, 1)^d per row (SimGCL, Yu et al. 2022, eq. 7):
    a random direction of length eps in e's orthant, so the noise never flips a coordinate's sign."""
    noise = torch.nn.functional.normalize(torch.rand_like(e), dim=-1)
    return e + eps * torch.sign(e) * noise


class SymmetricSpMM(torch.autograd.Function):
    """Ã @ X for a symmetric sparse Ã: the backward is Ã @ grad, the same kernel. Autograd of
    torch.sparse.mm would transpose Ã on every call, which costs about seven times the products."""

    @staticmethod
    def forward(ctx, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adj = adj
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, torch.sparse.mm(ctx.adj, grad)


class LightGCN(Recommender):
    name = "lightgcn"
    objective = "bpr"
    block_layers = 0

    @classmethod
    def scores_by_dot(cls, cfg: Any) -> bool:
        return True

    def __init__(self, n_users: int, n_videos: int, graph: dgl.DGLGraph | None = None, dim: int = 64,
                 layers: int = 3, lr: float = 1e-3, l2: float = 1e-4, **_: Any) -> None:
        super().__init__(lr=lr, l2=l2)
        self.n_users, self.layers = n_users, layers
        self.emb = nn.Embedding(n_users + n_videos, dim)
        xavier_(self)
        self.adj = normalised_adjacency(graph) if graph is not None else None

    def xavier_per_type(self) -> None:
        """Xavier-uniform init of the user rows and the video rows as two tables, each with its
        own fan-in (as separate user and item embeddings are initialised in the SimGCL and
        XSimGCL reference code): the scale that their noise length `eps` is set against."""
        with torch.no_grad():
            for rows in (self.emb.weight[: self.n_users], self.emb.weight[self.n_users :]):
                nn.init.xavier_uniform_(rows)

    def layer_outputs(self, eps: float = 0.0) -> list[torch.Tensor]:
        """e^(1) .. e^(K); with eps > 0 each layer's output gets SimGCL's noise (`perturb`)."""
        e, out = self.emb.weight, []
        for _ in range(self.layers):
            e = SymmetricSpMM.apply(self.adj, e)
            if eps > 0:
                e = perturb(e, eps)
            out.append(e)
        return out

    def propagate(self) -> torch.Tensor:
        """The mean of layers 0..K (LightGCN's readout)."""
        acc = self.emb.weight
        for e in self.layer_outputs():
            acc = acc + e
        return acc / (self.layers + 1)

    def forward(self, input_nodes, pair_graph, neg_graph, blocks):
        return self.score_batch(self.propagate(), pair_graph, neg_graph, blocks)

    @staticmethod
    def positive_nodes(pair_graph, blocks) -> tuple[torch.Tensor, torch.Tensor]:
        """Node ids of the users and videos of the batch's positive pairs (with repeats)."""
        seeds = blocks[-1].dstdata[dgl.NID]
        u, v = pair_graph.edges(etype=RATES)
        return seeds["user"][u], seeds["video"][v]

    def score_batch(self, z: torch.Tensor, pair_graph, neg_graph, blocks):
        """Scores of the batch's positive and negative pairs from the node embeddings z (users
        first), and λ/2 ‖e^(0)‖² over the pairs' ego embeddings per positive."""
        seeds = blocks[-1].dstdata[dgl.NID]
        users, videos = seeds["user"], seeds["video"] + self.n_users
        zu, zv = z[users], z[videos]
        u, v = self.pair_index(pair_graph)
        _, nv = self.pair_index(neg_graph)
        pos, neg = self.dot_pairs(pair_graph, zu, zv), self.dot_pairs(neg_graph, zu, zv)
        ego = self.emb.weight
        reg = self.sq_norms(ego, users[u]) + self.sq_norms(ego, videos[v]) + self.sq_norms(ego, videos[nv])
        return pos, neg, self.l2 / 2 * reg / max(len(pos), 1)

    @torch.no_grad()
    def embed_all(self, g, sampler=None, batch_size: int = 4096):
        if self.adj is None:
            self.adj = normalised_adjacency(g)
        z = self.propagate()
        return z[: self.n_users], z[self.n_users :]
