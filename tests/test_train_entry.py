"""Tiny trainings through the real entry point: learning, determinism, resume, signals, CLIs."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, commands, run_module

from gcfa_dgl.config import register_configs

register_configs()

pytestmark = pytest.mark.slow


def train(tmp: Path, name: str, *overrides: str, processed: Path):
    out = tmp / name
    r = run_module("gcfa_dgl.train", "experiment=tiny_synthetic", f"hydra.run.dir={out}",
                   f"paths.processed_dir={processed}", *overrides)
    return r, out


@pytest.fixture(scope="module")
def processed(tiny_processed):
    return tiny_processed


@pytest.fixture(scope="module")
def trained(tmp_path_factory, processed):
    tmp = tmp_path_factory.mktemp("runs")
    r, out = train(tmp, "a", processed=processed)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_training_learns_and_writes_its_run_directory(trained):
    m = metrics(trained)
    # Random scoring gives 0.5 with a standard error near 0.02 here (300 users, one held-out video
    # each among 49 negatives); four epochs land between 0.73 and 0.82 over seeds and scopes.
    assert m["valid"]["sampled/auc"] > 0.65
    assert m["test"]["full/recall@20"] > 0
    assert [h["epoch"] for h in m["history"]] == [1, 2, 3, 4]
    assert m["history"][-1]["loss"] < m["history"][0]["loss"]
    for f in ("best.pt", "last.pt", "curves.png", "timing.json", ".hydra/config.yaml"):
        assert (trained / f).exists(), f
    assert set(m["buckets"]["test"]["full"]) <= {"<=5", "6-20", ">20"}
    timing = json.loads((trained / "timing.json").read_text())
    assert len(timing["epoch_seconds"]) == 4 and all(s > 0 for s in timing["epoch_seconds"])
    assert timing["sampler_scope"] in ("blocks", "graph")  # auto, as resolved


def test_beats_popularity(trained, processed, tmp_path):
    r, pop = train(tmp_path, "pop", "model=pop", processed=processed)
    assert r.returncode == 0, r.stderr[-2000:]
    assert metrics(trained)["test"]["sampled/auc"] > metrics(pop)["test"]["sampled/auc"]


def test_same_seed_same_metrics(trained, processed, tmp_path):
    r, again = train(tmp_path, "again", processed=processed)
    assert r.returncode == 0
    assert (again / "metrics.json").read_bytes() == (trained / "metrics.json").read_bytes()


def test_resume_equals_uninterrupted(trained, processed, tmp_path):
    r, run = train(tmp_path, "resumed", "train.epochs=1", processed=processed)
    assert r.returncode == 0
    r = run_module("gcfa_dgl.train", "experiment=tiny_synthetic", f"hydra.run.dir={run}",
                   f"paths.processed_dir={processed}", "train.epochs=4", "train.resume=true")
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = metrics(trained), metrics(run)
    assert a == b


def test_sigterm_mid_epoch_exits_cleanly_and_resumes(processed, tmp_path):
    run, ref = tmp_path / "killed", tmp_path / "ref"
    # Small batches, so that a kill lands mid-epoch and a resume meets many fresh samples.
    common = ["experiment=tiny_synthetic", f"paths.processed_dir={processed}", "sampler.batch_size=16",
              "train.max_batches=80", "train.epochs=2"]
    p = subprocess.Popen([sys.executable, "-m", "gcfa_dgl.train", *common, f"hydra.run.dir={run}"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (run / "last.pt").exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)  # into epoch 2
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-2000:]
    assert "SIGTERM" in err and "train.resume=true" in err
    assert "Traceback" not in err
    assert len(metrics_history_of(run)) == 1  # the finished epoch is kept
    r = run_module("gcfa_dgl.train", *common, f"hydra.run.dir={run}", "train.resume=true")
    assert r.returncode == 0, r.stderr[-2000:]
    r = run_module("gcfa_dgl.train", *common, f"hydra.run.dir={ref}")
    assert r.returncode == 0
    assert metrics(run) == metrics(ref)


def metrics_history_of(run: Path) -> list:
    import torch

    return torch.load(run / "last.pt", weights_only=True)["history"]


def readme_command(module: str, **replace: str) -> list[str]:
    """The arguments of the README's quick-start line for `module`, with its placeholders replaced."""
    line = next(c for c in commands(ROOT / "README.md") if c.startswith(f"python -m {module} "))
    for old, new in replace.items():
        line = line.replace(old, new)
    return shlex.split(line)[3:]


def test_evaluate_recommend_and_report_clis_as_the_readme_writes_them(trained, processed, tmp_path):
    run_dir = {"outputs/ml100k/gcfa/<time>": str(trained)}
    r = run_module("gcfa_dgl.evaluate", *readme_command("gcfa_dgl.evaluate", **run_dir))
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)
    assert res["sampled/auc"] == pytest.approx(metrics(trained)["test"]["sampled/auc"])
    r = run_module("gcfa_dgl.recommend", *readme_command("gcfa_dgl.recommend", **run_dir, **{"user=196": "user=0"}))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "title" in r.stdout and len(r.stdout.strip().splitlines()) == 11  # header and k=10 videos
    r = run_module("gcfa_dgl.report", *readme_command("gcfa_dgl.report", **{"multirun/": str(trained.parent),
                                                                           "reports/mine": str(tmp_path / "mine")}))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| gcfa |" in (tmp_path / "mine" / "table.md").read_text()
    out = tmp_path / "recs.csv"
    r = run_module("gcfa_dgl.recommend", f"run_dir={trained}", "users=all", "k=3", f"out={out}")
    assert r.returncode == 0
    import pandas as pd

    recs = pd.read_csv(out)
    assert len(recs) == 300 * 3
    from gcfa_dgl.data import load_processed

    data = load_processed(next(Path(processed).glob("synthetic/*")))
    seen = {(int(data.meta.user_ids[u]), int(data.meta.item_ids[i]))
            for s in (data.train, data.valid, data.test) for u, i in zip(s.user, s.item)}
    assert not any((int(u), int(v)) in seen for u, v in zip(recs["user"], recs["video"]))
    r = run_module("gcfa_dgl.recommend", f"run_dir={trained}", "user=nobody")
    assert r.returncode == 2 and "unknown user" in r.stderr


def test_bad_config_fails_before_loading_data(tmp_path, processed):
    r, _ = train(tmp_path, "bad", "sampler.fanouts=[5,5,5]", processed=processed)
    assert r.returncode == 2 and "sampler.fanouts" in r.stderr
    r, _ = train(tmp_path, "bad2", "model.lr=-1", processed=processed)
    assert r.returncode == 2 and "model.lr" in r.stderr
    r, _ = train(tmp_path, "bad3", "eval.ks_full=[20,100000]", processed=processed)
    assert r.returncode == 2 and "eval.ks_full" in r.stderr


def test_a_log_gets_progress_lines_not_bars(caplog, monkeypatch):
    """Off a terminal, progress is a plain log line at most every `every` seconds; no bar redraws."""
    from gcfa_dgl.callbacks import Progress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    caplog.set_level("INFO", logger="gcfa_dgl.trainer")
    bar = Progress(range(5), 5, "epoch 1/3", every=0.0)
    for i, _ in enumerate(bar):
        bar.update(i + 1, 0.5)
    bar.close()
    assert [r.getMessage() for r in caplog.records][-1] == "epoch 1/3: batch 5/5, loss 0.5000"
    quiet = Progress(range(5), 5, "epoch 1/3", every=3600.0)
    for i, _ in enumerate(quiet):
        quiet.update(i + 1, 0.5)
    assert len(caplog.records) == 5  # none from the second: its interval never passed


def test_a_non_interactive_run_writes_no_progress_bar(processed, tmp_path):
    r, _ = train(tmp_path, "piped", "train.epochs=1", processed=processed)  # its output goes to pipes
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout + r.stderr
    assert "\r" not in out and "batch/s" not in out and "epoch 1  loss" in out
