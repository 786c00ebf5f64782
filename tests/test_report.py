"""The report command on small generated run directories."""

from __future__ import annotations

import json

from conftest import run_module


def fake_run(root, name, model, seed, value, secs):
    d = root / name
    d.mkdir(parents=True)
    m = {"model": model, "dataset": "toy", "seed": seed, "best_epoch": 2,
         "valid": {"full/ndcg@20": value}, "test": {"full/ndcg@20": value, "sampled/auc": 0.5 + value}}
    (d / "metrics.json").write_text(json.dumps(m))
    (d / "timing.json").write_text(json.dumps({"epoch_seconds": secs}))


def test_mean_and_std_per_model(tmp_path):
    fake_run(tmp_path, "a", "gcfa", 0, 0.10, [10, 20])
    fake_run(tmp_path, "b", "gcfa", 1, 0.20, [30])
    fake_run(tmp_path, "c", "pop", 0, 0.05, [])
    r = run_module("gcfa_dgl.report", str(tmp_path), "--metrics", "full/ndcg@20", "sampled/auc",
                   "--csv", str(tmp_path / "t.csv"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    gcfa = next(line for line in lines if line.startswith("| gcfa"))
    assert gcfa == "| gcfa | 2 | 0.1500 ± 0.0707 | 0.6500 ± 0.0707 | 22 |"  # epoch seconds: mean of 15 and 30
    assert next(line for line in lines if line.startswith("| pop")) == "| pop | 1 | 0.0500 | 0.5500 | – |"
    assert (tmp_path / "t.csv").read_text().count("\n") == 7  # header + 6 (run, metric) rows


def test_no_runs_is_a_clear_error(tmp_path):
    r = run_module("gcfa_dgl.report", str(tmp_path))
    assert r.returncode != 0 and "no metrics.json" in r.stderr
