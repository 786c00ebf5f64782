"""The canonical raw dataset every source produces, and locating its files on disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from data_prep.download import download, safe_extract_zip
from data_prep.errors import UserError
from data_prep.store import verify_checksum


@dataclass
class RawData:
    """Interactions plus optional side information, still keyed by raw ids.

    `interactions` has columns user, item and optionally rating, timestamp, split
    ("train"/"valid"/"test" when the source fixes the split) and key (joins `info`).
    `info` has columns key, info (one row per item and tag); `titles` has columns key, title.
    `item_features` is indexed by raw integer item id.
    """

    interactions: pd.DataFrame
    rating_max: float | None = None
    # The bottom of the rating scale when it is negative: tightness is then rescaled to [0, 1].
    rating_min: float | None = None
    info: pd.DataFrame | None = None
    titles: pd.DataFrame | None = None
    item_features: np.ndarray | None = None
    # The file whose line numbers index `interactions` (None: its index is not a line number).
    lines_of: Path | None = None
    notes: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    def files(self, cfg: Any) -> list[str]:
        """Raw files (relative to raw_dir) this source reads."""

    def load(self, cfg: Any, root: Path) -> RawData:
        """Parse the files into RawData."""


def ensure_files(
    cfg: Any, source: Source, raw_dir: Path, allow_download: bool, verify: bool = True
) -> list[Path]:
    """Return the absolute paths of the source's raw files, downloading the archive if needed.

    Every file with a checksum in `dataset.checksums` is verified, local or downloaded.
    """
    rel = source.files(cfg)
    paths = [raw_dir / r for r in rel]
    missing = [p for p in paths if not p.exists()]
    if missing and cfg.url:
        if not allow_download:
            raise UserError(
                f"raw file {missing[0]} is missing and paths.download=false; put the official "
                f"files there, point paths.raw_dir (env GCFA_RAW_DIR) at a folder that has them, "
                f"or allow downloading {cfg.url}"
            )
        target = raw_dir / (cfg.archive or cfg.url.rsplit("/", 1)[-1])
        if not target.exists():
            download(cfg.url, target, cfg.archive_checksum)
        elif cfg.archive_checksum:
            verify_checksum(target, cfg.archive_checksum)
        if target.suffix == ".zip":
            safe_extract_zip(target, raw_dir)
        missing = [p for p in paths if not p.exists()]
    if missing:
        raise UserError(
            f"raw file {missing[0]} not found. Point paths.raw_dir (env GCFA_RAW_DIR) at the folder "
            "holding the dataset's files" + ("" if cfg.url else "; this dataset cannot be downloaded")
        )
    for r, p in zip(rel, paths):
        if verify and r in cfg.checksums:
            verify_checksum(p, cfg.checksums[r])
    return paths
