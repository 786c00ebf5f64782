"""Any user,item[,rating][,timestamp] table (CSV, TSV or Parquet) plus optional item side info."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data_prep.errors import DataError
from data_prep.sources.base import RawData
from data_prep.sources.movielens import explode_info
from data_prep.tables import float_values, int_ids, read_table, require_columns, str_ids


class Table:
    def files(self, cfg: Any) -> list[str]:
        out = [cfg.path]
        if cfg.item_info.path:
            out.append(cfg.item_info.path)
        return out

    def load(self, cfg: Any, root: Path) -> RawData:
        c = cfg.columns
        path = root / cfg.path
        id_cols = (c.user, c.item) + ((c.item_key,) if c.item_key else ())
        df, _ = read_table(
            path,
            sep=cfg.sep,
            header=cfg.header,
            encoding=cfg.encoding,
            str_columns=id_cols if cfg.id_type == "str" else (),
            encoding_key="dataset.encoding",
        )
        # A rating or timestamp column is read when named, or, when its key is unset (null), when the
        # header has its conventional name; "" ignores it.
        rating, stamp = (col if col is not None else (conventional if conventional in df.columns else "")
                         for col, conventional in ((c.rating, "rating"), (c.timestamp, "timestamp")))
        used = {"user": c.user, "item": c.item, "rating": rating, "timestamp": stamp, "item_key": c.item_key}
        wanted = [x for x in used.values() if x]
        require_columns(df, path, wanted, "dataset.columns", "dataset.header" if cfg.header else None)
        hint = "; set dataset.id_type=str if the ids are not integers"
        ids = (lambda f, col, p: int_ids(f, col, p, hint=hint)) if cfg.id_type == "int" else str_ids
        inter = pd.DataFrame({"user": ids(df, c.user, path), "item": ids(df, c.item, path)}, index=df.index)
        rating_max = None
        rating_min = None
        if rating:
            inter["rating"] = float_values(df, rating, path, cfg.rating_range)
            rating_max = float(cfg.rating_range[1]) if cfg.rating_range else float(inter["rating"].max())
            if cfg.rating_range:
                rating_min = float(cfg.rating_range[0])
            elif (inter["rating"] < 0).any():
                line = int(df.index[np.flatnonzero(inter["rating"].to_numpy() < 0)[0]])
                raise DataError(path, f"column {rating!r}: rating {df[rating].loc[line]!r} is negative, and "
                                "tightness needs a scale: set dataset.rating_range=[min,max] (ratings are then "
                                "rescaled to [0, 1])", line)
        if stamp:
            inter["timestamp"] = int_ids(df, stamp, path, hint="; timestamps must be integers")
        if c.item_key:
            if cfg.id_type == "int":
                inter["key"] = int_ids(df, c.item_key, path, allow_missing=True, hint=hint)
            else:
                inter["key"] = df[c.item_key].fillna("").astype(str).to_numpy(dtype=object)
        info = titles = None
        if cfg.item_info.path:
            info, titles = self._item_info(cfg, root)
        return RawData(inter, rating_max=rating_max, rating_min=rating_min, info=info, titles=titles, lines_of=path,
                       notes={"columns": {k: v for k, v in used.items() if v}})

    def _item_info(self, cfg: Any, root: Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        ic = cfg.item_info
        path = root / ic.path
        names = list(ic.names) if ic.names else None
        df, _ = read_table(
            path, sep=ic.sep, header=ic.header, names=names, encoding=ic.encoding,
            str_columns=(ic.id_column,) if cfg.id_type == "str" else (), encoding_key="dataset.item_info.encoding",
        )
        cols = [ic.id_column, ic.info_column] + ([ic.title_column] if ic.title_column else [])
        require_columns(df, path, cols, "dataset.item_info", "dataset.item_info.header" if ic.header else None)
        keys = int_ids(df, ic.id_column, path) if cfg.id_type == "int" else str_ids(df, ic.id_column, path)
        info = explode_info(keys, df[ic.info_column], ic.info_sep)
        titles = None
        if ic.title_column:
            titles = pd.DataFrame({"key": keys, "title": df[ic.title_column].astype(str).to_numpy()})
        return info, titles


