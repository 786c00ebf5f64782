"""Typed configs of the preprocessing stage, registered with Hydra's ConfigStore.

`conf/dataset/*.yaml` fill these schemas, so a misspelt key or a value of the wrong type fails
when Hydra composes the config, before any file is read. Range checks that types cannot express
live in `validate_dataset`.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from data_prep.errors import ConfigError

# The Hydra config tree: `conf/` of the source tree, installed as the package `gcfa_dgl.conf`
# (pyproject.toml maps it), so entry points and tests compose the same files in a checkout and
# from a wheel. It holds the configs of both apps (`prep.yaml`, `config.yaml`), which share `dataset/`.
CONFIG_PACKAGE = "gcfa_dgl.conf"
CONFIG_PATH = f"pkg://{CONFIG_PACKAGE}"


class Source(str, Enum):
    ml100k = "ml100k"
    ml1m = "ml1m"
    amazon_video = "amazon_video"
    tiktok = "tiktok"
    csv = "csv"
    synthetic = "synthetic"


class SplitKind(str, Enum):
    loo = "loo"
    ratio = "ratio"
    given = "given"


class SplitOrder(str, Enum):
    temporal = "temporal"
    random = "random"


class Duplicates(str, Enum):
    keep_last = "keep_last"
    error = "error"


class NodeOrder(str, Enum):
    raw = "raw"
    degree = "degree"


@dataclass
class ColumnsConfig:
    """Column names of an interactions table (or 0-based positions when the file has no header)."""

    user: str = "user"
    item: str = "item"
    rating: str | None = None
    timestamp: str | None = None
    # Column of the interactions table that keys the item side-information table, when the item
    # id itself does not (ML-1M ratings_notime.csv: item_index is the id, movie_id the key).
    item_key: str | None = None


@dataclass
class ItemInfoConfig:
    """An optional item side-information table: one row per item, one field holding its tags."""

    path: str | None = None
    sep: str = ","
    header: bool = True
    names: list[str] | None = None
    encoding: str = "utf-8"
    id_column: str = "item"
    info_column: str = "genres"
    info_sep: str = "|"
    title_column: str | None = None


@dataclass
class SyntheticConfig:
    """A seeded generator with power-law user and video degrees, clustered tastes and info nodes."""

    n_users: int = 1000
    n_items: int = 500
    n_interactions: int = 20000
    n_info: int = 20
    n_clusters: int = 8
    user_exponent: float = 1.0
    item_exponent: float = 1.0
    in_cluster: float = 0.8
    seed: int = 0


@dataclass
class SplitConfig:
    kind: SplitKind = SplitKind.loo
    order: SplitOrder = SplitOrder.temporal
    ratios: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    seed: int = 0


@dataclass
class NegativesConfig:
    """Fixed sampled negatives for the validation and test positives (the sampled protocol)."""

    num: int = 99
    seed: int = 0


@dataclass
class TightnessConfig:
    """How relationship tightness is computed; see docs/data.md."""

    top_m: int = 20
    # Memory bound of one block of the user-user / video-video similarity product, in MiB.
    block_mb: int = 256
    # Each video counts at most this many of its viewers towards user-user similarity (and each
    # user at most this many videos towards video-video similarity): a seeded uniform sample.
    # The product then costs O(max_degree x interactions) instead of the sum of squared degrees,
    # which grows faster than the data. null: exact.
    max_degree: int | None = 1000
    seed: int = 0


@dataclass
class DatasetConfig:
    name: str = MISSING
    source: Source = MISSING
    # Raw files relative to paths.raw_dir mapped to expected checksums ("sha256:...", "md5:..."
    # or "gitsha1:...", several allowed with "|"); listed files are verified before use.
    checksums: dict[str, str] = field(default_factory=dict)
    # Official archive for download when the raw files are absent.
    url: str | None = None
    archive: str | None = None
    archive_checksum: str | None = None
    # Table sources (csv, amazon_video).
    path: str | None = None
    sep: str | None = None
    header: bool = True
    encoding: str = "utf-8"
    id_type: str = "int"
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    rating_range: list[float] | None = None
    item_info: ItemInfoConfig = field(default_factory=ItemInfoConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    # Preprocessing.
    implicit_threshold: float | None = None
    duplicates: Duplicates = Duplicates.keep_last
    # Node ids of the processed graph: `raw`, in the order of the raw ids; `degree`, most train
    # interactions first (after the split, so splits and negatives are the same interactions,
    # relabelled), which keeps the rows most batches read close together in memory.
    node_order: NodeOrder = NodeOrder.raw
    min_user_interactions: int = 0
    min_item_interactions: int = 0
    split: SplitConfig = field(default_factory=SplitConfig)
    negatives: NegativesConfig = field(default_factory=NegativesConfig)
    tightness: TightnessConfig = field(default_factory=TightnessConfig)


@dataclass
class PathsConfig:
    raw_dir: str = "${oc.env:GCFA_RAW_DIR,data/raw}"
    processed_dir: str = "${oc.env:GCFA_PROCESSED_DIR,data/processed}"
    download: bool = True
    # Check raw files against dataset.checksums (off only for your own edited copies).
    verify_checksums: bool = True


@dataclass
class PrepConfig:
    dataset: DatasetConfig = MISSING
    paths: PathsConfig = MISSING
    force: bool = False


def _known(node: Any, schema: type, prefix: str = "", types: dict[str, type] | None = None
           ) -> tuple[list[str], list[str]]:
    """(keys of `node` that its dataclass `schema` lacks, every key the schema has), recursing into
    nested dataclasses (`types` gives the class of fields typed Any, such as the model's);
    mapping-typed fields (checksums, callbacks) take any key."""
    hints = {**typing.get_type_hints(schema), **(types or {})}
    unknown, known = [], [prefix + k for k in hints]
    for k in node:
        if k not in hints:
            unknown.append(prefix + str(k))
            continue
        child = node._get_node(k)
        if dataclasses.is_dataclass(hints[k]) and isinstance(child, DictConfig) and not child._is_missing():
            u, kn = _known(child, hints[k], f"{prefix}{k}.")
            unknown, known = unknown + u, known + kn
    return unknown, known


def check_composed(cfg: Any, schema: type, types: dict[str, type] | None = None) -> None:
    """What Hydra lets through composition: keys that a `+key=value` override adds although no
    schema has them (they would be silently ignored), and mandatory values left empty (a group's
    schema, e.g. dataset=base_dataset, chosen as if it were an option). One ConfigError naming the
    key, before any work."""
    unknown, known = _known(cfg, schema, types=types)
    if unknown:
        leaf = unknown[0].rsplit(".", 1)[-1]  # the same name in another group first (train.lr: model.lr)
        keys = [k for k in known if not any(o.startswith(k + ".") for o in known)]  # settings, not groups
        close = [k for k in keys if k.rsplit(".", 1)[-1] == leaf] or difflib.get_close_matches(unknown[0], keys, n=1)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ConfigError(f"config key {unknown[0]}: unknown, so it would be ignored{hint}")
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        group = missing[0].split(".")[0]
        raise ConfigError(f"config key {missing[0]}: has no value; set it, or choose a complete option of conf/{group}/")


def value(x: Any) -> Any:
    """The plain value of an enum field (configs hold Enum members)."""
    return x.value if isinstance(x, Enum) else x


def check(ok: bool, key: str, message: str) -> None:
    """Raise ConfigError naming `key` unless `ok`."""
    if not ok:
        raise ConfigError(f"config key {key}: {message}")


def validate_dataset(cfg: Any) -> None:
    """Value checks the schema cannot express; raise ConfigError naming the key."""
    d = cfg
    check(bool(d.name) and "/" not in d.name, "dataset.name", f"must be a plain name, got {d.name!r}")
    check(d.id_type in ("int", "str"), "dataset.id_type", f"must be 'int' or 'str', got {d.id_type!r}")
    check(d.min_user_interactions >= 0, "dataset.min_user_interactions", "must be >= 0")
    check(d.min_item_interactions >= 0, "dataset.min_item_interactions", "must be >= 0")
    r = list(d.split.ratios)
    check(
        len(r) == 3 and all(x >= 0 for x in r) and abs(sum(r) - 1.0) < 1e-6 and r[0] > 0,
        "dataset.split.ratios",
        f"must be three non-negative fractions summing to 1 with train > 0, got {r}",
    )
    check(d.negatives.num >= 1, "dataset.negatives.num", f"must be >= 1, got {d.negatives.num}")
    check(d.tightness.top_m >= 1, "dataset.tightness.top_m", f"must be >= 1, got {d.tightness.top_m}")
    check(d.tightness.block_mb >= 1, "dataset.tightness.block_mb", "must be >= 1")
    check(d.tightness.max_degree is None or d.tightness.max_degree >= 1, "dataset.tightness.max_degree",
          f"must be >= 1 or null, got {d.tightness.max_degree}")
    if d.rating_range is not None:
        r = list(d.rating_range)
        check(len(r) == 2 and r[0] <= r[1] and r[1] > 0 and (r[0] >= 0 or r[0] < r[1]), "dataset.rating_range",
              f"must be [min, max] with max > 0 (a negative min rescales ratings to [0, 1]), got {r}")
    if d.source == Source.csv:
        check(d.path is not None, "dataset.path", "the csv source needs the interactions file")
    s = d.synthetic
    if d.source == Source.synthetic:
        for k in ("n_users", "n_items", "n_interactions", "n_clusters"):
            check(getattr(s, k) >= 1, f"dataset.synthetic.{k}", "must be >= 1")
        check(s.n_info >= 0, "dataset.synthetic.n_info", "must be >= 0")
        check(
            s.n_interactions <= s.n_users * s.n_items // 2,
            "dataset.synthetic.n_interactions",
            "must be at most half of n_users * n_items",
        )
        check(0.0 <= s.in_cluster <= 1.0, "dataset.synthetic.in_cluster", "must be in [0, 1]")


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(group="schema", name="dataset", node=DatasetConfig)  # extended by conf/dataset/*.yaml
    cs.store(group="schema", name="paths", node=PathsConfig)
    cs.store(name="base_prep", node=PrepConfig)
