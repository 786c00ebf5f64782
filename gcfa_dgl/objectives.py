"""Training objectives, written once for every model: a model only scores (user, video) pairs.

Each takes the scores of a batch's positive pairs, `pos` (n), and of their sampled negatives,
`neg` (n * k, the k negatives of a positive next to each other, as the negative sampler draws them).

- `bpr`: -log σ(s⁺ - s⁻), averaged over the n * k pairs (Rendle et al. 2009).
- `bce`: binary cross-entropy with positives labelled 1 and negatives 0.
- `softmax`: sampled softmax: each positive against its own k negatives, cross-entropy over the
  k + 1 logits s / τ. With non-uniform negatives (`sampler.negative=popularity`) each negative
  logit is corrected by -log(k q(v)) (the log-q correction of sampled softmax), so the loss
  estimates the full softmax rather than one tilted towards popular videos.
- `ccl`: SimpleX's cosine contrastive loss (Mao et al., CIKM 2021, eq. 1):
  (1 - s⁺) + w · mean over the k negatives of max(0, s⁻ - m), on cosine scores (the model then
  scores by cosine similarity: only models that score by a dot product take it). RecBole's
  defaults: margin m 0.5, negative weight w 10.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

OBJECTIVES = ("bpr", "bce", "softmax", "ccl")


def per_positive(pos: torch.Tensor, neg: torch.Tensor) -> int:
    """k, the negatives per positive; the shapes must agree."""
    k = neg.numel() // max(pos.numel(), 1)
    if neg.numel() != k * pos.numel():
        raise ValueError(f"{neg.numel()} negative scores for {pos.numel()} positives: not k per positive")
    return k


def bpr(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    return -F.logsigmoid(pos.repeat_interleave(per_positive(pos, neg)) - neg).mean()


def bce(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    logits = torch.cat([pos, neg])
    return F.binary_cross_entropy_with_logits(logits, torch.cat([torch.ones_like(pos), torch.zeros_like(neg)]))


def softmax(pos: torch.Tensor, neg: torch.Tensor, temperature: float = 0.1,
            neg_log_q: torch.Tensor | None = None) -> torch.Tensor:
    k = per_positive(pos, neg)
    neg = neg.view(len(pos), k) / temperature
    if neg_log_q is not None:
        neg = neg - (neg_log_q.view(len(pos), k) + torch.log(torch.tensor(float(k))))
    logits = torch.cat([pos[:, None] / temperature, neg], dim=1)
    return F.cross_entropy(logits, torch.zeros(len(pos), dtype=torch.long, device=pos.device))


def ccl(pos: torch.Tensor, neg: torch.Tensor, margin: float = 0.5, negative_weight: float = 10.0) -> torch.Tensor:
    k = per_positive(pos, neg)
    hinge = F.relu(neg.view(len(pos), k) - margin).mean(1)
    return ((1 - pos) + negative_weight * hinge).mean()


def info_nce(x1: torch.Tensor, x2: torch.Tensor, temperature: float, reduction: str = "mean") -> torch.Tensor:
    """InfoNCE between two views of the same n nodes (rows): row i of x1 against every row of x2,
    with row i as the positive, on cosine similarities / τ. The contrastive term of SimGCL and
    XSimGCL; `reduction` "sum" as in SimGCL's paper (eq. 5), "mean" as in XSimGCL's."""
    x1, x2 = F.normalize(x1, dim=-1), F.normalize(x2, dim=-1)
    logits = x1 @ x2.T / temperature
    return F.cross_entropy(logits, torch.arange(len(x1), device=x1.device), reduction=reduction)


class Objective:
    """`name` with its settings; called as objective(pos, neg, neg_videos). `log_q` maps video ids
    to the log-probability that the negative sampler draws them (None: uniform, no correction)."""

    def __init__(self, name: str, temperature: float = 0.1,
                 log_q: Callable[[torch.Tensor], torch.Tensor] | None = None, margin: float = 0.5,
                 negative_weight: float = 10.0) -> None:
        if name not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {name!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.name, self.temperature, self.log_q = name, temperature, log_q
        self.margin, self.negative_weight = margin, negative_weight

    def __call__(self, pos: torch.Tensor, neg: torch.Tensor, neg_videos: torch.Tensor | None = None) -> torch.Tensor:
        if self.name == "bpr":
            return bpr(pos, neg)
        if self.name == "bce":
            return bce(pos, neg)
        if self.name == "ccl":
            return ccl(pos, neg, self.margin, self.negative_weight)
        log_q = self.log_q(neg_videos) if self.log_q is not None and neg_videos is not None else None
        return softmax(pos, neg, self.temperature, log_q)

    def __repr__(self) -> str:
        return f"Objective({self.name!r}, temperature={self.temperature})"
