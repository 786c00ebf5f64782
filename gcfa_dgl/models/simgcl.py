"""SimGCL (Yu et al., "Are Graph Augmentations Necessary? Simple Graph Contrastive Learning for
Recommendation", SIGIR 2022): LightGCN trained with a contrastive term between two views made by
adding small random noise to every propagation layer (`perturb`), instead of dropping edges.

The recommendation score comes from the clean propagation; the readout is the mean of layers
1..K (the ego layer is left out, as in the authors' code). The loss adds λ · (InfoNCE over the
batch's distinct users + over its distinct positive videos) between two perturbed propagations,
averaged over nodes as in the authors' code (`cl_reduction=mean`) or summed as in the paper's
eq. 5 and RecBole-GNN (`sum`; λ then scales with the batch). Paper defaults: eps 0.1, τ 0.2,
λ 0.5 (Yelp2018), lr 1e-3, L2 1e-4; RecBole-GNN's tuned ML-1M values (2 layers, τ 0.05, λ 1e-5
summed, eps 0.1, lr 2e-3) are the `experiment=recbole_ml1m_simgcl` preset.
"""

from __future__ import annotations

from typing import Any

import dgl
import torch

from gcfa_dgl.models.lightgcn import LightGCN
from gcfa_dgl.objectives import info_nce


class SimGCL(LightGCN):
    name = "simgcl"

    def __init__(self, n_users: int, n_videos: int, graph: dgl.DGLGraph | None = None, dim: int = 64,
                 layers: int = 2, lr: float = 1e-3, l2: float = 1e-4, eps: float = 0.1, cl_weight: float = 0.5,
                 cl_temperature: float = 0.2, cl_reduction: str = "mean", **_: Any) -> None:
        super().__init__(n_users, n_videos, graph=graph, dim=dim, layers=layers, lr=lr, l2=l2)
        self.xavier_per_type()
        self.eps, self.cl_weight, self.cl_temperature = eps, cl_weight, cl_temperature
        self.cl_reduction = cl_reduction

    def propagate(self, eps: float = 0.0) -> torch.Tensor:
        """The mean of layers 1..K, each perturbed when eps > 0."""
        return torch.stack(self.layer_outputs(eps)).mean(0)

    def contrast(self, z1: torch.Tensor, z2: torch.Tensor, users: torch.Tensor, videos: torch.Tensor) -> torch.Tensor:
        """λ · InfoNCE over the batch's distinct users plus over its distinct (positive) videos."""
        u, v = users.unique(), videos.unique() + self.n_users
        return self.cl_weight * (info_nce(z1[u], z2[u], self.cl_temperature, self.cl_reduction)
                                 + info_nce(z1[v], z2[v], self.cl_temperature, self.cl_reduction))

    def forward(self, input_nodes, pair_graph, neg_graph, blocks):
        pos, neg, reg = self.score_batch(self.propagate(), pair_graph, neg_graph, blocks)
        users, videos = self.positive_nodes(pair_graph, blocks)
        cl = self.contrast(self.propagate(self.eps), self.propagate(self.eps), users, videos)
        return pos, neg, reg + cl
