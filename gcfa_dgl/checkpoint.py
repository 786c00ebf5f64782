"""Checkpoints written atomically and read back without unpickling code."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import torch

from data_prep.errors import DataError, UserError
from data_prep.store import atomic_write


def save(path: Path, state: dict[str, Any]) -> None:
    """torch.save into memory, then an atomic write: a kill mid-save leaves the old file."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, lambda f: f.write(buf.getbuffer()))


def load(path: Path) -> dict[str, Any]:
    """Tensors, numbers, strings and containers only (`weights_only=True`): no code runs."""
    if not path.exists():
        raise UserError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
        raise DataError(path, f"not a readable checkpoint ({str(e).splitlines()[0]})") from e
