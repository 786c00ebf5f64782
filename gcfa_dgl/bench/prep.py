"""Time and peak RSS of `make data` on synthetic datasets of growing size.

    python -m gcfa_dgl.bench.prep --interactions 1000000 10000000 [--json out.json]

Each size runs `python -m data_prep` in a fresh child process (so its peak RSS is its own) on a
synthetic dataset with 1 user per 100 and 1 video per 1,000 interactions (ML-10M-like density).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_one(n: int, workdir: Path) -> dict:
    users, items = max(n // 100, 10), max(n // 1000, 10)
    cmd = [
        sys.executable, "-m", "data_prep", "dataset=synthetic", f"dataset.name=synthetic_{n}",
        f"dataset.synthetic.n_interactions={n}", f"dataset.synthetic.n_users={users}",
        f"dataset.synthetic.n_items={items}", "dataset.synthetic.n_info=50",
        f"paths.processed_dir={workdir}", "force=true",
    ]
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"data_prep failed for {n} interactions:\n{r.stderr[-3000:]}")
    out = Path(r.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    meta = json.loads((out / "meta.json").read_text())
    return {
        "interactions": n,
        "users": users,
        "videos": items,
        "seconds": round(seconds, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 2),
        "stages": meta["seconds"],
        "edges": meta["edges"],
    }


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--interactions", type=int, nargs="+", default=[1_000_000])
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # Ascending sizes: RUSAGE_CHILDREN is the max over children, so each row reads its own peak.
        for n in sorted(args.interactions):
            row = run_one(n, Path(tmp))
            rows.append(row)
            stages = ", ".join(f"{k} {v:.0f}s" for k, v in row["stages"].items() if v >= 1)
            print(f"{n:>12,} interactions  {row['seconds']:>8.1f} s  peak RSS {row['peak_rss_gb']:.2f} GB  ({stages})",
                  flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
