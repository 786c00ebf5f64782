"""XSimGCL (Yu et al., "XSimGCL: Towards Extremely Simple Graph Contrastive Learning for
Recommendation", TKDE 2023): SimGCL with one propagation instead of three. The perturbed
propagation gives both the recommendation embeddings (mean of layers 1..K) and the contrastive
view, which is the output of layer `cl_layer`: the two views contrasted are the final embeddings
and that intermediate layer's ("cross-layer contrast"). Evaluation uses the clean propagation.

Loss: the objective on the perturbed scores + L2 + λ · (InfoNCE over the batch's distinct users
+ over its distinct positive videos), averaged over nodes. Paper defaults: eps 0.2, τ 0.2,
cl_layer 1; λ 0.2 on Yelp2018. RecBole-GNN's tuned ML-1M values (2 layers, λ 0.1, eps 0.2,
τ 0.2, lr 2e-3, L2 1e-4) are the `experiment=recbole_ml1m_xsimgcl` preset.
"""

from __future__ import annotations

from typing import Any

import dgl
import torch

from gcfa_dgl.models.lightgcn import LightGCN
from gcfa_dgl.objectives import info_nce


class XSimGCL(LightGCN):
    name = "xsimgcl"

    def __init__(self, n_users: int, n_videos: int, graph: dgl.DGLGraph | None = None, dim: int = 64,
                 layers: int = 2, lr: float = 1e-3, l2: float = 1e-4, eps: float = 0.2, cl_weight: float = 0.2,
                 cl_temperature: float = 0.2, cl_layer: int = 1, **_: Any) -> None:
        super().__init__(n_users, n_videos, graph=graph, dim=dim, layers=layers, lr=lr, l2=l2)
        self.xavier_per_type()
        if not 1 <= cl_layer <= layers:
            raise ValueError(f"model.cl_layer must be in [1, {layers}] (model.layers), got {cl_layer}")
        self.eps, self.cl_weight, self.cl_temperature, self.cl_layer = eps, cl_weight, cl_temperature, cl_layer

    def propagate(self) -> torch.Tensor:
        """The clean readout (evaluation): the mean of layers 1..K."""
        return torch.stack(self.layer_outputs()).mean(0)

    def forward(self, input_nodes, pair_graph, neg_graph, blocks):
        layers = self.layer_outputs(self.eps)
        z, z_cl = torch.stack(layers).mean(0), layers[self.cl_layer - 1]
        pos, neg, reg = self.score_batch(z, pair_graph, neg_graph, blocks)
        users, videos = self.positive_nodes(pair_graph, blocks)
        u, v = users.unique(), videos.unique() + self.n_users
        cl = info_nce(z[u], z_cl[u], self.cl_temperature) + info_nce(z[v], z_cl[v], self.cl_temperature)
        return pos, neg, reg + self.cl_weight * cl
