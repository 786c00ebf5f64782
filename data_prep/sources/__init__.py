"""One module per raw format; each turns its files into one canonical `RawData`."""

from __future__ import annotations

import importlib
from typing import Any

from data_prep.sources.base import RawData, ensure_files

_REGISTRY = {
    "ml100k": ("movielens", "Ml100k"),
    "ml1m": ("movielens", "Ml1m"),
    "amazon_video": ("amazon", "AmazonVideo"),
    "tiktok": ("tiktok", "TikTok"),
    "csv": ("table", "Table"),
    "synthetic": ("synthetic", "Synthetic"),
}


def get_source(name: str) -> Any:
    module, cls = _REGISTRY[name]
    return getattr(importlib.import_module(f"data_prep.sources.{module}"), cls)()


__all__ = ["RawData", "ensure_files", "get_source"]
