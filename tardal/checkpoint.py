"""Checkpoints: plain dicts of state_dicts plus config and package version.

Written atomically (serialise to memory, write a temporary file, rename) and read with
``torch.load(..., weights_only=True)``, so a checkpoint can never execute code on load.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from tardal import __version__
from tardal.errors import CheckpointError
from tardal.io import atomic_write_bytes

REQUIRED_KEYS = ("version", "config")

#: Sections of a training checkpoint (the layout is owned by :mod:`tardal.engine.checkpoint`;
#: the keys live here so that the fusion loader, below the engine, reads the same names).
MODELS = "models"  # {"G": state_dict, "det": ..., "D_t": ..., "D_d": ...}
GENERATOR = "G"  # the fusion network inside MODELS


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Save ``state`` (must hold ``config``: a plain dict) with the package version added."""
    if "config" not in state:
        raise ValueError("a checkpoint must carry its config")
    state = {**state, "version": __version__}
    buf = io.BytesIO()
    torch.save(state, buf)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; clear errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a tardal checkpoint ({first})"
        ) from None
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED_KEYS):
        found = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"checkpoint {path} is not a tardal checkpoint: expected keys {list(REQUIRED_KEYS)}, "
            f"found {found}"
        )
    return state


def load_state(module: torch.nn.Module, state_dict: dict[str, Any], where: str) -> None:
    """``module.load_state_dict`` with an error naming the checkpoint and the mismatched keys."""
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        raise CheckpointError(f"{where} does not match the model: {' '.join(lines[:3])}") from None
