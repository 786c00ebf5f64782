"""Summarise runs into tables and figures.

    python -m gcfa_dgl.report <run or multirun dirs> [--out DIR] [--split test] [--metrics ...]

Every `metrics.json` below the given directories is one run. Runs are grouped by dataset, model
and variant (the model and sampler settings that differ between runs of the same model, e.g.
`attention=False`), and each metric is shown as mean ± std over the group's seeds (sample std),
with the number of runs, the mean seconds per epoch, the best epochs (the range over seeds) and the
mean wall time to the kept model (the end of its best epoch; a closed form's fits). The best mean of each column is in bold,
and a last row gives GCFA's relative improvement over the best other model.

With `--out DIR`: `table.csv` (tidy: one row per run and metric), `table.md`, `ablation.md` (GCFA
variants only, when there are several: means against the reference, then each variant's change
against the reference run of the same seed), `fig_auc.{png,svg}` (the paper's Figure 3: a grouped bar
chart of AUC per dataset with std error bars; `--bar-metric` picks another metric),
`fig_quality_time.{png,svg}` (that metric against the minutes to each model's kept epoch),
`loss_curves.{png,svg}` and `activity.md` (`--activity-metric`, full/ndcg@20 by default, per
user-activity bucket: users with at most 5, 6 to 20 or more than 20 training interactions).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from gcfa_dgl.config import run_config
from gcfa_dgl.metrics import BUCKETS

DEFAULT_METRICS = ["full/recall@20", "full/ndcg@20", "full/auc", "sampled/auc", "sampled/ndcg@10",
                   "sampled_n1/auc", "sampled_n1/ndcg@1", "sampled_n1/ndcg@2"]
REFERENCE_MODEL = "gcfa"


def bucket_metric(metric: str, bucket: str) -> str:
    """The tidy table's name of `metric` (protocol/name) among the users of one activity bucket."""
    return f"{metric} | train {bucket}"


def _settings(run: Path) -> dict[str, str]:
    """Model and sampler settings of a run, flattened (empty when the run has no Hydra config)."""
    saved = run_config(run)
    if saved is None:
        return {}
    cfg = OmegaConf.to_container(saved, resolve=False)
    out = {k: str(v) for k, v in cfg.get("model", {}).items() if k not in ("_target_", "name")}
    for k in ("mode", "alpha", "fanouts", "kernel", "scope"):
        if k in cfg.get("sampler", {}):
            out[f"sampler.{k}"] = str(cfg["sampler"][k])
    overrides = Path(run) / ".hydra" / "overrides.yaml"
    for o in OmegaConf.load(overrides) if overrides.exists() else []:
        if str(o).startswith("tuned="):
            out["tuned"] = str(o).split("=", 1)[1]
    return out


def collect(dirs: list[Path], split: str) -> pd.DataFrame:
    """One row per (run, metric): dataset, model, variant, seed, run, metric, value, timings."""
    runs = []
    for d in dirs:
        for path in sorted(d.rglob("metrics.json")):
            m = json.loads(path.read_text())
            timing = path.with_name("timing.json")
            t = json.loads(timing.read_text()) if timing.exists() else {}
            runs.append((path.parent, m, t, _settings(path.parent)))
    # A variant is how a run differs from the other runs of its dataset and model: each setting
    # that varies is shown when it departs from its most common value (an ablation's reference
    # row has no label), or always when no value is the most common (a grid sweep). A run of a
    # tuned preset is named by its preset and compared only with runs of the same preset.
    groups: dict[tuple[str, str, str | None], list[dict[str, str]]] = {}
    for _, m, _, st in runs:
        groups.setdefault((m["dataset"], m["model"], st.get("tuned")), []).append(st)
    modes: dict[tuple[str, str, str | None], dict[str, str | None]] = {}
    for key, group in groups.items():
        modes[key] = {}
        for k in sorted(set().union(*group) - {"tuned"}):
            counts = Counter(g.get(k) for g in group).most_common()
            if len(counts) > 1:
                modes[key][k] = counts[0][0] if counts[0][1] > counts[1][1] else None
    rows = []
    for run, m, t, st in runs:
        mode = modes[(m["dataset"], m["model"], st.get("tuned"))]
        variant = ", ".join(([f"tuned={st['tuned']}"] if "tuned" in st else [])
                            + [f"{k}={st.get(k)}" for k, v in mode.items() if v is None or st.get(k) != v])
        secs, best = t.get("epoch_seconds", []), m.get("best_epoch", 0)
        elapsed = t.get("elapsed_seconds") or []
        # wall time to the kept model: to the end of the best epoch, or a closed form's fits
        to_best = elapsed[best - 1] if 0 < best <= len(elapsed) else t.get("fit_seconds") or float("nan")
        base = {"dataset": m["dataset"], "model": m["model"], "variant": variant, "seed": m["seed"], "run": str(run),
                "epoch_seconds": statistics.mean(secs) if secs else float("nan"), "best_epoch": best,
                "to_best_seconds": to_best}
        rows += [{**base, "metric": metric, "value": value} for metric, value in m[split].items()]
        for protocol, by_bucket in m.get("buckets", {}).get(split, {}).items():
            for bucket, values in by_bucket.items():
                rows += [{**base, "metric": bucket_metric(f"{protocol}/{name}", bucket), "value": value}
                         for name, value in values.items()]
    return pd.DataFrame(rows)


def _history(dirs: list[Path]) -> pd.DataFrame:
    rows = []
    for d in dirs:
        for path in sorted(d.rglob("metrics.json")):
            m = json.loads(path.read_text())
            rows += [{"dataset": m["dataset"], "model": m["model"], "run": str(path.parent),
                      "epoch": h["epoch"], "loss": h["loss"]} for h in m.get("history", [])]
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Mean, std and count per (dataset, model, variant, metric)."""
    df = df[df["metric"].isin(metrics)]
    g = df.groupby(["dataset", "model", "variant", "metric"])["value"]
    out = g.agg(["mean", "std", "count"]).reset_index()
    per_run = df.drop_duplicates("run").groupby(["dataset", "model", "variant"])
    timing = per_run.agg(epoch_seconds=("epoch_seconds", "mean"), to_best_seconds=("to_best_seconds", "mean"),
                         first_best=("best_epoch", "min"), last_best=("best_epoch", "max")).reset_index()
    return out.merge(timing, on=["dataset", "model", "variant"])


def markdown_table(columns: list[str], rows: list[list], caption: str | None = None) -> list[str]:
    """A Markdown table: the first column left-aligned, the others right-aligned, numbers with
    thousands separators as given (rounded by the caller)."""
    def cell(v) -> str:
        return f"{v:,}" if isinstance(v, int | float) and not isinstance(v, bool) else str(v)

    return [*([caption, ""] if caption else []), "| " + " | ".join(columns) + " |",
            "|---|" + "---:|" * (len(columns) - 1), *("| " + " | ".join(map(cell, r)) + " |" for r in rows)]


def _cell(mean: float, std: float, n: int, bold: bool) -> str:
    text = f"{mean:.4f}" if n < 2 or std != std else f"{mean:.4f} ± {std:.4f}"
    return f"**{text}**" if bold else text


def markdown(s: pd.DataFrame, metrics: list[str]) -> str:
    lines = []
    for dataset, dd in s.groupby("dataset", sort=True):
        cols = [m for m in metrics if m in set(dd["metric"])]
        best = {c: dd[dd["metric"] == c]["mean"].max() for c in cols}
        rows = []
        for (model, variant), dm in dd.groupby(["model", "variant"], sort=True):
            by = dm.set_index("metric")
            cells = [_cell(by.loc[c, "mean"], by.loc[c, "std"], int(by.loc[c, "count"]), by.loc[c, "mean"] == best[c])
                     if c in by.index else "–" for c in cols]
            secs, to_best = dm["epoch_seconds"].iloc[0], dm["to_best_seconds"].iloc[0]
            lo, hi = int(dm["first_best"].iloc[0]), int(dm["last_best"].iloc[0])
            rows.append([f"{model} ({variant})" if variant else model, int(dm["count"].max()), *cells,
                         f"{secs:.0f}" if secs == secs else "–", (f"{lo}" if lo == hi else f"{lo}–{hi}") if hi else "–",
                         f"{to_best / 60:.1f}" if to_best == to_best else "–"])
        ref = dd[(dd["model"] == REFERENCE_MODEL) & (dd["variant"] == "")]
        others = dd[dd["model"] != REFERENCE_MODEL]
        if not ref.empty and not others.empty:
            cells = []
            for c in cols:
                r, o = ref[ref["metric"] == c]["mean"], others[others["metric"] == c]["mean"]
                cells.append(f"{(r.iloc[0] - o.max()) / o.max():+.1%}" if len(r) and len(o) and o.max() else "–")
            rows.append([f"{REFERENCE_MODEL} vs best other", "", *cells, "", "", ""])
        lines += [*markdown_table(["model", "runs", *cols, "s / epoch", "best epoch", "min to best"], rows,
                                  f"**{dataset}**"), ""]
    return "\n".join(lines)


def ablation_markdown(s: pd.DataFrame, metrics: list[str]) -> str:
    """Variants of one model against its unlabelled reference row: mean ± std and the change."""
    lines = []
    for dataset, dd in s.groupby("dataset", sort=True):
        cols = [m for m in metrics if m in set(dd["metric"])]
        ref = dd[dd["variant"] == ""].set_index("metric")["mean"]
        rows = []
        for variant, dm in sorted(dd.groupby("variant"), key=lambda kv: (kv[0] != "", kv[0])):
            by = dm.set_index("metric")
            cells = []
            for c in cols:
                if c not in by.index:
                    cells.append("–")
                    continue
                text = _cell(by.loc[c, "mean"], by.loc[c, "std"], int(by.loc[c, "count"]), False)
                if variant and c in ref.index and ref[c]:
                    text += f" ({(by.loc[c, 'mean'] - ref[c]) / ref[c]:+.1%})"
                cells.append(text)
            rows.append([variant or "reference", int(dm["count"].max()), *cells])
        lines += [*markdown_table(["variant", "runs", *cols], rows, f"**{dataset}**"), ""]
    return "\n".join(lines)


def ablation_paired_markdown(df: pd.DataFrame, metrics: list[str]) -> str:
    """Each variant against the reference run of the same seed: the mean ± std of the relative
    change over the paired seeds and how many of them went up. Runs of one seed share their
    random draws as far as the variant allows, so pairing them removes part of the seed spread."""
    # one row per (dataset, variant, seed), one column per metric; several runs of a seed are averaged
    wide = df[df["metric"].isin(metrics)].pivot_table(index=["dataset", "variant", "seed"], columns="metric",
                                                      values="value", aggfunc="mean")
    lines = []
    for dataset, dd in wide.groupby(level="dataset"):
        dd = dd.droplevel("dataset")
        names = set(dd.index.get_level_values("variant"))
        if "" not in names or len(names) < 2:
            continue
        cols = [m for m in metrics if m in dd.columns]
        ref = dd.xs("", level="variant")
        rows = []
        for variant in sorted(names - {""}):
            var = dd.xs(variant, level="variant")
            cells, paired = [], 0
            for c in cols:
                a, r = var[c].dropna(), ref[c].dropna()
                seeds = a.index.intersection(r[r != 0].index)
                if not len(seeds):
                    cells.append("–")
                    continue
                rel = (a[seeds] - r[seeds]) / r[seeds]
                paired = max(paired, len(seeds))
                spread = f" ± {rel.std():.1%}" if len(rel) > 1 else ""
                cells.append(f"{rel.mean():+.1%}{spread} ({int((rel > 0).sum())}/{len(rel)} up)")
            rows.append([variant, paired, *cells])
        lines += [*markdown_table(["variant", "seeds", *cols], rows,
                                  f"**{dataset}**: change against the reference of the same seed"), ""]
    return "\n".join(lines)


def activity_markdown(df: pd.DataFrame, metric: str) -> str:
    """`metric` per user-activity bucket: one column per bucket (with its users), one row per model
    and variant, mean ± std over seeds, the best mean of each column in bold (unless every row ties).
    Empty without buckets."""
    protocol = metric.split("/")[0]
    lines = []
    for dataset, dd in df.groupby("dataset", sort=True):
        buckets = [b for b, *_ in BUCKETS if bucket_metric(metric, b) in set(dd["metric"])]
        if not buckets:
            continue
        s = summary(dd, [bucket_metric(metric, b) for b in buckets]).set_index(["model", "variant", "metric"])
        users = dd[dd["metric"].isin([bucket_metric(f"{protocol}/users", b) for b in buckets])]
        count = users.groupby("metric")["value"].max()
        means = s.groupby("metric")["mean"]
        best = means.max().where(means.nunique() > 1)  # no bold in a tie of all
        rows = []
        for model, variant in dict.fromkeys(s.index.droplevel("metric")):
            cells = []
            for b in buckets:
                key = (model, variant, bucket_metric(metric, b))
                r = s.loc[key] if key in s.index else None
                cells.append("–" if r is None else _cell(r["mean"], r["std"], int(r["count"]),
                                                         r["mean"] == best[bucket_metric(metric, b)]))
            rows.append([f"{model} ({variant})" if variant else model, *cells])
        cols = [f"{b} ({int(count.get(bucket_metric(f'{protocol}/users', b), 0)):,} users)" for b in buckets]
        lines += [*markdown_table(["model", *cols], rows, f"**{dataset}**: {metric} by training interactions per user"), ""]
    return "\n".join(lines)


def save_figure(fig, out: Path, stem: str) -> None:
    for ext in ("png", "svg"):
        fig.savefig(out / f"{stem}.{ext}", dpi=110)


def headline(s: pd.DataFrame) -> pd.DataFrame:
    """The summary rows the figures show: each model with its own settings or a tuned preset, no
    other variant; `label` names a tuned row "<model> (tuned)"."""
    keep = s[(s["variant"] == "") | s["variant"].str.fullmatch(r"tuned=[^,]+")].copy()
    keep["label"] = keep["model"].where(keep["variant"] == "", keep["model"] + " (tuned)")
    return keep


def plots(s: pd.DataFrame, hist: pd.DataFrame, out: Path, bar_metric: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    s = headline(s)
    bars = s[s["metric"] == bar_metric]
    if not bars.empty:
        datasets, models = sorted(bars["dataset"].unique()), sorted(bars["label"].unique())
        fig, ax = plt.subplots(figsize=(max(6.5, 1.5 + 1.4 * len(datasets) * max(1, len(models)) / 3), 4))
        width = 0.8 / len(models)
        for i, model in enumerate(models):
            sub = bars[bars["label"] == model].set_index("dataset")
            means = [sub["mean"].get(d, np.nan) for d in datasets]
            stds = [sub["std"].get(d, 0.0) if sub["std"].get(d, 0.0) == sub["std"].get(d, 0.0) else 0.0
                    for d in datasets]
            ax.bar(np.arange(len(datasets)) + i * width - 0.4 + width / 2, means, width, yerr=stds,
                   capsize=3, label=model)
        ax.set_xticks(np.arange(len(datasets)), datasets)
        low = np.nanmin(bars["mean"] - bars["std"].fillna(0))
        ax.set_ylim(max(0.0, low - 0.05), min(1.0, np.nanmax(bars["mean"] + bars["std"].fillna(0)) + 0.03))
        ax.set_ylabel(bar_metric)
        ax.set_title(f"{bar_metric} by dataset (mean ± std over seeds)")
        ax.legend(ncol=min(len(models), 4), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1))
        fig.tight_layout()
        save_figure(fig, out, "fig_auc")
        plt.close(fig)
    timed = s[(s["metric"] == bar_metric) & (s["to_best_seconds"] > 0)]
    if not timed.empty:
        datasets = sorted(timed["dataset"].unique())
        fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.8), squeeze=False)
        for ax, d in zip(axes[0], datasets):
            for _, r in timed[timed["dataset"] == d].iterrows():
                err = r["std"] if r["std"] == r["std"] else 0.0
                ax.errorbar(r["to_best_seconds"] / 60, r["mean"], yerr=err, fmt="o", capsize=3, label=r["label"])
                ax.annotate(r["label"], (r["to_best_seconds"] / 60, r["mean"]), textcoords="offset points",
                            xytext=(4, 4), fontsize=8)
            ax.set_xscale("log")
            ax.set(title=f"{d}: quality against time to the kept model", xlabel="minutes to the best epoch (log)",
                   ylabel=bar_metric)
        fig.tight_layout()
        save_figure(fig, out, "fig_quality_time")
        plt.close(fig)
    if not hist.empty:
        datasets = sorted(hist["dataset"].unique())
        fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.6), squeeze=False)
        for ax, d in zip(axes[0], datasets):
            for model, dm in hist[hist["dataset"] == d].groupby("model"):
                curve = dm.groupby("epoch")["loss"].mean()
                ax.plot(curve.index, curve.values, marker="o", ms=3, label=model)
            ax.set(title=f"training loss: {d}", xlabel="epoch", ylabel="loss (mean over runs)")
            ax.legend(fontsize=8)
        fig.tight_layout()
        save_figure(fig, out, "loss_curves")
        plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", type=Path, nargs="+")
    p.add_argument("--split", choices=["valid", "test"], default="test")
    p.add_argument("--metrics", nargs="+", default=DEFAULT_METRICS)
    p.add_argument("--bar-metric", default="sampled_n1/auc")
    p.add_argument("--activity-metric", default="full/ndcg@20")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--csv", type=Path, default=None)
    args = p.parse_args(argv)
    missing = [d for d in args.dirs if not d.is_dir()]
    if missing:
        sys.exit(f"error: not a directory: {missing[0]}")
    df = collect(args.dirs, args.split)
    if df.empty:
        sys.exit(f"error: no metrics.json below {', '.join(map(str, args.dirs))}")
    s = summary(df, list(dict.fromkeys([*args.metrics, args.bar_metric])))
    text = markdown(s, args.metrics)
    print(text)
    if args.csv:
        df.to_csv(args.csv, index=False)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        df.to_csv(args.out / "table.csv", index=False)
        (args.out / "table.md").write_text(text + "\n")
        activity = activity_markdown(df, args.activity_metric)
        if activity:
            (args.out / "activity.md").write_text(activity + "\n")
        gcfa = s[s["model"] == REFERENCE_MODEL]
        if gcfa["variant"].nunique() > 1:
            paired = ablation_paired_markdown(df[df["model"] == REFERENCE_MODEL], args.metrics)
            (args.out / "ablation.md").write_text(ablation_markdown(gcfa, args.metrics) + "\n" + paired + "\n")
        plots(s, _history(args.dirs), args.out, args.bar_metric)


if __name__ == "__main__":
    main()
