"""Tightness values on toy graphs, checked by hand."""

from __future__ import annotations

import numpy as np

from data_prep.tightness import (
    _top_dense,
    _top_sparse,
    cap_column_degree,
    cosine_top_m,
    info_tightness,
    rating_tightness,
)


def test_rating_tightness():
    np.testing.assert_allclose(rating_tightness(np.array([1.0, 4.0, 5.0]), 5.0), [0.2, 0.8, 1.0])
    np.testing.assert_allclose(rating_tightness(np.array([1.0, 1.0]), None), [1.0, 1.0])


def test_cosine_by_hand():
    # users 0: {a, b}, 1: {a, b, c}, 2: {c}, 3: {} (isolated)
    rows = np.array([0, 0, 1, 1, 1, 2])
    cols = np.array([0, 1, 0, 1, 2, 2])
    src, dst, w = cosine_top_m(rows, cols, 4, 3, top_m=5)
    got = {(int(d), int(s)): round(float(x), 6) for s, d, x in zip(src, dst, w)}
    assert got == {
        (0, 1): round(2 / np.sqrt(2 * 3), 6),
        (1, 0): round(2 / np.sqrt(6), 6),
        (1, 2): round(1 / np.sqrt(3), 6),
        (2, 1): round(1 / np.sqrt(3), 6),
    }


def test_top_m_keeps_the_tightest_and_breaks_ties_by_id():
    # user 0 shares 2 items with user 1, 1 item with users 2, 3 and 4 (all degree 1 -> equal cosines).
    rows = np.array([0, 0, 1, 1, 2, 3, 4])
    cols = np.array([0, 1, 0, 1, 0, 0, 0])
    src, dst, w = cosine_top_m(rows, cols, 5, 2, top_m=2)
    nb0 = src[dst == 0].tolist()
    assert nb0 == [1, 2]


def test_dense_and_sparse_paths_agree():
    import scipy.sparse as sp

    x = sp.random(40, 30, density=0.3, random_state=1, format="csr")
    x.data[:] = 1
    s = (x @ x.T).tocsr()
    s.sort_indices()
    inv = 1 / np.sqrt(np.maximum(np.diff(x.indptr), 1))
    for top in (1, 3, 50):
        for start, stop in ((0, 40), (10, 25)):  # a whole block and one starting past row 0
            block = s[start:stop]
            block.sort_indices()
            a = _top_dense(block, start, inv, top)
            b = _top_sparse(block, start, inv, top)
            for u, v in zip(a, b):
                np.testing.assert_allclose(u, v, rtol=1e-6)


def test_blocks_bound_memory_and_match_one_block():
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 300, 3000)
    cols = rng.integers(0, 100, 3000)
    one = cosine_top_m(rows, cols, 300, 100, top_m=7, block_mb=512)
    many = cosine_top_m(rows, cols, 300, 100, top_m=7, block_mb=1)
    for a, b in zip(one, many):
        np.testing.assert_allclose(a, b)


def test_info_idf_normalised_per_video():
    # video 0: tags 0, 1; video 1: tag 0; video 2: tag 0. tag 0 is common, tag 1 rare.
    video = np.array([0, 0, 1, 2])
    info = np.array([0, 1, 0, 0])
    w = info_tightness(video, info, n_videos=3, n_info=2)
    idf0, idf1 = np.log1p(3 / 3), np.log1p(3 / 1)
    np.testing.assert_allclose(w, [idf0 / (idf0 + idf1), idf1 / (idf0 + idf1), 1.0, 1.0], rtol=1e-6)


def test_column_cap_samples_large_columns_only():
    rng = np.random.default_rng(5)
    cols = np.concatenate([np.zeros(500, np.int64), np.ones(40, np.int64), np.full(7, 2)])
    rows = rng.permutation(len(cols)).astype(np.int64)
    r, c = cap_column_degree(rows, cols, 50, seed=0)
    assert np.bincount(c).tolist() == [50, 40, 7]
    small = np.isin(cols, [1, 2])
    assert sorted(r[c > 0].tolist()) == sorted(rows[small].tolist())  # untouched below the cap
    assert set(r[c == 0].tolist()) <= set(rows[cols == 0].tolist())
    again, _ = cap_column_degree(rows, cols, 50, seed=0)
    other, _ = cap_column_degree(rows, cols, 50, seed=1)
    assert np.array_equal(r, again) and not np.array_equal(r, other)


def test_cap_at_or_above_the_largest_degree_is_exact():
    rng = np.random.default_rng(2)
    rows, cols = rng.integers(0, 60, 800), rng.integers(0, 25, 800)
    exact = cosine_top_m(rows, cols, 60, 25, top_m=5)
    capped = cosine_top_m(rows, cols, 60, 25, top_m=5, max_degree=int(np.bincount(cols).max()))
    for a, b in zip(exact, capped):
        np.testing.assert_array_equal(a, b)
    tight = cosine_top_m(rows, cols, 60, 25, top_m=5, max_degree=10)
    assert not all(len(a) == len(b) and np.array_equal(a, b) for a, b in zip(exact, tight))
