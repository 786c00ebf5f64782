"""The preprocessing stage end to end: raw files -> processed directory.

`prepare(cfg)` locates (or downloads) the raw files, fingerprints them with the dataset config,
and returns `<processed_dir>/<name>/<fingerprint>/`, building it only when it does not exist yet.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from data_prep import graph as graph_mod
from data_prep.config import validate_dataset, value
from data_prep.errors import UserError
from data_prep.filtering import clean
from data_prep.negatives import sample_negatives
from data_prep.sources import ensure_files, get_source
from data_prep.splits import TEST, TRAIN, VALID, split
from data_prep.store import (
    META_NAME,
    atomic_write_json,
    file_digest,
    fingerprint,
    output_checksums,
    staging_dir,
    verify_outputs,
)
from data_prep.tightness import cosine_top_m, info_tightness, rating_tightness

log = logging.getLogger(__name__)

OUTPUT_FILES = ["graph.bin", "splits.npz", "items.csv"]


class Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - t, 3)
        log.info("%-10s %.2fs", name, self.seconds[name])


def dataset_dict(ds: Any) -> dict[str, Any]:
    return OmegaConf.to_container(ds, resolve=True, enum_to_str=True)  # type: ignore[return-value]


def output_dir(cfg: Any) -> tuple[Path, list[Path], str, dict[str, str]]:
    """Where the processed dataset of this config lives (raw files located, maybe downloaded)."""
    ds = cfg.dataset
    validate_dataset(ds)
    raw_dir = Path(cfg.paths.raw_dir)
    source = get_source(value(ds.source))
    files = ensure_files(ds, source, raw_dir, bool(cfg.paths.download), bool(cfg.paths.verify_checksums))
    raw = {os.path.relpath(p, raw_dir): file_digest(p) for p in files}
    fp = fingerprint({"dataset": dataset_dict(ds), "raw_files": raw})
    return Path(cfg.paths.processed_dir) / ds.name / fp, files, fp, raw


def prepare(cfg: Any, check_videos: Callable[[int], None] | None = None) -> Path:
    """Build (or find) the processed dataset for `cfg` and return its directory.

    `check_videos(n)` sees the number of videos as soon as it is known (from an existing
    directory's metadata, or once the raw interactions are read and cleaned) and may raise, before
    the dataset is built: the checks of a config against the data's size.
    """
    timer = Timer()
    with timer.stage("locate"):
        out, files, fp, raw_digests = output_dir(cfg)
    if (out / META_NAME).exists() and not cfg.get("force", False):
        if check_videos:
            check_videos(int(json.loads((out / META_NAME).read_text(encoding="utf-8"))["counts"]["videos"]))
        verify_outputs(out)
        log.info("up to date: %s", out)
        return out
    meta = build(cfg, out, files, fp, raw_digests, timer, check_videos)
    print(summary(meta))
    return out


def build(cfg: Any, out: Path, files: list[Path], fp: str, raw_digests: dict[str, str],
          timer: Timer, check_videos: Callable[[int], None] | None = None) -> dict[str, Any]:
    ds = cfg.dataset
    raw_dir = Path(cfg.paths.raw_dir)
    with timer.stage("load"):
        raw = get_source(value(ds.source)).load(ds, raw_dir)
    with timer.stage("clean"):
        inter = clean(raw, ds, str(files[0]) if files else ds.name)
    if check_videos:
        check_videos(inter.n_items)
    with timer.stage("split"):
        if ds.split.kind == "given":
            if inter.given_split is None:
                raise UserError(
                    f"config key dataset.split.kind=given: the {ds.name} source has no split of its "
                    "own; use loo or ratio"
                )
            codes = inter.given_split
        else:
            codes = split(inter.user, inter.timestamp, ds.split)
        for code, name in ((TRAIN, "train"), (VALID, "valid"), (TEST, "test")):
            if not (codes == code).any():
                raise UserError(
                    f"the {name} split is empty ({len(inter)} interactions, {inter.n_users} users); "
                    "check dataset.split and the minimum-interaction filters"
                )
    tr, va, te = (codes == TRAIN), (codes == VALID), (codes == TEST)
    with timer.stage("negatives"):
        neg = ds.negatives
        rows = np.concatenate([inter.user[va], inter.user[te]])
        negs = sample_negatives(rows, inter.user, inter.item, inter.n_items, neg.num, neg.seed, inter.user_ids)
        valid_neg, test_neg = negs[: va.sum()], negs[va.sum():]
    if value(ds.node_order) == "degree":
        new_item = relabel_by_degree(inter, tr)
        valid_neg, test_neg = new_item[valid_neg], new_item[test_neg]

    with timer.stage("tightness"):
        tu, tv, tr_rating = inter.user[tr], inter.item[tr], inter.rating[tr]
        levels = np.unique(tr_rating)
        m = ds.tightness
        cap = {"max_degree": m.max_degree, "seed": m.seed}
        uu = cosine_top_m(tu, tv, inter.n_users, inter.n_items, m.top_m, m.block_mb, "user-user", **cap)
        vv = cosine_top_m(tv, tu, inter.n_items, inter.n_users, m.top_m, m.block_mb, "video-video", **cap)
        vi, info_names = None, []
        if raw.info is not None and len(raw.info):
            vi, info_names = _info_edges(raw.info, inter.item_keys, inter.n_items)
    with timer.stage("graph"):
        feats = None
        if raw.item_features is not None:
            feats = raw.item_features[inter.item_ids.astype(np.int64)]
        parts = graph_mod.GraphParts(
            n_users=inter.n_users,
            n_videos=inter.n_items,
            n_info=len(info_names),
            train_user=tu,
            train_video=tv,
            rating=tr_rating,
            rating_level=np.searchsorted(levels, tr_rating),
            rating_tightness=rating_tightness(tr_rating, None if inter.implicit else raw.rating_max, raw.rating_min),
            uu=uu,
            vv=vv,
            vi=vi,
            video_features=feats,
        )
        g = graph_mod.build(parts)
        for et in g.canonical_etypes:  # what weighted sampling needs: no prepared dataset may fail later
            w = g.edges[et].data["tightness"]
            if len(w) and not (w.isfinite().all() and (w >= 0).all()):
                raise UserError(f"dataset {ds.name}: the {'-'.join(et)} tightness has values that are not finite "
                                "and >= 0; check dataset.rating_range against the ratings")

    with timer.stage("write"), staging_dir(out, replace=bool(cfg.get("force", False))) as tmp:
        graph_mod.save(g, tmp / "graph.bin")
        arrays = {}
        for name, mask in (("train", tr), ("valid", va), ("test", te)):
            arrays[f"{name}_user"] = inter.user[mask]
            arrays[f"{name}_item"] = inter.item[mask]
            arrays[f"{name}_rating"] = inter.rating[mask]
            if inter.timestamp is not None:
                arrays[f"{name}_timestamp"] = inter.timestamp[mask]
        arrays["valid_neg"], arrays["test_neg"] = valid_neg, test_neg
        with open(tmp / "splits.npz", "wb") as f:
            np.savez(f, **arrays)
        _write_items(tmp / "items.csv", inter, raw, vi, info_names)
        counts = {
            "users": inter.n_users,
            "videos": inter.n_items,
            "info": len(info_names),
            "interactions": len(inter),
            "train": int(tr.sum()),
            "valid": int(va.sum()),
            "test": int(te.sum()),
            "density": len(inter) / (inter.n_users * inter.n_items),
        }
        meta = {
            "format_version": 1,
            "name": ds.name,
            "fingerprint": fp,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "dataset": dataset_dict(ds),
            "raw_files": {rel: "sha256:" + digest for rel, digest in raw_digests.items()},
            "counts": counts,
            "nodes": {nt: g.num_nodes(nt) for nt in g.ntypes},
            "edges": {"-".join(et): g.num_edges(et) for et in g.canonical_etypes},
            "implicit": inter.implicit,
            "columns": raw.notes.get("columns"),
            "rating_values": [float(x) for x in levels],
            "rating_max": None if inter.implicit else raw.rating_max,
            "negatives_per_positive": int(neg.num),
            "video_feature_dim": 0 if feats is None else int(feats.shape[1]),
            "seconds": timer.seconds,
            "user_ids": _jsonable(inter.user_ids),
            "item_ids": _jsonable(inter.item_ids),
            "info_names": list(info_names),
            "checksums": output_checksums(tmp, OUTPUT_FILES),
        }
        atomic_write_json(tmp / META_NAME, meta)
    meta["seconds"] = timer.seconds
    log.info("wrote %s", out)
    return meta


def relabel_by_degree(inter: Any, train: np.ndarray) -> np.ndarray:
    """Renumber users and videos in place, most train interactions first (ties by their old id);
    returns the old-to-new map of videos, for arrays that hold video ids."""
    maps = []
    for ids, n, names in ((inter.user, inter.n_users, "user_ids"), (inter.item, inter.n_items, "item_ids")):
        order = np.argsort(-np.bincount(ids[train], minlength=n), kind="stable")  # new index -> old
        new = np.empty(n, np.int64)
        new[order] = np.arange(n)
        maps.append((order, new))
        setattr(inter, names, getattr(inter, names)[order])
    (_, new_user), (i_order, new_item) = maps
    inter.user, inter.item = new_user[inter.user], new_item[inter.item]
    inter.item_keys = inter.item_keys[i_order]
    return new_item


def _info_edges(info, item_keys: np.ndarray, n_items: int):
    """(video, info, tightness) edges joining each video's key to the side-information table."""
    import pandas as pd

    keys = pd.DataFrame({"video": np.arange(n_items), "key": item_keys})
    table = info.drop_duplicates()
    joined = keys.merge(table, on="key", how="inner")
    if joined.empty:
        return None, []
    names, info_idx = np.unique(joined["info"].astype(str).to_numpy(), return_inverse=True)
    video = joined["video"].to_numpy(np.int64)
    info_idx = info_idx.astype(np.int64)
    order = np.lexsort((info_idx, video))
    video, info_idx = video[order], info_idx[order]
    w = info_tightness(video, info_idx, n_items, len(names))
    return (video, info_idx, w), [str(n) for n in names]


def _write_items(path: Path, inter, raw, vi, info_names) -> None:
    import pandas as pd

    df = pd.DataFrame({"video": np.arange(inter.n_items), "raw_id": inter.item_ids})
    if raw.titles is not None:
        titles = raw.titles.drop_duplicates("key").set_index("key")["title"]
        df["title"] = pd.Series(inter.item_keys).map(titles).fillna("").to_numpy()
    else:
        df["title"] = ""
    if vi is not None:
        names = np.asarray(info_names, dtype=object)[vi[1]]
        tags = pd.Series(names).groupby(vi[0]).agg("|".join)
        df["info"] = df["video"].map(tags).fillna("")
    else:
        df["info"] = ""
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    path.write_text(buf.getvalue(), encoding="utf-8")


def _jsonable(ids: np.ndarray) -> list:
    return [int(x) for x in ids] if np.issubdtype(ids.dtype, np.integer) else [str(x) for x in ids]


def _fmt_row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [_fmt_row(header, widths), "  ".join("-" * w for w in widths)]
    lines += [_fmt_row([str(c) for c in r], widths) for r in rows]
    return "\n".join(lines)


def summary(meta: dict[str, Any]) -> str:
    c = meta["counts"]
    parts = [f"\n{meta['name']} ({meta['fingerprint']})"]
    if meta.get("columns"):  # which columns of a table were read
        parts.append(table([[k, str(v)] for k, v in meta["columns"].items()], ["field", "column read"]))
    parts.append(table([[k, f"{v:,}"] for k, v in meta["nodes"].items()], ["node type", "nodes"]))
    parts.append(table([[k, f"{v:,}"] for k, v in meta["edges"].items()], ["edge type", "edges"]))
    split_rows = [[k, f"{c[k]:,}", f"{c[k] / c['interactions']:.1%}"] for k in ("train", "valid", "test")]
    split_rows.append(["density", f"{c['density']:.4%}", ""])
    parts.append(table(split_rows, ["split", "interactions", "share"]))
    parts.append(table([[k, f"{v:.2f}"] for k, v in meta["seconds"].items()], ["stage", "seconds"]))
    return "\n\n".join(parts) + "\n"
