"""Shared benchmark helpers: the ML-1M-sized graph, robust timing."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from hydra import compose, initialize_config_dir

CONF = Path(__file__).resolve().parents[2] / "conf"


def compose_prep(overrides: list[str]):
    from data_prep.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="prep", overrides=overrides)


def ml1m_sized(processed_dir: str | None = None):
    """ML-1M (ratings_notime through the csv source) when GCFA_RAW_DIR has it, else a synthetic
    graph of the same size (6,040 users, 3,706 videos, 1,000,209 interactions)."""
    from data_prep.pipeline import prepare
    from gcfa_dgl.data import load_processed

    extra = [f"paths.processed_dir={processed_dir}"] if processed_dir else []
    raw = os.environ.get("GCFA_RAW_DIR")
    if raw and (Path(raw) / "ml-1m" / "ratings_notime.csv").exists():
        cfg = compose_prep(["dataset=ml1m_notime", *extra])
        label = "ML-1M (ratings_notime)"
    else:
        cfg = compose_prep(["dataset=synthetic", "dataset.name=synthetic_ml1m_size",
                            "dataset.synthetic.n_users=6040", "dataset.synthetic.n_items=3706",
                            "dataset.synthetic.n_interactions=1000209", "dataset.synthetic.n_info=18", *extra])
        label = "synthetic, ML-1M-sized"
    return load_processed(prepare(cfg)), label


def median_rate(fn: Callable[[], int], repeats: int = 5) -> float:
    """Median of `repeats` runs of items processed per second (fn returns the item count)."""
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t))
    return statistics.median(rates)
