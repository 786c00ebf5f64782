"""Ranking metrics, vectorised in torch over rows (users or held-out positives).

Ties are never resolved in the model's favour:
- sampled protocol (one positive against N fixed negatives): metrics are expectations under a
  uniformly random order of tied items, so AUC counts a tie as half, and a model scoring
  everything equal gets exactly the random-ranking values;
- full protocol (all unseen videos): the top-K metrics rank a positive after every video scored
  at least as high (pessimistic), and AUC counts ties as half.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def _prefix(values: Tensor) -> Tensor:
    return torch.cat([torch.zeros(1, dtype=values.dtype), torch.cumsum(values, 0)])


def sampled_metrics(scores: Tensor, ks: list[int]) -> dict[str, Tensor]:
    """Per-row metrics of scores (rows, 1 + N): column 0 the positive, the rest its negatives."""
    pos, neg = scores[:, :1], scores[:, 1:]
    n = neg.shape[1]
    s = (neg > pos).sum(1).double()  # negatives strictly above
    t = (neg == pos).sum(1).double()  # ties: the positive lands uniformly in [s, s + t]
    p = torch.arange(n + 2, dtype=torch.float64)
    disc = _prefix(1.0 / torch.log2(p + 2))  # disc[i] = Σ_{q<i} 1/log2(q+2)
    harm = _prefix(1.0 / (p + 1))
    out = {"auc": 1.0 - (s + 0.5 * t) / n}
    for k in ks:
        k_t = torch.tensor(float(k), dtype=torch.float64)
        out[f"hr@{k}"] = (k_t - s).clamp(min=0).minimum(t + 1) / (t + 1)
        hi = torch.minimum(s + t + 1, k_t).long()
        lo = torch.minimum(s, k_t).long()
        out[f"ndcg@{k}"] = (disc[hi] - disc[lo]) / (t + 1)
    out["mrr"] = (harm[(s + t + 1).long()] - harm[s.long()]) / (t + 1)
    return out


def full_metrics(scores: Tensor, positives: Tensor, ks: list[int], auc: bool = True) -> dict[str, Tensor]:
    """Per-user metrics of scores (users, videos) over all videos.

    Masked videos (seen in training, or the validation items when testing) must be -inf.
    `positives` (users, m) holds each user's held-out videos, padded with -1; every row needs one.
    Recall/HR/NDCG/MRR@K come from `torch.topk` of K+1 scores per row. With `auc`, every row is
    also sorted for the ranks of all positives among all videos: AUC and the untruncated MRR are
    added (several times slower). Both ways give identical values for the @K metrics.
    """
    if not auc:
        return _full_topk(scores, positives, ks)
    b, n_items = scores.shape
    valid = positives >= 0
    n_pos = valid.sum(1)
    p_scores = scores.gather(1, positives.clamp(min=0))
    p_scores = torch.where(valid, p_scores, torch.full_like(p_scores, float("nan")))
    srt = torch.sort(scores, dim=1).values  # ascending; -inf (masked) first
    left = torch.searchsorted(srt, p_scores.contiguous(), right=False)
    right = torch.searchsorted(srt, p_scores.contiguous(), right=True)
    masked = torch.isinf(scores) & (scores < 0)
    n_masked = masked.sum(1, keepdim=True)
    # Pessimistic 0-based rank: every other video scored >= the positive comes first.
    prank = (n_items - left - 1).double()
    # Mid-rank AUC against unseen non-positive videos.
    lt = (left - n_masked).double()
    eq = (right - left - 1).double()
    pv = p_scores.unsqueeze(2)
    pos_pair = valid.unsqueeze(1) & valid.unsqueeze(2)
    pos_lt = ((p_scores.unsqueeze(1) < pv) & pos_pair).sum(2).double()
    pos_eq = ((p_scores.unsqueeze(1) == pv) & pos_pair).sum(2).double() - 1
    n_neg = (n_items - n_masked.squeeze(1) - n_pos).double().clamp(min=1)
    auc_each = ((lt - pos_lt) + 0.5 * (eq - pos_eq)) / n_neg.unsqueeze(1)
    vf = valid.double()
    npos = n_pos.double()
    out = {"auc": (auc_each.nan_to_num(0.0) * vf).sum(1) / npos}
    prank = torch.where(valid, prank, torch.full_like(prank, float("inf")))
    out.update(_at_k(prank, npos, ks))
    out["mrr"] = 1.0 / (prank.min(1).values + 1)
    return out


def _at_k(prank: Tensor, npos: Tensor, ks: list[int]) -> dict[str, Tensor]:
    """Recall, HR, NDCG and MRR at each K from 0-based ranks of the positives (inf: padding)."""
    out: dict[str, Tensor] = {}
    gains = 1.0 / torch.log2(prank + 2)
    best = prank.min(1).values
    for k in ks:
        hit = (prank < k).double()
        out[f"recall@{k}"] = hit.sum(1) / npos
        out[f"hr@{k}"] = (hit.sum(1) > 0).double()
        ideal = _prefix(1.0 / torch.log2(torch.arange(k, dtype=torch.float64) + 2))
        out[f"ndcg@{k}"] = (gains * hit).sum(1) / ideal[npos.clamp(max=k).long()]
        out[f"mrr@{k}"] = torch.where(best < k, 1.0 / (best + 1), torch.zeros_like(best))
    return out


def _full_topk(scores: Tensor, positives: Tensor, ks: list[int]) -> dict[str, Tensor]:
    """The @K metrics with pessimistic ties, without sorting whole rows.

    A positive scoring strictly above the (K+1)-th best score is itself in the top K+1, so the
    number of videos scoring at least as high as it (its pessimistic rank + 1) is counted there;
    any other positive has K+1 videos at or above it and misses every cut-off <= K."""
    n_items = scores.shape[1]
    valid = positives >= 0
    p = scores.gather(1, positives.clamp(min=0))
    kk = min(max(ks) + 1, n_items)
    top = torch.topk(scores, kk, dim=1, sorted=True).values
    inside = valid & ((p > top[:, -1:]) | (kk == n_items))
    at_least = (top.unsqueeze(1) >= p.unsqueeze(2)).sum(2, dtype=torch.int32)
    prank = torch.where(inside, (at_least - 1).double(), torch.full(p.shape, float("inf"), dtype=torch.float64))
    return _at_k(prank, valid.sum(1).double(), ks)


def mean(metrics: dict[str, Tensor]) -> dict[str, float]:
    return {k: float(v.mean()) for k, v in metrics.items()}


BUCKETS = (("<=5", 0, 5), ("6-20", 6, 20), (">20", 21, None))


def by_bucket(metrics: dict[str, Tensor], train_degree: Tensor) -> dict[str, dict[str, float]]:
    """Means per user-activity bucket (train degree <= 5, 6-20, > 20), with the row count."""
    out = {}
    for name, lo, hi in BUCKETS:
        sel = train_degree >= lo
        if hi is not None:
            sel &= train_degree <= hi
        if sel.any():
            out[name] = {"users": int(sel.sum()), **{k: float(v[sel].mean()) for k, v in metrics.items()}}
    return out
