"""A processed dataset directory as Python objects: the heterograph, the splits and meta.json."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from data_prep.errors import DataError
from data_prep.store import verify_outputs


class Counts(BaseModel):
    users: int
    videos: int
    info: int
    interactions: int
    train: int
    valid: int
    test: int
    density: float


class Meta(BaseModel):
    """The fields of meta.json the library relies on, validated on load."""

    model_config = ConfigDict(extra="allow")
    format_version: int
    name: str
    fingerprint: str
    counts: Counts
    implicit: bool
    rating_values: list[float]
    rating_max: float | None
    negatives_per_positive: int
    video_feature_dim: int
    user_ids: list[Any]
    item_ids: list[Any]
    info_names: list[str]
    checksums: dict[str, str]


@dataclass
class Split:
    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    negatives: np.ndarray | None = None  # (len, N) fixed negatives of the sampled protocol


@dataclass
class ProcessedData:
    path: Path
    meta: Meta
    graph: Any  # dgl.DGLGraph
    train: Split
    valid: Split
    test: Split

    @property
    def n_users(self) -> int:
        return self.meta.counts.users

    @property
    def n_videos(self) -> int:
        return self.meta.counts.videos


def load_processed(path: str | Path, verify: bool = True) -> ProcessedData:
    """Load a directory written by `data_prep`; checksums are verified unless `verify=False`."""
    import dgl

    path = Path(path)
    raw_meta = verify_outputs(path) if verify else None
    if raw_meta is None:
        import json

        raw_meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    try:
        meta = Meta.model_validate(raw_meta)
    except Exception as e:
        raise DataError(path / "meta.json", f"invalid metadata ({e}); rerun `make data`") from e
    graphs, _ = dgl.load_graphs(str(path / "graph.bin"))
    with np.load(path / "splits.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    splits = {
        name: Split(
            arrays[f"{name}_user"],
            arrays[f"{name}_item"],
            arrays[f"{name}_rating"],
            arrays.get(f"{name}_neg"),
        )
        for name in ("train", "valid", "test")
    }
    return ProcessedData(path, meta, graphs[0], splits["train"], splits["valid"], splits["test"])
