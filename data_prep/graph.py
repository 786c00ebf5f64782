"""The DGL heterograph of TRAIN interactions, side information and similarity edges.

Edges point from a neighbour to the node it informs, so `sample_neighbors` on in-edges picks a
node's neighbours. Edge `i` of `rates` and edge `i` of `rated_by` are the same interaction, which
lets the edge-prediction sampler exclude a batch's reverse edges by id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATES = ("user", "rates", "video")
RATED_BY = ("video", "rated_by", "user")
SIMILAR = ("user", "similar", "user")
CO_WATCHED = ("video", "co_watched", "video")
HAS = ("video", "has", "info")
DESCRIBES = ("info", "describes", "video")
ETYPE_NAMES = frozenset(et[1] for et in (RATES, RATED_BY, SIMILAR, CO_WATCHED, HAS, DESCRIBES))


@dataclass
class GraphParts:
    n_users: int
    n_videos: int
    n_info: int  # 0: the dataset has no side information and no info node type
    train_user: np.ndarray
    train_video: np.ndarray
    rating: np.ndarray
    rating_level: np.ndarray
    rating_tightness: np.ndarray
    uu: tuple[np.ndarray, np.ndarray, np.ndarray]
    vv: tuple[np.ndarray, np.ndarray, np.ndarray]
    vi: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    video_features: np.ndarray | None


def build(p: GraphParts):
    import dgl
    import torch

    def t(a, dtype=torch.int64):
        return torch.as_tensor(np.ascontiguousarray(a)).to(dtype)

    data = {
        RATES: (t(p.train_user), t(p.train_video)),
        RATED_BY: (t(p.train_video), t(p.train_user)),
        SIMILAR: (t(p.uu[0]), t(p.uu[1])),
        CO_WATCHED: (t(p.vv[0]), t(p.vv[1])),
    }
    num_nodes = {"user": p.n_users, "video": p.n_videos}
    if p.vi is not None:
        data[HAS] = (t(p.vi[0]), t(p.vi[1]))
        data[DESCRIBES] = (t(p.vi[1]), t(p.vi[0]))
        num_nodes["info"] = p.n_info
    g = dgl.heterograph(data, num_nodes_dict=num_nodes, idtype=torch.int64)
    for et in (RATES, RATED_BY):
        g.edges[et].data["tightness"] = t(p.rating_tightness, torch.float32)
        g.edges[et].data["rating"] = t(p.rating, torch.float32)
        g.edges[et].data["rating_level"] = t(p.rating_level)
    g.edges[SIMILAR].data["tightness"] = t(p.uu[2], torch.float32)
    g.edges[CO_WATCHED].data["tightness"] = t(p.vv[2], torch.float32)
    if p.vi is not None:
        g.edges[HAS].data["tightness"] = t(p.vi[2], torch.float32)
        g.edges[DESCRIBES].data["tightness"] = t(p.vi[2], torch.float32)
    if p.video_features is not None:
        g.nodes["video"].data["feat"] = t(p.video_features, torch.float32)
    return g


def save(g, path) -> None:
    import dgl

    dgl.save_graphs(str(path), [g])
