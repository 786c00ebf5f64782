"""Sweeps and multi-process training through the real entry point on tiny synthetic data:
a grid multirun with its report, Optuna, the joblib and submitit-local launchers, and DDP."""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_module

from gcfa_dgl.distributed import usable_cores

pytestmark = pytest.mark.slow

SHORT = ["experiment=tiny_synthetic", "train.epochs=1", "train.max_batches=4", "train.tensorboard=false"]


def runs(sweep: Path) -> list[Path]:
    return sorted(p.parent for p in sweep.rglob("metrics.json"))


def test_grid_multirun_gives_one_directory_per_run_and_a_report(tiny_processed, tmp_path):
    sweep = tmp_path / "grid"
    r = run_module("gcfa_dgl.train", "-m", *SHORT, f"paths.processed_dir={tiny_processed}",
                   f"hydra.sweep.dir={sweep}", "model.lr=1e-3,5e-3", "model.dim=8,16")
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(runs(sweep)) == 4
    rep = run_module("gcfa_dgl.report", str(sweep), "--split", "valid", "--metrics", "full/ndcg@20",
                     "--out", str(tmp_path / "report"))
    assert rep.returncode == 0, rep.stderr
    rows = [line for line in rep.stdout.splitlines() if line.startswith("| gcfa (")]
    # A grid has no reference setting: every row names both swept values.
    assert len(rows) == 4 and all("dim=" in row and "lr=" in row for row in rows), rep.stdout
    assert (tmp_path / "report" / "table.csv").exists()


def test_optuna_search_records_the_best_trial(tiny_processed, tmp_path):
    sweep = tmp_path / "optuna"
    r = run_module("gcfa_dgl.train", "hparams_search=gcfa", *SHORT, f"paths.processed_dir={tiny_processed}",
                   f"hydra.sweep.dir={sweep}", "hydra.sweeper.n_trials=4")
    assert r.returncode == 0, r.stderr[-3000:]
    trials = runs(sweep)
    assert len(trials) == 4
    result = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    best = max(json.loads((t / "metrics.json").read_text())["best_valid"] for t in trials)
    assert result["best_value"] == pytest.approx(best)
    assert {"model.lr", "model.dim", "model.objective", "sampler.num_negatives", "model.predictor", "model.attention",
            "model.aggregator", "sampler.fanouts", "model.propagation_layers", "model.dropout", "model.l2",
            "sampler.alpha"} <= set(result["best_params"])
    # The winner saved as a preset reproduces its recorded validation value when run again.
    from gcfa_dgl import tuned

    conf = tmp_path / "conf"
    tuned.main([str(sweep), "--out", str(conf / "tuned")])
    saved = conf / "tuned" / "synthetic_gcfa.yaml"
    assert f"{result['best_value']:.6f}" in saved.read_text().splitlines()[1]
    r = run_module("gcfa_dgl.train", *SHORT, f"paths.processed_dir={tiny_processed}", "tuned=synthetic_gcfa",
                   f"hydra.searchpath=[file://{conf}]", f"hydra.run.dir={tmp_path / 'again'}")
    assert r.returncode == 0, r.stderr[-3000:]
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["best_valid"] == result["best_value"]
    # --trials: one row per trial, best first, with the searched values as the trials composed them.
    table = run_module("gcfa_dgl.tuned", str(sweep), "--trials").stdout.splitlines()
    assert len(table) == 2 + 4 and "model.attention" in table[0]
    assert table[2].split(" | ")[1] == f"{result['best_value']:.4f}"
    values = [float(row.split(" | ")[1]) for row in table[2:]]
    assert values == sorted(values, reverse=True)
    # --presets: the saved winner read back from its file alone.
    row = run_module("gcfa_dgl.tuned", str(saved), "--presets").stdout.splitlines()[2].split(" | ")
    assert row[0] == "| gcfa" and row[1] == f"{result['best_value']:.4f}" and row[3] == "4"
    assert row[4] == str(result["best_params"]["model.objective"])
    assert ("temperature=" in row[-1]) == (row[4] == "softmax") and "propagation_layers=" in row[-1]
    # --trials also reads a search that has not written its results yet (running or stopped).
    (sweep / "optimization_results.yaml").unlink()
    assert run_module("gcfa_dgl.tuned", str(sweep), "--trials").stdout.splitlines() == table


def test_an_interrupted_search_resumes_to_the_trials_of_an_uninterrupted_one(tiny_processed, tmp_path):
    import optuna

    def search(sweep: Path, n: int) -> str:
        r = run_module("gcfa_dgl.train", "hparams_search=bpr", *SHORT, f"paths.processed_dir={tiny_processed}",
                       f"hydra.sweep.dir={sweep}", f"hydra.sweeper.n_trials={n}")
        assert r.returncode == 0, r.stderr[-3000:]
        return r.stdout + r.stderr

    def study(sweep: Path):
        return optuna.load_study(study_name="bpr", storage=f"sqlite:///{sweep}/optuna.db")

    def finished(sweep: Path) -> list:
        return [(t.params, t.value) for t in study(sweep).trials if t.state == optuna.trial.TrialState.COMPLETE]

    whole, stopped, cut = tmp_path / "whole", tmp_path / "stopped", tmp_path / "cut"
    search(whole, 4)
    search(stopped, 2)
    study(stopped).ask()  # a third trial asked and never told: a search killed while it ran
    # kept without weights (as on another machine) and continued there
    r = run_module("gcfa_dgl.archive", str(stopped), "--search", "--to", str(cut))
    assert r.returncode == 0 and "2 finished trial(s)" in r.stderr, r.stderr
    assert not list(cut.rglob("*.pt")) and (cut / "optuna.db").exists()
    assert "2 of 4 trials done, 2 to go" in search(cut, 4)
    assert len(finished(whole)) == 4 and finished(cut) == finished(whole)
    assert len(runs(cut)) == 4 and [t.state.name for t in study(cut).trials].count("FAIL") == 1
    best = [yaml.safe_load((d / "optimization_results.yaml").read_text()) for d in (whole, cut)]
    assert best[0] == best[1]
    assert "4 of 4 trials done, 0 to go" in search(cut, 4) and len(runs(cut)) == 4


def test_joblib_launcher_runs_in_parallel_with_shared_cores(tiny_processed, tmp_path):
    sweep = tmp_path / "joblib"
    r = run_module("gcfa_dgl.train", "-m", *SHORT, f"paths.processed_dir={tiny_processed}", f"hydra.sweep.dir={sweep}",
                   "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "model.lr=1e-3,5e-3")
    assert r.returncode == 0, r.stderr[-3000:]
    done = runs(sweep)
    assert len(done) == 2
    expected = max(1, usable_cores() // 2)
    for run in done:
        threads = re.search(r"threads: torch (\d+), DGL (\d+)", (run / "train.log").read_text())
        assert threads and [int(t) for t in threads.groups()] == [expected, expected]


def test_submitit_local_launcher_runs_two_jobs(tiny_processed, tmp_path):
    sweep = tmp_path / "submitit"
    r = run_module("gcfa_dgl.train", "-m", *SHORT, f"paths.processed_dir={tiny_processed}", f"hydra.sweep.dir={sweep}",
                   "hydra/launcher=submitit_local", "model.lr=1e-3,5e-3")
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(runs(sweep)) == 2
    assert (sweep / ".submitit").is_dir()


def test_ddp_without_torchrun_is_a_clear_error(tiny_processed, tmp_path):
    r = run_module("gcfa_dgl.train", *SHORT, f"paths.processed_dir={tiny_processed}",
                   f"hydra.run.dir={tmp_path / 'x'}", "distributed.ddp=true")
    assert r.returncode == 2 and "torchrun" in r.stderr and "Traceback" not in r.stderr


def test_two_process_ddp_learns_like_one_process_with_the_same_global_batch(tiny_processed, tmp_path):
    """DDP over two ranks (64 pairs each) against one process (128 pairs), seeds 0-2 each. The two
    draw different negatives and neighbourhoods, so they agree in distribution, not bitwise: the
    difference of the mean test AUCs must lie within two standard errors of that difference,
    estimated from these same runs."""
    common = ["experiment=tiny_synthetic", "train.epochs=3", "train.tensorboard=false", "eval.full_auc=true",
              f"paths.processed_dir={tiny_processed}"]
    r = run_module("gcfa_dgl.train", "-m", *common, "seed=0,1,2", "sampler.batch_size=128",
                   f"hydra.sweep.dir={tmp_path / 'one'}", "hydra.sweep.subdir=${seed}")
    assert r.returncode == 0, r.stderr[-3000:]
    one = [json.loads((tmp_path / "one" / str(seed) / "metrics.json").read_text()) for seed in (0, 1, 2)]
    two = []
    for seed in (0, 1, 2):
        out = tmp_path / f"two{seed}"
        r = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
             "-m", "gcfa_dgl.train", *common, f"seed={seed}", "sampler.batch_size=64", "distributed.ddp=true",
             f"hydra.run.dir={out}"],
            capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=ROOT, timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
        assert r.stdout.count("run directory: ") == 1  # rank 1 wrote nothing of its own
        two.append(json.loads((out / "metrics.json").read_text()))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["one"] + [f"two{s}" for s in range(3)])
    for key in ("sampled/auc", "full/auc"):
        a, b = ([m["test"][key] for m in runs] for runs in (one, two))
        assert min(b) > 0.7, (key, b)  # DDP learns: random ranking is 0.5
        se = math.sqrt(statistics.variance(a) / 3 + statistics.variance(b) / 3)
        assert abs(statistics.mean(a) - statistics.mean(b)) <= 2 * se, (key, a, b)
    assert all(len(m["history"]) == 3 for m in two)
