"""Weighted neighbour sampling without replacement at a cost per draw, not per in-edge.

Successive sampling picks a node's in-edges one at a time, each with probability proportional to
the weights of the edges not picked yet. DGL's kernel does this by reading every in-edge of every
seed, so its cost grows with the degree. Here the same distribution comes from draws with
replacement: in an i.i.d. sequence of draws with P(edge) ∝ weight, the first k distinct edges, in
the order they appear, are a successive sample (each new edge is proportional to the weights of
those not seen yet). A draw is one `searchsorted` in the cumulative weights of the edges in CSC
order, limited to the seed's range, so a seed costs about 2k draws whatever its degree.

Excluded edges (a training batch's own) are drawn too and rejected, which conditions the
sequence on their absence: successive sampling over the remaining edges. Seeds with few in-edges,
and the few seeds still short after a round of draws, finish with an exponential race
(each remaining edge gets the key Exp(1) / weight; the smallest keys win), which is the same
distribution again. Everything is tensor ops over all seeds at once, and the random numbers come
from torch's generator, whose CPU draws do not depend on the thread count.
"""

from __future__ import annotations

import dgl
import torch

_FREE = 2**31 - 1  # a slot no draw has claimed; -1 marks a taken or excluded edge


def _at(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x[idx] for a 1-D `x` and integer `idx` of any shape, by `index_select`: several times
    faster on CPU than advanced indexing, whose kernel serves every indexing pattern."""
    return x.index_select(0, idx.reshape(-1)).view(idx.shape)


class WeightedDraws:
    """One edge type's in-edges in CSC order with their cumulative weights, for `sample`.

    Built once per graph and edge type. Float64 cumulative sums keep each edge's share exact to
    about 1e-16 of the type's total weight. Sources and edge ids are views of the graph's own CSC
    arrays; the extra memory is 20 bytes per edge (cumulative weight, weight as stored, position
    and scratch slot).
    """

    rounds = 1  # rounds of draws before the race takes the seeds still short (few: a round has a fixed cost)

    def __init__(self, g: dgl.DGLGraph, etype: tuple[str, str, str], weight: str) -> None:
        indptr, indices, eids = g.adj_tensors("csc", etype=etype)
        self.indptr, self.src, self.eid = indptr.long(), indices, eids
        w = g.edges[etype].data[weight][eids]
        if len(w) and (not torch.isfinite(w).all() or bool((w < 0).any())):
            raise ValueError(f"edge feature {weight!r} of {etype} must be finite and >= 0 for weighted sampling")
        self.weight = w  # as stored (float32): exact, and read as float64 where a draw needs it
        self.cum = torch.cumsum(w, 0, dtype=torch.float64)
        small = torch.int32 if len(w) < 2**31 - 1 else torch.int64
        positives = torch.zeros(len(w) + 1, dtype=small)
        torch.cumsum(w > 0, 0, dtype=small, out=positives[1:])  # positive edges before each CSC position
        self.positive_degree = (positives[self.indptr[1:]] - positives[self.indptr[:-1]]).long()
        del positives
        self.where = torch.empty(len(w), dtype=small)
        self.where[eids.long()] = torch.arange(len(w), dtype=small)  # edge id -> CSC position
        self.slot = torch.full((len(w),), _FREE, dtype=small)  # per draw: the first draw of each edge

    def sample(self, seeds: torch.Tensor, k: int, exclude: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(src, dst, edge id) of up to k in-edges of every seed (global ids), drawn without
        replacement with P ∝ weight among the edges of positive weight not in `exclude`.
        A seed with at most k such edges gets all of them."""
        seeds = seeds.long().sort().values  # neighbouring draws then read neighbouring memory
        lo, hi = _at(self.indptr, seeds), _at(self.indptr, seeds + 1)
        avail = _at(self.positive_degree, seeds)
        ex_pos = torch.zeros(0, dtype=torch.int64)
        if exclude is not None and len(exclude):
            ex_pos = torch.unique(_at(self.where, exclude.long()).long())
            ex_pos = ex_pos[_at(self.weight, ex_pos) > 0]
            # Excluded edges per seed: the seeds are sorted, so their ranges are too, and a position
            # belongs to the last seed starting at or before it, if that seed's range reaches it.
            at = torch.searchsorted(lo, ex_pos, right=True) - 1
            mine = (at >= 0) & (ex_pos < _at(hi, at.clamp(min=0)))
            avail = avail - torch.bincount(at[mine], minlength=len(seeds))
        need = avail.clamp(max=k)
        race = (hi - lo <= 2 * k) | (avail <= k)
        taken: list[torch.Tensor] = [ex_pos]
        picked: list[tuple[torch.Tensor, torch.Tensor]] = []
        try:
            self.slot.index_fill_(0, ex_pos, -1)
            picked.append(self._race(torch.nonzero(race & (need > 0)).squeeze(1), lo, hi, need))
            rows = torch.nonzero(~race & (need > 0)).squeeze(1)
            for _ in range(self.rounds):
                if not len(rows):
                    break
                pos, who, got = self._round(rows, lo, hi, _at(need, rows), _at(avail, rows))
                taken.append(pos)
                self.slot.index_fill_(0, pos, -1)
                picked.append((pos, who))
                need = need.index_add(0, rows, -got)
                rows = rows[_at(need, rows) > 0]
            picked.append(self._race(rows, lo, hi, need))
        finally:
            for pos in taken:
                self.slot.index_fill_(0, pos, _FREE)
        pos = torch.cat([p for p, _ in picked])
        dst = _at(seeds, torch.cat([w for _, w in picked]))
        return _at(self.src, pos), dst.to(self.src.dtype), _at(self.eid, pos)

    def _round(self, rows, lo, hi, need, avail):
        """One round of draws for the seeds `rows`: the first `need` new distinct edges of each in
        draw order (fewer if the round's draws repeat), the seed of each, and how many each got."""
        m = need + 4 * need * need // avail + 2  # well above the repeats expected among `need` draws
        row = torch.repeat_interleave(torch.arange(len(rows)), m)
        a, b = _at(lo, rows), _at(hi, rows)
        c0 = torch.where(a > 0, _at(self.cum, (a - 1).clamp(min=0)), torch.zeros((), dtype=self.cum.dtype))
        span = _at(self.cum, b - 1) - c0
        u = torch.rand(len(row), dtype=torch.float64).mul_(_at(span, row)).add_(_at(c0, row))
        pos = torch.searchsorted(self.cum, u, right=True)
        pos = torch.minimum(torch.maximum(pos, _at(a, row)), _at(b, row) - 1)  # rounding at a range's ends
        order = torch.arange(len(pos), dtype=self.slot.dtype)
        self.slot.scatter_reduce_(0, pos, order, "amin", include_self=True)
        claimed = _at(self.slot, pos)
        first = (claimed == order) & (_at(self.weight, pos) > 0)  # new and not excluded or taken
        # duplicates of a position write the same value
        self.slot.index_copy_(0, pos, torch.where(claimed < 0, claimed, _FREE))
        count = torch.cumsum(first, 0)
        start = torch.cumsum(m, 0) - m
        before = torch.where(start > 0, _at(count, (start - 1).clamp(min=0)), torch.zeros((), dtype=count.dtype))
        keep = torch.nonzero(first & (count - _at(before, row) <= _at(need, row))).squeeze(1)
        row = _at(row, keep)
        return _at(pos, keep), _at(rows, row), torch.bincount(row, minlength=len(rows))

    def _race(self, rows, lo, hi, need):
        """For the seeds `rows`: `need` of their edges not yet taken or excluded, by the smallest
        keys Exp(1) / weight (all of them if fewer), and the seed of each. The keys of a seed's
        edges fill one row of a padded matrix, so the smallest come from one `topk` over rows."""
        if not len(rows):
            return torch.zeros(0, dtype=torch.int64), rows
        start = _at(lo, rows)
        lens = _at(hi, rows) - start
        width = int(lens.max())
        col = torch.arange(width)
        pos = start[:, None] + col
        ok = col < lens[:, None]
        pos = torch.where(ok, pos, start[:, None])  # padding reads a real edge, then is dropped
        w = _at(self.weight, pos).double()
        ok &= (w > 0) & (_at(self.slot, pos) != -1)
        key = torch.rand(pos.shape, dtype=torch.float64).log_().neg_().div_(w).masked_fill_(~ok, float("inf"))
        need = _at(need, rows)
        n = min(int(need.max()), width)
        best = torch.topk(key, n, dim=1, largest=False, sorted=True).indices
        win = torch.nonzero(torch.gather(ok, 1, best) & (torch.arange(n) < need[:, None]), as_tuple=True)
        return torch.gather(pos, 1, best)[win], _at(rows, win[0])
