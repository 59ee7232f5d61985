"""Fixtures for the training-loop tests: a generated 64x64 synthetic set and tiny configs."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch

from tardal.config import Config, load_config

SMALL = [
    "train.mode=dt", "data.img_size=64", "data.batch_size=8", "data.workers=0",
    "fusion.dim=4", "fusion.depth=2", "disc.dim=4", "train.device=cpu", "train.preview=2",
    "train.optimizer=adam", "train.lr_g=0.01", "train.lr_d=0.001", "train.weight_decay=0",
    "train.warmup_epochs=0", "train.d_warm=1", "train.epochs=3",
]


@pytest.fixture(scope="session")
def synth64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 synthetic 64x64 scenes (8 train, 2 val, 2 test), generated through the loop's helper."""
    from tardal.config import DataConfig, SynthConfig
    from tardal.engine.data import ensure_dataset

    root = tmp_path_factory.mktemp("synth") / "data"
    cfg = DataConfig(root=str(root), synth=SynthConfig(num=12, width=64, height=64, seed=0))
    assert ensure_dataset(cfg) == root
    return root


@pytest.fixture
def make_cfg(synth64: Path, tmp_path: Path) -> Callable[..., Config]:
    """``make_cfg("train.epochs=2", ...)``: a tiny dt config on ``synth64``, runs in tmp_path."""

    def make(*overrides: str) -> Config:
        return load_config(None, [*SMALL, f"data.root={synth64}", f"project={tmp_path / 'runs'}",
                                  *overrides])

    return make


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """Tiny tensors: one thread is faster and keeps timings steady on shared machines."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
