"""Every learned baseline trains through the real entry point and ranks better than popularity,
the floor every recommender must clear, on data whose signal is taste rather than popularity."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import run_module

pytestmark = pytest.mark.slow

# Tiny synthetic data where videos are about equally popular and 95 % of a user's videos come from
# their taste cluster: popularity ranks near chance, and a model must learn who likes what.
TASTES = ["dataset.name=synthetic_tastes", "dataset.synthetic.item_exponent=0.3", "dataset.synthetic.in_cluster=0.95"]
# Models trained with three epochs and their defaults run as one multirun (one process start).
PLAIN = ("bpr", "neumf", "lightgcn", "simgcl", "xsimgcl")
EXTRA = {
    "gcmc": ["model.lr=0.01", "train.epochs=5", "sampler=full"],
    # GraphRec's default dropout (0.5, its paper's) leaves it at the chance loss on this data for
    # a dozen epochs; without dropout it learns within a few.
    "graphrec": ["train.epochs=4", "sampler=uniform", "model.dropout=0.0"],
    "ease": [],  # closed form: no epochs, λ picked on validation
}
METRICS = ("sampled/auc", "full/ndcg@20")


def train(model: str, processed, out, *extra: str) -> dict:
    r = run_module("gcfa_dgl.train", "experiment=tiny_synthetic", *TASTES, f"model={model}", f"hydra.run.dir={out}",
                   f"paths.processed_dir={processed}", "sampler.batch_size=128", *extra)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


def sweep(processed, out, *overrides: str) -> dict[tuple[str, ...], dict]:
    """Several runs of one multirun in one process: metrics by each job's sorted overrides."""
    r = run_module("gcfa_dgl.train", "-m", "experiment=tiny_synthetic", *TASTES, f"hydra.sweep.dir={out}",
                   f"paths.processed_dir={processed}", "sampler.batch_size=128", *overrides)
    assert r.returncode == 0, r.stderr[-3000:]
    return {tuple(sorted(yaml.safe_load((m.parent / ".hydra" / "overrides.yaml").read_text()))): json.loads(m.read_text())
            for m in out.glob("*/metrics.json")}


def find(runs: dict[tuple[str, ...], dict], *wanted: str) -> dict:
    (hit,) = [m for key, m in runs.items() if set(wanted) <= set(key)]
    return hit


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    return tmp_path_factory.mktemp("processed")


@pytest.fixture(scope="module")
def popularity(processed, tmp_path_factory) -> dict:
    return train("pop", processed, tmp_path_factory.mktemp("pop"))


@pytest.fixture(scope="module")
def plain(processed, tmp_path_factory) -> dict:
    return sweep(processed, tmp_path_factory.mktemp("plain"), f"model={','.join(PLAIN)}", "train.epochs=3")


@pytest.mark.parametrize("model", sorted([*PLAIN, *EXTRA]))
def test_baseline_beats_popularity(model, processed, popularity, plain, tmp_path):
    m = find(plain, f"model={model}") if model in PLAIN else train(model, processed, tmp_path / model, *EXTRA[model])
    assert m["model"] == model and (m["best_epoch"] >= 1 or model == "ease")
    for split in ("valid", "test"):
        for key in METRICS:
            assert m[split][key] > popularity[split][key], (split, key, m[split][key], popularity[split][key])


def test_ease_keeps_the_l2_that_scores_best_on_validation(processed, popularity, tmp_path):
    m = train("ease", processed, tmp_path / "ease", "model.l2_grid=[1,30,1000]")
    tried = m["l2_selection"]
    assert [t["l2"] for t in tried] == [1, 30, 1000] and m["history"] == []
    best = max(tried, key=lambda t: t[m["monitor"]])
    assert m["best_valid"] == pytest.approx(best[m["monitor"]], abs=1e-9) == pytest.approx(m["valid"][m["monitor"]], abs=1e-9)
    assert len({round(t[m["monitor"]], 6) for t in tried}) > 1  # the grid matters on this data


OBJECTIVES = ("bpr", "bce", "softmax", "ccl")


@pytest.fixture(scope="module")
def objectives(processed, tmp_path_factory) -> dict:
    """MF and GCFA under every objective, four negatives each (GCFA's ccl with a dot predictor,
    which ccl's cosine scores need), and MF's softmax with popularity and in-batch negatives."""
    d = tmp_path_factory.mktemp("objectives")
    common = ["train.epochs=3", "sampler.num_negatives=4"]
    runs = sweep(processed, d / "mf", "model=bpr", f"model.objective={','.join(OBJECTIVES)}", "sampler.negative=uniform",
                 *common)
    runs |= sweep(processed, d / "mf_negatives", "model=bpr", "model.objective=softmax",
                  "sampler.negative=popularity,in_batch", *common)
    runs |= sweep(processed, d / "gcfa", "model=gcfa", "model.objective=bpr,bce,softmax", *common)
    runs |= sweep(processed, d / "gcfa_ccl", "model=gcfa", "model.objective=ccl", "model.predictor=dot", *common)
    return runs


@pytest.mark.parametrize("model, objective", [(m, o) for m in ("bpr", "gcfa") for o in OBJECTIVES]
                         + [("bpr", "softmax_popularity"), ("bpr", "softmax_in_batch")])
def test_every_objective_trains_mf_and_gcfa_above_popularity(model, objective, objectives, popularity):
    name, _, negatives = objective.partition("_")
    negative = [f"sampler.negative={negatives or 'uniform'}"] if model == "bpr" else []
    m = find(objectives, f"model={model}", f"model.objective={name}", *negative)
    for key in METRICS:
        assert m["valid"][key] > popularity["valid"][key], (key, m["valid"][key], popularity["valid"][key])
