"""Every source format parsed from small files written here, through the real pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import compose_prep, path_overrides, write_ml100k, write_table

from data_prep.pipeline import prepare
from gcfa_dgl.data import load_processed


def test_ml100k_format(dirs):
    write_ml100k(dirs["raw"], n_users=30, n_items=40, per_user=8)
    out = prepare(compose_prep(["dataset=ml100k", "dataset.negatives.num=5", *path_overrides(dirs)]))
    d = load_processed(out)
    c = d.meta.counts
    assert (c.users, c.interactions) == (30, 240)
    assert c.train + c.valid + c.test == 240
    assert c.valid == c.test == 30  # loo: one each per user
    assert d.meta.info_names == sorted(["Action", "Comedy", "Drama", "unknown"])
    assert d.meta.rating_values == [1.0, 2.0, 3.0, 4.0, 5.0]
    g = d.graph
    assert set(g.ntypes) == {"user", "video", "info"}
    assert g.num_edges("rates") == c.train
    items = pd.read_csv(out / "items.csv")
    assert items.loc[0, "title"].startswith("Film")


def test_ml1m_format_latin1_and_double_colon(dirs):
    d = dirs["raw"] / "ml-1m"
    d.mkdir()
    rng = np.random.default_rng(1)
    rows = []
    for u in range(1, 21):
        for m in rng.choice([1, 2, 3, 5, 8, 13, 21, 34], 5, replace=False):
            rows.append(f"{u}::{m}::{rng.integers(1, 6)}::{978300000 + rng.integers(0, 9999)}")
    (d / "ratings.dat").write_text("\n".join(rows) + "\n")
    movies = [f"{m}::Misérables {m} (1995)::Drama|Comedy" for m in [1, 2, 3, 5, 8, 13, 21, 34]]
    (d / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))
    out = prepare(compose_prep(["dataset=ml1m", "dataset.negatives.num=2", *path_overrides(dirs)]))
    data = load_processed(out)
    assert data.meta.counts.interactions == 100
    assert data.meta.info_names == ["Comedy", "Drama"]
    assert "Misérables" in (out / "items.csv").read_text(encoding="utf-8")


def test_amazon_format_string_ids_and_min_filter(dirs):
    rows = []
    for u in range(12):
        n = 6 if u < 8 else 3  # users 8..11 fall under the 5-interaction minimum
        rows += [(f"A{u:03d}X", f"B0{u + i:02d}", 5.0 if i % 2 else 3.0, 1300000000 + 10 * i) for i in range(n)]
    write_table(dirs["raw"] / "amazon" / "ratings_Amazon_Instant_Video.csv", rows, None)
    out = prepare(compose_prep(["dataset=amazon_video", "dataset.negatives.num=1", *path_overrides(dirs)]))
    data = load_processed(out)
    assert data.meta.counts.users == 8
    assert data.meta.user_ids[0] == "A000X"
    assert "info" not in data.graph.ntypes


def test_tiktok_format_given_split_and_features(dirs):
    base = dirs["raw"] / "tiktok-mmssl"
    rng = np.random.default_rng(2)
    n_users, n_items = 15, 12
    pairs = {(u, i) for u in range(n_users) for i in rng.choice(n_items, 6, replace=False)}
    pairs = sorted(pairs)
    train = [p for k, p in enumerate(pairs) if k % 6 not in (0, 1)]
    val = [p for k, p in enumerate(pairs) if k % 6 == 0]
    test = [p for k, p in enumerate(pairs) if k % 6 == 1]
    for name, rows in (("train", train), ("val", val), ("test", test)):
        write_table(base / "derived" / f"interactions_{name}.tsv", rows, ("user", "item"), sep="\t")
    np.save(base / "image_feat.npy", rng.normal(size=(n_items, 4)).astype(np.float16))
    np.save(base / "audio_feat.npy", rng.normal(size=(n_items, 3)).astype(np.float16))
    out = prepare(compose_prep(["dataset=tiktok", "dataset.negatives.num=3", *path_overrides(dirs)]))
    data = load_processed(out)
    c = data.meta.counts
    assert (c.train, c.valid, c.test) == (len(train), len(val), len(test))
    assert data.meta.implicit
    assert tuple(data.graph.nodes["video"].data["feat"].shape) == (n_items, 7)


def _ratings_rows(n_users=25, n_items=30, per_user=6, seed=3):
    rng = np.random.default_rng(seed)
    return [
        (u, i, int(rng.integers(1, 6)), 1000 + k)
        for u in range(1, n_users + 1)
        for k, i in enumerate(rng.choice(np.arange(100, 100 + n_items), per_user, replace=False))
    ]


def test_csv_tsv_and_parquet_give_the_same_dataset(dirs):
    rows = _ratings_rows()
    cols = ("uid", "vid", "stars", "ts")
    write_table(dirs["raw"] / "t.csv", rows, cols)
    write_table(dirs["raw"] / "t.tsv", rows, cols, sep="\t")
    pd.DataFrame(rows, columns=list(cols)).to_parquet(dirs["raw"] / "t.parquet")
    common = [
        "dataset=csv",
        "dataset.columns.user=uid",
        "dataset.columns.item=vid",
        "dataset.columns.rating=stars",
        "dataset.columns.timestamp=ts",
        "dataset.rating_range=[1,5]",
        "dataset.negatives.num=5",
        *path_overrides(dirs),
    ]
    loaded = [load_processed(prepare(compose_prep([*common, f"dataset.path=t.{ext}"]))) for ext in ("csv", "tsv", "parquet")]
    for d in loaded[1:]:
        np.testing.assert_array_equal(d.test.item, loaded[0].test.item)
        np.testing.assert_array_equal(d.valid.negatives, loaded[0].valid.negatives)
        assert d.meta.counts == loaded[0].meta.counts


def test_csv_with_item_side_information_keyed_apart(dirs):
    """The ml-1m ratings_notime layout: item_index is the id, movie_id keys the genres."""
    rows = [(u, i, (i * 7) if i != 3 else "", 1 + (u + i) % 5) for u in range(1, 11) for i in range(1, 7) if (u + i) % 3]
    write_table(dirs["raw"] / "r.csv", rows, ("user_id", "item_index", "movie_id", "rating"))
    movies = [f"{i * 7}::Movie {i}::{'Drama' if i % 2 else 'Comedy|Drama'}" for i in range(1, 7)]
    (dirs["raw"] / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))
    out = prepare(
        compose_prep(
            [
                "dataset=ml1m_notime",
                "dataset.path=r.csv",
                "dataset.item_info.path=movies.dat",
                "dataset.negatives.num=2",
                *path_overrides(dirs),
            ]
        )
    )
    d = load_processed(out)
    g = d.graph
    assert d.meta.info_names == ["Comedy", "Drama"]
    # item_index 3 has no movie_id: it gets no info edge; the others one or two.
    videos_with_info = set(g.edges(etype="has")[0].tolist())
    assert videos_with_info == {0, 1, 3, 4, 5}
    assert g.num_edges("has") == 2 * 1 + 3 * 2  # ids 1, 5: Drama; ids 2, 4, 6: Comedy and Drama


def test_synthetic_is_seeded_and_power_law(dirs):
    over = ["dataset=synthetic", "dataset.synthetic.n_users=400", "dataset.synthetic.n_items=300",
            "dataset.synthetic.n_interactions=8000", *path_overrides(dirs)]
    a = load_processed(prepare(compose_prep(over)))
    assert a.meta.counts.interactions == 8000
    deg = np.bincount(np.concatenate([a.train.item, a.valid.item, a.test.item]))
    top = np.sort(deg)[::-1]
    assert deg.max() > 4 * np.median(deg)  # heavy head
    assert top[: len(top) // 10].sum() > 0.25 * deg.sum()
    b = load_processed(prepare(compose_prep([*over, "dataset.synthetic.seed=1"])))
    assert not np.array_equal(a.train.item, b.train.item)
