"""Fixtures for the training-loop tests: a generated 64x64 synthetic set and tiny configs."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from tardal.config import Config, load_config

SMALL = [
    "train.mode=dt", "data.img_size=64", "data.batch_size=8", "data.workers=0",
    "fusion.dim=4", "fusion.depth=2", "disc.dim=4", "train.device=cpu", "train.preview=2",
    "train.optimizer=adam", "train.lr_g=0.01", "train.lr_d=0.001", "train.weight_decay=0",
    "train.warmup_epochs=0", "train.d_warm=1", "train.epochs=3",
]


@pytest.fixture
def make_cfg(synth64: Path, tmp_path: Path) -> Callable[..., Config]:
    """``make_cfg("train.epochs=2", ...)``: a tiny dt config on ``synth64``, runs in tmp_path."""

    def make(*overrides: str) -> Config:
        return load_config(None, [*SMALL, f"data.root={synth64}", f"project={tmp_path / 'runs'}",
                                  *overrides])

    return make


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every engine test runs on one thread (tiny tensors)."""


def context_for(cfg: Config) -> tuple:
    """``(mode, ctx, batch)``: the run's context as ``train`` builds it, and its first training
    batch (with masks when the mode uses them), every model in training mode."""
    from tardal.engine import build_context
    from tardal.engine.data import build_loaders, to_device
    from tardal.engine.modes import get_mode
    from tardal.engine.state import seed_everything
    from tardal.engine.steps import set_training

    mode = get_mode(cfg)
    seed_everything(0)
    loaders = build_loaders(cfg, masks=mode.uses_masks)
    ctx = build_context(cfg, loaders.names)
    set_training(ctx.models, mode.frozen)
    return mode, ctx, to_device(next(iter(loaders.train)), ctx.device)
