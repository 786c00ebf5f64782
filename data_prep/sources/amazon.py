"""Amazon Instant Video ratings, 2014 release (McAuley et al.): user,item,rating,timestamp."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from data_prep.sources.base import RawData
from data_prep.tables import float_values, int_ids, read_table, str_ids

FILE = "amazon/ratings_Amazon_Instant_Video.csv"


class AmazonVideo:
    def files(self, cfg: Any) -> list[str]:
        return [cfg.path or FILE]

    def load(self, cfg: Any, root: Path) -> RawData:
        path = root / (cfg.path or FILE)
        names = ["user", "item", "rating", "timestamp"]
        df, _ = read_table(path, sep=",", header=False, names=names, str_columns=("user", "item"))
        inter = pd.DataFrame(
            {
                "user": str_ids(df, "user", path),
                "item": str_ids(df, "item", path),
                "rating": float_values(df, "rating", path, list(cfg.rating_range or [1.0, 5.0])),
                "timestamp": int_ids(df, "timestamp", path),
            }
        )
        return RawData(inter, rating_max=5.0)
