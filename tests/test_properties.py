"""Property-based tests (hypothesis) of the metric functions and the table loaders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from data_prep.errors import DataError
from data_prep.tables import float_values, int_ids, read_table
from gcfa_dgl.metrics import full_metrics, sampled_metrics

scores_rows = st.lists(st.lists(st.integers(0, 5), min_size=4, max_size=12), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(scores_rows, st.integers(0, 10_000))
def test_sampled_metrics_bounded_and_order_invariant(rows, seed):
    width = min(len(r) for r in rows)
    s = torch.tensor([r[:width] for r in rows], dtype=torch.float32)
    m = sampled_metrics(s, [1, 2, 3])
    for v in m.values():
        assert torch.all((v >= -1e-12) & (v <= 1 + 1e-12))
    assert torch.all(m["hr@1"] <= m["hr@2"] + 1e-12) and torch.all(m["hr@2"] <= m["hr@3"] + 1e-12)
    perm = torch.randperm(width - 1, generator=torch.Generator().manual_seed(seed)) + 1
    shuffled = torch.cat([s[:, :1], s[:, perm]], dim=1)
    for k, v in sampled_metrics(shuffled, [1, 2, 3]).items():
        assert torch.allclose(v, m[k])
    for k, v in sampled_metrics(s * 2 + 7, [1, 2, 3]).items():  # monotone transform
        assert torch.allclose(v, m[k])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(5, 25), st.integers(0, 10_000))
def test_full_metrics_bounded_and_monotone_in_k(n_users, n_items, seed):
    rng = np.random.default_rng(seed)
    scores = torch.as_tensor(rng.integers(0, 4, size=(n_users, n_items)).astype(np.float32))
    pos = torch.full((n_users, 3), -1)
    for u in range(n_users):
        chosen = rng.choice(n_items, size=rng.integers(1, 4), replace=False)
        pos[u, : len(chosen)] = torch.as_tensor(chosen)
    m = full_metrics(scores, pos, [1, 3, n_items])
    for v in m.values():
        assert torch.all((v >= -1e-12) & (v <= 1 + 1e-12))
    assert torch.all(m["recall@1"] <= m["recall@3"] + 1e-12)
    assert torch.allclose(m[f"recall@{n_items}"], torch.ones(n_users, dtype=torch.float64))
    fast = full_metrics(scores, pos, [1, 3, n_items], auc=False)
    assert set(fast) == set(m) - {"auc", "mrr"}
    for k, v in fast.items():  # the top-k path gives exactly the sorting path's values
        assert torch.equal(v, m[k]), k


ids = st.integers(0, 10**6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(ids, ids, st.integers(1, 5)), min_size=1, max_size=30))
def test_integer_tables_round_trip(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("t") / "t.csv"
    pd.DataFrame(rows, columns=["user", "item", "rating"]).to_csv(path, index=False)
    df, _ = read_table(path)
    assert int_ids(df, "user", path).tolist() == [r[0] for r in rows]
    assert float_values(df, "rating", path, [1, 5]).tolist() == [float(r[2]) for r in rows]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8), min_size=1, max_size=10))
def test_arbitrary_tokens_give_a_data_error_or_parse(tmp_path_factory, tokens):
    """Whatever the cell contents, reading ids either works or raises DataError, nothing else."""
    path = tmp_path_factory.mktemp("t") / "t.csv"
    body = "\n".join(f"{t.replace(',', ' ').replace(chr(10), ' ').replace(chr(13), ' ')},1" for t in tokens)
    path.write_text("user,item\n" + body + "\n", encoding="utf-8")
    try:
        df, _ = read_table(path)
        int_ids(df, "user", path)
    except DataError:
        pass
