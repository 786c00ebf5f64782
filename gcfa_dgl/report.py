"""Summarise runs: `python -m gcfa_dgl.report <run or multirun dirs> [--split test] [--metrics ...]`.

Every `metrics.json` below the given directories is one run; runs are grouped by dataset and
model and each metric is shown as mean ± std over the group's seeds (sample std, n-1), with the
number of runs and the mean seconds per epoch. Markdown on stdout; `--csv` writes the tidy table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import pandas as pd

DEFAULT_METRICS = ["full/recall@20", "full/ndcg@20", "full/auc", "sampled/auc", "sampled/ndcg@10",
                   "sampled_n1/auc", "sampled_n1/ndcg@1", "sampled_n1/ndcg@2"]


def collect(dirs: list[Path], split: str) -> pd.DataFrame:
    """One row per (run, metric): dataset, model, seed, run, metric, value, epoch seconds."""
    rows = []
    for d in dirs:
        for path in sorted(d.rglob("metrics.json")):
            m = json.loads(path.read_text())
            timing = path.with_name("timing.json")
            secs = json.loads(timing.read_text()).get("epoch_seconds", []) if timing.exists() else []
            for metric, value in m[split].items():
                rows.append({"dataset": m["dataset"], "model": m["model"], "seed": m["seed"],
                             "run": str(path.parent), "metric": metric, "value": value,
                             "epoch_seconds": statistics.mean(secs) if secs else float("nan"),
                             "best_epoch": m.get("best_epoch", 0)})
    return pd.DataFrame(rows)


def _pm(values: pd.Series) -> str:
    if len(values) < 2:
        return f"{values.mean():.4f}"
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"


def markdown(df: pd.DataFrame, metrics: list[str]) -> str:
    lines = []
    for dataset, dd in df.groupby("dataset", sort=True):
        cols = [m for m in metrics if m in set(dd["metric"])]
        lines += [f"**{dataset}**", "", "| model | runs | " + " | ".join(cols) + " | s / epoch |",
                  "|---|---:|" + "---:|" * len(cols) + "---:|"]
        for model, dm in dd.groupby("model", sort=True):
            runs = dm["run"].nunique()
            cells = [_pm(dm[dm["metric"] == c]["value"]) for c in cols]
            secs = dm.drop_duplicates("run")["epoch_seconds"].mean()
            lines.append(f"| {model} | {runs} | " + " | ".join(cells) + f" | {secs:.0f} |"
                         if secs == secs else f"| {model} | {runs} | " + " | ".join(cells) + " | – |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", type=Path, nargs="+")
    p.add_argument("--split", choices=["valid", "test"], default="test")
    p.add_argument("--metrics", nargs="+", default=DEFAULT_METRICS)
    p.add_argument("--csv", type=Path, default=None)
    args = p.parse_args(argv)
    missing = [d for d in args.dirs if not d.is_dir()]
    if missing:
        sys.exit(f"error: not a directory: {missing[0]}")
    df = collect(args.dirs, args.split)
    if df.empty:
        sys.exit(f"error: no metrics.json below {', '.join(map(str, args.dirs))}")
    print(markdown(df, args.metrics))
    if args.csv:
        df.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
