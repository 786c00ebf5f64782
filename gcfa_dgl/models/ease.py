"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): a linear
item-item model in closed form, a strong baseline on MovieLens.

With X the binary users x videos matrix of training interactions and G = XᵀX + λI, the weights
are B = I - P diag(1/diag(P)) with P = G⁻¹, so diag(B) = 0, and a user's scores are X_u B. Nothing
is trained by gradient: `fit` solves it, like popularity's count. λ (`model.l2`) is picked on
validation from `model.l2_grid` by the training job. The dense videos x videos matrix bounds the
catalogue it suits (`model.max_videos`). Its representations are as wide as the catalogue, so the
sampled protocol reads its candidates from each user's row of scores (`score_rows`) rather than
gathering a catalogue-wide row per candidate pair.
"""

from __future__ import annotations

from typing import Any

import dgl
import torch

from data_prep.graph import RATES
from gcfa_dgl.models.base import Recommender


class EASE(Recommender):
    name = "ease"
    trainable = False
    block_layers = 0
    score_rows = True

    def __init__(self, n_users: int, n_videos: int, l2: float = 500.0, l2_grid: list[float] | None = None,
                 max_videos: int = 30_000, **_: Any) -> None:
        super().__init__(lr=0.0, l2=l2)
        if n_videos > max_videos:
            raise ValueError(f"model=ease holds a {n_videos:,} x {n_videos:,} matrix ({n_videos**2 * 4 / 2**30:.1f} GiB); "
                             f"above model.max_videos={max_videos:,}: raise model.max_videos or pick another model")
        self.n_users, self.n_videos = n_users, n_videos
        self.l2_grid = list(l2_grid or [])
        self._gram: torch.Tensor | None = None  # XᵀX of the graph `_fitted` names
        self._fitted: tuple[int, float] | None = None  # (id of the graph, λ) of `weights`
        self.register_buffer("weights", torch.zeros(n_videos, n_videos))
        self.register_buffer("history", torch.zeros(n_users, n_videos))

    @staticmethod
    def interactions(g: dgl.DGLGraph) -> torch.Tensor:
        """The binary users x videos matrix of `g`'s user-rates-video edges."""
        u, v = g.edges(etype=RATES)
        x = torch.zeros(g.num_nodes("user"), g.num_nodes("video"))
        x[u.long(), v.long()] = 1.0
        return x

    @staticmethod
    def solve(gram: torch.Tensor, l2: float) -> torch.Tensor:
        """B = I - P / diag(P) column-wise, P = (XᵀX + λI)⁻¹, in float64 (a Cholesky inverse)."""
        g = gram.double().clone()
        g.diagonal().add_(l2)
        p = torch.cholesky_inverse(torch.linalg.cholesky(g))
        b = -p / p.diagonal()[None, :]
        b.diagonal().zero_()
        return b.float()

    def fit(self, g: dgl.DGLGraph) -> None:
        key = (id(g), float(self.l2))
        if self._fitted == key:
            return
        if self._fitted is None or self._fitted[0] != id(g):
            self.history = self.interactions(g)
            x = self.history.double()
            self._gram = x.T @ x
        self.weights = self.solve(self._gram, float(self.l2))
        self._fitted = key

    def embed_all(self, g: dgl.DGLGraph, sampler: Any = None, batch_size: int = 4096):
        """(X, Bᵀ): the inner product of a user's row and a video's row is that user's score X_u B[:, v]."""
        self.fit(g)
        return self.history, self.weights.T
