"""From raw-id interactions to a clean, contiguous-id table: implicit conversion, duplicates,
minimum-interaction filtering and re-indexing."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from data_prep.errors import DataError, UserError
from data_prep.sources.base import RawData

log = logging.getLogger(__name__)


@dataclass
class Interactions:
    """Interactions over contiguous ids: users 0..U-1 and videos 0..V-1 in raw-id order."""

    user: np.ndarray  # int64
    item: np.ndarray  # int64
    rating: np.ndarray  # float32; 1.0 for implicit data
    timestamp: np.ndarray | None  # int64
    given_split: np.ndarray | None  # int8, 0/1/2 when the source fixes the split
    user_ids: np.ndarray  # raw user id of each index
    item_ids: np.ndarray  # raw item id of each index
    item_keys: np.ndarray  # side-information key of each video (its raw id unless keyed apart)
    implicit: bool

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.user)


SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}


def clean(raw: RawData, cfg: Any, source_name: str) -> Interactions:
    df = raw.interactions
    if df.empty:
        raise UserError(f"dataset {cfg.name}: the source has no interactions")
    implicit = "rating" not in df.columns
    if cfg.implicit_threshold is not None:
        if implicit:
            raise UserError("config key dataset.implicit_threshold: the dataset has no ratings to threshold")
        df = df[df["rating"] >= cfg.implicit_threshold]
        if df.empty:
            raise UserError(
                f"config key dataset.implicit_threshold={cfg.implicit_threshold}: no rating reaches it"
            )

    dup = df.duplicated(subset=["user", "item"], keep="first")  # the second and later occurrences
    if dup.any():
        if cfg.duplicates == "error":
            at = int(np.flatnonzero(dup.to_numpy())[0])
            user, item = df["user"].iloc[at], df["item"].iloc[at]  # one column each: raw ids keep their type
            line = int(df.index[at]) if raw.lines_of is not None else None
            raise DataError(
                raw.lines_of or source_name,
                f"duplicate interaction user={user} item={item}, already seen above "
                f"({int(dup.sum())} duplicates; set dataset.duplicates=keep_last to keep the latest)",
                line,
            )
        dup = df.duplicated(subset=["user", "item"], keep="last")
        if "timestamp" in df.columns:
            df = df.sort_values("timestamp", kind="stable")
            dup = df.duplicated(subset=["user", "item"], keep="last")
        log.warning("dropped %d duplicate (user, item) rows, keeping the latest", int(dup.sum()))
        df = df[~dup]

    for col, k, key in (
        ("user", cfg.min_user_interactions, "dataset.min_user_interactions"),
        ("item", cfg.min_item_interactions, "dataset.min_item_interactions"),
    ):
        if k > 1:
            counts = df[col].map(df[col].value_counts())
            df = df[counts.to_numpy() >= k]
            if df.empty:
                raise UserError(f"config key {key}={k}: filtering removed every interaction")

    user_ids, user = np.unique(df["user"].to_numpy(), return_inverse=True)
    item_ids, item = np.unique(df["item"].to_numpy(), return_inverse=True)
    rating = np.ones(len(df), np.float32) if implicit else df["rating"].to_numpy(np.float32)
    timestamp = df["timestamp"].to_numpy(np.int64) if "timestamp" in df.columns else None
    given = df["split"].map(SPLIT_CODES).to_numpy(np.int8) if "split" in df.columns else None
    if "key" in df.columns:
        first = pd.DataFrame({"item": item, "key": df["key"].to_numpy()}).drop_duplicates("item")
        item_keys = first.sort_values("item")["key"].to_numpy()
    else:
        item_keys = item_ids
    return Interactions(
        user=user.astype(np.int64),
        item=item.astype(np.int64),
        rating=rating,
        timestamp=timestamp,
        given_split=given,
        user_ids=user_ids,
        item_ids=item_ids,
        item_keys=item_keys,
        implicit=implicit,
    )
