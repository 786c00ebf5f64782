"""Importance-based neighbour sampling on the heterograph: a `dgl.dataloading.BlockSampler`.

For every layer and edge type, each seed node keeps at most `k` of its in-neighbours, chosen by
relationship tightness (docs/sampling.md):

- `weighted`: without replacement, with probability proportional to tightness ** alpha (drawn
  in tensor ops at a cost per draw, `gcfa_dgl.weighted`; or by DGL's kernel, which reads every
  in-edge of every seed: `kernel="dgl"`);
- `topk`: the k tightest, ties between equally tight edges broken in a fixed pseudo-random order
  of edge ids (`ties="hash"`), or all kept (`ties="all"`: the k tightest and every edge as tight
  as the k-th, so that no order of ties decides a neighbourhood; evaluation's default); with a
  batch's edges excluded, the next tightest take their place;
- `uniform`: without replacement, uniformly (the control);
- `full`: every neighbour (fanouts are ignored).

Selection runs in DGL's C++ kernel (`sample_neighbors_fused`) and tensor ops over whole batches;
Python only loops over layers and edge types. Top-k ranks every node's in-edges once per graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dgl
import torch
from dgl.dataloading import BlockSampler

from data_prep.graph import ETYPE_NAMES as KNOWN_ETYPES
from gcfa_dgl.dgl_compat import copy_edge_features, dgl_threads, set_dgl_threads
from gcfa_dgl.seeding import claim_streams
from gcfa_dgl.weighted import WeightedDraws

MODES = ("weighted", "topk", "uniform", "full")
TIES = ("hash", "all")
SCOPES = ("blocks", "graph")
KERNELS = ("torch", "dgl")
Fanout = int | Mapping[Any, int]


class ImportanceSampler(BlockSampler):
    """A multi-layer block sampler selecting neighbours by tightness.

    `fanouts[i]` is layer i's fanout (layer 0 is nearest the input): one number for every edge
    type, or a dict keyed by edge type name or canonical triple (missing types get 0; -1 means
    all neighbours).

    In `topk` mode with a batch's edges excluded, each node's `spare` next-tightest in-edges are
    cached beyond its k, so an excluded edge is replaced without rereading the node's in-edges.
    """

    spare = 16

    def __init__(
        self,
        fanouts: Sequence[Fanout],
        mode: str = "weighted",
        alpha: float = 1.0,
        weight: str = "tightness",
        deterministic: bool = True,
        kernel: str = "torch",
        ties: str = "hash",
        tie_seed: int = 0,
        scope: str = "blocks",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # DGL's samplers hand seeds to their OpenMP threads, each with its own random stream, in an
        # order that varies from run to run; on one thread (stream 0, gcfa_dgl.seeding) the same
        # seed gives the same neighbourhoods.
        self.deterministic = deterministic
        claim_streams(dgl_threads())
        if mode not in MODES:
            raise ValueError(f"sampler mode must be one of {MODES}, got {mode!r}")
        if kernel not in KERNELS:
            raise ValueError(f"sampler kernel must be one of {KERNELS}, got {kernel!r}")
        if not fanouts:
            raise ValueError("fanouts must name at least one layer")
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if ties not in TIES:
            raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
        for fanout in fanouts:
            for key in fanout if isinstance(fanout, Mapping) else ():
                name = key[1] if isinstance(key, list | tuple) else key
                if name not in KNOWN_ETYPES:
                    raise KeyError(f"unknown edge type {name!r} in fanouts; known: {sorted(KNOWN_ETYPES)}")
        self.fanouts = list(fanouts)
        self.mode = mode
        self.alpha = float(alpha)
        self.kernel = kernel
        self.ties, self.tie_seed, self.scope = ties, int(tie_seed), scope
        self.weight = weight
        self.prob_key = weight if self.alpha == 1.0 else f"_{weight}_pow"
        self._mapping: dict = {}
        self._topk_graphs: dict = {}
        self._graph: dgl.DGLGraph | None = None
        self._fanouts: list[dict] = []
        self._draws: dict = {}
        self._local: dict[str, torch.Tensor] = {}
        self._all_nodes: dict[str, torch.Tensor] = {}

    def __getstate__(self) -> dict:
        """Caches stay behind when a worker process receives the sampler."""
        state = dict(self.__dict__)
        state.update(_mapping={}, _topk_graphs={}, _graph=None, _fanouts=[], _draws={}, _local={}, _all_nodes={})
        return state

    @property
    def num_layers(self) -> int:
        return len(self.fanouts)

    def layer(self, i: int) -> ImportanceSampler:
        """A one-layer sampler with layer i's fanout and the same settings (layer-wise inference)."""
        one = ImportanceSampler([self.fanouts[i]], mode=self.mode, alpha=self.alpha, weight=self.weight,
                                deterministic=self.deterministic, kernel=self.kernel, ties=self.ties,
                                tie_seed=self.tie_seed)
        one._topk_graphs = self._topk_graphs  # the same graph's ranked top-k lists serve every layer
        return one

    def prepare(self, g: dgl.DGLGraph) -> dgl.DGLGraph:
        """Add the sampling probability tightness ** alpha to every edge type (once per graph)."""
        if self.mode == "weighted" and self.prob_key != self.weight:
            for et in g.canonical_etypes:
                if self.prob_key not in g.edges[et].data:
                    g.edges[et].data[self.prob_key] = g.edges[et].data[self.weight].pow(self.alpha)
        return g

    def _fanout(self, g: dgl.DGLGraph, fanout: Fanout) -> dict[tuple[str, str, str], int]:
        if self.mode == "full":
            return {et: -1 for et in g.canonical_etypes}
        if not isinstance(fanout, Mapping):
            return {et: int(fanout) for et in g.canonical_etypes}
        out = {et: 0 for et in g.canonical_etypes}
        for key, k in fanout.items():
            name = key[1] if isinstance(key, list | tuple) else key
            if name not in g.etypes:
                continue  # a known type this graph lacks, e.g. info edges without side information
            out[g.to_canonical_etype(tuple(key) if isinstance(key, list | tuple) else key)] = int(k)
        return out

    def _bind(self, g: dgl.DGLGraph) -> None:
        """Per-graph set-up, once: check the probability feature, reset the caches."""
        if self.mode == "weighted":
            missing = [et for et in g.canonical_etypes if self.prob_key not in g.edges[et].data]
            if missing:
                raise KeyError(f"edge feature {self.prob_key!r} missing on {missing}; call sampler.prepare(g)")
        self._mapping, self._graph, self._draws = {}, g, {}
        self._local = {nt: torch.full((g.num_nodes(nt),), -1, dtype=torch.int64) for nt in g.ntypes}
        self._all_nodes = {nt: torch.arange(g.num_nodes(nt), dtype=g.idtype) for nt in g.ntypes}
        if self._topk_graphs.get("graph") is not g:  # the cache may be shared with layer samplers
            self._topk_graphs.clear()
            self._topk_graphs["graph"] = g
        self._fanouts = [self._fanout(g, f) for f in self.fanouts]

    def sample_blocks(self, g, seed_nodes, exclude_eids=None):
        # A layer sampler sharing the top-k cache may have rebuilt it for another graph.
        if g is not self._graph or self._topk_graphs.get("graph") is not g:
            self._bind(g)
        threads = dgl_threads()
        if not self.deterministic or threads == 1 or self._torch_draws:
            return self._sample(g, seed_nodes, exclude_eids)
        set_dgl_threads(1)  # DGL's own OpenMP runtime: torch.set_num_threads does not reach it
        try:
            return self._sample(g, seed_nodes, exclude_eids)
        finally:
            set_dgl_threads(threads)

    def _sample(self, g, seed_nodes, exclude_eids):
        if self.scope == "graph" and len(self._fanouts) > 1:
            return self._sample_graph(g, seed_nodes, exclude_eids)
        output_nodes = seed_nodes
        blocks = []
        for fo in reversed(self._fanouts):
            block = self._layer_block(g, seed_nodes, fo, exclude_eids)
            seed_nodes = block.srcdata[dgl.NID]
            blocks.insert(0, block)
        return seed_nodes, output_nodes, blocks

    def _sample_graph(self, g, seed_nodes, exclude_eids):
        """Whole-graph scope: every layer but the last holds the sampled in-neighbours of every
        node, so no layer rebuilds the set of nodes a batch reaches; the last holds those of the
        batch's seeds, over all nodes. All nodes are ordered seeds first (a block's destinations
        lead its sources). The draws follow the same law, the batch's edges excluded, as the blocks'.

        Where every layer has the same fanout, the step draws every node's neighbours once and all
        layers share that draw (the last takes the seeds' rows of it): each layer's neighbourhoods
        keep the law of the blocks, and the step draws for each node once instead of once per layer."""
        if not isinstance(seed_nodes, Mapping):
            seed_nodes = {g.ntypes[0]: seed_nodes}
        order = {}
        for nt, every in self._all_nodes.items():
            s = seed_nodes.get(nt, every[:0])
            rest = torch.ones(len(every), dtype=torch.bool)
            rest[s.long()] = False
            order[nt] = torch.cat([s.to(every.dtype), every[rest]])
        if all(fo == self._fanouts[-1] for fo in self._fanouts[:-1]):
            inner = self._layer_block(g, order, self._fanouts[-1], exclude_eids)
            last = _seeds_rows(g, inner, {nt: len(s) for nt, s in seed_nodes.items()})
            return order, seed_nodes, [inner] * (len(self._fanouts) - 1) + [last]
        where = {}  # each node's position in `order`
        for nt, o in order.items():
            where[nt] = torch.empty(len(o), dtype=torch.int64)
            where[nt][o.long()] = torch.arange(len(o))
        blocks = [self._layer_block(g, order, fo, exclude_eids) for fo in self._fanouts[:-1]]
        last = self._layer_block(g, seed_nodes, self._fanouts[-1], exclude_eids)
        blocks.append(_over_all_sources(g, last, order, where))
        return order, seed_nodes, blocks

    def _layer_block(self, g, seeds, fo, exclude_eids):
        """One layer: the sampled in-edges of `seeds` as a block (its destinations, in order)."""
        if self.mode == "topk":
            return self._topk_block(g, seeds, fo, exclude_eids)
        if self._torch_draws:
            return self._weighted_block(g, seeds, fo, exclude_eids)
        prob = self.prob_key if self.mode == "weighted" else None
        uniform = len(set(fo.values())) == 1  # one number: let DGL skip the dict
        return g.sample_neighbors_fused(seeds, next(iter(fo.values())) if uniform else fo, prob=prob,
                                        exclude_edges=exclude_eids, mapping=self._mapping)

    @property
    def _torch_draws(self) -> bool:
        return self.mode == "weighted" and self.kernel == "torch"

    def _weighted_block(self, g, seeds, fanout, exclude_eids=None):
        """Each seed's in-edges drawn without replacement, P ∝ tightness ** alpha, by
        `WeightedDraws` (built once per graph and edge type), leaving out `exclude_eids`."""
        if not isinstance(seeds, Mapping):
            seeds = {g.ntypes[0]: seeds}
        exclude = _exclusions(g, exclude_eids)
        edges = {}
        for et, k in fanout.items():
            s = seeds.get(et[2])
            if k == 0 or s is None or not len(s):
                continue
            if k < 0:  # every in-edge
                src, dst, eid = g.in_edges(s, form="all", etype=et)
                ok = ~torch.isin(eid, exclude[et]) if et in exclude else slice(None)
                edges[et] = (src[ok], dst[ok], eid[ok])
                continue
            if et not in self._draws:
                self._draws[et] = WeightedDraws(g, et, self.prob_key)
            edges[et] = self._draws[et].sample(s, k, exclude.get(et))
        return _block_from_edges(g, seeds, edges, self._local)

    def _topk_cache(self, g, fanout) -> tuple[dict, dgl.DGLGraph, dict, dict]:
        """Once per graph and fanout: per edge type, every node's in-edges tightest first (ties in
        the fixed pseudo-random order of `_tie_key`), cut at k + `spare` and stored as CSR over
        destination nodes; and the subgraph of every node's first k, with the parent's edge ids,
        for the fused kernel. The spares stand in for a batch's excluded edges."""
        key = tuple(sorted((et, k) for et, k in fanout.items()))
        if key in self._topk_graphs:
            return self._topk_graphs[key]
        empty = torch.zeros(0, dtype=g.idtype)
        lists, top_edges = {}, {et: (empty, empty, empty) for et in g.canonical_etypes}
        for et, k in fanout.items():
            if k == 0:
                continue
            src, dst, eid = g.edges(form="all", order="eid", etype=et)
            w = g.edges[et].data[self.weight]
            order, rank = _ranked(dst, w, seed=self.tie_seed)
            degree = g.in_degrees(etype=et)
            tied = _tied_with_kth(dst[order], w[order], rank, k) if self.ties == "all" and k > 0 else None
            if k > 0:
                cut = rank < k + self.spare if tied is None else (rank < k + self.spare) | tied
                order, rank = order[cut], rank[cut]
                tied = None if tied is None else tied[cut]
            kept = torch.bincount(dst[order], minlength=len(degree))
            indptr = torch.zeros(len(degree) + 1, dtype=torch.int64)
            torch.cumsum(kept, 0, out=indptr[1:])
            top = (rank < k if tied is None else (rank < k) | tied) if k > 0 else torch.ones(len(order), dtype=torch.bool)
            sub_eid = torch.full((len(order),), -1, dtype=torch.int64)
            sub_eid[top] = torch.arange(int(top.sum()))
            where = torch.full((len(src),), -1, dtype=torch.int32 if len(order) < 2**31 else torch.int64)
            where[order] = torch.arange(len(order), dtype=where.dtype)  # edge id -> list position
            lists[et] = dict(k=k, src=src[order], dst=dst[order], eid=eid[order], indptr=indptr, sub_eid=sub_eid, where=where,
                             truncated=degree > kept, gone=torch.zeros(len(order), dtype=torch.bool),
                             touched=torch.zeros(len(degree), dtype=torch.bool))
            top_edges[et] = (src[order][top], dst[order][top], eid[order][top])
        sub = dgl.heterograph({et: e[:2] for et, e in top_edges.items()},
                              num_nodes_dict={nt: g.num_nodes(nt) for nt in g.ntypes}, idtype=g.idtype)
        for et, e in top_edges.items():
            sub.edges[et].data["_parent_eid"] = e[2]
        local = {nt: torch.full((g.num_nodes(nt),), -1, dtype=torch.int64) for nt in g.ntypes}
        self._topk_graphs[key] = (lists, sub, {}, local)
        return self._topk_graphs[key]

    def _topk_block(self, g, seeds, fanout, exclude_eids=None):
        """Each seed's k tightest in-edges, leaving out `exclude_eids`.

        The fused kernel takes the seeds' edges in the cached top-k subgraph, minus the excluded
        ones. A seed that lost some of its k (a few per batch) is refilled from its cached spares,
        and one with more exclusions than spares from all its in-edges; exact in every case.
        """
        lists, sub, mapping, local = self._topk_cache(g, fanout)
        exclude = _exclusions(g, exclude_eids)
        if exclude and self.ties == "all":
            raise ValueError("top-k with all ties kept serves evaluation; training batches exclude edges: use ties='hash'")
        sub_exclude, refill = {}, {}
        for et, ex in exclude.items():
            if et not in lists:
                continue
            lst = lists[et]
            hit = lst["where"][ex].long()
            hit = hit[hit >= 0]  # excluded edges within their node's list
            hit_dst = lst["dst"][hit]
            in_sub = lst["sub_eid"][hit]
            sub_exclude[et] = in_sub[in_sub >= 0].to(sub.idtype)
            s = seeds.get(et[2]) if isinstance(seeds, Mapping) else seeds
            if lst["k"] > 0 and s is not None and len(s) and len(sub_exclude[et]):
                refill[et] = self._refill(g, et, lst, s, hit, hit_dst[in_sub >= 0], ex)
        block = sub.sample_neighbors_fused(seeds, -1, exclude_edges=sub_exclude or None, mapping=mapping)
        eids = [block.edges[et].data["_parent_eid"] for et in g.canonical_etypes]
        if any(len(e[2]) for e in refill.values()):
            return _extend_block(g, block, eids, refill, local)
        return copy_edge_features(g, block, eids)

    def _refill(self, g, et, lst, seeds, hit, lost, exclude):
        """Edges that replace the excluded ones among the k of the seeds in `lost` (the rows that
        lost one): the next tightest from the cached spares, or from all in-edges if too few."""
        k, indptr, touched, gone = lst["k"], lst["indptr"], lst["touched"], lst["gone"]
        touched[lost] = True
        a = seeds[touched[seeds]]
        touched[lost] = False
        pos, group = _gather(indptr[a], indptr[a + 1] - indptr[a])
        gone[hit] = True
        keep = ~gone[pos]
        gone[hit] = False
        lens = torch.bincount(group, minlength=len(a))
        first = torch.cumsum(lens, 0) - lens
        count = torch.zeros(len(pos) + 1, dtype=torch.int64)
        torch.cumsum(keep, 0, out=count[1:])
        rank = count[1:] - count[first][group]  # 1-based among the seed's kept edges
        short = lst["truncated"][a] & (count[first + lens] - count[first] < k)
        pos = pos[keep & (rank <= k) & (pos - indptr[a][group] >= k) & ~short[group]]
        src, dst, eid = lst["src"][pos], lst["dst"][pos], lst["eid"][pos]
        if short.any():  # redone from all in-edges, less what the block has: the list's first k
            x_src, x_dst, x_eid = self._exact_topk(g, et, a[short], k, exclude)
            beyond = ~torch.isin(x_eid, lst["eid"][_gather(indptr[a[short]], lens[short].clamp(max=k))[0]])
            src, dst, eid = (torch.cat([u, v[beyond]]) for u, v in ((src, x_src), (dst, x_dst), (eid, x_eid)))
        return src, dst, eid

    def _exact_topk(self, g, et, nodes, k, exclude):
        """The k tightest in-edges of `nodes` among all in-edges not in `exclude` (few nodes)."""
        src, dst, eid = g.in_edges(nodes, form="all", etype=et)
        ok = ~torch.isin(eid, exclude.to(eid.dtype))
        src, dst, eid = src[ok], dst[ok], eid[ok]
        order, rank = _ranked(dst, g.edges[et].data[self.weight][eid], eid, self.tie_seed)
        top = order[rank < k]
        return src[top], dst[top], eid[top]


def _exclusions(g, exclude_eids) -> dict[tuple[str, str, str], torch.Tensor]:
    """The edges to leave out, per canonical edge type (empty types dropped), from what
    `as_edge_prediction_sampler` passes: a tensor (one edge type) or a dict keyed by type."""
    if exclude_eids is None:
        return {}
    ex = exclude_eids if isinstance(exclude_eids, Mapping) else {g.canonical_etypes[0]: exclude_eids}
    return {g.to_canonical_etype(k): torch.as_tensor(v) for k, v in ex.items() if len(v)}


def _tie_key(eid: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A fixed pseudo-random order of edge ids for breaking ties between equally tight edges: a
    bijective 32-bit integer hash (xor-shift, odd multiply, twice) of the id shifted by `seed`, so
    distinct ids below 2**32 get distinct keys. Without it, ties would go by id, and on implicit
    data, where every user-video edge is equally tight, every node would keep its lowest-numbered
    neighbours. Another `seed` gives another order."""
    x = (eid.to(torch.int64) + seed * 0x9E3779B9) & 0xFFFFFFFF
    x = ((x >> 16) ^ x) * 0x45D9F3B & 0xFFFFFFFF
    x = ((x >> 16) ^ x) * 0x45D9F3B & 0xFFFFFFFF
    return (x >> 16) ^ x


def _ranked(dst: torch.Tensor, weight: torch.Tensor, eid: torch.Tensor | None = None, seed: int = 0
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """The order that groups edges by destination, tightest first, ties in `_tie_key` order of
    their edge ids (`eid`; None: the edges are given in edge-id order), and each edge's rank in
    its group, in that order."""
    by_key = torch.argsort(_tie_key(torch.arange(len(dst)) if eid is None else eid, seed))
    order = by_key[torch.sort(weight[by_key], descending=True, stable=True).indices]
    order = order[torch.sort(dst[order], stable=True).indices]
    d = dst[order]
    new = torch.ones(len(d), dtype=torch.bool)
    new[1:] = d[1:] != d[:-1]
    starts = torch.nonzero(new).squeeze(1)
    return order, torch.arange(len(d)) - starts[torch.cumsum(new, 0) - 1]


def _tied_with_kth(dst: torch.Tensor, weight: torch.Tensor, rank: torch.Tensor, k: int) -> torch.Tensor:
    """For edges ranked within their destination (in `_ranked` order, with their `rank`): whether
    each is exactly as tight as its destination's k-th edge (False where a node has fewer than k)."""
    kth = torch.full((int(dst.max()) + 1 if len(dst) else 0,), float("nan"), dtype=weight.dtype)
    at = rank == k - 1
    kth[dst[at]] = weight[at]
    return weight == kth[dst]  # NaN where a node has fewer than k edges: never equal


def _gather(start: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The positions start[i] .. start[i] + lens[i] - 1 for every i, in order, and each one's i."""
    group = torch.repeat_interleave(torch.arange(len(lens)), lens)
    first = torch.cumsum(lens, 0) - lens
    return torch.arange(len(group)) - first[group] + start[group], group


def _nids(block: dgl.DGLGraph, side: str) -> dict[str, torch.Tensor]:
    """A block's parent node ids on one `side` ("src" or "dst"), per node type, also where it has
    one type (for which DGL's `srcdata` holds the tensor itself)."""
    types, data = (block.srctypes, block.srcdata) if side == "src" else (block.dsttypes, block.dstdata)
    return dict(data[dgl.NID]) if len(types) > 1 else {types[0]: data[dgl.NID]}


def _over_all_sources(g, block: dgl.DGLGraph, order: dict[str, torch.Tensor], where: dict[str, torch.Tensor]
                      ) -> dgl.DGLGraph:
    """`block` (destinations leading its sources) with the same destinations and edges, and all
    nodes of `g` as sources in `order` (whose positions `where` gives by node id), so that it reads
    the outputs of a layer computed for every node in that order."""
    nid = _nids(block, "src")
    empty = torch.zeros(0, dtype=g.idtype)
    data, eids = {}, []
    for et in g.canonical_etypes:
        if et in block.canonical_etypes:
            src, dst = block.edges(etype=et)
            data[et] = (where[et[0]][nid[et[0]][src.long()].long()].to(g.idtype), dst)
            eids.append(block.edges[et].data[dgl.EID])
        else:
            data[et] = (empty, empty)
            eids.append(empty.long())
    out = dgl.create_block(data, num_src_nodes={nt: len(v) for nt, v in order.items()},
                           num_dst_nodes={nt: block.num_dst_nodes(nt) for nt in block.dsttypes}, idtype=g.idtype)
    copy_edge_features(g, out, eids)
    for nt in out.srctypes:
        out.srcnodes[nt].data[dgl.NID] = order[nt]
    dst_nid = _nids(block, "dst")
    for nt in out.dsttypes:
        out.dstnodes[nt].data[dgl.NID] = dst_nid[nt]
    return out


def _seeds_rows(g, inner: dgl.DGLGraph, n_seeds: dict[str, int]) -> dgl.DGLGraph:
    """The block of `inner` (every node's draws, sources and destinations both in the order that
    puts the seeds first) cut to the in-edges of its first `n_seeds` destinations per node type,
    over the same sources: the last layer of a step whose layers share one draw."""
    data, eids = {}, []
    for et in g.canonical_etypes:
        src, dst = inner.edges(etype=et)
        keep = torch.nonzero(dst < n_seeds.get(et[2], 0)).squeeze(1)
        data[et] = (src.index_select(0, keep), dst.index_select(0, keep))
        eids.append(inner.edges[et].data[dgl.EID].index_select(0, keep))
    out = dgl.create_block(data, num_src_nodes={nt: inner.num_src_nodes(nt) for nt in g.ntypes},
                           num_dst_nodes={nt: n_seeds.get(nt, 0) for nt in g.ntypes}, idtype=g.idtype)
    copy_edge_features(g, out, eids)
    src_nid = _nids(inner, "src")
    for nt in out.srctypes:
        out.srcnodes[nt].data[dgl.NID] = src_nid[nt]
    for nt in out.dsttypes:
        out.dstnodes[nt].data[dgl.NID] = src_nid[nt][: n_seeds.get(nt, 0)]
    return out


def _extend_block(g, block, block_eids: list[torch.Tensor], extra: dict, local: dict[str, torch.Tensor]) -> dgl.DGLGraph:
    """`block` (its edges' parent ids in `block_eids`, per edge type of `g`) plus the edges
    `extra[etype] = (src, dst, parent eid)` (global ids; every dst is one of the block's) whose
    sources it may lack; edge features are taken lazily from `g`."""
    src_nid = _nids(block, "src")
    own = {et: (*block.edges(etype=et), eid) for et, eid in zip(g.canonical_etypes, block_eids)}
    return _assemble(g, src_nid, {nt: block.num_dst_nodes(nt) for nt in block.dsttypes}, own, extra, local)


def _block_from_edges(g, seeds: Mapping[str, torch.Tensor], edges: dict, local: dict[str, torch.Tensor]) -> dgl.DGLGraph:
    """The block whose destinations are `seeds` (per node type, in order) and whose edges are
    `edges[etype] = (src, dst, parent eid)` in global ids."""
    empty = torch.zeros(0, dtype=g.idtype)
    dst = {nt: seeds.get(nt, empty) for nt in g.ntypes}
    return _assemble(g, dst, {nt: len(v) for nt, v in dst.items()}, {}, edges, local)


def _assemble(g, src_nid: dict, num_dst: dict, own: dict, extra: dict, local: dict[str, torch.Tensor]) -> dgl.DGLGraph:
    """A block of `g` with sources `src_nid` (per node type; the first `num_dst` are its
    destinations) and their edges `own[etype] = (local src, local dst, parent eid)`, plus the
    edges `extra[etype]` in global ids, whose sources are appended when new.

    `local` holds one all -1 array per node type, used as a global-to-local map and reset.
    """
    nids = {}  # every node type's sources: the given ones, then the new ones the extra edges bring
    for nt, old in src_nid.items():
        local[nt].index_copy_(0, old.long(), torch.arange(len(old)))
        seen = torch.zeros(len(local[nt]), dtype=torch.bool)  # a mask, not a sort, for the new ones
        for et, e in extra.items():
            if et[0] == nt:
                seen.index_fill_(0, e[0].long(), True)
        seen.index_fill_(0, old.long(), False)
        new = torch.nonzero(seen).squeeze(1)
        local[nt].index_copy_(0, new, torch.arange(len(old), len(old) + len(new)))
        nids[nt] = torch.cat([old, new.to(old.dtype)])
    empty = torch.zeros(0, dtype=g.idtype)
    data, eids = {}, []
    for et in g.canonical_etypes:
        src, dst, eid = own.get(et, (empty, empty, empty.long()))
        if et in extra:  # sources start with the destinations, so one map serves both
            x_src, x_dst, x_eid = extra[et]
            src = torch.cat([src, local[et[0]].index_select(0, x_src.long()).to(src.dtype)])
            dst = torch.cat([dst, local[et[2]].index_select(0, x_dst.long()).to(dst.dtype)])
            eid = torch.cat([eid, x_eid.to(eid.dtype)])
        data[et] = (src, dst)
        eids.append(eid)
    for nt, v in nids.items():
        local[nt].index_fill_(0, v.long(), -1)
    out = dgl.create_block(data, num_src_nodes={nt: len(v) for nt, v in nids.items()},
                           num_dst_nodes=num_dst, idtype=g.idtype)
    copy_edge_features(g, out, eids)
    for nt in out.srctypes:
        out.srcnodes[nt].data[dgl.NID] = nids[nt]
    for nt in out.dsttypes:
        out.dstnodes[nt].data[dgl.NID] = nids[nt][: num_dst[nt]]
    return out
