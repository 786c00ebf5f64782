"""Fixed sampled negatives for the validation and test positives.

Each held-out positive gets `num` distinct videos its user never interacted with (in any split),
drawn uniformly without replacement and stored in draw order, so the first column alone is a
valid N = 1 protocol. Vectorised rejection sampling in row chunks bounds memory.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from data_prep.errors import ConfigError

_CHUNK_CELLS = 8_000_000
_BITMAP_CELLS = 256_000_000  # a users x videos bitmap of positives up to this size (bytes)


def _positive_lookup(pos_user, pos_item, n_users, n_items) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """is_pos(users[:, None], items) -> bool array: a bitmap when small, else binary search."""
    if n_users * n_items <= _BITMAP_CELLS:
        bitmap = np.zeros((n_users, n_items), bool)
        bitmap[pos_user, pos_item] = True
        return lambda u, m: bitmap[u, m]
    codes = np.unique(pos_user.astype(np.int64) * n_items + pos_item)

    def is_pos(u, m):
        key = u * n_items + m
        idx = np.minimum(np.searchsorted(codes, key), len(codes) - 1)
        return codes[idx] == key

    return is_pos


def sample_negatives(
    rows_user: np.ndarray,
    pos_user: np.ndarray,
    pos_item: np.ndarray,
    n_items: int,
    num: int,
    seed: int,
    user_ids: np.ndarray | None = None,
) -> np.ndarray:
    """(len(rows_user), num) int64 matrix of negatives for each row's user (`user_ids`: raw ids, for
    the message when a user has too few unseen videos)."""
    n_users = int(max(rows_user.max(initial=0), pos_user.max(initial=0))) + 1
    deg = np.bincount(pos_user, minlength=n_users)
    short = n_items - deg[rows_user] < num
    if short.any():
        u = int(rows_user[np.flatnonzero(short)[0]])
        who = f"user {user_ids[u]}" if user_ids is not None else f"user index {u}"
        raise ConfigError(
            f"config key dataset.negatives.num={num}: {who} has only {n_items - int(deg[u])} videos it never "
            f"interacted with ({int(short.sum())} such rows); lower the number"
        )
    is_pos = _positive_lookup(pos_user, pos_item, n_users, n_items)
    rng = np.random.default_rng(seed)
    out = np.empty((len(rows_user), num), np.int64)
    width = int(num * 1.25) + 16
    step = max(1, _CHUNK_CELLS // width)
    for start in range(0, len(rows_user), step):
        stop = min(start + step, len(rows_user))
        out[start:stop] = _fill(rows_user[start:stop].astype(np.int64), is_pos, n_items, num, width, rng)
    return out


def _fill(users, is_pos, n_items, num, width, rng) -> np.ndarray:
    out = np.empty((len(users), num), np.int64)
    prev = np.empty((len(users), 0), np.int64)  # accepted so far (-1 padded) of pending rows
    pending = np.arange(len(users))
    while pending.size:
        cand = rng.integers(n_items, size=(pending.size, width))
        m = np.concatenate([prev, cand], axis=1) if prev.shape[1] else cand
        valid = m >= 0
        ok = valid & ~is_pos(users[pending][:, None], np.where(valid, m, 0))
        # Keep the first occurrence of each video in a row (earlier draws sit to the left).
        srt = np.argsort(m, axis=1, kind="stable")
        ms = np.take_along_axis(m, srt, axis=1)
        dup_sorted = np.zeros(m.shape, bool)
        dup_sorted[:, 1:] = ms[:, 1:] == ms[:, :-1]
        dup = np.empty_like(dup_sorted)
        np.put_along_axis(dup, srt, dup_sorted, axis=1)
        ok &= ~dup
        rank = np.cumsum(ok, axis=1, dtype=np.int32)
        keep = ok & (rank <= num)
        r, c = np.nonzero(keep)
        packed = np.full((pending.size, num), -1, np.int64)
        packed[r, rank[r, c] - 1] = m[r, c]
        done = rank[:, -1] >= num
        out[pending[done]] = packed[done]
        prev = packed[~done]
        pending = pending[~done]
    return out
