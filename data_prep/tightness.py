"""Relationship tightness of every edge type, from TRAIN interactions only.

- user-video: rating / max rating (1.0 for implicit data);
- video-info: IDF of the info node, log(1 + V / df), normalised to sum 1 over each video's tags;
- user-user and video-video: cosine of binary interaction vectors, the top-M per node. With
  `max_degree` C, each column keeps a seeded uniform sample of at most C of its entries first (a
  video at most C viewers for user-user similarity), so the candidate pairs number at most
  C x interactions: linear in the data, where the exact count, the sum of squared column
  degrees, grows faster as popular videos gain viewers.

The cosine top-M is computed in row blocks of a sparse product. A block holds at most
`block_mb` MiB of candidate pairs in all (bounded by the number of 2-paths of its rows, computed
beforehand, and shared by the worker threads that run blocks in parallel), so memory does not
grow with the number of nodes; a single row with more 2-paths than the budget gets a block of its
own.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

# Bytes per candidate pair in a block: CSR data and index, row ids, sort keys and order.
_BYTES_PER_PAIR = 40


def rating_tightness(rating: np.ndarray, rating_max: float | None, rating_min: float | None = None) -> np.ndarray:
    """rating / max rating (1 for implicit data); on a scale with negative ratings,
    (rating - min) / (max - min), so that tightness is in [0, 1] either way."""
    if not rating_max:
        return np.ones_like(rating, dtype=np.float32)
    if rating_min is not None and rating_min < 0:
        return ((rating - rating_min) / (rating_max - rating_min)).astype(np.float32)
    return (rating / rating_max).astype(np.float32)


def info_tightness(video: np.ndarray, info: np.ndarray, n_videos: int, n_info: int) -> np.ndarray:
    df = np.bincount(info, minlength=n_info).astype(np.float64)
    idf = np.log1p(n_videos / np.maximum(df, 1.0))
    w = idf[info]
    total = np.bincount(video, weights=w, minlength=n_videos)
    return (w / total[video]).astype(np.float32)


def cosine_top_m(
    rows: np.ndarray,
    cols: np.ndarray,
    n_rows: int,
    n_cols: int,
    top_m: int,
    block_mb: int = 256,
    desc: str = "similarity",
    max_degree: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-M cosine neighbours of each row node over binary row-col incidence.

    Returns (src, dst, weight): `src` is a neighbour of `dst`, weight its cosine in (0, 1].
    Ties are broken by the smaller neighbour id, so the result is deterministic.
    """
    if max_degree is not None:
        rows, cols = cap_column_degree(rows, cols, max_degree, seed)
    x = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(n_rows, n_cols), dtype=np.float32
    )
    x.data[:] = 1.0  # duplicates would have summed
    xt = x.T.tocsr()
    deg = np.diff(x.indptr).astype(np.float64)
    inv_norm = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1.0)), 0.0).astype(np.float32)
    paths = x @ np.diff(xt.indptr).astype(np.float64)  # 2-paths per row: bounds its pair count
    workers = max(1, min(os.cpu_count() or 1, 4))  # sparse products release the GIL
    budget = max(1, block_mb * (1 << 20) // (_BYTES_PER_PAIR * workers))
    bounds = _blocks(paths, budget)

    def run(span: tuple[int, int]):
        start, stop = span
        s = (x[start:stop] @ xt).tocsr()
        if s.nnz * 4 >= s.shape[0] * s.shape[1] and s.shape[0] * s.shape[1] <= budget:
            return _top_dense(s, start, inv_norm, top_m)
        s.sort_indices()
        return _top_sparse(s, start, inv_norm, top_m)

    spans = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
    with ThreadPoolExecutor(workers) as pool:
        results = list(tqdm(pool.map(run, spans), total=len(spans), desc=desc, unit="block",
                            leave=False, disable=len(spans) <= 1))
    out_src = [r[0] for r in results]
    out_dst = [r[1] for r in results]
    out_w = [r[2] for r in results]
    if not out_src:
        e = np.empty(0, np.int64)
        return e, e.copy(), np.empty(0, np.float32)
    return np.concatenate(out_src), np.concatenate(out_dst), np.concatenate(out_w)


def cap_column_degree(rows: np.ndarray, cols: np.ndarray, cap: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The entries with at most `cap` per column: a seeded uniform sample of each larger column."""
    deg = np.bincount(cols)
    if len(deg) == 0 or deg.max() <= cap:
        return rows, cols
    key = np.random.default_rng(seed).random(len(cols))
    order = np.lexsort((key, cols))
    grouped = cols[order]
    rank = np.arange(len(cols)) - np.searchsorted(grouped, grouped, side="left")
    keep = np.sort(order[rank < cap])
    return rows[keep], cols[keep]


def _top_sparse(s, start, inv_norm, top_m):
    """Top-m per row of a sparse block (CSR with sorted indices): order each row's entries by
    weight, descending, ties to the smaller neighbour id, and keep a prefix.

    One stable radix sort of an int64 key (row, then the weight's float bits inverted) does it:
    positive float32 values order like their bit patterns, and stability keeps the neighbour
    order within a row for ties. Edges come out ordered by (row, neighbour), like the dense path."""
    counts = np.diff(s.indptr)
    r = np.repeat(np.arange(start, start + s.shape[0], dtype=np.int64), counts)
    c = s.indices.astype(np.int64)
    keep = r != c
    r, c = r[keep], c[keep]
    w = (s.data[keep] * inv_norm[r] * inv_norm[c]).astype(np.float32, copy=False)
    bits = w.view(np.uint32).astype(np.int64)
    order = np.argsort(((r - start) << 32) | (0xFFFFFFFF - bits), kind="stable")
    r, c, w = r[order], c[order], w[order]
    first = np.searchsorted(r, r, side="left")
    sel = (np.arange(len(r)) - first) < top_m
    r, c, w = r[sel], c[sel], w[sel]
    order = np.argsort(((r - start) << 32) | c, kind="stable")
    return c[order], r[order], w[order]


def _top_dense(s, start, inv_norm, top_m):
    """Same selection for a dense block, in O(cells): the m-th largest value is the threshold;
    everything above it is kept, and ties at it are filled by increasing neighbour id."""
    import torch

    b, n = s.shape
    rows = np.arange(start, start + b)
    inv = torch.from_numpy(inv_norm)
    d = torch.from_numpy(s.toarray())
    d.mul_(inv[start : start + b, None]).mul_(inv[None, :])
    d[torch.arange(b), torch.from_numpy(rows)] = 0.0
    k = min(top_m, n)
    thr = torch.topk(d, k, dim=1, sorted=False).values.min(dim=1, keepdim=True).values
    keep = d > thr
    tied = d == thr
    room = k - keep.sum(dim=1)
    crowded = torch.nonzero(tied.sum(dim=1) > room).squeeze(1)  # rows where ties overflow
    if len(crowded):
        fill = tied[crowded] & (torch.cumsum(tied[crowded], dim=1) <= room[crowded, None])
        tied[crowded] = fill
    keep |= tied
    keep &= d > 0
    r, c = torch.nonzero(keep, as_tuple=True)
    return c.numpy().astype(np.int64), rows[r.numpy()], d[r, c].numpy()


def _blocks(cost: np.ndarray, budget: int) -> np.ndarray:
    """Row boundaries so that each block's summed cost stays within budget (or is one row)."""
    n = len(cost)
    bounds = [0]
    cum = np.cumsum(cost)
    while bounds[-1] < n:
        start = bounds[-1]
        base = cum[start - 1] if start > 0 else 0.0
        stop = int(np.searchsorted(cum, base + budget, side="right"))
        bounds.append(max(stop, start + 1) if stop < n else n)
    return np.asarray(bounds)
