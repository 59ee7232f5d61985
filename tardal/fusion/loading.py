"""Rebuild a fusion network from a tardal training checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from tardal.checkpoint import GENERATOR, MODELS, load_checkpoint, load_state
from tardal.config import Config, config_from_dict
from tardal.errors import CheckpointError, ConfigError
from tardal.fusion.registry import build_fusion

GENERATOR_KEY = GENERATOR  # the generator's key inside ``checkpoint["models"]``
#: The fusion weights shipped in the package (``tools/train_release.py`` makes them).
RELEASE_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "tardal-release.pt"


def release_weights() -> Path | None:
    """The packaged release G, or None when this installation has none."""
    return RELEASE_WEIGHTS if RELEASE_WEIGHTS.is_file() else None


def load_fusion(path: str | Path, map_location: str | torch.device = "cpu"
                ) -> tuple[nn.Module, Config]:
    """Load the generator of a checkpoint written by ``tardal train``, in eval mode.

    The network is built from the checkpoint's own config (``cfg.fusion``), so no config file
    is needed. Raises :class:`~tardal.errors.CheckpointError` for a missing, corrupt or
    mismatched file.
    """
    ckpt = load_checkpoint(path, map_location=map_location)
    try:
        cfg = config_from_dict(ckpt["config"])
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint {path} carries an invalid config: {exc}") from None
    models: Any = ckpt.get(MODELS)
    if not isinstance(models, dict) or GENERATOR_KEY not in models:
        found = sorted(models) if isinstance(models, dict) else type(models).__name__
        raise CheckpointError(
            f"checkpoint {path} holds no fusion network: expected models['{GENERATOR_KEY}'], "
            f"found models {found}"
        )
    net = build_fusion(cfg.fusion)
    load_state(net, models[GENERATOR_KEY], f"checkpoint {path} (models.{GENERATOR_KEY})")
    return net.eval(), cfg
