"""Layers shared by the models: all message passing through DGL built-ins on blocks.

Notation follows the paper (docs/model.md): e are input embeddings, e_r opinion (rating-level)
embeddings, h the attention-aggregated history, agg the neighbour aggregation, e^(l) the
propagated embeddings.
"""

from __future__ import annotations

import dgl
import dgl.function as fn
import torch
from dgl.nn.functional import edge_softmax
from torch import nn

from gcfa_dgl.models.history import history_attention


def mlp(sizes: list[int], dropout: float = 0.0, last_act: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_act:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def xavier_(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.xavier_uniform_(m.weight)


class OpinionAttention(nn.Module):
    """h = relu(W · Σ β x + b) over a node's sampled history [eqs 5-10].

    x = g([e_s ⊕ e_r]) fuses a neighbour's embedding with the opinion embedding of the rating on
    the edge [6]. With `attention`, β = softmax(w2ᵀ relu(W1 [x ⊕ e_target] + b1) + b2) over the
    history [9, 10], W1 with `attention_dim` rows (default `dim`); without, β = 1/|C| (the mean
    aggregator [7]). Without `opinion`, x = g(e_s).

    The first layers of g and of the attention are linear in a concatenation, so they are split
    by blocks and applied before the gather: W [e_s ⊕ e_r] = (W_s e)[src] + (W_r E_r)[level], per
    source node and per rating level instead of per edge (same parameters, about half the work).
    g's last layer W2 is linear too: it is folded into the attention's first layer and applied
    after the weighted sum, per destination node instead of per edge. What is left per edge runs
    in `history_attention`, chunk by chunk.
    """

    def __init__(self, dim: int, attention: bool = True, opinion: bool = True, dropout: float = 0.0,
                 attention_dim: int | None = None):
        super().__init__()
        self.attention, self.opinion = attention, opinion
        self.g = mlp([2 * dim if opinion else dim, dim, dim], dropout)
        if attention:
            self.att = mlp([2 * dim, attention_dim or dim, 1])
        self.out = nn.Linear(dim, dim)

    def forward(self, block: dgl.DGLGraph, etype, h_src: torch.Tensor, h_dst: torch.Tensor,
                levels: torch.Tensor | None = None, opinions: torch.Tensor | None = None) -> torch.Tensor:
        """`levels`: the rating level of each edge; `opinions`: the opinion embedding table."""
        sub = block[etype]
        if sub.num_edges() == 0:
            return torch.relu(self.out(torch.zeros_like(h_dst)))
        d = h_src.shape[1]
        first, last = self.g[0], self.g[-1]
        # g's hidden layer per edge is r = dropout(relu(A[src] + B[level])), and x = W2 r + b2
        if self.opinion:
            A = h_src @ first.weight[:, :d].T + first.bias
            B = opinions @ first.weight[:, d:].T
        else:
            A, B = first(h_src), None
        M = P = w = None
        if self.attention:
            # logit input W_ax x + W_ad e_dst + b_a = (W_ax W2) r + (W_ad e_dst + b_a + W_ax b2)[dst]
            a = self.att[0]
            a_x = a.weight[:, :d]
            M = a_x @ last.weight
            P = h_dst @ a.weight[:, d:].T + a.bias + last.bias @ a_x.T
            w = self.att[-1].weight[0]
        drop = [m for m in self.g if isinstance(m, nn.Dropout)]
        p = drop[0].p if drop and self.training else 0.0
        gen = torch.Generator().manual_seed(int(torch.randint(2**62, ()))) if p > 0 else None
        indptr, src, eid = sub.adj_tensors("csc")  # edges grouped by destination
        deg = indptr[1:] - indptr[:-1]
        dst = torch.repeat_interleave(torch.arange(len(deg)), deg.long())
        lvl = levels.index_select(0, eid.long()) if B is not None else None
        S = history_attention(A, B, M, P, w, src.long(), lvl, dst, len(h_dst), p, gen)
        # Σ β x = W2 Σ β r + b2 Σ β, and Σ β is 1 wherever a node has history
        has = (deg > 0).to(S.dtype).unsqueeze(1)
        return torch.relu(self.out(S @ last.weight.T + has * last.bias))


class NeighbourAggregator(nn.Module):
    """Aggregate a node's sampled neighbours of one relation with its own embedding.

    - `weighted` [eqs 2-4]: n = Σ softmax(tightness) e_n, agg = relu(W (e + n) + b);
    - `pooling` (GraphSAGE-pool): n = max relu(W_pool e_n + b), agg = relu(W [e ⊕ n] + b);
    - `mean`: n = mean e_n, agg = relu(W (e + n) + b).
    """

    def __init__(self, dim: int, kind: str = "pooling"):
        super().__init__()
        if kind not in ("weighted", "pooling", "mean"):
            raise ValueError(f"aggregator must be weighted, pooling or mean, got {kind!r}")
        self.kind = kind
        if kind == "pooling":
            self.pool = nn.Linear(dim, dim)
            self.out = nn.Linear(2 * dim, dim)
        else:
            self.out = nn.Linear(dim, dim)

    def forward(self, block: dgl.DGLGraph, etype, h_src: torch.Tensor, h_dst: torch.Tensor) -> torch.Tensor:
        sub = block[etype]
        with sub.local_scope():
            if sub.num_edges() == 0:
                n = torch.zeros_like(h_dst)
            elif self.kind == "pooling":
                sub.srcdata["p"] = torch.relu(self.pool(h_src))
                sub.update_all(fn.copy_u("p", "m"), fn.max("m", "n"))
                n = sub.dstdata["n"]
            elif self.kind == "weighted":
                sub.edata["a"] = edge_softmax(sub, sub.edata["tightness"].unsqueeze(1))
                sub.srcdata["e"] = h_src
                sub.update_all(fn.u_mul_e("e", "a", "m"), fn.sum("m", "n"))
                n = sub.dstdata["n"]
            else:
                sub.srcdata["e"] = h_src
                sub.update_all(fn.copy_u("e", "m"), fn.mean("m", "n"))
                n = sub.dstdata["n"]
        if self.kind == "pooling":
            return torch.relu(self.out(torch.cat([h_dst, n], dim=1)))
        return torch.relu(self.out(h_dst + n))


class Propagation(nn.Module):
    """One embedding-propagation layer [eqs 11-12]: e' = LeakyReLU(W_self e + Σ_types mean m).

    Messages are linear in the source embedding; on user-video edges they carry the opinion
    embedding of the rating too (m = W_h e_src + W_r e_r), whose mean is taken through each node's
    share of every rating level. W_h is applied before or after the mean, on whichever side of
    the edge type has fewer nodes.
    """

    def __init__(self, dim: int, etypes: list[tuple[str, str, str]], opinion: bool, dropout: float = 0.0):
        super().__init__()
        self.etypes = etypes
        self.opinion = opinion
        self.self_loop = nn.ModuleDict({nt: nn.Linear(dim, dim) for nt in ("user", "video", "info")})
        self.msg = nn.ModuleDict({et[1]: nn.Linear(dim, dim, bias=False) for et in etypes})
        self.op = nn.ModuleDict({et[1]: nn.Linear(dim, dim, bias=False) for et in etypes
                                 if opinion and et[1] in ("rates", "rated_by")})
        self.drop = nn.Dropout(dropout)

    def forward(self, block: dgl.DGLGraph, h: dict[str, torch.Tensor],
                opinion_emb: torch.Tensor | None) -> dict[str, torch.Tensor]:
        out = {}
        for nt in block.dsttypes:
            if block.num_dst_nodes(nt) and nt in h:
                out[nt] = self.self_loop[nt](h[nt][: block.num_dst_nodes(nt)])
        for et in self.etypes:
            if et not in block.canonical_etypes or block.num_edges(et) == 0:
                continue
            s, name, d = et
            sub = block[et]
            msg = self.msg[name]
            # mean(W e_src) = W mean(e_src): W goes to whichever side has fewer nodes
            before = len(h[s]) <= block.num_dst_nodes(d)
            with sub.local_scope():
                sub.srcdata["p"] = msg(h[s]) if before else h[s]
                sub.update_all(fn.copy_u("p", "m"), fn.mean("m", "a"))
                a = sub.dstdata["a"] if before else msg(sub.dstdata["a"])
                if self.opinion and name in self.op and opinion_emb is not None:
                    # mean(W_h e_src + W_r e_r) = mean(W_h e_src) + (share of each level) W_r E_r:
                    # the level shares per node replace a (edges x dim) gather of opinions.
                    dst = sub.edges()[1].long()
                    count = torch.zeros(len(a), len(opinion_emb), dtype=a.dtype)
                    count.index_put_((dst, sub.edata["rating_level"].long()), torch.ones(len(dst), dtype=a.dtype),
                                     accumulate=True)
                    share = count / count.sum(1, keepdim=True).clamp(min=1)
                    a = a + share @ self.op[name](opinion_emb)
                out[d] = out[d] + a
        return {nt: self.drop(nn.functional.leaky_relu(v, 0.2)) for nt, v in out.items()}
