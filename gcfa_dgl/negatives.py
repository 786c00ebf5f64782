"""Negative videos for training batches, drawn from TRAIN information only."""

from __future__ import annotations

import torch

from data_prep.graph import RATES
from gcfa_dgl.dgl_compat import BaseNegativeSampler


def draw_probabilities(g, distribution: str) -> torch.Tensor:
    """Each video's probability of being drawn as a negative (before positives are rejected):
    uniform; ∝ (train degree) ** 0.75 for `popularity`; ∝ train degree for `in_batch` (a batch's
    positives are train edges drawn uniformly). Unseen videos: about 0."""
    if distribution == "uniform":
        return torch.full((g.num_nodes("video"),), 1.0 / g.num_nodes("video"), dtype=torch.float64)
    p = (g.in_degrees(etype=RATES).double() + 1e-9).pow(0.75 if distribution == "popularity" else 1.0)
    return p / p.sum()


class VideoNegativeSampler(BaseNegativeSampler):
    """k negative videos per positive (user, video) edge, drawn from TRAIN information only.

    `distribution`: `uniform` over videos, `popularity` (train degree ** 0.75), or `in_batch`: the
    videos of the batch's own positive pairs, drawn uniformly among them (in-batch negatives).
    `reject_positives`: redraw, in vectorised rounds (at most `rounds`), any negative that is a
    train positive of its user. Validation and test interactions are never consulted: knowing them would leak.
    """

    # Train positives are looked up in a users x videos bitmap up to this many cells (one byte
    # each), else by DGL's per-pair search, several times slower at tens of negatives per positive.
    max_bitmap_cells = 1 << 26

    def __init__(self, k: int = 1, distribution: str = "uniform", reject_positives: bool = False,
                 rounds: int = 100) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if distribution not in ("uniform", "popularity", "in_batch"):
            raise ValueError(f"distribution must be uniform, popularity or in_batch, got {distribution!r}")
        self.k = k
        self.distribution = distribution
        self.reject_positives = reject_positives
        self.rounds = rounds
        self._probs: torch.Tensor | None = None
        self._graph_id: int | None = None
        self._positives: torch.Tensor | None = None
        self._positives_id: int | None = None

    def _draw(self, g, n: int, batch_videos: torch.Tensor) -> torch.Tensor:
        n_videos = g.num_nodes("video")
        if self.distribution == "in_batch":
            return batch_videos[torch.randint(0, len(batch_videos), (n,))]
        if self.distribution == "uniform":
            return torch.randint(0, n_videos, (n,))
        if self._probs is None or self._graph_id != id(g):
            self._probs, self._graph_id = draw_probabilities(g, self.distribution), id(g)
        return torch.multinomial(self._probs, n, replacement=True)

    def _is_positive(self, g, users: torch.Tensor, videos: torch.Tensor) -> torch.Tensor:
        """Whether each (user, video) pair is an edge of the training graph `g`."""
        n_videos = g.num_nodes("video")
        if g.num_nodes("user") * n_videos > self.max_bitmap_cells:
            return g.has_edges_between(users, videos, etype=RATES)
        if self._positives is None or self._positives_id != id(g):
            u, v = g.edges(etype=RATES)
            self._positives = torch.zeros(g.num_nodes("user") * n_videos, dtype=torch.bool)
            self._positives[u.long() * n_videos + v.long()] = True
            self._positives_id = id(g)
        return self._positives[users.long() * n_videos + videos.long()]

    def _generate(self, g, eids, canonical_etype):
        src, videos = g.find_edges(eids, etype=canonical_etype)
        src = src.repeat_interleave(self.k)
        dst = self._draw(g, len(src), videos)
        if self.reject_positives:
            # Only redrawn pairs are checked again: the others are already known not to be positives.
            bad = torch.arange(len(src))
            for _ in range(self.rounds):
                bad = bad[self._is_positive(g, src[bad], dst[bad])]
                if not len(bad):
                    break
                dst[bad] = self._draw(g, len(bad), videos)
        return src, dst
