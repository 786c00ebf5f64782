"""Fixed sampled negatives for the validation and test positives.

Each held-out positive gets `num` distinct videos its user never interacted with (in any split),
drawn uniformly without replacement and stored in draw order, so the first column alone is a
valid N = 1 protocol. Vectorised rejection sampling in row chunks bounds memory.
"""

from __future__ import annotations

import numpy as np

from data_prep.errors import ConfigError

_CHUNK_CELLS = 8_000_000


def sample_negatives(
    rows_user: np.ndarray,
    pos_user: np.ndarray,
    pos_item: np.ndarray,
    n_items: int,
    num: int,
    seed: int,
) -> np.ndarray:
    """(len(rows_user), num) int64 matrix of negatives for each row's user."""
    deg = np.bincount(pos_user, minlength=int(rows_user.max(initial=0)) + 1)
    short = n_items - deg[rows_user] < num
    if short.any():
        u = int(rows_user[np.flatnonzero(short)[0]])
        raise ConfigError(
            f"config key dataset.negatives.num={num}: user index {u} has only "
            f"{n_items - int(deg[u])} videos it never interacted with; lower the number"
        )
    pos_codes = np.unique(pos_user.astype(np.int64) * n_items + pos_item)
    rng = np.random.default_rng(seed)
    out = np.empty((len(rows_user), num), np.int64)
    width = int(num * 1.5) + 8
    step = max(1, _CHUNK_CELLS // width)
    for start in range(0, len(rows_user), step):
        stop = min(start + step, len(rows_user))
        out[start:stop] = _fill(rows_user[start:stop], pos_codes, n_items, num, width, rng)
    return out


def _fill(users, pos_codes, n_items, num, width, rng) -> np.ndarray:
    got = np.full((len(users), num), -1, np.int64)
    filled = np.zeros(len(users), np.int64)
    pending = np.arange(len(users))
    while pending.size:
        u = users[pending].astype(np.int64)[:, None]
        cand = rng.integers(n_items, size=(pending.size, width))
        m = np.concatenate([got[pending], cand], axis=1)
        codes = u * n_items + m
        idx = np.minimum(np.searchsorted(pos_codes, codes), len(pos_codes) - 1)
        ok = (m >= 0) & (pos_codes[idx] != codes)
        rowkey = np.arange(pending.size, dtype=np.int64)[:, None] * n_items + m
        first = np.zeros(m.size, bool)
        first[np.unique(rowkey.ravel(), return_index=True)[1]] = True
        ok &= first.reshape(m.shape)
        rank = np.cumsum(ok, axis=1)
        keep = ok & (rank <= num)
        count = keep.sum(axis=1)
        # Left-pack the kept entries of each row, in their order.
        col = rank - 1
        r, c = np.nonzero(keep)
        packed = np.full((pending.size, num), -1, np.int64)
        packed[r, col[r, c]] = m[r, c]
        got[pending] = packed
        filled[pending] = count
        pending = pending[count < num]
    return got
