"""Splits are seeded and per user; nothing held out reaches the graph or any tightness score."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import compose_prep, path_overrides, write_ml100k

from data_prep.pipeline import prepare
from data_prep.tightness import cosine_top_m
from gcfa_dgl.data import load_processed


def _prep(dirs, *extra):
    return load_processed(prepare(compose_prep(["dataset=ml100k", "dataset.negatives.num=10",
                                                *path_overrides(dirs), *extra])))


@pytest.fixture
def ml(dirs):
    write_ml100k(dirs["raw"], n_users=60, n_items=80, per_user=12, seed=5)
    return dirs


def _pairs(s):
    return set(zip(s.user.tolist(), s.item.tolist()))


def test_same_seed_same_split_and_negatives(ml, tmp_path):
    a = _prep(ml)
    other = {**ml, "processed": tmp_path / "elsewhere"}
    b = _prep(other)
    for name in ("train", "valid", "test"):
        assert _pairs(getattr(a, name)) == _pairs(getattr(b, name))
    np.testing.assert_array_equal(a.test.negatives, b.test.negatives)


def test_other_seed_other_split(ml):
    a = _prep(ml, "dataset.split.kind=ratio", "dataset.split.order=random")
    b = _prep(ml, "dataset.split.kind=ratio", "dataset.split.order=random", "dataset.split.seed=7")
    assert _pairs(a.test) != _pairs(b.test)
    assert a.path != b.path  # a changed setting is a new directory


def test_loo_temporal_holds_out_latest(ml):
    import pandas as pd

    d = _prep(ml)
    raw = pd.read_csv(ml["raw"] / "ml-100k" / "u.data", sep="\t", names=["u", "i", "r", "t"])
    latest = raw.sort_values("t").groupby("u").tail(1)
    ids = np.asarray(d.meta.item_ids)
    test = {(d.meta.user_ids[u], int(ids[i])) for u, i in zip(d.test.user, d.test.item)}
    assert test == set(zip(latest.u, latest.i))


def test_ratio_split_shares(ml):
    d = _prep(ml, "dataset.split.kind=ratio")
    per_user = np.bincount(d.test.user)
    assert (per_user == 1).all()  # 12 interactions: floor(1.2) = 1 each
    assert len(d.train.user) == 60 * 10


def test_no_heldout_interaction_in_graph(ml):
    d = _prep(ml, "dataset.split.kind=ratio")
    g = d.graph
    edges = set(zip(*(t.tolist() for t in g.edges(etype="rates"))))
    assert edges == _pairs(d.train)
    assert not edges & (_pairs(d.valid) | _pairs(d.test))
    rev = set(zip(*(t.tolist() for t in reversed(g.edges(etype="rated_by")))))
    assert rev == edges


def test_similarity_tightness_from_train_only(ml):
    d = _prep(ml, "dataset.split.kind=ratio")
    g = d.graph
    n_u, n_v = d.n_users, d.n_videos
    for etype, (rows, cols, n_rows, n_cols) in {
        "similar": (d.train.user, d.train.item, n_u, n_v),
        "co_watched": (d.train.item, d.train.user, n_v, n_u),
    }.items():
        src, dst = (t.numpy() for t in g.edges(etype=etype))
        w = g.edges[etype].data["tightness"].numpy()
        ref_src, ref_dst, ref_w = cosine_top_m(rows, cols, n_rows, n_cols, top_m=20)
        got = sorted(zip(dst.tolist(), src.tolist(), np.round(w, 6).tolist()))
        ref = sorted(zip(ref_dst.tolist(), ref_src.tolist(), np.round(ref_w, 6).tolist()))
        assert got == ref
        # Brute force over TRAIN: each weight is the cosine of the binary train vectors.
        x = np.zeros((n_rows, n_cols))
        x[rows, cols] = 1
        norm = np.linalg.norm(x, axis=1)
        cos = (x @ x.T) / np.outer(norm, norm)
        np.testing.assert_allclose(w, cos[dst, src], rtol=1e-5)


def test_heldout_pairs_change_nothing_in_the_graph(ml, tmp_path):
    """Adding interactions that land in valid/test must leave graph and tightness unchanged."""
    import shutil

    d1 = _prep(ml)
    raw2 = tmp_path / "raw2"
    shutil.copytree(ml["raw"], raw2)
    data = (raw2 / "ml-100k" / "u.data").read_text().splitlines()
    # A new latest interaction per user (temporal loo puts it in test; the old test moves to valid).
    extra = [f"{u}\t{80 + u}\t5\t999999999" for u in range(1, 61)]
    (raw2 / "ml-100k" / "u.data").write_text("\n".join(data + extra) + "\n")
    d2 = load_processed(prepare(compose_prep(["dataset=ml100k", "dataset.negatives.num=10",
                                             f"paths.raw_dir={raw2}", f"paths.processed_dir={tmp_path / 'p2'}",
                                             "paths.verify_checksums=false"])))
    # The new pairs are all test interactions of brand-new videos: none may appear as an edge,
    # and the new videos may have no co-watched neighbours at all.
    e2 = set(zip(*(t.tolist() for t in d2.graph.edges(etype="rates"))))
    assert e2 == _pairs(d2.train)
    new_items = {int(np.searchsorted(d2.meta.item_ids, 80 + u)) for u in range(1, 61)}
    assert not {v for _, v in e2} & new_items
    src, dst = d2.graph.edges(etype="co_watched")
    assert not (set(src.tolist()) | set(dst.tolist())) & new_items
    assert d1.meta.fingerprint != d2.meta.fingerprint


def test_negatives_are_unseen_and_distinct(ml):
    d = _prep(ml, "dataset.split.kind=ratio")
    seen = _pairs(d.train) | _pairs(d.valid) | _pairs(d.test)
    for s in (d.valid, d.test):
        for u, row in zip(s.user.tolist(), s.negatives.tolist()):
            assert len(set(row)) == len(row)
            assert not any((u, v) in seen for v in row)


def test_degree_order_relabels_the_same_splits_and_negatives(tmp_path):
    """dataset.node_order=degree renumbers nodes, most train interactions first, after the split:
    every split holds the same (raw user, raw video) interactions and each negative the same raw
    video as with raw-id order."""
    from gcfa_dgl.data import load_processed

    common = ["dataset=synthetic", "dataset.synthetic.n_users=150", "dataset.synthetic.n_items=90",
              "dataset.synthetic.n_interactions=3000", "dataset.negatives.num=10", f"paths.processed_dir={tmp_path}"]
    raw = load_processed(prepare(compose_prep([*common, "dataset.node_order=raw"])))
    deg = load_processed(prepare(compose_prep([*common, "dataset.node_order=degree"])))
    assert raw.path != deg.path  # its own fingerprint

    def pairs(d, split):
        s = getattr(d, split)
        u, v = np.asarray(d.meta.user_ids), np.asarray(d.meta.item_ids)
        return sorted(zip(u[s.user].tolist(), v[s.item].tolist())), sorted(zip(u[s.user].tolist(), v[s.negatives].tolist())) \
            if s.negatives is not None else None

    for split in ("train", "valid", "test"):
        assert pairs(raw, split) == pairs(deg, split), split
    counts = np.bincount(deg.train.user, minlength=deg.n_users)
    assert (np.diff(counts) <= 0).all() and (np.diff(np.bincount(deg.train.item, minlength=deg.n_videos)) <= 0).all()
