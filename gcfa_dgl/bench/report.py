"""docs/benchmarks.md's measured part from the JSON files of `make bench`, and its two plots.

    python -m gcfa_dgl.bench.report [--bench docs/bench] [--doc docs/benchmarks.md] [--img docs/img]

Only the text between the `<!-- bench:begin -->` and `<!-- bench:end -->` markers is rewritten;
each JSON file (the format of `bench.common`) becomes one section, in `ORDER`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from data_prep.store import atomic_write_text
from gcfa_dgl.report import markdown_table, save_figure

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
ORDER = ("prep", "prep_capped", "sampler", "train", "best", "evaluate", "epoch", "epoch_blocks", "epoch_graph",
         "epoch_degree", "epoch_grown", "profile", "parallel")


def _save(fig, img: Path, stem: str) -> str:
    """The figure as PNG and SVG in `img`; its path relative to the page."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    img.mkdir(parents=True, exist_ok=True)
    save_figure(fig, img, stem)
    plt.close(fig)
    return f"img/{stem}.png"


def scaling_plot(results: list[dict], img: Path) -> str | None:
    """Time and peak RSS against interactions, log-log, one line per `series` of the results."""
    import matplotlib  # slow to import: only where a figure is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [s for r in results for s in r.get("series", [])]
    if not series:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2 + 0.25 * len(series)))
    for ax, key, title in zip(axes, ("seconds", "peak_rss_gb"), ("time (s)", "peak RSS (GB)")):
        for s in series:
            b = s["exponent"].get(key)
            ax.plot(s["x"], s[key], marker="o", label=s["label"] + (f" (exponent {b:.2f})" if b is not None else ""))
        ax.set(xscale="log", yscale="log", xlabel="interactions (synthetic)", title=title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    return _save(fig, img, "bench_scaling")


def best_plot(best: dict, img: Path) -> str | None:
    """Test NDCG@20 against seconds to the best epoch, one labelled point per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = best["tables"][0]["columns"]
    rows = [r for r in best["tables"][0]["rows"] if r[cols.index("s to best")] > 0]
    if not rows:
        return None
    t, q = cols.index("s to best"), cols.index("test NDCG@20")
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.scatter([r[t] for r in rows], [r[q] for r in rows])
    for r in rows:
        ax.annotate(r[0], (r[t], r[q]), textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax.set(xscale="log", xlabel="seconds to the best validation epoch", ylabel="test NDCG@20",
           title="quality against training time")
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, img, "bench_best")


def render(bench: Path, img: Path) -> str:
    results = {n: json.loads((bench / f"{n}.json").read_text()) for n in ORDER if (bench / f"{n}.json").exists()}
    lines = [BEGIN, "", "Written by `make bench-report` from the JSON files of `make bench` (each records the commit it measured). "
             "Absolute times depend on the machine; the ratios and exponents are the figures of merit.", ""]
    plots = {"epoch": ("time and memory against interactions", scaling_plot(list(results.values()), img)),
             "best": ("test NDCG@20 against seconds to the best epoch", best_plot(results["best"], img)
                      if "best" in results else None)}
    for name, r in results.items():
        alt, plot = plots.get(name, ("", None))
        lines += [f"## {r['title']}", ""] + ([f"![{alt}]({plot})", ""] if plot else [])
        lines += [r["text"] + f" Recorded in `{bench.name}/{name}.json`.", ""]
        for t in r["tables"]:
            lines += [*markdown_table(t["columns"], t["rows"], t.get("caption")), ""]
        lines += [*r.get("notes", []), ""] if r.get("notes") else []
    missing = [n for n in ORDER if n not in results]
    return "\n".join(lines + ([f"Not measured: {', '.join(missing)}.", ""] if missing else []) + [END])


def update(doc: Path, generated: str) -> str:
    """The page with its generated part replaced (appended to a page without markers)."""
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + generated + rest.split(END, 1)[1]
    return text.rstrip() + "\n\n" + generated + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", type=Path, default=Path("docs/bench"))
    p.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"))
    p.add_argument("--img", type=Path, help="figure directory (default: img/ beside --doc)")
    a = p.parse_args(argv)
    atomic_write_text(a.doc, update(a.doc, render(a.bench, a.img or a.doc.parent / "img")))
    print(f"wrote {a.doc}")


if __name__ == "__main__":
    main()
