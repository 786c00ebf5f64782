"""Figures of the documentation, drawn from the library itself.

    python -m gcfa_dgl.docs_figures sampling docs/img/sampling.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dgl
import numpy as np
import torch

from data_prep.graph import RATED_BY, RATES
from gcfa_dgl.sampling import ImportanceSampler


def toy_graph() -> dgl.DGLGraph:
    """User 0 rated 8 videos (ratings 1-5); each video has 4 other raters."""
    rng = np.random.default_rng(3)
    ratings0 = np.array([5, 4, 1, 2, 5, 3, 1, 4], dtype=np.float32)
    users, videos, ratings = [0] * 8, list(range(8)), list(ratings0)
    for v in range(8):
        others = rng.choice(np.arange(1, 13), 4, replace=False)
        users += others.tolist()
        videos += [v] * 4
        ratings += rng.integers(1, 6, 4).astype(np.float32).tolist()
    u, v = torch.tensor(users), torch.tensor(videos)
    g = dgl.heterograph({RATES: (u, v), RATED_BY: (v, u)}, num_nodes_dict={"user": 13, "video": 8})
    t = torch.tensor(ratings) / 5
    g.edges[RATES].data["tightness"] = t
    g.edges[RATED_BY].data["tightness"] = t
    return g


def sampling_figure(path: Path, seed: int = 0) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = toy_graph()
    fanouts = [{"rates": 2}, {"rated_by": 3}]  # the first entry is the layer nearest the input
    modes = [("weighted", "weighted, alpha=2: P ∝ tightness²"), ("topk", "topk: the 3 tightest"),
             ("uniform", "uniform (control)")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2))
    ys_v = np.linspace(0.95, 0.05, 8)
    ys_u = np.linspace(0.97, 0.03, 12)
    pos = {("user", 0): (0.05, 0.5)}
    pos.update({("video", v): (0.45, ys_v[v]) for v in range(8)})
    pos.update({("user", u): (0.9, ys_u[u - 1]) for u in range(1, 13)})
    src, dst, eids = g.edges(etype=RATED_BY, form="all")
    t = g.edges[RATED_BY].data["tightness"]
    for ax, (mode, title) in zip(axes, modes):
        dgl.seed(seed)
        s = ImportanceSampler(fanouts, mode=mode, alpha=2.0)
        s.prepare(g)
        _, _, blocks = s.sample(g, {"user": torch.tensor([0])})
        picked = [set(b.edges[RATED_BY].data[dgl.EID].tolist()) | set(b.edges[RATES].data[dgl.EID].tolist())
                  for b in blocks]
        for e in range(g.num_edges(RATED_BY)):
            v, u = int(src[e]), int(dst[e])
            a, b = pos[("user", u)], pos[("video", v)]
            hop = 0 if u == 0 else 1
            chosen = e in picked[1 - hop]
            ax.plot([a[0], b[0]], [a[1], b[1]], color=("tab:red" if hop == 0 else "tab:blue") if chosen else "0.8",
                    lw=0.5 + 4 * float(t[e]) if chosen else 0.6 + 1.5 * float(t[e]), zorder=1)
        for (nt, i), (x, y) in pos.items():
            ax.scatter([x], [y], s=260 if (nt, i) == ("user", 0) else 130,
                       c="black" if (nt, i) == ("user", 0) else ("tab:orange" if nt == "video" else "tab:green"),
                       zorder=2)
            label = f"v{i}" if nt == "video" else f"u{i}"
            ax.annotate(label, (x, y), xytext=(0, 9), textcoords="offset points", ha="center", fontsize=8)
        for v in range(8):
            e = int(eids[(src == v) & (dst == 0)][0])
            ax.annotate(f"{float(t[e]):.1f}", pos[("video", v)], xytext=(-26, -3), textcoords="offset points",
                        fontsize=8, color="tab:red")
        ax.set_title(title)
        ax.set_xlim(-0.05, 1.0)
        ax.set_ylim(-0.05, 1.05)
        ax.axis("off")
    fig.suptitle("Two-layer neighbourhood of user u0 (black): 3 of its videos (red, width ∝ tightness), "
                 "then 2 raters of each (blue)", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("figure", choices=["sampling"])
    p.add_argument("path", type=Path)
    args = p.parse_args(argv)
    print(sampling_figure(args.path))


if __name__ == "__main__":
    main()
