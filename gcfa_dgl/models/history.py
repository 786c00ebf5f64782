"""The per-edge part of the opinion-aware history attention [eqs 5-10] as one autograd function
that walks the edges in chunks.

For a history edge e = (s -> t) with rating level l:

    r_e = dropout(relu(A[s] + B[l]))    g's hidden layer (A per source node, B per rating level)
    z_e = relu(M r_e + P[t])            the attention's hidden layer (g's last layer folded into M)
    beta_e = softmax of w . z_e over t's edges, or 1 / deg(t) without attention
    S_t = sum of beta_e r_e

Written as autograd ops this is a dozen passes over (edges x dim) tensors that no cache holds, and
as many saved copies. Here the edges are sorted by destination and cut into chunks at destination
boundaries, so that each chunk's softmax is complete and its tensors stay in cache; r, z and beta
are kept for the backward pass, which walks the same chunks. The softmax leaves out the attention's
output bias, which shifts all of a node's logits alike and so changes nothing.
"""

from __future__ import annotations

import torch

CHUNK = 2048  # edges per chunk: a (chunk x 64) float tensor is 512 KiB, so a chunk's few fit in L2


def noise(gen: torch.Generator, rows: int, dim: int, p: float) -> torch.Tensor:
    """Inverted-dropout factors for `rows` edges: 1 / (1 - p) with probability 1 - p, else 0.
    Drawn as floats (a vectorised Bernoulli on CPU, the same for any thread count)."""
    return torch.empty(rows, dim).bernoulli_(1 - p, generator=gen).mul_(1 / (1 - p))


def chunks(dst: torch.Tensor, size: int | None = None) -> list[tuple[int, int]]:
    """[start, end) ranges of about `size` (default `CHUNK`) edges over edges sorted by
    destination, each cut where a destination begins (one with more edges gets a chunk of its own)."""
    n, size = len(dst), size or CHUNK
    bounds, start = [], 0
    while start < n:
        end = min(start + size, n)
        if end < n:
            cut = int(torch.searchsorted(dst, dst[end], right=False))  # where dst[end]'s edges begin
            end = cut if cut > start else int(torch.searchsorted(dst, dst[end], right=True))
        bounds.append((start, end))
        start = end
    return bounds


def _local(t: torch.Tensor) -> tuple[torch.Tensor, int]:
    """A chunk's destinations (sorted) renumbered from 0, and how many numbers that takes."""
    first = t[0]
    return t - first, int(t[-1] - first) + 1


def _softmax(logit: torch.Tensor, t: torch.Tensor, n: int) -> torch.Tensor:
    """Softmax of `logit` over the edges of each local destination `t` (0 .. n-1)."""
    top = torch.full((n,), float("-inf"), dtype=logit.dtype).scatter_reduce_(0, t, logit, "amax")
    ex = (logit - top.index_select(0, t)).exp_()
    return ex / torch.zeros(n, dtype=logit.dtype).index_add_(0, t, ex).index_select(0, t)


def _relu_grad(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """`grad` where `out` > 0, else 0, in one pass (the kernel of relu's own backward)."""
    return torch.ops.aten.threshold_backward(grad, out, 0)


class _History(torch.autograd.Function):
    @staticmethod
    def forward(ctx, A, B, M, P, w, src, lvl, dst, n_dst, bounds, p, gen):
        d = A.shape[1]
        S = A.new_zeros(n_dst, d)
        R = A.new_empty(len(src), d)
        Z = A.new_empty(len(src), M.shape[0]) if M is not None else None
        beta = A.new_empty(len(src))
        inv_deg = None if M is not None else 1.0 / torch.bincount(dst, minlength=n_dst).clamp(min=1).to(A.dtype)
        for a, b in bounds:
            r = torch.index_select(A, 0, src[a:b], out=R[a:b])
            if B is not None:
                r += B.index_select(0, lvl[a:b])
            r.clamp_min_(0)
            if p > 0:
                r.mul_(noise(gen, b - a, d, p))
            t = dst[a:b]
            if M is not None:
                z = torch.addmm(P.index_select(0, t), r, M.T, out=Z[a:b]).clamp_min_(0)
                bt = _softmax(z @ w, *_local(t))
            else:
                bt = inv_deg.index_select(0, t)
            beta[a:b] = bt
            S.index_add_(0, t, r * bt[:, None])
        ctx.save_for_backward(A, B, M, P, w, src, lvl, dst, R, Z, beta)
        ctx.bounds, ctx.p = bounds, p
        return S

    @staticmethod
    def backward(ctx, dS):
        A, B, M, P, w, src, lvl, dst, R, Z, beta = ctx.saved_tensors
        dA = torch.zeros_like(A)
        dB = torch.zeros_like(B) if B is not None else None
        dM = torch.zeros_like(M) if M is not None else None
        dP = torch.zeros_like(P) if P is not None else None
        dw = torch.zeros_like(w) if w is not None else None
        for a, b in ctx.bounds:
            r, t, bt = R[a:b], dst[a:b], beta[a:b]
            g = dS.index_select(0, t)
            dr = g * bt[:, None]
            if M is not None:
                local, n = _local(t)
                dbeta = (g * r).sum(1)
                dlogit = bt * (dbeta - torch.zeros(n, dtype=bt.dtype).index_add_(0, local, bt * dbeta).index_select(0, local))
                z = Z[a:b]
                dw += z.T @ dlogit
                dz = _relu_grad(torch.outer(dlogit, w), z)
                dM.addmm_(dz.T, r)
                dP.index_add_(0, t, dz)
                dr.addmm_(dz, M)
            dr = _relu_grad(dr, r)  # r > 0 exactly where the relu passed and dropout kept
            if ctx.p > 0:
                dr.mul_(1 / (1 - ctx.p))
            dA.index_add_(0, src[a:b], dr)
            if dB is not None:
                dB.index_add_(0, lvl[a:b], dr)
        return dA, dB, dM, dP, dw, None, None, None, None, None, None, None


def history_attention(A: torch.Tensor, B: torch.Tensor | None, M: torch.Tensor | None, P: torch.Tensor | None,
                      w: torch.Tensor | None, src: torch.Tensor, lvl: torch.Tensor | None, dst: torch.Tensor,
                      n_dst: int, p: float = 0.0, gen: torch.Generator | None = None) -> torch.Tensor:
    """S (n_dst x dim): the beta-weighted sum of r over each destination's edges (module docstring),
    for edges given sorted by destination (`dst` nondecreasing, as a graph's CSC order gives them).
    `M`, `P`, `w` None: the mean over the edges (no attention); `B` None: no opinion term. `p` is
    the dropout on r, drawn from `gen`."""
    if p > 0 and gen is None:
        raise ValueError("dropout needs a generator")
    return _History.apply(A, B, M, P, w, src, lvl, dst, n_dst, chunks(dst), p, gen)
