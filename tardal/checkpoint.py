"""Checkpoints: plain dicts of state_dicts plus config and package version.

Written atomically (serialise to memory, write a temporary file, flush it to disk, rename), so
a failed or interrupted save leaves the previous file whole; read with
``torch.load(..., weights_only=True)``, so a checkpoint can never execute code on load. A file
holding pickled Python objects (classes, functions) is refused with a message of our own.
"""

from __future__ import annotations

import io
import pickle
import re
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
# How torch.load(weights_only=True) says it refused a pickled object (a class, a function);
# "Unsupported operand" is a damaged pickle, not a refusal. Compared in lower case.
_REFUSAL_MARKERS = ("unsupported global", "unrecognized function", "allowlisted",
                    "unsupported class")
_REFUSED_GLOBAL = re.compile(r"GLOBAL (\S+)")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Save ``state`` (must hold ``config``: a plain dict) with the package version added.

    The previous file at ``path`` stays whole if the save fails or is interrupted; a failure
    (disk full, read-only folder) raises :class:`~tardal.errors.CheckpointError` naming
    ``path``.
    """
    assert "config" in state, "a checkpoint must carry its config"
    state = {**state, "version": __version__}
    buf = io.BytesIO()
    torch.save(state, buf)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue(), error=CheckpointError)
    return path


def refusal_message(path: str | Path, exc: BaseException) -> str | None:
    """Our message for a file ``torch.load(weights_only=True)`` refused to unpickle, or None
    when ``exc`` is not such a refusal. PyTorch's own text (which suggests loading with
    ``weights_only`` off, i.e. running whatever code the file holds) is not repeated."""
    text = str(exc)
    lowered = text.lower()
    refused = any(marker in lowered for marker in _REFUSAL_MARKERS)
    if not isinstance(exc, pickle.UnpicklingError) or not refused:
        return None
    match = _REFUSED_GLOBAL.search(text)
    what = f" (the first is {match.group(1)})" if match else ""
    return (
        f"checkpoint {path} contains pickled Python objects{what}; tardal refuses to load them "
        "because loading them can run arbitrary code. Re-save the weights with tardal (a "
        "'tardal train' checkpoint holds only tensors and plain values), or, for Ultralytics "
        "detector weights you trust, pass the file as detector.weights=FILE"
    )


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; clear errors for bad files.

    Raises :class:`~tardal.errors.CheckpointError` for a missing file, a file that is not a
    checkpoint or is damaged, a file with pickled Python objects, and a dict without the keys
    ``version`` and ``config``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, OSError,
            ValueError) as exc:
        refused = refusal_message(path, exc)
        if refused:
            raise CheckpointError(refused) from None
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        first = next((ln for ln in lines if "weights_only" not in ln), type(exc).__name__)
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a tardal checkpoint ({first})"
        ) from None
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED_KEYS):
        found = sorted(map(str, state)) if isinstance(state, dict) else type(state).__name__
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
