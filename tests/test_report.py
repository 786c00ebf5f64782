"""The report command on small generated run directories."""

from __future__ import annotations

import json

from conftest import run_module


def fake_run(root, name, model, seed, value, secs, best_epoch=2):
    d = root / name
    d.mkdir(parents=True)
    m = {"model": model, "dataset": "toy", "seed": seed, "best_epoch": best_epoch,
         "valid": {"full/ndcg@20": value}, "test": {"full/ndcg@20": value, "sampled/auc": 0.5 + value}}
    (d / "metrics.json").write_text(json.dumps(m))
    elapsed = [sum(secs[: i + 1]) + 60 * (i + 1) for i in range(len(secs))]  # training plus a minute's validation
    (d / "timing.json").write_text(json.dumps({"epoch_seconds": secs, "elapsed_seconds": elapsed}))


def test_mean_and_std_per_model(tmp_path):
    fake_run(tmp_path, "a", "gcfa", 0, 0.10, [10, 20])
    fake_run(tmp_path, "b", "gcfa", 1, 0.20, [30], best_epoch=1)
    fake_run(tmp_path, "c", "pop", 0, 0.05, [], best_epoch=0)
    r = run_module("gcfa_dgl.report", str(tmp_path), "--metrics", "full/ndcg@20", "sampled/auc",
                   "--csv", str(tmp_path / "t.csv"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    gcfa = next(line for line in lines if line.startswith("| gcfa |"))
    # Mean ± sample std over the two seeds, the best mean in bold; epoch seconds: mean of 15 and 30;
    # best epochs 1-2; minutes to the end of the best epoch: mean of (30 + 120) s and (30 + 60) s.
    assert gcfa == "| gcfa | 2 | **0.1500 ± 0.0707** | **0.6500 ± 0.0707** | 22 | 1–2 | 2.0 |"
    assert next(line for line in lines if line.startswith("| pop")) == "| pop | 1 | 0.0500 | 0.5500 | – | – | – |"
    assert next(line for line in lines if "vs best other" in line) == "| gcfa vs best other |  | +200.0% | +18.2% |  |  |  |"
    assert (tmp_path / "t.csv").read_text().count("\n") == 7  # header + 6 (run, metric) rows


def test_outputs_figures_and_ablation(tmp_path):
    runs = tmp_path / "runs"
    for i, (att, value) in enumerate([("true", 0.1), ("true", 0.12), ("false", 0.08), ("false", 0.07)]):
        fake_run(runs, f"r{i}", "gcfa", i % 2, value, [5])
        hydra = runs / f"r{i}" / ".hydra"
        hydra.mkdir()
        (hydra / "config.yaml").write_text(f"model:\n  name: gcfa\n  attention: {att}\n  dim: 8\n")
    fake_run(runs, "p", "pop", 0, 0.05, [])
    out = tmp_path / "out"
    r = run_module("gcfa_dgl.report", str(runs), "--metrics", "full/ndcg@20", "--bar-metric", "sampled/auc",
                   "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "| gcfa (attention=False) | 2 | 0.0750 ± 0.0071 |" in r.stdout
    assert "| gcfa (attention=True) | 2 | **0.1100 ± 0.0141** |" in r.stdout
    for f in ("table.csv", "table.md", "ablation.md", "fig_auc.png", "fig_auc.svg"):
        assert (out / f).exists(), f
    assert "pop" not in (out / "ablation.md").read_text()


def test_no_runs_is_a_clear_error(tmp_path):
    r = run_module("gcfa_dgl.report", str(tmp_path))
    assert r.returncode != 0 and "no metrics.json" in r.stderr


def ablation_runs(root, variants):
    """GCFA runs from (name, aggregator, attention, seed, value), each with its Hydra config."""
    for name, agg, att, seed, value in variants:
        fake_run(root, f"{name}{seed}", "gcfa", seed, value, [5])
        hydra = root / f"{name}{seed}" / ".hydra"
        hydra.mkdir()
        (hydra / "config.yaml").write_text(f"model:\n  name: gcfa\n  aggregator: {agg}\n  attention: {att}\n")


def test_one_at_a_time_ablation_labels_only_the_change(tmp_path):
    runs = tmp_path / "runs"
    ablation_runs(runs, [("full", "pooling", "true", 0, 0.10), ("full", "pooling", "true", 1, 0.12),
                         ("mean", "mean", "true", 2, 0.09), ("noatt", "pooling", "false", 3, 0.055)])
    out = tmp_path / "out"
    r = run_module("gcfa_dgl.report", str(runs), "--metrics", "full/ndcg@20", "--out", str(out))
    assert r.returncode == 0, r.stderr
    # The reference (most common settings) is plain "gcfa"; each variant names only its change.
    assert "| gcfa | 2 | **0.1100 ± 0.0141** |" in r.stdout
    assert "| gcfa (aggregator=mean) | 1 | 0.0900 |" in r.stdout
    assert "| gcfa (attention=False) | 1 | 0.0550 |" in r.stdout
    ablation = (out / "ablation.md").read_text().splitlines()
    assert ablation[4] == "| reference | 2 | 0.1100 ± 0.0141 |"
    assert "| attention=False | 1 | 0.0550 (-50.0%) |" in ablation


def test_a_tuned_run_is_named_by_its_preset_and_kept_apart_from_the_defaults(tmp_path):
    runs = tmp_path / "runs"
    ablation_runs(runs, [("faithful", "pooling", "true", 0, 0.10), ("faithful", "pooling", "true", 1, 0.12),
                         ("tuned", "mean", "false", 0, 0.15), ("tuned", "mean", "false", 1, 0.17)])
    for seed in (0, 1):
        (runs / f"tuned{seed}" / ".hydra" / "overrides.yaml").write_text(f"- tuned=toy_gcfa\n- seed={seed}\n")
    r = run_module("gcfa_dgl.report", str(runs), "--metrics", "full/ndcg@20", "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert "| gcfa | 2 | 0.1100 ± 0.0141 |" in r.stdout
    assert "| gcfa (tuned=toy_gcfa) | 2 | **0.1600 ± 0.0141** |" in r.stdout


def test_figures_show_default_and_tuned_rows_and_no_other_variant():
    import pandas as pd

    from gcfa_dgl.report import headline

    s = pd.DataFrame({"model": ["bpr", "bpr", "gcfa", "gcfa"],
                      "variant": ["", "tuned=toy_bpr", "tuned=toy_gcfa, model.dim=8", "model.dim=8"]})
    h = headline(s)
    assert list(h["label"]) == ["bpr", "bpr (tuned)"]


def test_ablation_pairs_each_variant_with_the_reference_of_its_seed(tmp_path):
    runs = tmp_path / "runs"
    # reference 0.10 / 0.12 / 0.20 on seeds 0, 1, 2; mean aggregator +10 % and -20 % on seeds 0 and 1
    # (its seed 2 is missing); no attention -50 % on seed 1, and its seed 5 has no reference to pair with.
    ablation_runs(runs, [("ref", "pooling", "true", 0, 0.10), ("ref", "pooling", "true", 1, 0.12),
                         ("ref", "pooling", "true", 2, 0.20), ("mean", "mean", "true", 0, 0.11),
                         ("mean", "mean", "true", 1, 0.096), ("noatt", "pooling", "false", 1, 0.06),
                         ("noatt", "pooling", "false", 5, 0.05)])
    out = tmp_path / "out"
    r = run_module("gcfa_dgl.report", str(runs), "--metrics", "full/ndcg@20", "--out", str(out))
    assert r.returncode == 0, r.stderr
    ablation = (out / "ablation.md").read_text()
    assert "| aggregator=mean | 2 | -5.0% ± 21.2% (1/2 up) |" in ablation
    assert "| attention=False | 1 | -50.0% (0/1 up) |" in ablation


def test_run_config_reads_the_saved_config_or_none(tmp_path):
    from gcfa_dgl.config import run_config

    assert run_config(tmp_path) is None  # not a run directory
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("sampler:\n  mode: topk\n  fanouts: [5, 5]\n")
    cfg = run_config(tmp_path)
    assert cfg.sampler.mode == "topk" and list(cfg.sampler.fanouts) == [5, 5]


def test_quality_against_time_figure_for_models_with_timings(tmp_path):
    from gcfa_dgl import report

    runs = tmp_path / "runs"
    fake_run(runs, "a", "gcfa", 0, 0.10, [10, 20])
    fake_run(runs, "b", "bpr", 0, 0.12, [2, 2, 2], best_epoch=3)
    fake_run(runs, "c", "pop", 0, 0.05, [], best_epoch=0)  # no time to a best epoch: not drawn
    report.main([str(runs), "--metrics", "full/ndcg@20", "--bar-metric", "full/ndcg@20", "--out", str(tmp_path / "out")])
    for f in ("fig_quality_time.png", "fig_quality_time.svg", "fig_auc.png"):
        assert (tmp_path / "out" / f).stat().st_size > 0, f


def test_archived_records_give_the_same_report_and_a_rerun_replaces_its_record(tmp_path):
    runs = tmp_path / "multirun"
    for i, (att, value) in enumerate([("true", 0.1), ("false", 0.08)]):
        fake_run(runs, f"{i}_gcfa", "gcfa", 0, value, [5, 6])
        (runs / f"{i}_gcfa" / ".hydra").mkdir()
        (runs / f"{i}_gcfa" / ".hydra" / "config.yaml").write_text(f"model:\n  name: gcfa\n  attention: {att}\n")
        (runs / f"{i}_gcfa" / "best.pt").write_bytes(b"weights")
    kept = tmp_path / "docs" / "runs"
    r = run_module("gcfa_dgl.archive", str(runs), "--to", str(kept))
    assert r.returncode == 0, r.stderr
    records = sorted(p.name for p in kept.iterdir())
    assert len(records) == 2 and all(n.startswith("gcfa_seed0_") for n in records)
    assert not list(kept.rglob("*.pt"))  # weights stay behind
    report = [run_module("gcfa_dgl.report", str(d), "--metrics", "full/ndcg@20").stdout for d in (runs, kept)]
    assert "attention=False" in report[0] and report[0] == report[1]
    fake_run(tmp_path / "again", "0_gcfa", "gcfa", 0, 0.3, [5])  # the first config, run again
    (tmp_path / "again" / "0_gcfa" / ".hydra").mkdir()
    (tmp_path / "again" / "0_gcfa" / ".hydra" / "config.yaml").write_text("model:\n  name: gcfa\n  attention: true\n")
    assert run_module("gcfa_dgl.archive", str(tmp_path / "again"), "--to", str(kept)).returncode == 0
    assert sorted(p.name for p in kept.iterdir()) == records
    assert any(json.loads(p.read_text())["test"]["full/ndcg@20"] == 0.3 for p in kept.rglob("metrics.json"))
    assert "no finished run" in run_module("gcfa_dgl.archive", str(tmp_path / "none"), "--to", str(kept)).stderr


def test_activity_table_gives_each_bucket_its_users_and_mean_per_model(tmp_path):
    for name, model, seed, cold, warm in [("a", "gcfa", 0, 0.2, 0.1), ("b", "gcfa", 1, 0.4, 0.1), ("c", "pop", 0, 0.25, 0.05)]:
        fake_run(tmp_path / "runs", name, model, seed, warm, [5])
        path = tmp_path / "runs" / name / "metrics.json"
        m = json.loads(path.read_text())
        m["buckets"] = {"test": {"full": {"6-20": {"users": 7, "ndcg@20": cold}, ">20": {"users": 90, "ndcg@20": warm}}}}
        path.write_text(json.dumps(m))
    r = run_module("gcfa_dgl.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    table = (tmp_path / "out" / "activity.md").read_text().splitlines()
    assert "| model | 6-20 (7 users) | >20 (90 users) |" in table
    assert "| gcfa | **0.3000 ± 0.1414** | **0.1000 ± 0.0000** |" in table
    assert "| pop | 0.2500 | 0.0500 |" in table
