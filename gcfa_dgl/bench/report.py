"""docs/benchmarks.md from the JSON files of `make bench`, with its figures.

    python -m gcfa_dgl.bench.report [--bench docs/bench] [--doc docs/benchmarks.md] [--img docs/img]

Only the part between the `<!-- bench:begin -->` and `<!-- bench:end -->` markers is rewritten
(the rest of the page, such as the optimisation log, is kept); a missing JSON file leaves its
section out with a note. The figures are PNG and SVG.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from data_prep.store import atomic_write_text
from gcfa_dgl.bench.common import git_commit
from gcfa_dgl.bench.train import VARIANTS

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def _load(d: Path, name: str) -> dict | None:
    p = d / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _at(d: dict) -> str:
    """Where a JSON file says which commit it was measured at: that sentence, else nothing."""
    return f" Measured at commit `{d['commit']}`." if d.get("commit") else ""


def _overrides(d: dict) -> str:
    extra = d.get("synthetic_overrides") or []
    return f", {' '.join(extra)}" if extra else ""


def _sampler_label(ep: dict, short: bool = False) -> str:
    if ep.get("model") == "gcfa_topk":
        return "top-k" if short else "top-k sampler (`sampler=topk`)"
    # Files written before the sampler was recorded ran DGL's kernel, the default then.
    dgl_kernel = ep.get("sampler", {}).get("kernel", "dgl") == "dgl"
    if short:
        return "weighted, DGL's kernel" if dgl_kernel else "weighted"
    return "weighted sampler (DGL's kernel, `sampler.kernel=dgl`)" if dgl_kernel else "weighted sampler (tensor-op draws)"


def _scaling_plot(prep: dict | None, epochs: list[dict], img: Path, capped: dict | None = None) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    series = []
    for p in (prep, capped):
        if p and p.get("synthetic"):
            x = [r["interactions"] for r in p["synthetic"]]
            series.append((f"make data{_overrides(p)}", x, [r["seconds"] for r in p["synthetic"]],
                           [r["peak_rss_gb"] for r in p["synthetic"]], p.get("exponent", {})))
    for epoch in epochs:
        if not epoch.get("sizes"):
            continue
        x = [r["interactions"] for r in epoch["sizes"]]
        ex = epoch.get("exponent", {})
        grown = f", {epoch['batches_per_epoch']} batches per epoch" if epoch.get("batches_per_epoch") else ""
        series.append((f"GCFA epoch, {_sampler_label(epoch, short=True)}{grown}{_overrides(epoch)}", x,
                       [r["seconds_per_epoch"] for r in epoch["sizes"]], [r["peak_rss_gb"] for r in epoch["sizes"]],
                       {"seconds": ex.get("seconds_per_epoch"), "peak_rss_gb": ex.get("peak_rss_gb")}))
    if not series:
        return None
    def with_exponent(name: str, b: float | None) -> str:  # one size has no fitted exponent
        return name if b is None else f"{name} (exponent {b:.2f})"

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2 + 0.25 * len(series)))
    for name, x, t, m, ex in series:
        a.plot(x, t, marker="o", label=with_exponent(name, ex.get("seconds")))
        b.plot(x, m, marker="o", label=with_exponent(name, ex.get("peak_rss_gb")))
    for ax, ylabel in ((a, "seconds"), (b, "peak RSS (GB)")):
        ax.set(xscale="log", yscale="log", xlabel="interactions (synthetic)", ylabel=ylabel)
        plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")  # 6, not 6 x 10^0
        lo, hi = ax.get_ylim()
        ax.yaxis.set_major_formatter(plain)  # minor ticks labelled only where a decade has no major one
        ax.yaxis.set_minor_formatter(plain if hi / lo < 30 else matplotlib.ticker.NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2))  # below: the lines stay visible
    a.set_title("time")
    b.set_title("memory")
    fig.tight_layout()
    img.mkdir(parents=True, exist_ok=True)
    for ext in ("png", "svg"):
        fig.savefig(img / f"bench_scaling.{ext}", dpi=110)
    plt.close(fig)
    return "img/bench_scaling.png"


def _prep(prep: dict | None, title: str = "## Preparation (`make data`)", name: str = "prep") -> list[str]:
    out = [title, ""]
    if not prep:
        return [*out, f"Not measured (no docs/bench/{name}.json).", ""]
    extra = prep.get("synthetic_overrides") or []
    out += ["`python -m gcfa_dgl.bench.prep`: each preparation in a fresh process with `force=true`; "
            f"median time and maximum peak RSS of {prep['repeats']} runs. Synthetic data: 1 user per 100 "
            "and 1 video per 1,000 interactions" + (f", with `{' '.join(extra)}`." if extra else ".") + _at(prep), "",
            "| dataset | interactions | seconds | peak RSS | similarity edges (s) |", "|---|---:|---:|---:|---:|"]
    for r in prep["real"] + prep["synthetic"]:
        out.append(f"| {r['dataset']} | {r['interactions']:,} | {r['seconds']:.1f} | {r['peak_rss_gb']:.2f} GB | "
                   f"{r['stages'].get('tightness', float('nan')):.1f} |")
    if prep.get("exponent"):
        e = prep["exponent"]
        out += ["", f"Fitted exponent over the synthetic sizes (time ~ interactions^b): **time {e['seconds']:.2f}, "
                f"memory {e['peak_rss_gb']:.2f}** (1.0 is linear)."]
    for d in prep.get("skipped", []):
        out.append(f"\n{d} was skipped: its raw files were not under GCFA_RAW_DIR.")
    return [*out, ""]


def _sampler(s: dict | None) -> list[str]:
    out = ["## Sampling", ""]
    if not s:
        return [*out, "Not measured (no docs/bench/sampler.json).", ""]
    out += [f"`python -m gcfa_dgl.bench.sampler`: {s['graph']}, fanouts {s['fanouts']}, {s['batch']} seeds per "
            f"batch, {s.get('dgl_threads', s['threads'])} DGL thread(s); seeds per second, median of 5, interleaved; the "
            "second DGL instance shows the noise floor." + _at(s), "",
            "| sampler | seeds / s | ratio to DGL |", "|---|---:|---:|"]
    for k, v in s["seeds_per_second"].items():
        out.append(f"| {k} | {v:,} | ×{s['ratio_vs_dgl'][k]:.2f} |")
    return [*out, ""]


def _train(t: dict | None) -> list[str]:
    out = ["## Training speed and memory on ML-1M", ""]
    if not t:
        return [*out, "Not measured (no docs/bench/train.json).", ""]
    how = "one full epoch" if not t.get("max_batches") else f"{t['max_batches']} batches scaled to an epoch"
    out += [f"`python -m gcfa_dgl.bench.train`: {t['dataset']}, {t['train_edges']:,} training pairs, batch "
            f"{t['batch']} for every model ({t['batches_per_epoch']} batches), each model with its Table 1 sampler, "
            f"{how}, median of {t['repeats']}, {t.get('cores', '?')} core(s); peak RSS of the whole training process "
            "(maximum)." + _at(t), "",
            "| model | s / epoch | training pairs / s | peak RSS |", "|---|---:|---:|---:|"]
    for m, r in t["models"].items():
        out.append(f"| {m} | {r['seconds_per_epoch']:.1f} | {r['pairs_per_second']:,} | {r['peak_rss_gb']:.2f} GB |")

    def rounds(m: str) -> str:
        """The ratio in each round of the interleaved runs: how far the median can be trusted."""
        a, b = t["models"][m].get("runs_seconds", []), t["models"].get("lightgcn", {}).get("runs_seconds", [])
        r = [x / y for x, y in zip(a, b) if y]
        return f" (per round ×{min(r):.2f}–×{max(r):.2f})" if len(r) > 1 else ""

    if t.get("gcfa_over_lightgcn") is not None:
        out += ["", f"GCFA / LightGCN seconds per epoch: **×{t['gcfa_over_lightgcn']:.2f}**{rounds('gcfa')} (goal ≤ 2)."]
    variants = t.get("variants") or {m: overrides for m, (_, overrides) in VARIANTS.items()}  # older JSON
    for m, ratio in t.get("over_lightgcn", {"gcfa_topk": t.get("gcfa_topk_over_lightgcn")}).items():
        if m != "gcfa" and ratio is not None:
            how = " ".join(f"`{o}`" for o in variants.get(m, []))
            out.append(f"GCFA with {how} (`{m}`) / LightGCN: **×{ratio:.2f}**{rounds(m)}.")
    if "gcfa" in t["models"]:
        out.append(f"Peak RSS of GCFA training: **{t['models']['gcfa']['peak_rss_gb']:.2f} GB** (goal < 4 GB).")
    return [*out, ""]


def _evaluation(e: dict | None) -> list[str]:
    out = ["## Full-ranking evaluation", ""]
    if not e:
        return [*out, "Not measured (no docs/bench/evaluate.json).", ""]
    out += ["`python -m gcfa_dgl.bench.evaluate`: every user with a validation video against all videos, "
            "random 64-d towers; the reference is one dense users × videos product and `torch.topk`. "
            f"Median of {e['repeats']} interleaved timings; memory: peak RSS above the start of one call in a "
            "fresh process." + _at(e), ""]
    for r in e["results"]:
        out += [f"**{r['dataset']}**: {r['users']:,} users × {r['videos']:,} videos "
                f"(dense scores {r['dense_matrix_mb']:.0f} MiB).", "",
                "| method | seconds | ratio to dense | peak extra memory |", "|---|---:|---:|---:|"]
        for k, s in r["seconds"].items():
            out.append(f"| {k} | {s:.3f} | ×{r['ratio_vs_dense'][k]:.2f} | {r['peak_extra_mb'][k]:.0f} MiB |")
        out.append("")
    return out


def _epoch(epochs: list[dict], plot: str | None) -> list[str]:
    out = ["## Scaling from 1M to 20M interactions", ""]
    if plot:
        out += [f"![time and memory against interactions]({plot})", ""]
    if not epochs:
        return [*out, "Epoch scaling not measured (no docs/bench/epoch.json).", ""]
    for ep in epochs:
        extra = ep.get("synthetic_overrides") or []
        flag = f" --model {ep['model']}" if ep.get("model", "gcfa") != "gcfa" else ""
        grown = ep.get("batches_per_epoch")
        if grown:
            flag += f" --batches-per-epoch {grown} --max-batches {ep['max_batches']}"
            how = f"the batch grown with the data (training pairs / {grown}, so every epoch has {grown} batches)"
        else:
            how = f"batch {ep['batch']}"
        out += [f"`python -m gcfa_dgl.bench.epoch{flag}`: GCFA with the {_sampler_label(ep)}, {how}, "
                f"{ep['max_batches']} batches timed, " + ("the median batch's time (loading included) times the "
                "epoch's batch count" if ep.get("per_batch") == "median" else "their time scaled to the epoch")
                + f", median of {ep['repeats']}; peak RSS of "
                "the training process" + (f"; data prepared with `{' '.join(extra)}`." if extra else ".") + _at(ep), "",
                "| interactions | training pairs | " + ("batch | " if grown else "") + "s / batch | s / epoch | "
                "input nodes / batch | sampled edges / batch | peak RSS |",
                "|---:|---:|" + ("---:|" if grown else "") + "---:|---:|---:|---:|---:|"]
        for r in ep["sizes"]:
            work = (f"{r['input_nodes_per_batch']:,} | {r['sampled_edges_per_batch']:,}"
                    if "sampled_edges_per_batch" in r else "– | –")
            size_batch = f"{r['batch']:,} | " if grown else ""
            out.append(f"| {r['interactions']:,} | {r['train_edges']:,} | {size_batch}{r['seconds_per_batch']:.3f} | "
                       f"{r['seconds_per_epoch']:.0f} | {work} | {r['peak_rss_gb']:.2f} GB |")
        if ep.get("exponent"):
            x = ep["exponent"]
            out += ["", f"Fitted exponent: **time {x['seconds_per_epoch']:.2f}, memory {x['peak_rss_gb']:.2f}**."]
            if "sampled_edges_per_batch" in x:
                linear = ("1 makes the epoch linear, as the batch grows with the data" if grown else
                          "0 makes the epoch linear")
                out.append(f"Per batch: time {x['seconds_per_batch']:.2f}, sampled edges "
                           f"{x['sampled_edges_per_batch']:.2f} (a per-batch exponent of {linear}).")
        out.append("")
    return out


def _profile(p: dict | None) -> list[str]:
    out = ["## Profile of a GCFA training step", ""]
    if not p:
        return [*out, "Not measured (no docs/bench/profile.json).", ""]
    out += [f"`python -m gcfa_dgl.bench.profile`: {p['dataset']}, batch {p['batch']}, {p['batches']} steps, "
            f"{p['threads']} threads: {p['step_total']:.3f} s per step." + _at(p), "",
            "| phase | s / step | share |", "|---|---:|---:|"]
    for k, v in p["seconds_per_step"].items():
        out.append(f"| {k} | {v:.3f} | {v / p['step_total']:.0%} |")
    out += ["", "| operator (torch.profiler, self CPU) | share | calls / step |", "|---|---:|---:|"]
    for o in p["top_ops"][:10]:
        out.append(f"| `{o['op']}` | {o['self_share']:.1%} | {o['calls_per_step']:.0f} |")
    return [*out, ""]


def _optimisations(o: dict | None) -> list[str]:
    out = ["## Optimisations", ""]
    if not o:
        return [*out, "Not measured (no docs/bench/optimisations.json).", ""]
    out += ["`python -m gcfa_dgl.bench.optimisations`: each change's old and new code path on the same inputs, "
            f"interleaved in one run, median of {o['repeats']}, {o['threads']} threads."
            + (f" Rows measured at commit `{o['commit']}` unless marked." if o.get("commit") else ""), "",
            "| change | before | after | before (s) | after (s) | before / after | on |",
            "|---|---|---|---:|---:|---:|---|"]
    for c in o["cases"]:
        threads = f"; {c['threads']} thread(s)" if "threads" in c and c["threads"] != o["threads"] else ""
        if c.get("commit") and c["commit"] != o.get("commit"):
            threads += f"; at `{c['commit']}`"  # a row kept from an earlier run (--cases)
        out.append(f"| {c['change']} | {c['before']} | {c['after']} | {c['before_seconds']:.3f} | "
                   f"{c['after_seconds']:.3f} | ×{c['speedup']:.2f} | {c['note']}{threads} |")
    return [*out, ""]


def _ddp(d: dict | None) -> list[str]:
    out = ["## Two DDP processes", ""]
    if not d:
        return [*out, "Not measured (no docs/bench/ddp.json).", ""]
    base = d["pairs_per_second"]["1 process"]
    out += [f"`python -m gcfa_dgl.bench.ddp`: GCFA, one epoch, {d['dataset']}, global batch {d['global_batch']}, "
            f"median of {d['repeats']}." + _at(d), "", "| setting | training pairs / s | ratio |", "|---|---:|---:|"]
    for k, v in d["pairs_per_second"].items():
        out.append(f"| {k} | {v:,.0f} | ×{v / base:.2f} |")
    return [*out, ""]


def _concurrent(c: dict | None) -> list[str]:
    out = ["## Two runs at once", ""]
    if not c:
        return [*out, "Not measured (no docs/bench/concurrent.json).", ""]
    out += [f"`python -m gcfa_dgl.bench.concurrent`: {c['model'].upper()} on {c['dataset']}, batch {c['batch']}, "
            f"{c['max_batches']} batches per run through the entry point, runs started together, median of "
            f"{c['repeats']}, {c['cores']} core(s)." + _at(c), "",
            "| setting | s / batch, each run | training pairs / s, all runs | ratio to one run |", "|---|---:|---:|---:|"]
    for name, r in c["settings"].items():
        out.append(f"| {name} | {r['seconds_per_batch']:.3f} | {r['pairs_per_second']:,} | ×{r['ratio']:.2f} |")
    return [*out, ""]


def render(bench: Path, img: Path) -> str:
    names = ("prep", "prep_capped", "sampler", "train", "evaluate", "epoch", "epoch_topk", "epoch_grown", "profile",
             "optimisations", "ddp", "concurrent")
    data = {n: _load(bench, n) for n in names}
    cores = sorted({d["cores"] for d in data.values() if d and "cores" in d})
    where = (f"{cores[0]} core(s) available to each benchmark process" if len(cores) == 1 else
             f"{' or '.join(map(str, cores))} cores available to a benchmark process (each JSON file records its own)")
    epochs = [e for e in (data["epoch"], data["epoch_topk"], data["epoch_grown"]) if e]
    plot = _scaling_plot(data["prep"], epochs, img, data["prep_capped"])
    lines = [BEGIN, "", f"Written by `make bench-report` at commit `{git_commit()}` from the JSON files of `make bench` "
             "(each section names the commit it was measured at); "
             f"{where}. Absolute times depend on the machine; the ratios and exponents are the figures of merit.", ""]
    lines += _prep(data["prep"])
    lines += _prep(data["prep_capped"], "## Preparation with a smaller similarity cap", "prep_capped")
    lines += _sampler(data["sampler"]) + _train(data["train"])
    lines += _evaluation(data["evaluate"]) + _epoch(epochs, plot) + _profile(data["profile"])
    lines += _optimisations(data["optimisations"]) + _ddp(data["ddp"]) + _concurrent(data["concurrent"])
    return "\n".join([*lines, END])


def update(doc: Path, generated: str) -> str:
    """The page with its generated part replaced (or appended, on a page without markers)."""
    if doc.exists():
        text = doc.read_text()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            return head + generated + rest.split(END, 1)[1]
        return text.rstrip() + "\n\n" + generated + "\n"
    return "# Benchmarks\n\n" + generated + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", type=Path, default=Path("docs/bench"))
    p.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"))
    p.add_argument("--img", type=Path, default=None, help="figure directory (default: docs/img beside --doc)")
    a = p.parse_args(argv)
    img = a.img or a.doc.parent / "img"
    atomic_write_text(a.doc, update(a.doc, render(a.bench, img)))
    print(f"wrote {a.doc}")


if __name__ == "__main__":
    main()
