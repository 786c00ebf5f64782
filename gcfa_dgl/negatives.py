"""Negative videos for training batches, drawn from TRAIN information only."""

from __future__ import annotations

import torch

from data_prep.graph import RATES
from gcfa_dgl.dgl_compat import BaseNegativeSampler


def draw_probabilities(g, distribution: str) -> torch.Tensor:
    """Each video's probability of being drawn as a negative (before positives are rejected):
    uniform, or ∝ (train degree) ** 0.75 for `popularity` (unseen videos: about 0)."""
    if distribution == "uniform":
        return torch.full((g.num_nodes("video"),), 1.0 / g.num_nodes("video"), dtype=torch.float64)
    p = (g.in_degrees(etype=RATES).double() + 1e-9).pow(0.75)
    return p / p.sum()


class VideoNegativeSampler(BaseNegativeSampler):
    """k negative videos per positive (user, video) edge, drawn from TRAIN information only.

    `distribution`: `uniform` over videos, or `popularity` (train degree ** 0.75).
    `reject_positives`: redraw, in vectorised rounds (at most `rounds`), any negative that is a
    train positive of its user. Validation and test interactions are never consulted: knowing them would leak.
    """

    def __init__(self, k: int = 1, distribution: str = "uniform", reject_positives: bool = False,
                 rounds: int = 100) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if distribution not in ("uniform", "popularity"):
            raise ValueError(f"distribution must be uniform or popularity, got {distribution!r}")
        self.k = k
        self.distribution = distribution
        self.reject_positives = reject_positives
        self.rounds = rounds
        self._probs: torch.Tensor | None = None
        self._graph_id: int | None = None

    def _draw(self, g, n: int) -> torch.Tensor:
        n_videos = g.num_nodes("video")
        if self.distribution == "uniform":
            return torch.randint(0, n_videos, (n,))
        if self._probs is None or self._graph_id != id(g):
            self._probs, self._graph_id = draw_probabilities(g, self.distribution), id(g)
        return torch.multinomial(self._probs, n, replacement=True)

    def _generate(self, g, eids, canonical_etype):
        src, _ = g.find_edges(eids, etype=canonical_etype)
        src = src.repeat_interleave(self.k)
        dst = self._draw(g, len(src))
        if self.reject_positives:
            for _ in range(self.rounds):
                bad = torch.nonzero(g.has_edges_between(src, dst, etype=RATES)).squeeze(1)
                if not len(bad):
                    break
                dst[bad] = self._draw(g, len(bad))
        return src, dst
