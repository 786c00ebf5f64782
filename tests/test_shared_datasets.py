"""The real datasets (GCFA_RAW_DIR, which CI points at the shared raw folder) through `make data`'s
entry point. Skipped where the folder is absent."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest
from conftest import run_module

from gcfa_dgl.data import load_processed

pytestmark = [pytest.mark.shared, pytest.mark.slow]


def _raw(sub: str) -> Path:
    raw = os.environ.get("GCFA_RAW_DIR")
    if not raw or not (Path(raw) / sub).is_dir():
        pytest.skip(f"GCFA_RAW_DIR does not hold {sub}/")
    return Path(raw)


def _prepare(tmp_path: Path, dataset: str, *extra: str):
    raw = _raw({"ml100k": "ml-100k", "ml1m_notime": "ml-1m", "tiktok": "tiktok-mmssl"}[dataset])
    r = run_module("data_prep", f"dataset={dataset}", f"paths.raw_dir={raw}",
                   f"paths.processed_dir={tmp_path}", "paths.download=false", *extra)
    assert r.returncode == 0, r.stderr[-2000:]
    out = Path(r.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    return load_processed(out), r


def test_ml100k_counts(tmp_path):
    d, r = _prepare(tmp_path, "ml100k")
    c = d.meta.counts
    assert (c.interactions, c.users, c.videos, c.info) == (100_000, 943, 1_682, 19)
    assert c.valid == c.test == 943
    assert d.graph.num_nodes("info") == 19
    assert "user-similar-user" in r.stdout  # the summary table


def test_ml1m_ratings_notime_through_csv(tmp_path):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    d, _ = _prepare(tmp_path, "ml1m_notime")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    c = d.meta.counts
    assert (c.interactions, c.users, c.videos) == (1_000_209, 6_040, 3_706)
    assert c.info == 18  # the genres of movies.dat
    assert c.train + c.valid + c.test == 1_000_209
    # Peak RSS of the largest child so far (an upper bound on this one's) stays under 3 GB.
    assert max(peak_kb, before) < 3 * 1024 * 1024


def test_tiktok_split_kept_as_given(tmp_path):
    d, _ = _prepare(tmp_path, "tiktok")
    c = d.meta.counts
    assert (c.train, c.valid, c.test) == (59_541, 3_051, 6_130)
    assert (c.users, c.videos) == (9_308, 6_710)
    assert d.meta.video_feature_dim == 256


def test_short_gcfa_run_on_ml100k(tmp_path):
    """A short real-data training through the entry point: one capped epoch, both protocols."""
    raw = _raw("ml-100k")
    run = tmp_path / "run"
    r = run_module("gcfa_dgl.train", "experiment=quick_ml100k", f"paths.raw_dir={raw}",
                   f"paths.processed_dir={tmp_path / 'p'}", "paths.download=false", "train.epochs=1",
                   "train.max_batches=20", "train.tensorboard=false", f"hydra.run.dir={run}")
    assert r.returncode == 0, r.stderr[-2000:]
    import json

    m = json.loads((run / "metrics.json").read_text())
    assert m["test"]["sampled/auc"] > 0.7  # random ranking: 0.5
    assert 0 < m["test"]["full/ndcg@20"] < 1
    buckets = m["buckets"]["test"]["sampled"]
    assert sum(b["users"] for b in buckets.values()) == 943
    assert "<=5" not in buckets  # every ML-100K user has >= 20 ratings, so >= 18 in train
