"""Defects of bad input, interruptions and reproducibility that docs/reliability.md lists (input
files with a single fault are in tests/corpus/ and run by tests/test_corpus.py)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, run_module, write_table
from omegaconf import open_dict

from data_prep.store import _host
from gcfa_dgl.data import load_processed
from gcfa_dgl.factory import make_sampler
from gcfa_dgl.runs import load_run
from gcfa_dgl.seeding import seed_all

pytestmark = pytest.mark.slow

TINY = ["experiment=tiny_synthetic", "train.tensorboard=false"]


def processed_dirs(root: Path) -> list[Path]:
    return [p.parent for p in root.rglob("meta.json")]


def ratings_csv(path: Path, header=("user", "item", "rating", "timestamp"), negative: bool = False) -> Path:
    """12 users x 8 videos each, ratings 1-5 (or -2..5), timestamps rising with the video."""
    rows = []
    for u in range(12):
        for j in range(8):
            v = (u * 3 + j * 5) % 30
            r = (u + j) % 5 + 1 if not negative else (u + j) % 8 - 2
            rows.append((u, v, r, 1000 + 10 * j + u))
    return write_table(path, rows, header)


def test_a_negative_rating_scale_is_rescaled_and_trains(tmp_path):
    """dataset.rating_range with a negative minimum maps ratings to tightness in [0, 1]; the
    prepared dataset then trains (it used to fail at the first weighted draw)."""
    ratings_csv(tmp_path / "raw" / "r.csv", negative=True)
    common = ["dataset=csv", "dataset.path=r.csv", "dataset.rating_range=[-2,5]", "dataset.negatives.num=5",
              f"paths.raw_dir={tmp_path / 'raw'}", f"paths.processed_dir={tmp_path / 'p'}"]
    r = run_module("gcfa_dgl.train", *common, "train.epochs=1", "model.dim=8", "train.tensorboard=false",
                   "eval.ks_sampled=[1,2]", f"hydra.run.dir={tmp_path / 'run'}")
    assert r.returncode == 0, r.stderr[-2000:]
    g = load_processed(processed_dirs(tmp_path / "p")[0]).graph
    t = g.edges["rates"].data["tightness"]
    rating = g.edges["rates"].data["rating"]
    assert torch.allclose(t, (rating + 2) / 7) and t.min() >= 0 and t.max() <= 1


@pytest.mark.parametrize("override, key, hint", [("+train.lr=-1", "train.lr", "model.lr"),
                                                 ("+eval.k=[100000]", "eval.k", "eval.ks_full"),
                                                 ("+model.attention_dims=8", "model.attention_dims", "model.attention_dim")])
def test_an_unknown_key_fails_with_or_without_plus(override, key, hint, tiny_processed, tmp_path):
    r = run_module("gcfa_dgl.train", *TINY, f"paths.processed_dir={tiny_processed}", f"hydra.run.dir={tmp_path}",
                   override)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    err = r.stderr.strip().splitlines()[-1]
    assert f"config key {key}: unknown" in err and hint in err, err
    assert not (tmp_path / "last.pt").exists()


def test_a_schema_is_not_among_a_groups_options(tmp_path):
    r = run_module("gcfa_dgl.train", "dataset=base_dataset", f"hydra.run.dir={tmp_path}")
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    options = r.stderr.split("Available options in 'dataset':", 1)[1].split("Config search path")[0].split()
    assert "ml100k" in options and not any(o.startswith("base_") for o in options), options


def test_a_killed_preparations_staging_folder_is_removed_by_the_next_run(tmp_path):
    """A staging folder whose process is gone (kill -9 mid-write) is removed; one whose process
    still runs (a concurrent preparation) is kept."""
    target = tmp_path / "p" / "synthetic"
    target.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = target / f".0123456789abcdef.{_host()}-{dead.pid}-x1y2z3.building"
    live = target / f".0123456789abcdef.{_host()}-{os.getpid()}-a1b2c3.building"
    for d in (stale, live):
        d.mkdir()
        (d / "graph.bin").write_bytes(b"partial")
    r = run_module("data_prep", "dataset=synthetic", "dataset.synthetic.n_users=100", "dataset.synthetic.n_items=80",
                   "dataset.synthetic.n_interactions=2000", "dataset.negatives.num=5", f"paths.processed_dir={tmp_path / 'p'}")
    assert r.returncode == 0, r.stderr[-2000:]
    assert not stale.exists() and live.exists()
    assert f"removed {stale}" in r.stdout + r.stderr
    assert socket.gethostname()  # the folder names carry this machine's name


def test_a_k_above_the_videos_fails_before_the_dataset_is_built(tmp_path):
    r = run_module("gcfa_dgl.train", *TINY, "eval.ks_full=[20,100000]", f"paths.processed_dir={tmp_path / 'p'}",
                   f"hydra.run.dir={tmp_path / 'run'}")
    assert r.returncode == 2 and "config key eval.ks_full: K=100000 exceeds the 200 videos" in r.stderr, r.stderr
    assert processed_dirs(tmp_path / "p") == [] and not list((tmp_path / "p").rglob("*.building"))


def test_a_tables_conventional_rating_and_timestamp_columns_are_read(tmp_path):
    """A header `user,item,rating,timestamp` is explicit feedback split by time, without naming
    the columns; '' ignores a column."""
    ratings_csv(tmp_path / "raw" / "r.csv")
    common = ["dataset=csv", "dataset.path=r.csv", "dataset.negatives.num=5", f"paths.raw_dir={tmp_path / 'raw'}"]
    r = run_module("data_prep", *common, f"paths.processed_dir={tmp_path / 'a'}")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "rating          rating" in r.stdout and "timestamp    timestamp" in r.stdout  # the summary says so
    data = load_processed(processed_dirs(tmp_path / "a")[0])
    assert data.meta.columns == {"user": "user", "item": "item", "rating": "rating", "timestamp": "timestamp"}
    assert not data.meta.implicit and data.meta.rating_values == [1.0, 2.0, 3.0, 4.0, 5.0]
    with np.load(processed_dirs(tmp_path / "a")[0] / "splits.npz") as z:  # leave-one-out by time: test is each user's latest
        assert all(z["test_timestamp"][i] > z["train_timestamp"][z["train_user"] == u].max()
                   for i, u in enumerate(z["test_user"]))
    r = run_module("data_prep", *common, "dataset.columns.rating=''", f"paths.processed_dir={tmp_path / 'b'}")
    assert r.returncode == 0, r.stderr[-2000:]
    assert load_processed(processed_dirs(tmp_path / "b")[0]).meta.implicit


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_output_follows_the_umask(umask, tmp_path):
    out = tmp_path / "run"
    code = (f"import os, runpy, sys; os.umask({umask}); sys.argv = ['train', *sys.argv[1:]]; "
            "runpy.run_module('gcfa_dgl.train', run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code, *TINY, "train.epochs=1", f"paths.processed_dir={tmp_path / 'p'}",
                        f"hydra.run.dir={out}"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    modes = {}
    for root in (out, tmp_path / "p"):
        for p in [root, *root.rglob("*")]:
            modes[p] = stat.S_IMODE(p.stat().st_mode)
    want_file, want_dir = 0o666 & ~umask, 0o777 & ~umask
    wrong = {str(p): oct(m) for p, m in modes.items() if m != (want_dir if p.is_dir() else want_file)}
    assert not wrong, wrong
    assert {"metrics.json", "best.pt", "last.pt", "timing.json", "curves.png", "graph.bin", "meta.json"} <= \
        {p.name for p in modes}


def test_jobs_of_one_multirun_equal_the_same_jobs_run_alone(tiny_processed, tmp_path):
    """Three different models in one process (two threads, batches large enough for torch's
    parallel kernels), each byte-identical to its run in a process of its own."""
    common = [*TINY, f"paths.processed_dir={tiny_processed}", "train.threads=2", "train.epochs=2",
              "sampler.batch_size=1024", "model.dim=32"]
    r = run_module("gcfa_dgl.train", "-m", *common, "model=bpr,lightgcn,gcfa", f"hydra.sweep.dir={tmp_path / 'multi'}")
    assert r.returncode == 0, r.stderr[-3000:]
    for i, model in enumerate(("bpr", "lightgcn", "gcfa")):
        alone = tmp_path / model
        r = run_module("gcfa_dgl.train", *common, f"model={model}", f"hydra.run.dir={alone}")
        assert r.returncode == 0, r.stderr[-3000:]
        multi = tmp_path / "multi" / f"{i}_{model}_seed0"
        assert (multi / "metrics.json").read_bytes() == (alone / "metrics.json").read_bytes(), model


def metrics_under_tie_orders(run: Path, ties: str) -> list[dict[str, float]]:
    """Test metrics of a run's best checkpoint with its evaluation neighbourhoods chosen under two
    different orders of equally tight neighbours."""
    loaded = load_run(run)
    out = []
    for seed in (0, 1):
        with open_dict(loaded.cfg):
            loaded.cfg.sampler.eval_ties, loaded.cfg.sampler.tie_seed = ties, seed
        sampler = make_sampler(loaded.cfg, loaded.data, loaded.model, train=False)
        seed_all(0)
        res = loaded.evaluator.evaluate(loaded.model, sampler, "test", ["sampled", "full"])
        out.append({k: v for k, v in res.items() if k != "buckets"})
    return out


def test_evaluation_does_not_depend_on_the_order_of_ties(tmp_path):
    """Implicit data, where every user-video edge is equally tight: with `eval_ties=all` (the
    default) two tie orders give the same metrics; keeping k of them by a hash order does not."""
    rows = [(u, (u * 7 + 3 * j) % 60) for u in range(80) for j in range(12)]
    write_table(tmp_path / "raw" / "r.csv", rows, ("user", "item"))
    run = tmp_path / "run"
    r = run_module("gcfa_dgl.train", "dataset=csv", "dataset.path=r.csv", "dataset.negatives.num=20",
                   f"paths.raw_dir={tmp_path / 'raw'}", f"paths.processed_dir={tmp_path / 'p'}", "model.dim=16",
                   "sampler.fanouts=[3]", "train.epochs=2", "train.tensorboard=false", "eval.ks_sampled=[1,5]",
                   f"hydra.run.dir={run}")
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = metrics_under_tie_orders(run, "all")
    assert all(abs(a[k] - b[k]) <= 1e-6 for k in a), {k: (a[k], b[k]) for k in a if abs(a[k] - b[k]) > 1e-6}
    h0, h1 = metrics_under_tie_orders(run, "hash")
    assert any(abs(h0[k] - h1[k]) > 1e-4 for k in h0)  # the defect the rule removes


@pytest.mark.shared
def test_tiktok_gcfa_evaluation_does_not_depend_on_the_order_of_ties(tmp_path):
    if not (Path(os.environ.get("GCFA_RAW_DIR", "/nonexistent")) / "tiktok-mmssl").is_dir():
        pytest.skip("GCFA_RAW_DIR does not hold tiktok-mmssl")
    run = tmp_path / "run"
    r = run_module("gcfa_dgl.train", "experiment=table1", "dataset=tiktok", "train.epochs=1", "train.max_batches=20",
                   "eval.full_auc=false", f"paths.processed_dir={tmp_path / 'p'}", f"hydra.run.dir={run}")
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = metrics_under_tie_orders(run, "all")
    assert all(abs(a[k] - b[k]) <= 1e-6 for k in a), {k: (a[k], b[k]) for k in a if abs(a[k] - b[k]) > 1e-6}
    assert json.loads((run / "metrics.json").read_text())["test"]["full/ndcg@20"] == pytest.approx(a["full/ndcg@20"], abs=1e-6)
