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

from gcfa_dgl.models.simgcl import SimGCL


class XSimGCL(SimGCL):
    """SimGCL's clean readout and contrast (averaged over nodes), on one perturbed propagation."""

    name = "xsimgcl"

    def __init__(self, n_users: int, n_videos: int, graph: dgl.DGLGraph | None = None, dim: int = 64,
                 layers: int = 2, lr: float = 1e-3, l2: float = 1e-4, eps: float = 0.2, cl_weight: float = 0.2,
                 cl_temperature: float = 0.2, cl_layer: int = 1, **_: Any) -> None:
        super().__init__(n_users, n_videos, graph=graph, dim=dim, layers=layers, lr=lr, l2=l2, eps=eps,
                         cl_weight=cl_weight, cl_temperature=cl_temperature, cl_reduction="mean")
        if not 1 <= cl_layer <= layers:
            raise ValueError(f"model.cl_layer must be in [1, {layers}] (model.layers), got {cl_layer}")
        self.cl_layer = cl_layer

    def forward(self, input_nodes, pair_graph, neg_graph, blocks):
        layers = self.layer_outputs(self.eps)
        z, z_cl = torch.stack(layers).mean(0), layers[self.cl_layer - 1]
        pos, neg, reg = self.score_batch(z, pair_graph, neg_graph, blocks)
        users, videos = self.positive_nodes(pair_graph, blocks)
        return pos, neg, reg + self.contrast(z, z_cl, users, videos)
