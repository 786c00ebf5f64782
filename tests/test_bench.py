"""`make bench`'s benchmarks end to end on small synthetic data, and the page they write."""

from __future__ import annotations

import json
import re
import sys
import time

import pytest

from gcfa_dgl.bench import common, report
from gcfa_dgl.bench.prep import synthetic

pytestmark = pytest.mark.slow

SMALL = synthetic(20_000)


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    """Every benchmark once, tiny, writing its JSON like `make bench` does."""
    from gcfa_dgl.bench import epoch, evaluate, optimisations, prep, profile, train

    root = tmp_path_factory.mktemp("bench")
    out = root / "json"
    mp = pytest.MonkeyPatch()
    mp.setenv("GCFA_PROCESSED_DIR", str(root / "processed"))
    mp.delenv("GCFA_RAW_DIR", raising=False)
    try:
        prep.main(["--datasets", "--interactions", "20000", "40000", "--repeats", "1", "--json", str(out / "prep.json")])
        prep.main(["--datasets", "--interactions", "20000", "40000", "--repeats", "1", "--synthetic-overrides",
                   "dataset.tightness.max_degree=5", "--json", str(out / "prep_capped.json")])
        epoch.main(["--interactions", "20000", "40000", "--batch", "256", "--max-batches", "2", "--repeats", "1",
                    "--json", str(out / "epoch.json")])
        epoch.main(["--interactions", "20000", "--batch", "256", "--max-batches", "2", "--repeats", "1",
                    "--model", "gcfa_topk", "--json", str(out / "epoch_topk.json")])
        epoch.main(["--interactions", "20000", "40000", "--batches-per-epoch", "10", "--max-batches", "2",
                    "--repeats", "1", "--json", str(out / "epoch_grown.json")])
        train.main(["--models", "bpr", "lightgcn", "gcfa", "gcfa_topk", "gcfa_topk_att16", "--batch", "256", "--max-batches", "2", "--repeats", "1",
                    "--json", str(out / "train.json"), "--data", *SMALL])
        evaluate.main(["--datasets", "synthetic:20000", "--chunks", "1", "4", "--repeats", "1",
                       "--json", str(out / "evaluate.json")])
        profile.main(["--batch", "256", "--batches", "2", "--json", str(out / "profile.json"), "--data", *SMALL])
        optimisations.main(["--repeats", "1", "--batch", "256", "--similarity-sizes", "20000", "--max-batches", "2",
                            "--json", str(out / "optimisations.json"), "--data", *SMALL])
    finally:
        mp.undo()
    return out


def test_prep_and_epoch_fit_exponents(bench_dir):
    p = json.loads((bench_dir / "prep.json").read_text())
    assert [r["interactions"] for r in p["synthetic"]] == [20_000, 40_000]
    assert all(r["seconds"] > 0 and r["peak_rss_gb"] > 0.05 for r in p["synthetic"])
    assert set(p["exponent"]) == {"seconds", "peak_rss_gb"}
    capped = json.loads((bench_dir / "prep_capped.json").read_text())
    assert capped["synthetic_overrides"] == ["dataset.tightness.max_degree=5"] and p["synthetic_overrides"] == []
    # the same interactions, prepared with the override
    small, big = p["synthetic"][1]["edges"], capped["synthetic"][1]["edges"]
    assert small["user-rates-video"] == big["user-rates-video"]
    e = json.loads((bench_dir / "epoch.json").read_text())
    assert [r["interactions"] for r in e["sizes"]] == [20_000, 40_000]
    assert e["sizes"][1]["batches_per_epoch"] > e["sizes"][0]["batches_per_epoch"]
    assert set(e["exponent"]) == {"seconds_per_epoch", "peak_rss_gb", "seconds_per_batch", "sampled_edges_per_batch"}
    # what a batch touched, read from the runs' timing.json: GCFA's two sampled layers
    assert all(r["sampled_edges_per_batch"] > r["input_nodes_per_batch"] > 0 for r in e["sizes"])
    # a batch's time is the runs' median batch; the mean over the timed batches is kept beside it
    assert e["per_batch"] == "median"
    assert all(r["seconds_per_batch"] > 0 and r["seconds_per_batch_with_warmup"] > 0 for r in e["sizes"])
    assert all(r["seconds_per_epoch"] == pytest.approx(r["seconds_per_batch"] * r["batches_per_epoch"], abs=0.1)
               for r in e["sizes"])
    topk = json.loads((bench_dir / "epoch_topk.json").read_text())
    assert e["model"] == "gcfa" and topk["model"] == "gcfa_topk" and len(topk["sizes"]) == 1
    # the sampler the runs used, read back from their saved configs
    assert e["sampler"] == {"mode": "weighted", "kernel": "torch"} and topk["sampler"]["mode"] == "topk"
    assert topk["sizes"][0]["sampled_edges_per_batch"] > topk["sizes"][0]["input_nodes_per_batch"] > 0
    # --batches-per-epoch: the batch grows with the training pairs, the batch count stays
    grown = json.loads((bench_dir / "epoch_grown.json").read_text())
    assert grown["batch"] is None and grown["batches_per_epoch"] == 10
    assert [r["batches_per_epoch"] for r in grown["sizes"]] == [10, 10]
    assert [r["batch"] for r in grown["sizes"]] == [-(-r["train_edges"] // 10) for r in grown["sizes"]]
    assert [r["train_edges"] for r in grown["sizes"]] == [r["train_edges"] for r in e["sizes"]]
    assert all(r["batch"] == 256 for r in e["sizes"])
    # a larger batch reaches more of the graph
    assert grown["sizes"][1]["sampled_edges_per_batch"] > e["sizes"][1]["sampled_edges_per_batch"]


def test_epoch_benchmark_rejects_a_zero_batch_count(capsys):
    from gcfa_dgl.bench import epoch

    with pytest.raises(SystemExit):
        epoch.main(["--batches-per-epoch", "0"])
    assert "--batches-per-epoch must be at least 1, got 0" in capsys.readouterr().err


def test_training_benchmark_scales_timed_batches_to_an_epoch(bench_dir):
    t = json.loads((bench_dir / "train.json").read_text())
    assert set(t["models"]) == {"bpr", "lightgcn", "gcfa", "gcfa_topk", "gcfa_topk_att16"}
    for r in t["models"].values():
        assert r["seconds_per_epoch"] > 0 and r["peak_rss_gb"] > 0.1
        assert r["pairs_per_second"] == pytest.approx(t["train_edges"] / r["seconds_per_epoch"], rel=0.01)
    assert t["gcfa_over_lightgcn"] == pytest.approx(t["models"]["gcfa"]["seconds_per_epoch"] /
                                                    t["models"]["lightgcn"]["seconds_per_epoch"], rel=0.01)
    assert t["gcfa_topk_over_lightgcn"] == pytest.approx(t["models"]["gcfa_topk"]["seconds_per_epoch"] /
                                                         t["models"]["lightgcn"]["seconds_per_epoch"], rel=0.01)
    assert set(t["over_lightgcn"]) == {"gcfa", "gcfa_topk", "gcfa_topk_att16"}
    assert t["variants"]["gcfa_topk_att16"] == ["sampler=topk", "model.attention_dim=16"]


def test_evaluation_benchmark_compares_with_the_dense_reference(bench_dir):
    r = json.loads((bench_dir / "evaluate.json").read_text())["results"][0]
    assert r["ratio_vs_dense"]["dense product + topk"] == 1.0
    assert {"Evaluator, chunk 1 MiB", "Evaluator, chunk 4 MiB"} <= set(r["seconds"])
    assert all(v >= 0 for v in r["peak_extra_mb"].values())


def test_profile_splits_a_step_into_phases(bench_dir):
    p = json.loads((bench_dir / "profile.json").read_text())
    assert set(p["seconds_per_step"]) == {"sampling", "forward", "backward", "optimiser"}
    assert p["top_ops"] and abs(sum(p["seconds_per_step"].values()) - p["step_total"]) < 1e-3


def test_optimisations_time_both_code_paths(bench_dir):
    o = json.loads((bench_dir / "optimisations.json").read_text())
    changes = [c["change"] for c in o["cases"]]
    assert changes == ["LightGCN training step", "GC-MC training step", "GCFA training step", "GCFA training step",
                       "GCFA training step", "GCFA training step", "GCFA training batches", "full-ranking evaluation", "full-ranking evaluation",
                       "similarity edges", "top-k sampling of training batches", "weighted sampling of training batches"]
    for c in o["cases"]:
        assert c["before_seconds"] > 0 and c["after_seconds"] > 0
        assert c["speedup"] == pytest.approx(c["before_seconds"] / c["after_seconds"], rel=0.02)


def test_optimisations_reruns_one_case_and_keeps_the_other_rows(bench_dir, tmp_path):
    from gcfa_dgl.bench import optimisations

    f = tmp_path / "optimisations.json"
    f.write_text((bench_dir / "optimisations.json").read_text())
    old = json.loads(f.read_text())["cases"]
    optimisations.main(["--repeats", "1", "--batch", "256", "--json", str(f), "--cases", "gcfa", "--data", *SMALL])
    new = json.loads(f.read_text())["cases"]
    assert [c["change"] for c in new] == [c["change"] for c in old]
    for a, b in zip(old, new):
        if a["change"] == "GCFA training step":  # measured again
            assert (a["before_seconds"], a["after_seconds"]) != (b["before_seconds"], b["after_seconds"])
        else:
            assert a == b


def test_report_writes_the_page_and_keeps_what_surrounds_it(bench_dir, tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nhand-written intro\n\n{report.BEGIN}\nold\n{report.END}\n\n## Log\nkept\n")
    report.main(["--bench", str(bench_dir), "--doc", str(doc)])
    text = doc.read_text()
    assert "hand-written intro" in text and "## Log\nkept" in text and "\nold\n" not in text
    assert "with `dataset.tightness.max_degree=5`" in text
    for section in ("## Preparation", "## Preparation with a smaller similarity cap", "## Training speed", "## Full-ranking evaluation", "## Scaling from 1M",
                    "## Profile of a GCFA training step", "## Optimisations"):
        assert section in text
    assert "Not measured (no docs/bench/ddp.json)" in text  # missing JSON: said, not hidden
    assert "GCFA with `sampler=topk` `model.attention_dim=16` (`gcfa_topk_att16`) / LightGCN: **×" in text
    # each section names the commit its JSON file was stamped with
    stamp = json.loads((bench_dir / "train.json").read_text())["commit"]
    assert re.fullmatch(r"[0-9a-f]{7,40}(-dirty)?|unknown", stamp)
    assert f"Measured at commit `{stamp}`." in text
    assert (tmp_path / "img" / "bench_scaling.png").exists() and (tmp_path / "img" / "bench_scaling.svg").exists()


def test_peak_rss_helpers_see_an_allocation(tmp_path):
    import mmap

    import numpy as np

    # 40 MiB of fresh anonymous pages, touched: a heap allocation could reuse memory that earlier
    # tests freed but the process still holds, and then resident memory would not grow.
    with common.PeakRSS() as peak, mmap.mmap(-1, 40 * 2**20) as m:
        np.frombuffer(m, dtype=np.uint8)[:] = 1
        time.sleep(0.5)  # held long enough for the 2 ms poller to run even on a busy machine
    assert peak.peak_gb * 1024 > 30
    r = common.run_child([sys.executable, "-c", "import numpy as np; a = np.ones(300 * 2**20 // 8); print(a.sum())"])
    assert r["peak_rss_gb"] > 0.28 and r["stdout"].strip()
    assert common.loglog_slope([1, 10, 100], [3, 30, 300]) == pytest.approx(1.0)


@pytest.mark.parametrize("attention, opinion", [(True, True), (True, False), (False, True)])
def test_old_attention_paths_compute_what_the_layer_computes(attention, opinion):
    """The optimisation table's "before" paths of the history attention time the same function."""
    import dgl
    import torch

    from gcfa_dgl.bench.optimisations import per_edge_attention, per_edge_last_layer
    from gcfa_dgl.models.layers import OpinionAttention

    torch.manual_seed(0)
    src, dst = torch.randint(0, 30, (200,)), torch.randint(0, 25, (200,))  # some users without history
    block = dgl.create_block({("video", "rated_by", "user"): (src, dst)},
                             num_src_nodes={"video": 30, "user": 25}, num_dst_nodes={"video": 0, "user": 25})
    args = (block, "rated_by", torch.randn(30, 8), torch.randn(25, 8), torch.randint(0, 5, (200,)), torch.randn(5, 8))
    layer = OpinionAttention(8, attention=attention, opinion=opinion).eval()
    want = layer(*args)
    for old in (per_edge_attention, per_edge_last_layer):
        assert torch.allclose(old(layer, *args), want, atol=1e-5), old.__name__


def test_report_renders_the_concurrent_runs_section(tmp_path):
    """The two-runs-at-once table comes from concurrent.json, ratios as measured."""
    bench = tmp_path / "json"
    bench.mkdir()
    rows = {"one run, default threads": {"runs": 1, "seconds_per_batch": 0.5, "pairs_per_second": 8192, "ratio": 1.0},
            "two runs at once, default threads": {"runs": 2, "seconds_per_batch": 2.5, "pairs_per_second": 3277,
                                                  "ratio": 0.4}}
    (bench / "concurrent.json").write_text(json.dumps({"model": "gcfa", "dataset": "ML-1M", "batch": 4096,
                                                       "max_batches": 30, "repeats": 3, "cores": 2, "settings": rows}))
    text = report.render(bench, tmp_path / "img")
    assert "## Two runs at once" in text
    assert "| two runs at once, default threads | 2.500 | 3,277 | ×0.40 |" in text
    assert "Not measured (no docs/bench/ddp.json)" in text


def test_report_renders_epoch_scaling_for_both_samplers(tmp_path):
    """With epoch.json and epoch_topk.json, the scaling section has one table per sampler and the
    plot one series each."""
    bench = tmp_path / "json"
    bench.mkdir()

    def rows(t):
        return [{"interactions": n, "train_edges": n, "batches_per_epoch": n // 1000, "seconds_per_batch": t * i,
                 "seconds_per_epoch": t * i * n / 1000, "input_nodes_per_batch": 10 * i,
                 "sampled_edges_per_batch": 100 * i, "peak_rss_gb": 1.0 * i} for i, n in ((1, 1000), (2, 2000))]

    ex = {"seconds_per_epoch": 2.0, "peak_rss_gb": 1.0, "seconds_per_batch": 1.0, "sampled_edges_per_batch": 1.0}
    for name, model, t in (("epoch", "gcfa", 0.5), ("epoch_topk", "gcfa_topk", 0.25)):
        (bench / f"{name}.json").write_text(json.dumps({"model": model, "batch": 64, "max_batches": 5, "repeats": 3,
                                                        "cores": 2, "sizes": rows(t), "exponent": ex,
                                                        "sampler": {"mode": "weighted", "kernel": "torch"}}))
    text = report.render(bench, tmp_path / "img")
    section = text.split("## Scaling from 1M to 20M interactions", 1)[1].split("\n## ", 1)[0]
    assert "GCFA with the weighted sampler (tensor-op draws)" in section
    assert section.count("5 batches timed, their time scaled to the epoch") == 2  # files without per_batch
    assert "`python -m gcfa_dgl.bench.epoch --model gcfa_topk`" in section
    assert "| 2,000 | 2,000 | 0.500 |" in section and "| 2,000 | 2,000 | 1.000 |" in section
    assert section.count("Fitted exponent: **time 2.00, memory 1.00**") == 2
    assert (tmp_path / "img" / "bench_scaling.png").exists()
    # a file from before the sampler was recorded ran DGL's kernel, the default then
    old = json.loads((bench / "epoch.json").read_text())
    del old["sampler"]
    (bench / "epoch.json").write_text(json.dumps(old))
    assert "GCFA with the weighted sampler (DGL's kernel, `sampler.kernel=dgl`)" in report.render(bench, tmp_path / "img")
    # a third file grows the batch with the data: its command, and a batch column
    grown = {"model": "gcfa", "per_batch": "median", "batch": None, "batches_per_epoch": 240, "max_batches": 5, "repeats": 3, "cores": 2,
             "sizes": [{**r, "batch": 4 * i} for i, r in enumerate(rows(1.0), 1)], "exponent": ex,
             "sampler": {"mode": "weighted", "kernel": "torch"}}
    (bench / "epoch_grown.json").write_text(json.dumps(grown))
    section = report.render(bench, tmp_path / "img").split("## Scaling from 1M to 20M interactions", 1)[1]
    assert "`python -m gcfa_dgl.bench.epoch --batches-per-epoch 240 --max-batches 5`" in section
    assert "so every epoch has 240 batches" in section
    assert "5 batches timed, the median batch's time (loading included) times the epoch's batch count" in section
    assert "| 2,000 | 2,000 | 8 | 2.000 |" in section
    assert "(a per-batch exponent of 1 makes the epoch linear, as the batch grows with the data)" in section


def test_report_gives_each_rounds_ratio_to_lightgcn(tmp_path):
    """Next to the median ratio, the range of the per-round ratios of the interleaved runs."""
    bench = tmp_path / "json"
    bench.mkdir()
    row = {"pairs_per_second": 1, "peak_rss_gb": 1.0}
    models = {"lightgcn": {**row, "seconds_per_epoch": 10.0, "runs_seconds": [10.0, 12.0, 8.0]},
              "gcfa": {**row, "seconds_per_epoch": 30.0, "runs_seconds": [30.0, 30.0, 30.0]},
              "gcfa_topk_att16": {**row, "seconds_per_epoch": 19.0, "runs_seconds": [19.0, 18.0, 20.0]}}
    (bench / "train.json").write_text(json.dumps({
        "dataset": "d", "train_edges": 100, "batch": 8, "batches_per_epoch": 13, "max_batches": None, "repeats": 3,
        "models": models, "variants": {"gcfa_topk_att16": ["sampler=topk", "model.attention_dim=16"]},
        "over_lightgcn": {"gcfa": 3.0, "gcfa_topk_att16": 1.9}, "gcfa_over_lightgcn": 3.0}))
    text = report.render(bench, tmp_path / "img")
    assert "GCFA / LightGCN seconds per epoch: **×3.00** (per round ×2.50–×3.75) (goal ≤ 2)." in text
    assert ("GCFA with `sampler=topk` `model.attention_dim=16` (`gcfa_topk_att16`) / LightGCN: **×1.90** "
            "(per round ×1.50–×2.50).") in text
