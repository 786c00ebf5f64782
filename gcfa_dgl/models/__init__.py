"""One class per model, built with `hydra.utils.instantiate(cfg.model, ...)`."""

from gcfa_dgl.models.base import Recommender
from gcfa_dgl.models.gcfa import GCFA
from gcfa_dgl.models.pop import Pop

__all__ = ["GCFA", "Pop", "Recommender"]
