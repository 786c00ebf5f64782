"""Before/after timings of each speed change, both measured in the same run.

    python -m gcfa_dgl.bench.optimisations [--repeats 5] [--batch 4096] [--similarity-sizes N ...]
                                           [--max-batches 40] [--data overrides ...] [--json f]
                                           [--cases lightgcn gcmc gcfa workers evaluation similarity topk weighted]

Every case runs the old code path (kept here, or reachable by a switch) and the current one on the
same inputs, interleaved, median of `--repeats`; the ratio before / after is the figure of merit.
- LightGCN step: propagation through `torch.sparse.mm`'s autograd (which transposes Ã on every
  backward) against `SymmetricSpMM` (the backward reuses Ã), forward + backward of a batch;
- GCFA step: the history attention with per-edge concatenations (the paper's formula as
  written) against first layers split and applied per node and per rating level; g's last
  linear layer applied per edge against folded into the attention and applied after the
  weighted sum; and the
  propagation's opinion term gathered per edge against each node's share of every rating level;
- full-ranking evaluation: sorting every row (now only with `eval.full_auc`) against top-k; and
  the chunk plan (users, masked positions, positives) rebuilt on every call against built once;
- similarity edges: exact cosine top-M against `dataset.tightness.max_degree=1000`, on the
  train interactions of synthetic datasets;
- GC-MC step: the encoder's W_r e_src gathered per edge against a block of (source, level)
  pairs read by one sparse product;
- deterministic kernels (a correctness change, not a speed-up): a GCFA step with
  `torch.use_deterministic_algorithms` off against on;
- sampling in a DataLoader worker: GCFA batches through the entry point with
  `sampler.num_workers` 0 against 1 (child processes, `--max-batches` batches each);
- top-k sampling of training batches (their own edges excluded): each seed's k tightest selected
  again from all its in-edges (select_topk widened by the most exclusions of any node, excluded
  edges removed, select_topk again) against ranked once and refilled from cached spares; the
  blocks of 10 GCFA training batches;
- weighted sampling of training batches (their own edges excluded): DGL's kernel on one thread
  (reproducible; it reads every in-edge of every seed) against the tensor-op draws of
  `gcfa_dgl.weighted`; the blocks of 10 GCFA training batches.
ML-1M comes from GCFA_RAW_DIR, or a synthetic stand-in of its size. `--cases gcfa ...` measures
only those cases and keeps the other rows of the existing `--json` file; each row records the
torch threads it ran with.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from gcfa_dgl.bench.common import (
    MEASURED_AT,
    interleaved_medians,
    median,
    ml1m_overrides,
    write_json,
)
from gcfa_dgl.distributed import usable_cores


def pair(name: str, before: str, after: str, t: dict[str, float], note: str = "") -> dict:
    return {"change": name, "before": before, "after": after, "before_seconds": round(t["before"], 6),
            "after_seconds": round(t["after"], 6), "speedup": round(t["before"] / t["after"], 3), "note": note}


def _history_sum(self, sub, x, first_att: Callable[[], torch.Tensor]) -> torch.Tensor:
    """relu(out(Σ β x)) of an old OpinionAttention path, from per-edge x: β = softmax(att[1:] of
    `first_att()`, the attention's first layer per edge) with attention, else the mean."""
    import dgl.function as fn
    from dgl.nn.functional import edge_softmax

    with sub.local_scope():
        if self.attention:
            beta = edge_softmax(sub, self.att[1:](first_att()))
        else:
            beta = (1.0 / sub.in_degrees().clamp(min=1).to(x.dtype))[sub.edges()[1]].unsqueeze(1)
        sub.edata["m"] = x * beta
        sub.update_all(fn.copy_e("m", "m"), fn.sum("m", "h"))
        return torch.relu(self.out(sub.dstdata["h"]))


def per_edge_attention(self, block, etype, h_src, h_dst, levels=None, opinions=None):
    """OpinionAttention as first written: the concatenations built per edge (the "before")."""
    sub = block[etype]
    if sub.num_edges() == 0:
        return torch.relu(self.out(torch.zeros_like(h_dst)))
    src, dst = sub.edges()
    e_s = h_src[src]
    x = self.g(torch.cat([e_s, opinions[levels]], dim=1) if self.opinion else e_s)
    return _history_sum(self, sub, x, lambda: self.att[0](torch.cat([x, h_dst[dst]], dim=1)))


def per_edge_last_layer(self, block, etype, h_src, h_dst, levels=None, opinions=None):
    """OpinionAttention with split first layers but g's last layer applied per edge (the "before")."""
    sub = block[etype]
    if sub.num_edges() == 0:
        return torch.relu(self.out(torch.zeros_like(h_dst)))
    d = h_src.shape[1]
    src, dst = sub.edges()
    x = self.g[-1](self.hidden(h_src, src, levels, opinions))

    def first_att() -> torch.Tensor:  # only called with attention, where self.att exists
        a = self.att[0]
        return x @ a.weight[:, :d].T + (h_dst @ a.weight[:, d:].T + a.bias)[dst]

    return _history_sum(self, sub, x, first_att)


def per_edge_propagation(self, block, h, opinion_emb):
    """Propagation as first written: each edge's opinion embedding gathered (the "before")."""
    import dgl.function as fn
    from torch import nn

    out = {nt: self.self_loop[nt](h[nt][: block.num_dst_nodes(nt)])
           for nt in block.dsttypes if block.num_dst_nodes(nt) and nt in h}
    for et in self.etypes:
        if et not in block.canonical_etypes or block.num_edges(et) == 0:
            continue
        s, name, d = et
        sub = block[et]
        with sub.local_scope():
            sub.srcdata["p"] = self.msg[name](h[s])
            if self.opinion and name in self.op and opinion_emb is not None:
                sub.edata["o"] = self.op[name](opinion_emb)[sub.edata["rating_level"]]
                sub.update_all(fn.u_add_e("p", "o", "m"), fn.mean("m", "a"))
            else:
                sub.update_all(fn.copy_u("p", "m"), fn.mean("m", "a"))
            out[d] = out[d] + sub.dstdata["a"]
    return {nt: self.drop(nn.functional.leaky_relu(v, 0.2)) for nt, v in out.items()}


def per_edge_gcmc_encode(self, block, h):
    """GC-MC's encoder as first written: W_r e_src gathered per edge (the "before")."""
    import dgl.function as fn

    from data_prep.graph import RATED_BY, RATES

    out = {}
    for et, dst in ((RATED_BY, "user"), (RATES, "video")):
        n_dst = block.num_dst_nodes(dst)
        if not n_dst:
            continue
        sub = block[et]
        with sub.local_scope():
            proj = self.w_rating[et[1]](self.drop(h[et[0]])).view(-1, self.n_ratings, self.hidden)
            src, _ = sub.edges()
            sub.edata["m"] = proj[src, sub.edata["rating_level"]]
            sub.update_all(fn.copy_e("m", "m"), fn.mean("m", "mu"))
            mu = torch.relu(sub.dstdata["mu"]) if sub.num_edges() else torch.zeros(n_dst, self.hidden)
        out[dst] = self.dense[dst](self.drop(mu))
    return out


DATA: list[str] = []  # dataset overrides in place of ML-1M (--data)


def _data() -> tuple[list[str], str]:
    """The dataset overrides and label of every case: --data, or ML-1M (or its stand-in)."""
    return (DATA, " ".join(DATA)) if DATA else ml1m_overrides()


def _setup(model_name: str, batch: int, extra: tuple[str, ...] = ()):
    from gcfa_dgl import trainer as T
    from gcfa_dgl.bench.profile import compose
    from gcfa_dgl.sampling import VideoNegativeSampler, edge_loader

    overrides, label = _data()
    cfg = compose(["experiment=table1_ml1m", *overrides, f"model={model_name}", f"sampler.batch_size={batch}", *extra])
    data = T.load_data(cfg)
    T.seed_all(cfg.seed)
    model = T.build_model(cfg, data)
    sampler = T.make_sampler(cfg, data, model, train=True)
    loader = edge_loader(data.graph, torch.arange(data.graph.num_edges("rates")), sampler, VideoNegativeSampler(1), batch)
    return data, model, next(iter(loader)), label


def _step(model, b) -> Callable[[], None]:
    def go() -> None:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(0)
        pos, neg, reg = model(*b)
        (model.loss(pos, neg) + reg).backward()
    return go


def swapped(owner: object, name: str, old: Callable, step: Callable[[], None]) -> Callable[[], None]:
    """`step` run with `owner.name` replaced by the old code path, restored afterwards."""
    def run() -> None:
        current = getattr(owner, name)
        setattr(owner, name, old)
        try:
            step()
        finally:
            setattr(owner, name, current)
    return run


def lightgcn_case(repeats: int, batch: int) -> dict:
    from gcfa_dgl.models import lightgcn

    _, model, b, label = _setup("lightgcn", batch)
    model.train()
    step = _step(model, b)
    before = swapped(lightgcn.SymmetricSpMM, "apply", lambda adj, x: torch.sparse.mm(adj, x), step)
    t = interleaved_medians({"before": before, "after": step}, repeats)
    return pair("LightGCN training step", "torch.sparse.mm autograd", "SymmetricSpMM", t,
                f"{label}, batch {batch}, forward + backward")


def gcmc_case(repeats: int, batch: int) -> dict:
    from gcfa_dgl.models import gcmc

    _, model, b, label = _setup("gcmc", batch, ("sampler=full", "sampler.fanouts=[-1]"))
    model.train()
    step = _step(model, b)
    t = interleaved_medians({"before": swapped(gcmc.GCMC, "encode", per_edge_gcmc_encode, step), "after": step},
                            repeats)
    return pair("GC-MC training step", "per-edge gather of W_r e_src", "level-pair block", t,
                f"{label}, batch {batch}, full neighbourhoods, forward + backward")


def gcfa_case(repeats: int, batch: int) -> list[dict]:
    from gcfa_dgl.models import layers

    _, model, b, label = _setup("gcfa", batch)
    model.train()
    step = _step(model, b)
    before = swapped(layers.OpinionAttention, "forward", per_edge_attention, step)
    gathered = swapped(layers.Propagation, "forward", per_edge_propagation, step)
    per_edge_w2 = swapped(layers.OpinionAttention, "forward", per_edge_last_layer, step)

    def nondeterministic() -> None:
        torch.use_deterministic_algorithms(False)
        try:
            step()
        finally:
            torch.use_deterministic_algorithms(True)

    t = interleaved_medians({"before": before, "after": step, "free": nondeterministic, "gathered": gathered,
                             "per_edge_w2": per_edge_w2}, repeats)
    note = f"{label}, batch {batch}, forward + backward"
    return [pair("GCFA training step", "per-edge concatenations", "split first layers", t, note),
            pair("GCFA training step", "g's last layer per edge", "folded into the attention, applied per node",
                 {"before": t["per_edge_w2"], "after": t["after"]}, note + "; history attention"),
            pair("GCFA training step", "per-edge opinion gather", "rating-level shares",
                 {"before": t["gathered"], "after": t["after"]}, note + "; propagation layers"),
            pair("GCFA training step", "deterministic kernels off", "deterministic kernels on",
                 {"before": t["free"], "after": t["after"]}, note + "; below 1 is the cost of reproducibility")]


def evaluation_case(repeats: int) -> list[dict]:
    from gcfa_dgl.bench.evaluate import DotModel, cases, load
    from gcfa_dgl.evaluate import Evaluator

    data, label = load(" ".join(DATA) if DATA else "ml1m")
    calls, n_users = cases(data, [64])
    model = DotModel(data.n_users, data.n_videos)
    fresh = Evaluator(data, [1], [10, 20], chunk_mb=64)

    def replanned() -> None:
        fresh._plans.clear()
        fresh._full(model, model.zu, model.zv, "valid")

    t = interleaved_medians({"before": calls["Evaluator with full AUC, chunk 64 MiB"], "after": calls["Evaluator, chunk 64 MiB"],
                             "replanned": replanned}, repeats)
    note = f"{label}, {n_users:,} users, random towers"
    return [pair("full-ranking evaluation", "sort every row", "top-k", t, note),
            pair("full-ranking evaluation", "chunk plan built every call", "built once per split",
                 {"before": t["replanned"], "after": t["after"]}, note)]


def similarity_case(repeats: int, sizes: list[int]) -> list[dict]:
    import numpy as np

    from data_prep.sources.synthetic import generate
    from data_prep.tightness import cosine_top_m
    from gcfa_dgl.bench.common import compose_prep
    from gcfa_dgl.bench.prep import synthetic

    out = []
    for n in sizes:
        s = compose_prep(synthetic(n)).dataset.synthetic
        raw = generate(s).interactions
        u, v = np.asarray(raw["user"]), np.asarray(raw["item"])
        nu, nv = int(u.max()) + 1, int(v.max()) + 1

        def run(cap, u=u, v=v, nu=nu, nv=nv):
            return lambda: (cosine_top_m(u, v, nu, nv, 20, max_degree=cap, desc=""),
                            cosine_top_m(v, u, nv, nu, 20, max_degree=cap, desc=""))

        t = interleaved_medians({"before": run(None), "after": run(1000)}, max(1, repeats // 2))
        out.append(pair("similarity edges", "exact", "max_degree 1000", t,
                        f"synthetic, {n:,} interactions (all of them, as train), both sides"))
    return out


def workers_case(repeats: int, batch: int, max_batches: int) -> dict:
    """GCFA batches through the real entry point, sampling in the main process against one
    DataLoader worker process that samples the next batch while the current one trains."""
    import tempfile

    from gcfa_dgl.bench.train import train_once

    overrides, label = _data()
    times: dict[str, list[float]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="gcfa-bench-workers-") as tmp:
        for i in range(max(1, repeats // 2)):
            for k, workers in (("before", 0), ("after", 1)):
                out = Path(tmp) / f"{k}{i}"
                times[k].append(train_once("gcfa", [*overrides, f"sampler.num_workers={workers}"], batch,
                                           max_batches, out)["seconds"])
    t = {k: median(v) for k, v in times.items()}
    return pair("GCFA training batches", "sampling in the training process", "1 DataLoader worker", t,
                f"{label}, batch {batch}, {max_batches} batches through the entry point")


def topk_reselect(self, g, seeds, fanout, exclude_eids=None):
    """The old top-k block: the seeds' k tightest selected again from all their in-edges."""
    import dgl

    if exclude_eids is None:
        frontier = dgl.sampling.select_topk(g, fanout, self.weight, nodes=seeds)
    else:
        exclude = {g.to_canonical_etype(k): v for k, v in exclude_eids.items() if len(v)}
        widened = dict(fanout)
        for et, eids in exclude.items():
            if fanout[et] >= 0:
                _, dst = g.find_edges(eids, etype=et)
                widened[et] = fanout[et] + int(torch.bincount(dst).max())
        frontier = dgl.sampling.select_topk(g, widened, self.weight, nodes=seeds)
        for et in frontier.canonical_etypes:
            frontier.edges[et].data["_parent_eid"] = frontier.edges[et].data[dgl.EID]
        for et, eids in exclude.items():
            parent = frontier.edges[et].data[dgl.EID]
            drop = torch.nonzero(torch.isin(parent, eids.to(parent.dtype))).squeeze(1)
            if len(drop):
                frontier.remove_edges(drop, etype=et)
        frontier = dgl.sampling.select_topk(frontier, fanout, self.weight, nodes=seeds)
        for et in frontier.canonical_etypes:
            frontier.edges[et].data[dgl.EID] = frontier.edges[et].data.pop("_parent_eid")
    eids = frontier.edata[dgl.EID]
    block = dgl.to_block(frontier, seeds)
    block.edata[dgl.EID] = eids
    return block


def _recorded_batches(batch: int, batches: int, overrides: list[str]):
    """The graph, the training sampler of GCFA with `overrides`, and what the edge loader asked of
    it (seeds and excluded edges) in `batches` training batches of ML-1M."""
    from gcfa_dgl import trainer as T
    from gcfa_dgl.bench.profile import compose
    from gcfa_dgl.sampling import VideoNegativeSampler, edge_loader

    data_overrides, label = _data()
    cfg = compose(["experiment=table1_ml1m", *data_overrides, "model=gcfa", f"sampler.batch_size={batch}", *overrides])
    data = T.load_data(cfg)
    T.seed_all(cfg.seed)
    g = data.graph
    sampler = T.make_sampler(cfg, data, T.build_model(cfg, data), train=True)
    calls: list[tuple] = []
    sample_blocks = sampler.sample_blocks
    sampler.sample_blocks = lambda g, seeds, exclude_eids=None: (calls.append((seeds, exclude_eids)),
                                                                  sample_blocks(g, seeds, exclude_eids))[1]
    it = iter(edge_loader(g, torch.arange(g.num_edges("rates")), sampler, VideoNegativeSampler(1), batch))
    for _ in range(batches):
        next(it)
    del sampler.sample_blocks
    return g, sampler, calls, label


def topk_case(repeats: int, batch: int, batches: int = 10) -> dict:
    from gcfa_dgl.sampling import ImportanceSampler

    g, sampler, calls, label = _recorded_batches(batch, batches, ["sampler=topk"])

    def sample_all() -> None:
        for seeds, exclude in calls:
            sampler.sample_blocks(g, seeds, exclude)

    before = swapped(ImportanceSampler, "_topk_block", topk_reselect, sample_all)
    t = interleaved_medians({"before": before, "after": sample_all}, repeats)
    return pair("top-k sampling of training batches", "reselect from all in-edges", "rank once, refill from spares",
                t, f"{label}, batch {batch}, the blocks of {batches} GCFA training batches, own edges excluded")


def weighted_case(repeats: int, batch: int, batches: int = 10) -> dict:
    g, sampler, calls, label = _recorded_batches(batch, batches, [])

    def sample_all(kernel: str) -> Callable[[], None]:
        def go() -> None:
            sampler.kernel = kernel
            for seeds, exclude in calls:
                sampler.sample_blocks(g, seeds, exclude)
        return go

    t = interleaved_medians({"before": sample_all("dgl"), "after": sample_all("torch")}, repeats)
    return pair("weighted sampling of training batches", "DGL's kernel, one thread", "tensor-op draws",
                t, f"{label}, batch {batch}, the blocks of {batches} GCFA training batches, own edges excluded")


# Each case and the `change` of its rows, in the order of the table.
CASES = {"lightgcn": "LightGCN training step", "gcmc": "GC-MC training step", "gcfa": "GCFA training step",
         "workers": "GCFA training batches", "evaluation": "full-ranking evaluation",
         "similarity": "similarity edges", "topk": "top-k sampling of training batches",
         "weighted": "weighted sampling of training batches"}


def run(repeats: int, batch: int, similarity_sizes: list[int], max_batches: int = 40,
        cases: list[str] | None = None, earlier: dict | None = None) -> dict:
    """Measure `cases` (all by default); rows of the other cases are kept from `earlier`."""
    run_case = {
        "lightgcn": lambda: [lightgcn_case(repeats, batch)],
        "gcmc": lambda: [gcmc_case(repeats, batch)],
        "gcfa": lambda: gcfa_case(repeats, batch),
        "workers": lambda: [workers_case(repeats, batch, max_batches)],
        "evaluation": lambda: evaluation_case(repeats),
        "similarity": lambda: similarity_case(repeats, similarity_sizes),
        "topk": lambda: [topk_case(repeats, batch)],
        "weighted": lambda: [weighted_case(repeats, batch)],
    }
    kept = (earlier or {}).get("cases", [])
    old = (earlier or {}).get("commit") or "unknown"  # rows of a file written before rows had a stamp
    rows = []
    for name, change in CASES.items():
        if cases is None or name in cases:
            rows += [{**r, "threads": torch.get_num_threads(), "commit": MEASURED_AT} for r in run_case[name]()]
        else:
            rows += [{**r, "commit": r.get("commit") or old} for r in kept if r["change"] == change]
    return {"threads": torch.get_num_threads(), "cores": usable_cores(), "repeats": repeats, "cases": rows}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--similarity-sizes", type=int, nargs="*", default=[1_000_000, 5_000_000])
    p.add_argument("--max-batches", type=int, default=40)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--data", nargs="+", default=None, help="dataset overrides in place of ML-1M")
    p.add_argument("--cases", nargs="+", default=None, choices=list(CASES),
                   help="measure only these; the other rows are kept from the existing --json file")
    a = p.parse_args(argv)
    DATA[:] = a.data or []
    earlier = json.loads(a.json.read_text()) if a.cases and a.json and a.json.exists() else None
    res = run(a.repeats, a.batch, a.similarity_sizes, a.max_batches, a.cases, earlier)
    print("| change | before | after | before (s) | after (s) | ratio |\n|---|---|---|---:|---:|---:|")
    for c in res["cases"]:
        print(f"| {c['change']} | {c['before']} | {c['after']} | {c['before_seconds']:.3f} | "
              f"{c['after_seconds']:.3f} | x{c['speedup']:.2f} |", file=sys.stdout)
    if a.json:
        write_json(a.json, res)
    return res


if __name__ == "__main__":
    main()
