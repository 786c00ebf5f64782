"""Every private or undocumented DGL API gcfa-dgl uses, in one place, checked against DGL's version.

DGL 2.1.0 is the newest DGL wheel on PyPI and the one the stack is pinned to (README, "Why the
stack is pinned"). The names below are not DGL's public API and may change in another release, so
importing this module on another DGL version fails with what to do instead of a distant
AttributeError mid-training.
"""

from __future__ import annotations

import dgl
import torch
from dgl.dataloading.negative_sampler import _BaseNegativeSampler
from dgl.utils import extract_edge_subframes, set_new_frames
from dgl.utils import get_num_threads as _get_threads
from dgl.utils import set_num_threads as _set_threads

TESTED = ("2.1.",)

if not dgl.__version__.startswith(TESTED):
    raise ImportError(
        f"gcfa-dgl needs DGL 2.1 (found DGL {dgl.__version__}): it relies on DGL internals that may "
        "differ in other releases. Install the pinned stack (pip install 'dgl==2.1.0' 'torch==2.2.1'), "
        "or check the functions of gcfa_dgl/dgl_compat.py against your DGL and add its version to TESTED."
    )

# Base class of DGL's negative samplers: `_generate(g, eids, etype)` is what a subclass writes.
BaseNegativeSampler = _BaseNegativeSampler


def dgl_threads() -> int:
    """Threads of DGL's own OpenMP runtime (torch.set_num_threads does not reach it)."""
    return _get_threads()


def set_dgl_threads(n: int) -> None:
    _set_threads(n)


def copy_edge_features(g: dgl.DGLGraph, block: dgl.DGLGraph, eids: list[torch.Tensor]) -> dgl.DGLGraph:
    """Give `block` the edge features of `g` for its edges (`eids`: parent ids per edge type of
    `g`), as lazy slices, the way DGL's own samplers do."""
    frames = extract_edge_subframes(g, eids)
    set_new_frames(block, edge_frames=[frames[g.get_etype_id(et)] for et in block.canonical_etypes])
    return block


def loader_order(loader: dgl.dataloading.DataLoader) -> torch.Tensor:
    """The index array a DGL DataLoader shuffles in place each epoch (its dataset's `_indices`)."""
    return loader.dataset._indices
