"""Popularity: every user gets the videos with the most train interactions. The floor every
model must beat; it has nothing to train."""

from __future__ import annotations

from typing import Any

import dgl
import torch

from data_prep.graph import RATES
from gcfa_dgl.models.base import Recommender


class Pop(Recommender):
    name = "pop"
    trainable = False
    block_layers = 0

    def __init__(self, n_users: int, n_videos: int, **_: Any) -> None:
        super().__init__(lr=0.0, l2=0.0)
        self.n_users = n_users
        self.register_buffer("popularity", torch.zeros(n_videos))

    def fit(self, g: dgl.DGLGraph) -> None:
        self.popularity = g.in_degrees(etype=RATES).float()

    def embed_all(self, g: dgl.DGLGraph, sampler: Any = None, batch_size: int = 4096):
        self.fit(g)
        return torch.ones(g.num_nodes("user"), 1), torch.log1p(self.popularity)[:, None]
