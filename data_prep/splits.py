"""Seeded per-user splits: leave-one-out (`loo`) and ratio (`ratio`), temporal or random."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

TRAIN, VALID, TEST = 0, 1, 2


def _per_user_order(user: np.ndarray, timestamp: np.ndarray | None, temporal: bool, seed: int):
    """Indices sorted by user, then time (ties and untimed data in seeded random order)."""
    rng = np.random.default_rng(seed)
    tiebreak = rng.random(len(user))
    if temporal and timestamp is not None:
        order = np.lexsort((tiebreak, timestamp, user))
    else:
        order = np.lexsort((tiebreak, user))
    counts = np.bincount(user, minlength=int(user.max()) + 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(user)) - np.repeat(starts, counts)  # position within the user's list
    n = np.repeat(counts, counts)
    return order, pos, n


def split(user: np.ndarray, timestamp: np.ndarray | None, cfg: Any) -> np.ndarray:
    """Split code (0 train, 1 valid, 2 test) of every interaction."""
    temporal = cfg.order == "temporal"
    if temporal and timestamp is None:
        log.info("no timestamps: the %s split orders each user's interactions at random", cfg.kind)
    order, pos, n = _per_user_order(user, timestamp, temporal, cfg.seed)
    codes_sorted = np.full(len(user), TRAIN, np.int8)
    if cfg.kind == "loo":
        enough = n >= 3  # a user needs one train interaction besides the two held out
        codes_sorted[enough & (pos == n - 1)] = TEST
        codes_sorted[enough & (pos == n - 2)] = VALID
    else:
        _, r_valid, r_test = (float(x) for x in cfg.ratios)
        n_test = np.floor(n * r_test + 1e-9).astype(np.int64)
        n_valid = np.floor(n * r_valid + 1e-9).astype(np.int64)
        n_train = n - n_test - n_valid
        # Like RecBole: a share between 0 and 1 interaction still gets one while train keeps two.
        for share, cnt in ((n * r_test, n_test), (n * r_valid, n_valid)):
            bump = (n_train > 1) & (share > 0) & (share < 1)
            cnt += bump
            n_train -= bump
        codes_sorted[(pos >= n_train) & (pos < n_train + n_valid)] = VALID
        codes_sorted[pos >= n_train + n_valid] = TEST
    codes = np.empty_like(codes_sorted)
    codes[order] = codes_sorted
    return codes
