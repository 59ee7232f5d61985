"""Choosing the compute device once, from ``train.device``."""

from __future__ import annotations

import torch

from tardal.errors import ConfigError


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` -> CUDA if available, else Apple MPS if available, else CPU; others as given."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ConfigError(
            f"device: expected auto, cpu, cuda, cuda:N or mps, found {spec!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {spec!r} requested but CUDA is not available here")
    return device
