"""DGL DataLoaders over the heterograph: training edges with negatives, and layer-wise inference
over every node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dgl
import torch

from data_prep.graph import RATED_BY, RATES
from gcfa_dgl.dgl_compat import loader_order
from gcfa_dgl.negatives import VideoNegativeSampler
from gcfa_dgl.sampling import ImportanceSampler


def edge_loader(
    g: dgl.DGLGraph,
    eids: torch.Tensor,
    sampler: ImportanceSampler,
    negative_sampler: VideoNegativeSampler | None,
    batch_size: int,
    shuffle: bool = True,
    num_workers: int = 0,
    persistent_workers: bool = False,
    use_ddp: bool = False,
    drop_last: bool = False,
) -> dgl.dataloading.DataLoader:
    """Minibatches of (user, video) train edges with negatives, for link prediction.

    The batch's own `rates` edges and their `rated_by` reverses are excluded from the blocks that
    compute its endpoints, so a positive never informs its own score.
    """
    sampler.prepare(g)
    edge_sampler = dgl.dataloading.as_edge_prediction_sampler(
        sampler,
        exclude="reverse_types",
        reverse_etypes={RATES: RATED_BY, RATED_BY: RATES},
        negative_sampler=negative_sampler,
    )
    loader = dgl.dataloading.DataLoader(
        g,
        {RATES: eids},
        edge_sampler,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=num_workers,
        persistent_workers=persistent_workers and num_workers > 0,
        use_ddp=use_ddp,
    )
    loader.initial_order = loader_order(loader).clone()
    return loader


def restart_order(loader: dgl.dataloading.DataLoader) -> None:
    """Put the edge order back to where it started.

    DGL shuffles its index array in place each epoch, so epoch e's order depends on every earlier
    epoch. Restoring it first makes an epoch's order a function of the RNG seed alone, which is what
    lets an interrupted run resume to exactly the same result.
    """
    loader_order(loader).copy_(loader.initial_order)


LayerFn = Callable[[int, Any, dict[str, torch.Tensor]], dict[str, torch.Tensor]]


@torch.no_grad()
def layerwise_inference(
    g: dgl.DGLGraph,
    sampler: ImportanceSampler,
    layer_fn: LayerFn,
    inputs: dict[str, torch.Tensor],
    batch_size: int = 4096,
    num_workers: int = 0,
) -> dict[str, torch.Tensor]:
    """Representations of ALL nodes, one layer at a time (DGL's offline inference pattern).

    Layer l is computed for every node from layer l-1's stored outputs through one-layer blocks
    of that layer's fanout, so each node's neighbourhood is sampled once per layer instead of
    once per (layer, seed), and memory stays at two layers of embeddings.
    """
    sampler.prepare(g)
    h = inputs
    nodes = {nt: torch.arange(g.num_nodes(nt)) for nt in g.ntypes}
    for layer in range(sampler.num_layers):
        one = sampler.layer(layer)
        loader = dgl.dataloading.DataLoader(
            g, nodes, one, batch_size=batch_size, shuffle=False, num_workers=num_workers
        )
        out: dict[str, torch.Tensor] = {}
        for _, output_nodes, blocks in loader:
            block = blocks[0]
            src = {nt: h[nt][ids] for nt, ids in block.srcdata[dgl.NID].items() if nt in h}
            res = layer_fn(layer, block, src)
            for nt, val in res.items():
                if nt not in out:
                    out[nt] = torch.zeros(g.num_nodes(nt), *val.shape[1:], dtype=val.dtype)
                out[nt][output_nodes[nt]] = val
        h = out
    return h
