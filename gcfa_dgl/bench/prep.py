"""Time and peak RSS of `make data` on the real datasets and on synthetic data of growing size.

    python -m gcfa_dgl.bench.prep [--datasets ml100k ml1m_notime] [--interactions 1000000 5000000 20000000]
                                  [--synthetic-overrides key=value ...] [--repeats 3] [--json f]

Each preparation runs `python -m data_prep ... force=true` in a fresh child process; its wall time
and its own peak RSS (wait4) are recorded, median time and maximum RSS over `--repeats`. Synthetic
data has 1 user per 100 and 1 video per 1,000 interactions and 50 info tags. The fitted exponent
b of time ~ interactions^b (and of memory) over the synthetic sizes is the figure of merit: 1.0 is
linear. `--synthetic-overrides` changes the synthetic preparations (for example
`dataset.tightness.max_degree=100`); the JSON records them. Real datasets need GCFA_RAW_DIR (or are downloaded, with paths.download=true); a missing
one is reported and skipped. The outputs go to the usual processed directory, so training
benchmarks find them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from gcfa_dgl.bench.common import loglog_slope, median, run_child, write_json
from gcfa_dgl.distributed import usable_cores


def synthetic(n: int) -> list[str]:
    """Dataset overrides of the synthetic benchmark data with n interactions (at least 100 users
    and 400 videos, so small sizes still leave 99 unseen videos per user for the negatives)."""
    return ["dataset=synthetic", f"dataset.name=synthetic_{n}", f"dataset.synthetic.n_interactions={n}",
            f"dataset.synthetic.n_users={max(n // 100, 100)}", f"dataset.synthetic.n_items={max(n // 1000, 400)}",
            "dataset.synthetic.n_info=50"]


def prepare_once(overrides: list[str]) -> dict:
    r = run_child([sys.executable, "-m", "data_prep", *overrides, "force=true"])
    out = Path(r["stdout"].strip().splitlines()[-1].split(": ", 1)[1])
    meta = json.loads((out / "meta.json").read_text())
    return {"seconds": r["seconds"], "peak_rss_gb": r["peak_rss_gb"], "meta": meta}


def bench(name: str, overrides: list[str], repeats: int) -> dict:
    runs = []
    for i in range(repeats):
        runs.append(prepare_once(overrides))
        print(f"  {name}: run {i + 1}/{repeats} {runs[-1]['seconds']:.1f} s", file=sys.stderr, flush=True)
    meta = runs[-1]["meta"]
    c = meta["counts"]
    return {
        "dataset": name,
        "interactions": int(c["interactions"]),
        "seconds": round(median([r["seconds"] for r in runs]), 2),
        "peak_rss_gb": round(max(r["peak_rss_gb"] for r in runs), 3),
        "runs_seconds": [round(r["seconds"], 2) for r in runs],
        "stages": meta["seconds"],
        "edges": meta["edges"],
    }


def has_raw(dataset: str) -> bool:
    raw = os.environ.get("GCFA_RAW_DIR")
    folder = {"ml100k": "ml-100k", "ml1m_notime": "ml-1m", "ml1m": "ml-1m", "tiktok": "tiktok-mmssl"}[dataset]
    return bool(raw) and (Path(raw) / folder).is_dir()


def run(datasets: list[str], sizes: list[int], repeats: int, synthetic_overrides: list[str] | None = None) -> dict:
    extra = list(synthetic_overrides or [])
    rows, skipped = [], []
    for d in datasets:
        if has_raw(d):
            rows.append(bench(d, [f"dataset={d}"], repeats))
        else:
            skipped.append(d)
    synth = [bench(f"synthetic {n:,}", synthetic(n) + extra, repeats) for n in sorted(sizes)]
    fit = {}
    if len(synth) >= 2:
        x = [r["interactions"] for r in synth]
        fit = {"seconds": round(loglog_slope(x, [r["seconds"] for r in synth]), 3),
               "peak_rss_gb": round(loglog_slope(x, [r["peak_rss_gb"] for r in synth]), 3)}
    return {"repeats": repeats, "cores": usable_cores(), "real": rows, "synthetic": synth, "exponent": fit,
            "skipped": skipped, "synthetic_overrides": extra}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="*", default=["ml100k", "ml1m_notime"],
                   choices=["ml100k", "ml1m", "ml1m_notime", "tiktok"])
    p.add_argument("--interactions", type=int, nargs="*", default=[1_000_000, 5_000_000, 20_000_000])
    p.add_argument("--synthetic-overrides", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    res = run(a.datasets, a.interactions, a.repeats, a.synthetic_overrides)
    print(f"make data, median of {a.repeats} (peak RSS: maximum)")
    print("| dataset | interactions | seconds | peak RSS |\n|---|---:|---:|---:|")
    for r in res["real"] + res["synthetic"]:
        print(f"| {r['dataset']} | {r['interactions']:,} | {r['seconds']:.1f} | {r['peak_rss_gb']:.2f} GB |")
    if res["exponent"]:
        print(f"fitted exponent over the synthetic sizes: time {res['exponent']['seconds']:.2f}, "
              f"memory {res['exponent']['peak_rss_gb']:.2f}")
    for d in res["skipped"]:
        print(f"skipped {d}: its raw files are not under GCFA_RAW_DIR")
    if a.json:
        write_json(a.json, res)
    return res


if __name__ == "__main__":
    main()
