"""Both evaluation protocols of docs/evaluation.md over a trained model's representations.

- sampled: each held-out positive against its N fixed negatives (N as prepared, and N = 1 with
  the first negative column): AUC, HR@K, NDCG@K, MRR;
- full: every video scored, the user's train videos (and, for test, validation videos) masked:
  Recall@K, NDCG@K, HR@K and MRR@K (from torch.topk), and with `eval.full_auc` the AUC over
  all unseen videos and the untruncated MRR (a sort of every row).
Everything is batched over users; scores of a chunk of users x all videos are never larger than
`eval.chunk_mb`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch

from gcfa_dgl import metrics as M
from gcfa_dgl.data import ProcessedData

PROTOCOLS = ("sampled", "full")


def score_candidates(
    score_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    users: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    batch_size: int = 4096,
    width: int = 1,
    max_cells: int = 1 << 26,
) -> torch.Tensor:
    """(len(users), 1 + N) scores: column 0 the held-out positive, then its N fixed negatives.
    Users go in chunks of `batch_size`, fewer when the pairs' gathered representations (`width`
    wide, e.g. EASE's rows as long as the catalogue) would pass `max_cells` values."""
    cand = torch.cat([positives[:, None], negatives], dim=1)
    out = torch.empty(cand.shape, dtype=torch.float32)
    batch_size = max(1, min(batch_size, max_cells // max(cand.shape[1] * width, 1)))
    for start in range(0, len(users), batch_size):
        u = users[start : start + batch_size]
        c = cand[start : start + batch_size]
        out[start : start + batch_size] = score_fn(u.repeat_interleave(c.shape[1]), c.reshape(-1)).view(c.shape)
    return out


def score_candidates_by_user(
    matrix_fn: Callable[[torch.Tensor], torch.Tensor],
    users: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    n_videos: int,
    batch_size: int = 4096,
    max_cells: int = 1 << 26,
) -> torch.Tensor:
    """What `score_candidates` returns, read from each user's row of scores over all videos
    (`matrix_fn(users)`, one product per chunk of distinct users): for models whose pair
    representations are as wide as the catalogue (EASE), where gathering one per pair is slow."""
    cand = torch.cat([positives[:, None], negatives], dim=1)
    out = torch.empty(cand.shape, dtype=torch.float32)
    order = torch.argsort(users, stable=True)
    uniq, counts = torch.unique_consecutive(users[order], return_counts=True)
    ends = torch.cumsum(counts, 0)
    step = max(1, min(batch_size, max_cells // max(n_videos, 1)))
    for i in range(0, len(uniq), step):
        j = min(i + step, len(uniq))
        lo, hi = int(ends[i - 1]) if i else 0, int(ends[j - 1])
        rows = order[lo:hi]
        local = torch.repeat_interleave(torch.arange(j - i), counts[i:j])
        out[rows] = matrix_fn(uniq[i:j]).float()[local[:, None], cand[rows]]
    return out


def _csr(user: np.ndarray, item: np.ndarray, n_users: int) -> tuple[torch.Tensor, torch.Tensor]:
    order = np.lexsort((item, user))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(user, minlength=n_users))])
    return torch.as_tensor(indptr), torch.as_tensor(item[order].astype(np.int64))


def _within(counts: torch.Tensor) -> torch.Tensor:
    """Each entry's position within its row, for rows of `counts` entries laid end to end."""
    return torch.arange(int(counts.sum())) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)


def _rows(indptr: torch.Tensor, indices: torch.Tensor, users: torch.Tensor):
    """(row position, item) of the CSR entries of `users`, vectorised."""
    start, stop = indptr[users], indptr[users + 1]
    counts = stop - start
    rows = torch.repeat_interleave(torch.arange(len(users)), counts)
    return rows, indices[torch.repeat_interleave(start, counts) + _within(counts)]


class _Chunk(NamedTuple):
    users: torch.Tensor  # the chunk's users
    masked: torch.Tensor  # flat positions (row * videos + video) of their masked scores
    positives: torch.Tensor  # (users, widest) held-out videos, padded with -1


class Evaluator:
    def __init__(self, data: ProcessedData, ks_sampled: list[int], ks_full: list[int], chunk_mb: int = 64,
                 batch_size: int = 4096, full_auc: bool = False) -> None:
        self.data = data
        self.full_auc = full_auc
        self.ks_sampled, self.ks_full = list(ks_sampled), list(ks_full)
        self.chunk_mb, self.batch_size = chunk_mb, batch_size
        n_u = data.n_users
        self.train_csr = _csr(data.train.user, data.train.item, n_u)
        self.valid_csr = _csr(data.valid.user, data.valid.item, n_u)
        self.test_csr = _csr(data.test.user, data.test.item, n_u)
        self.train_degree = torch.as_tensor(np.bincount(data.train.user, minlength=n_u))
        self._plans: dict[tuple, tuple[list[_Chunk], torch.Tensor]] = {}

    @classmethod
    def from_config(cls, e: Any, data: ProcessedData) -> Evaluator:
        """The evaluator of the `eval:` config group."""
        return cls(data, list(e.ks_sampled), list(e.ks_full), e.chunk_mb, e.batch_size, bool(e.full_auc))

    def mask_seen(self, scores: torch.Tensor, users: torch.Tensor) -> None:
        """Set to -inf, in place, the scores (users x videos) of every video each user interacted
        with in any split: what a recommendation must never repeat."""
        for indptr, indices in (self.train_csr, self.valid_csr, self.test_csr):
            r, c = _rows(indptr, indices, users)
            scores[r, c] = float("-inf")

    @torch.no_grad()
    def embed(self, model, sampler) -> tuple[torch.Tensor, torch.Tensor]:
        model.eval()
        return model.embed_all(self.data.graph, sampler, self.batch_size)

    @torch.no_grad()
    def evaluate(self, model, sampler, split: str, protocols=PROTOCOLS, z=None,
                 full_auc: bool | None = None) -> dict[str, Any]:
        """Metrics of `split`; `z` reuses (user, video) representations already computed;
        `full_auc` overrides the evaluator's setting for this call. Without gradients: a scorer with
        parameters (an MLP predictor) would otherwise keep every chunk's graph alive while the
        chunks are copied into one score matrix."""
        model.eval()
        zu, zv = z if z is not None else self.embed(model, sampler)
        out: dict[str, Any] = {}
        buckets: dict[str, Any] = {}
        s = getattr(self.data, split)
        if "sampled" in protocols and s.negatives is not None:
            users = torch.as_tensor(s.user)
            pos = torch.as_tensor(s.item)
            neg = torch.as_tensor(s.negatives.astype(np.int64))
            if getattr(model, "score_rows", False):
                scores = score_candidates_by_user(lambda u: model.score_matrix(zu[u], zv), users, pos, neg,
                                                  zv.shape[0], self.batch_size)
            else:
                scores = score_candidates(lambda u, v: model.score_pairs(zu[u], zv[v]), users, pos, neg,
                                          self.batch_size, width=zu.shape[1])
            for name, sc in (("sampled", scores), ("sampled_n1", scores[:, :2])):
                ks = [k for k in self.ks_sampled if k <= sc.shape[1]]
                per_row = M.sampled_metrics(sc, ks)
                out.update({f"{name}/{k}": v for k, v in M.mean(per_row).items()})
                buckets[name] = M.by_bucket(per_row, self.train_degree[users])
        if "full" in protocols:
            per_user, users = self._full(model, zu, zv, split, full_auc)
            out.update({f"full/{k}": v for k, v in M.mean(per_user).items()})
            buckets["full"] = M.by_bucket(per_user, self.train_degree[users])
        out["buckets"] = buckets
        return out

    def _plan(self, split: str, n_items: int, full_auc: bool) -> tuple[list[_Chunk], torch.Tensor]:
        """The chunks of users evaluated on `split`, built once and reused every epoch: each
        chunk's users, the flat positions of its masked scores and its padded positives."""
        key = (split, n_items, full_auc)
        if key in self._plans:
            return self._plans[key]
        indptr, indices = self.valid_csr if split == "valid" else self.test_csr
        sizes = indptr[1:] - indptr[:-1]
        # Users by decreasing number of held-out videos: a chunk's first user sets its padded width.
        has = torch.nonzero(sizes > 0).squeeze(1)
        has = has[torch.sort(sizes[has], descending=True, stable=True).indices]
        budget = self.chunk_mb * (1 << 20)
        masks = [self.train_csr] + ([self.valid_csr] if split == "test" else [])
        chunks: list[_Chunk] = []
        start = 0
        while start < len(has):
            width = int(sizes[has[start]])
            # bytes per user: scores, top-k and masks (16 per video); with AUC, the sort and the
            # positives x positives comparisons (24 per pair)
            per_user = 16 * n_items + 16 * width + (24 * width * width if full_auc else 0)
            users = has[start : start + max(1, budget // per_user)]
            start += len(users)
            flat = []
            for m_indptr, m_indices in masks:
                r, c = _rows(m_indptr, m_indices, users)
                flat.append(r * n_items + c)
            r, c = _rows(indptr, indices, users)
            counts = indptr[users + 1] - indptr[users]
            positives = torch.full((len(users), int(counts.max())), -1, dtype=torch.long)
            positives[r, _within(counts)] = c
            chunks.append(_Chunk(users, torch.cat(flat), positives))
        self._plans[key] = (chunks, has)
        return chunks, has

    @torch.no_grad()
    def _full(self, model, zu, zv, split: str, full_auc: bool | None = None):
        """Per-user full-protocol metrics of `split` (`full_auc`: None keeps the evaluator's setting)."""
        full_auc = self.full_auc if full_auc is None else full_auc
        chunks, has = self._plan(split, zv.shape[0], full_auc)
        parts: dict[str, list[torch.Tensor]] = {}
        for ch in chunks:
            scores = model.score_matrix(zu[ch.users], zv).float()
            scores.view(-1).index_fill_(0, ch.masked, float("-inf"))
            for k, v in M.full_metrics(scores, ch.positives, self.ks_full, auc=full_auc).items():
                parts.setdefault(k, []).append(v)
        return {k: torch.cat(v) for k, v in parts.items()}, has
