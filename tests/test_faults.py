"""Faults during training: kill -9 mid-write, SIGINT, a NaN loss, a tampered or truncated
checkpoint, and bad configs through the entry point."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, run_module
from hydra import compose, initialize_config_module

from data_prep.config import CONFIG_PACKAGE
from data_prep.errors import DataError
from gcfa_dgl import checkpoint
from gcfa_dgl.config import register_configs
from gcfa_dgl.factory import load_data
from gcfa_dgl.job import run
from gcfa_dgl.models.gcfa import GCFA
from gcfa_dgl.trainer import TrainingError

register_configs()

pytestmark = pytest.mark.slow

TINY = ["experiment=tiny_synthetic", "train.tensorboard=false"]


def test_kill_9_during_checkpoint_writes_never_leaves_a_broken_file(tmp_path):
    """A process saving 16 MB checkpoints in a loop is killed with SIGKILL at random moments:
    the checkpoint on disk always loads, and is one complete save or another."""
    path = tmp_path / "last.pt"
    script = textwrap.dedent(f"""
        import torch
        from pathlib import Path
        from gcfa_dgl import checkpoint
        i = 0
        while True:
            checkpoint.save(Path({str(path)!r}), {{"i": i, "w": torch.full((4_000_000,), float(i))}})
            i += 1
    """)
    gen = torch.Generator().manual_seed(0)
    for _ in range(6):
        p = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
        deadline = time.time() + 120
        while not path.exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.1 + 0.4 * float(torch.rand(1, generator=gen)))
        p.send_signal(signal.SIGKILL)
        p.wait()
        state = checkpoint.load(path)
        assert torch.all(state["w"] == float(state["i"]))


def test_truncated_or_tampered_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "best.pt"
    checkpoint.save(path, {"model": {"w": torch.ones(3)}})
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError, match="not a readable checkpoint"):
        checkpoint.load(path)
    # A pickle that would run code is refused by weights_only loading.
    evil = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.ones(3)}, "hook": print}, evil)
    with pytest.raises(DataError, match="not a readable checkpoint"):
        checkpoint.load(evil)


def test_kill_9_mid_training_then_resume_matches_an_uninterrupted_run(tiny_processed, tmp_path):
    run, ref = tmp_path / "killed", tmp_path / "ref"
    common = [*TINY, f"paths.processed_dir={tiny_processed}", "train.epochs=2"]
    p = subprocess.Popen([sys.executable, "-m", "gcfa_dgl.train", *common, f"hydra.run.dir={run}"],
                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (run / "last.pt").exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.1)
    time.sleep(0.3)  # into epoch 2
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not (run / "metrics.json").exists()  # killed before the end
    r = run_module("gcfa_dgl.train", *common, f"hydra.run.dir={run}", "train.resume=true")
    assert r.returncode == 0, r.stderr[-2000:]
    assert not list(run.glob(".*.tmp")), "stale temporary files were left behind"
    r = run_module("gcfa_dgl.train", *common, f"hydra.run.dir={ref}")
    assert r.returncode == 0
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (run, ref))
    assert a == b


def test_sigint_mid_epoch_stops_cleanly(tiny_processed, tmp_path):
    run = tmp_path / "interrupted"
    p = subprocess.Popen([sys.executable, "-m", "gcfa_dgl.train", *TINY, f"paths.processed_dir={tiny_processed}",
                          "sampler.batch_size=16", "train.max_batches=60", f"hydra.run.dir={run}"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (run / "last.pt").exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130 and "SIGINT" in err and "Traceback" not in err, err[-2000:]
    assert checkpoint.load(run / "last.pt")["epoch"] >= 1


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tiny_processed, tmp_path, monkeypatch):
    with initialize_config_module(CONFIG_PACKAGE, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*TINY, f"paths.processed_dir={tiny_processed}",
                                                        "sampler.batch_size=256", "train.epochs=3"])
    per_epoch = math.ceil(load_data(cfg).meta.counts.train / 256)
    forward, calls = GCFA.forward, {"n": 0}

    def poisoned(self, *args):
        pos, neg, reg = forward(self, *args)
        calls["n"] += 1
        # the third batch of epoch 2 scores NaN
        return (pos * float("nan"), neg, reg) if calls["n"] >= per_epoch + 3 else (pos, neg, reg)

    monkeypatch.setattr(GCFA, "forward", poisoned)
    out = tmp_path / "run"
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 2, batch 3; stopped. The last good checkpoints"):
        run(cfg, out)
    assert checkpoint.load(out / "last.pt")["epoch"] == 1
    assert checkpoint.load(out / "best.pt")["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in checkpoint.load(out / "best.pt")["model"].values())


@pytest.mark.parametrize("override, key", [
    ("model.lr=0", "model.lr"),
    ("model.dim=0", "model.dim"),
    ("model.attention_dim=0", "model.attention_dim"),
    ("sampler.fanouts=[0,10]", "sampler.fanouts[0]"),
    ("sampler.kernel=cuda", "sampler.kernel"),
    ("sampler.fanouts=[10,10,10]", "sampler.fanouts"),  # GCFA samples 2 layers: 1 or 2 entries
    ("sampler.fanouts=[10,10]", None),  # one per layer: valid
    ("model=transformer", "model"),
    ("dataset=netflix", "dataset"),
    ("eval.ks_full=[20,100000]", "eval.ks_full"),
    ("eval.ks_full=[10]", "train.monitor"),  # full/ndcg@20 needs K=20
    ("eval.protocols=[sampled,exhaustive]", "eval.protocols"),
    ("train.monitor=full/auc", "train.monitor"),  # needs eval.full_auc=true
    ("train.monitor=full/ndcg@20", None),  # valid: the control case
])
def test_bad_config_is_one_clear_message(override, key, tiny_processed, tmp_path):
    r = run_module("gcfa_dgl.train", *TINY, f"paths.processed_dir={tiny_processed}", "train.epochs=1",
                   "train.max_batches=1", f"hydra.run.dir={tmp_path / 'run'}", override)
    if key is None:
        assert r.returncode == 0, r.stderr[-2000:]
        return
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert key in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / "run" / "last.pt").exists()  # failed before training


def test_processed_file_with_a_flipped_byte_asks_to_rerun_make_data(tiny_processed, tmp_path):
    import shutil

    copy = tmp_path / "processed"
    shutil.copytree(tiny_processed, copy)
    split = next(copy.rglob("splits.npz"))
    b = bytearray(split.read_bytes())
    b[len(b) // 2] ^= 0xFF
    split.write_bytes(bytes(b))
    r = run_module("gcfa_dgl.train", *TINY, f"paths.processed_dir={copy}", f"hydra.run.dir={tmp_path / 'run'}")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "checksum" in r.stderr and "make data" in r.stderr, r.stderr[-2000:]


def test_no_pickle_in_data_loading():
    """Processed and raw data are read with allow_pickle=False / weights_only=True only."""
    sources = [p for p in (ROOT / "data_prep").rglob("*.py")] + [p for p in (ROOT / "gcfa_dgl").rglob("*.py")]
    for p in sources:
        text = p.read_text()
        assert "allow_pickle=True" not in text, p
        assert "import pickle" not in text or p.name == "checkpoint.py", p
        assert "pd.read_pickle" not in text and "weights_only=False" not in text, p
    assert Path(ROOT / "gcfa_dgl" / "checkpoint.py").read_text().count("weights_only=True") >= 1
