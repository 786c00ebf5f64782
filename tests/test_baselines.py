"""Every baseline trains through the real entry point on synthetic data and beats random."""

from __future__ import annotations

import json

import pytest
from conftest import run_module

pytestmark = pytest.mark.slow

# Enough steps for each model to leave random ranking clearly behind on the tiny dataset.
EXTRA = {
    "bpr": ["model.lr=0.01", "train.epochs=4"],
    "neumf": ["model.lr=0.005", "train.epochs=3"],
    "gcmc": ["model.lr=0.01", "train.epochs=3", "sampler=full", "sampler.fanouts=[-1]"],
    "graphrec": ["model.lr=0.005", "train.epochs=3", "sampler=uniform", "sampler.fanouts=[5,5]"],
    "lightgcn": ["model.lr=0.005", "train.epochs=2"],
}


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    return tmp_path_factory.mktemp("processed")


@pytest.mark.parametrize("model", sorted(EXTRA))
def test_baseline_beats_random(model, processed, tmp_path):
    run = tmp_path / model
    r = run_module("gcfa_dgl.train", "experiment=tiny_synthetic", f"model={model}", f"hydra.run.dir={run}",
                   f"paths.processed_dir={processed}", "sampler.batch_size=128", *EXTRA[model])
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((run / "metrics.json").read_text())
    assert m["model"] == model
    assert m["valid"]["sampled/auc"] > 0.6, m["valid"]["sampled/auc"]
    assert m["test"]["full/recall@20"] > 0.0
