"""The TikTok micro-video set (MMGCN/MMSSL release): a fixed implicit split plus visual and
acoustic video features. Read from the plain-text split and .npy features; pickles are never
loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data_prep.errors import DataError
from data_prep.sources.base import RawData
from data_prep.tables import int_ids, read_table

SPLITS = {"train": "interactions_train.tsv", "valid": "interactions_val.tsv", "test": "interactions_test.tsv"}
FEATURES = ["image_feat.npy", "audio_feat.npy"]


class TikTok:
    def files(self, cfg: Any) -> list[str]:
        base = cfg.path or "tiktok-mmssl"
        return [f"{base}/derived/{f}" for f in SPLITS.values()] + [f"{base}/{f}" for f in FEATURES]

    def load(self, cfg: Any, root: Path) -> RawData:
        paths = [root / f for f in self.files(cfg)]
        frames = []
        for split, path in zip(SPLITS, paths[:3]):
            df, _ = read_table(path, sep="\t", header=True)
            cols = list(df.columns)
            if cols[:2] != ["user", "item"]:
                raise DataError(path, f"expected a header 'user<TAB>item', found {cols}", 1)
            frames.append(
                pd.DataFrame({"user": int_ids(df, "user", path), "item": int_ids(df, "item", path), "split": split})
            )
        inter = pd.concat(frames, ignore_index=True)
        feats = []
        for path in paths[3:]:
            try:
                arr = np.load(path, allow_pickle=False)
            except (ValueError, OSError) as e:
                raise DataError(path, f"not a plain numeric .npy array ({e})") from e
            if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating):
                raise DataError(path, f"expected a 2-D float array, got {arr.dtype} {arr.shape}")
            feats.append(arr.astype(np.float32))
        if feats[0].shape[0] != feats[1].shape[0]:
            raise DataError(paths[4], "feature files disagree on the number of videos")
        features = np.concatenate(feats, axis=1)
        if inter["item"].max() >= features.shape[0]:
            raise DataError(paths[3], f"has {features.shape[0]} rows but item ids reach {inter['item'].max()}")
        if not np.isfinite(features).all():
            raise DataError(paths[3], "features contain NaN or Inf")
        return RawData(inter, rating_max=None, item_features=features)
