"""A seeded synthetic dataset of any size, with the shape of real interaction data.

Users and videos get power-law popularity; both belong to taste clusters, and a user picks a video
of their own cluster with probability `in_cluster`, so there is collaborative signal to learn.
Ratings are higher inside a cluster. Each video carries one to three info tags, the first tied to
its cluster. Everything is vectorised: 10M interactions take seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data_prep.errors import ConfigError
from data_prep.sources.base import RawData


def _power_law(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    return rng.permutation(w)


def _cap(p: np.ndarray, pmax: float) -> np.ndarray:
    """Renormalised probabilities with none above `pmax` (water-filling, a few vector passes)."""
    p = p / p.sum()
    for _ in range(50):
        if p.max() <= pmax * 1.001:
            break
        p = np.minimum(p, pmax)
        p /= p.sum()
    return p


def generate(s: Any) -> RawData:
    rng = np.random.default_rng(s.seed)
    n_users, n_items, n, k = s.n_users, s.n_items, s.n_interactions, s.n_clusters
    # Caps keep the heaviest user below half of all videos (and the most popular video below half
    # of all users), as in real data, so every user keeps unseen videos to rank against.
    user_w = _cap(_power_law(n_users, s.user_exponent, rng), 0.5 * n_items / n)
    user_cdf = np.cumsum(user_w)
    item_w = _cap(_power_law(n_items, s.item_exponent, rng), 0.5 * n_users / n)
    user_cluster = rng.integers(k, size=n_users)
    item_cluster = rng.integers(k, size=n_items)
    # Items ordered by cluster, with one cumulative popularity mass: a cluster is a mass interval.
    order = np.argsort(item_cluster, kind="stable")
    cum = np.cumsum(item_w[order])
    total = cum[-1]
    starts = np.searchsorted(item_cluster[order], np.arange(k), side="left")
    ends = np.searchsorted(item_cluster[order], np.arange(k), side="right")
    lo = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0.0)
    hi = np.where(ends > 0, cum[np.maximum(ends - 1, 0)], 0.0)
    empty = ends == starts
    lo[empty], hi[empty] = 0.0, total  # a cluster without videos draws from all of them

    codes = np.empty(0, dtype=np.int64)
    for _ in range(60):
        need = n - codes.size
        if need <= 0:
            break
        m = int(need * 1.25) + 1024
        u = np.minimum(np.searchsorted(user_cdf, rng.random(m), side="right"), n_users - 1)
        c = user_cluster[u]
        inside = rng.random(m) < s.in_cluster
        a = np.where(inside, lo[c], 0.0)
        b = np.where(inside, hi[c], total)
        x = a + rng.random(m) * (b - a)
        idx = np.minimum(np.searchsorted(cum, x, side="right"), n_items - 1)
        codes = np.unique(np.concatenate([codes, u.astype(np.int64) * n_items + order[idx]]))
    if codes.size < n:
        raise ConfigError(
            "config key dataset.synthetic.n_interactions: cannot draw that many distinct pairs "
            "with these popularity exponents; lower it or the exponents"
        )
    codes = codes[np.sort(rng.choice(codes.size, size=n, replace=False))]
    users, items = codes // n_items, codes % n_items

    user_bias = rng.normal(0.0, 0.5, n_users)
    item_bias = rng.normal(0.0, 0.5, n_items)
    affinity = np.where(user_cluster[users] == item_cluster[items], 1.0, -0.5)
    noise = rng.normal(0.0, 0.7, n)
    rating = np.clip(np.rint(3.2 + user_bias[users] + item_bias[items] + affinity + noise), 1, 5)
    timestamp = 1_000_000_000 + rng.integers(0, 30_000_000, size=n)
    inter = pd.DataFrame({"user": users, "item": items, "rating": rating, "timestamp": timestamp})

    info = None
    if s.n_info > 0:
        vid = np.arange(n_items)
        # The first tag follows the cluster (tag t belongs to cluster t % k), then 0-2 random ones.
        per_cluster = np.maximum((s.n_info - item_cluster + k - 1) // k, 0)
        first = item_cluster + k * (rng.random(n_items) * np.maximum(per_cluster, 1)).astype(np.int64)
        first = np.where(per_cluster > 0, first, rng.integers(s.n_info, size=n_items))
        extra = rng.integers(s.n_info, size=(n_items, 2))
        keep = rng.integers(0, 3, size=n_items)[:, None] > np.arange(2)[None, :]
        keys = np.concatenate([vid, np.repeat(vid[:, None], 2, axis=1)[keep]])
        tags = np.concatenate([first, extra[keep]])
        pairs = np.unique(keys * s.n_info + tags)
        info = pd.DataFrame(
            {"key": pairs // s.n_info, "info": np.char.add("tag", (pairs % s.n_info).astype(str))}
        )
    titles = pd.DataFrame({"key": np.arange(n_items), "title": np.char.add("video ", np.arange(n_items).astype(str))})
    return RawData(inter, rating_max=5.0, info=info, titles=titles)


class Synthetic:
    def files(self, cfg: Any) -> list[str]:
        return []

    def load(self, cfg: Any, root: Path) -> RawData:
        return generate(cfg.synthetic)
