"""The official MovieLens 100K and 1M releases (GroupLens)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data_prep.errors import DataError
from data_prep.sources.base import RawData
from data_prep.tables import float_values, int_ids, read_table, require_columns

RATING_RANGE = [1.0, 5.0]


def interactions_frame(df: pd.DataFrame, path: Path, rating_range: list[float]) -> pd.DataFrame:
    """user, item, rating, timestamp columns of a MovieLens ratings file, validated."""
    return pd.DataFrame(
        {
            "user": int_ids(df, "user", path),
            "item": int_ids(df, "item", path),
            "rating": float_values(df, "rating", path, rating_range),
            "timestamp": int_ids(df, "timestamp", path),
        }
    )


def explode_info(keys: np.ndarray, field: pd.Series, sep: str) -> pd.DataFrame:
    """One (key, info) row per tag of a `sep`-joined field; empty fields give no row."""
    tags = field.fillna("").astype(str).str.split(sep)
    out = pd.DataFrame({"key": keys, "info": tags.to_numpy()}).explode("info")
    out["info"] = out["info"].str.strip()
    return out[out["info"] != ""].reset_index(drop=True)


class Ml100k:
    names = ["user", "item", "rating", "timestamp"]

    def files(self, cfg: Any) -> list[str]:
        return ["ml-100k/u.data", "ml-100k/u.item", "ml-100k/u.genre"]

    def load(self, cfg: Any, root: Path) -> RawData:
        data_p, item_p, genre_p = (root / f for f in self.files(cfg))
        df, _ = read_table(data_p, sep="\t", header=False, names=self.names)
        inter = interactions_frame(df, data_p, list(cfg.rating_range or RATING_RANGE))
        genres, _ = read_table(genre_p, sep="|", header=False, names=["name", "index"], encoding="latin-1")
        genre_names = genres.sort_values("index")["name"].astype(str).tolist()
        cols = ["id", "title", "release", "video_release", "url", *genre_names]
        items, _ = read_table(item_p, sep="|", header=False, names=cols, encoding="latin-1")
        if items.shape[1] != len(cols) or items[genre_names].isna().any().any():
            raise DataError(item_p, f"expected {len(cols)} '|'-separated fields per line")
        ids = int_ids(items, "id", item_p)
        flags = items[genre_names].to_numpy(dtype=np.int64)
        rows, gcols = np.nonzero(flags)
        info = pd.DataFrame({"key": ids[rows], "info": np.asarray(genre_names, dtype=object)[gcols]})
        titles = pd.DataFrame({"key": ids, "title": items["title"].astype(str).to_numpy()})
        return RawData(inter, rating_max=RATING_RANGE[1], info=info, titles=titles)


class Ml1m:
    def files(self, cfg: Any) -> list[str]:
        return ["ml-1m/ratings.dat", "ml-1m/movies.dat"]

    def load(self, cfg: Any, root: Path) -> RawData:
        ratings_p, movies_p = (root / f for f in self.files(cfg))
        df, _ = read_table(ratings_p, sep="::", header=False, names=["user", "item", "rating", "timestamp"])
        inter = interactions_frame(df, ratings_p, list(cfg.rating_range or RATING_RANGE))
        movies, _ = read_table(
            movies_p, sep="::", header=False, names=["id", "title", "genres"], encoding="latin-1"
        )
        require_columns(movies, movies_p, ["id", "title", "genres"], "dataset.item_info")
        ids = int_ids(movies, "id", movies_p)
        info = explode_info(ids, movies["genres"], "|")
        titles = pd.DataFrame({"key": ids, "title": movies["title"].astype(str).to_numpy()})
        return RawData(inter, rating_max=RATING_RANGE[1], info=info, titles=titles)
