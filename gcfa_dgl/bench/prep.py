"""Time and peak RSS of `make data` on the real datasets and on synthetic data of growing size.

    python -m gcfa_dgl.bench.prep [--datasets ml100k ml1m_notime] [--interactions 1000000 5000000]
                                  [--synthetic-overrides key=value ...] [--repeats 3] [--json f]

Each preparation is `python -m data_prep ... force=true` in a fresh process (median time, maximum
peak RSS). The fitted exponent of time ~ interactions^b over the synthetic sizes is the figure of
merit (1.0: linear). Real datasets need GCFA_RAW_DIR and are skipped without it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from gcfa_dgl.bench import common

RAW = {"ml100k": "ml-100k", "ml1m": "ml-1m", "ml1m_notime": "ml-1m", "tiktok": "tiktok-mmssl"}


def bench(name: str, overrides: list[str], repeats: int) -> dict:
    runs = [common.run_child([sys.executable, "-m", "data_prep", *overrides, "force=true"]) for _ in range(repeats)]
    out = Path(runs[-1]["stdout"].strip().splitlines()[-1].split(": ", 1)[1])
    meta = json.loads((out / "meta.json").read_text())
    print(f"  {name}: {[round(r['seconds'], 1) for r in runs]} s", file=sys.stderr, flush=True)
    return {"dataset": name, "interactions": int(meta["counts"]["interactions"]),
            "seconds": round(common.median([r["seconds"] for r in runs]), 1),
            "peak_rss_gb": round(max(r["peak_rss_gb"] for r in runs), 2),
            "similarity_seconds": round(meta["seconds"].get("tightness", float("nan")), 1), "edges": meta["edges"]}


def run(datasets: list[str], sizes: list[int], repeats: int, extra: list[str]) -> dict:
    raw = os.environ.get("GCFA_RAW_DIR")
    real = [d for d in datasets if raw and (Path(raw) / RAW[d]).is_dir()]
    rows = [bench(d, [f"dataset={d}"], repeats) for d in real]
    synth = [bench(f"synthetic {n:,}", common.synthetic(n) + extra, repeats) for n in sorted(sizes)]
    x = [r["interactions"] for r in synth]
    fit = {k: common.slope(x, [r[k] for r in synth]) for k in ("seconds", "peak_rss_gb")} if len(synth) > 1 else {}
    cap = f" with `{' '.join(extra)}`" if extra else ""
    return {"title": f"Preparation (`make data`){cap}",
            "text": f"`python -m gcfa_dgl.bench.prep`: each preparation in a fresh process with `force=true`, median "
                    f"time and maximum peak RSS of {repeats} runs; synthetic data has 1 user per 100 and 1 video per "
                    "1,000 interactions.",
            "tables": [{"columns": ["dataset", "interactions", "seconds", "peak RSS (GB)", "similarity edges (s)"],
                        "rows": [[r["dataset"], r["interactions"], r["seconds"], r["peak_rss_gb"], r["similarity_seconds"]]
                                 for r in rows + synth]}],
            "notes": ([f"Fitted exponent over the synthetic sizes: **time {fit['seconds']:.2f}, memory "
                       f"{fit['peak_rss_gb']:.2f}** (1.0 is linear)."] if fit else [])
            + [f"{d} skipped: its raw files are not under GCFA_RAW_DIR." for d in datasets if d not in real],
            "real": rows, "synthetic": synth, "exponent": fit, "synthetic_overrides": extra,
            "series": [{"label": "make data" + "".join(f", {e}" for e in extra), "x": x, "seconds": [r["seconds"] for r in synth],
                        "peak_rss_gb": [r["peak_rss_gb"] for r in synth], "exponent": fit}] if synth else []}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="*", default=["ml100k", "ml1m_notime"], choices=sorted(RAW))
    p.add_argument("--interactions", type=int, nargs="*", default=[1_000_000, 5_000_000])
    p.add_argument("--synthetic-overrides", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    return common.finish(run(a.datasets, a.interactions, a.repeats, a.synthetic_overrides), a.json)


if __name__ == "__main__":
    main()
