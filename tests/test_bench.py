"""`make bench`'s benchmarks end to end on small synthetic data, and the page they write."""

from __future__ import annotations

import json
import re

import pytest

from gcfa_dgl.bench import epoch, evaluate, prep, profile, report, train
from gcfa_dgl.bench.common import synthetic

pytestmark = pytest.mark.slow

SMALL = synthetic(20_000)
# One process, two at once and two DDP ranks: each way the suite starts processes.
PARALLEL = ("one run, default threads", "two runs at once, train.threads=1", "one run, two DDP processes (gloo)")
NAMES = ("prep", "prep_capped", "train", "best", "evaluate", "epoch", "epoch_grown", "profile", "parallel")


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    """The benchmarks once, tiny, writing their JSON as `make bench` does."""
    root = tmp_path_factory.mktemp("bench")
    out = root / "json"
    mp = pytest.MonkeyPatch()
    mp.setenv("GCFA_PROCESSED_DIR", str(root / "processed"))
    mp.delenv("GCFA_RAW_DIR", raising=False)
    tiny = ["--repeats", "1", "--json"]
    try:
        prep.main(["--datasets", "--interactions", "20000", "40000", *tiny, str(out / "prep.json")])
        prep.main(["--datasets", "--interactions", "20000", "40000", "--synthetic-overrides",
                   "dataset.tightness.max_degree=5", *tiny, str(out / "prep_capped.json")])
        epoch.main(["--interactions", "20000", "40000", "--batch", "256", "--max-batches", "3", *tiny, str(out / "epoch.json")])
        epoch.main(["--interactions", "20000", "40000", "--batches-per-epoch", "4", "--max-batches", "2",
                    *tiny, str(out / "epoch_grown.json")])
        train.main(["--only", "bpr", "lightgcn", "gcfa", "--batch", "256", "--max-batches", "2", "--data", *SMALL,
                    *tiny, str(out / "train.json")])
        train.main(["--suite", "best", "--only", "pop", "bpr", "--data", *SMALL, "train.epochs=3",  # a short cap
                    "--json", str(out / "best.json")])
        evaluate.main(["--datasets", "synthetic:20000", "--chunks", "1", "4", *tiny, str(out / "evaluate.json")])
        profile.main(["--batch", "256", "--batches", "2", "--data", *SMALL, "--json", str(out / "profile.json")])
        train.main(["--suite", "parallel", "--only", *PARALLEL, "--batch", "256", "--max-batches", "2", "--data",
                    *SMALL, *tiny, str(out / "parallel.json")])
    finally:
        mp.undo()
    return out


def load(bench_dir, name: str) -> dict:
    return json.loads((bench_dir / f"{name}.json").read_text())


def test_the_similarity_cap_reaches_the_preparation(bench_dir):
    uncapped, capped = load(bench_dir, "prep")["synthetic"], load(bench_dir, "prep_capped")["synthetic"]
    for a, b in zip(uncapped, capped):  # the same interactions; each video counts at most 5 viewers
        assert a["edges"]["user-rates-video"] == b["edges"]["user-rates-video"]
        assert b["edges"]["user-similar-user"] < a["edges"]["user-similar-user"]


def test_epoch_batches_read_sampled_neighbourhoods_and_grow_with_the_batch(bench_dir):
    fixed, grown = load(bench_dir, "epoch")["sizes"], load(bench_dir, "epoch_grown")["sizes"]
    for r in fixed:  # a GCFA batch reads the two-layer neighbourhoods of its pairs and negatives
        assert r["sampled_edges"] > r["input_nodes"] > r["batch"] == 256 and r["scope"] in ("blocks", "graph")
    # 4 batches per epoch: larger batches than 256 pairs, which reach more of the graph
    assert all(g["batch"] > 256 and g["sampled_edges"] > f["sampled_edges"]
               for f, g in zip(fixed, grown))
    assert grown[1]["batch"] > grown[0]["batch"]  # and grow with the data


def test_training_benchmark_times_every_model_against_lightgcn(bench_dir):
    t = load(bench_dir, "train")
    rows = {r[0]: r for r in t["tables"][0]["rows"]}
    assert list(rows) == ["bpr", "lightgcn", "gcfa"] and rows["lightgcn"][4] == "×1.00"
    assert all(r[1] > 0 and r[5] > 0.1 for r in rows.values())  # seconds per batch, peak RSS of a process


def test_time_to_best_reads_the_best_epoch_of_a_full_run(bench_dir):
    rows = {r[0]: r for r in load(bench_dir, "best")["tables"][0]["rows"]}
    assert rows["pop"][1:4] == [0, 0, 0.0]  # nothing to train
    best, run, seconds = rows["bpr"][1:4]
    assert 1 <= best <= run <= 3 and seconds > 0 and rows["bpr"][4] > rows["pop"][4]


def test_profile_sees_the_models_operators(bench_dir):
    p = load(bench_dir, "profile")
    assert all(v > 0 for v in p["seconds_per_step"].values())
    ops = " ".join(r[0] for r in p["tables"][1]["rows"])
    assert "aten::" in ops  # torch's operators, not only the loader's Python


def test_parallel_suite_and_evaluation_rows(bench_dir):
    rows = {r[0]: r for r in load(bench_dir, "parallel")["tables"][0]["rows"]}
    assert list(rows) == list(PARALLEL) and rows["one run, default threads"][4] == "×1.00"
    assert rows["two runs at once, train.threads=1"][3] > 0 and rows["one run, two DDP processes (gloo)"][1] > 0
    e = load(bench_dir, "evaluate")["tables"][0]
    assert [r[0] for r in e["rows"]] == ["dense product + topk", "Evaluator, chunk 1 MiB", "Evaluator, chunk 4 MiB",
                                         "Evaluator with full AUC, chunk 64 MiB"]


def test_report_writes_every_section_and_keeps_what_surrounds_it(bench_dir, tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nhand-written intro\n\n{report.BEGIN}\nold\n{report.END}\n\n## Log\nkept\n")
    report.main(["--bench", str(bench_dir), "--doc", str(doc)])
    text = doc.read_text()
    assert "hand-written intro" in text and "## Log\nkept" in text and "\nold\n" not in text
    for name in NAMES:
        r = load(bench_dir, name)
        assert re.fullmatch(r"[0-9a-f]{7,40}(-dirty)?|unknown", r["commit"])
        assert f"## {r['title']}" in text and f"{r['text']} Recorded in `{bench_dir.name}/{name}.json`." in text
    assert re.search(r"Not measured: [^.]*\bsampler\b", text)  # a missing file is said, not hidden
    assert (tmp_path / "img" / "bench_scaling.png").exists() and (tmp_path / "img" / "bench_scaling.svg").exists()
    assert (tmp_path / "img" / "bench_best.png").exists() and "](img/bench_best.png)" in text


def test_epoch_benchmark_rejects_a_zero_batch_count(capsys):
    with pytest.raises(SystemExit):
        epoch.main(["--batches-per-epoch", "0"])
    assert "--batches-per-epoch must be at least 1, got 0" in capsys.readouterr().err
