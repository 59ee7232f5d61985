"""The shipped detection configs resolve, and their reference overrides are valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from tardal.config import load_config
from tardal.engine.modes import MODES

CONFIGS = Path(__file__).parents[2] / "configs"


@pytest.mark.parametrize("name", ["synth-ct", "m3fd-ct", "llvip-ct"])
def test_shipped_ct_configs_resolve(name: str) -> None:
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.train.mode == "ct" and cfg.train.mode in MODES
    assert cfg.data.img_size % 32 == 0
    assert cfg.detector.model == "yolov8n.yaml" and cfg.fusion.name == "tardal"
    assert cfg.train.bridge_warm < cfg.train.epochs and cfg.train.ema


def test_m3fd_ct_is_paper_sized() -> None:
    cfg = load_config(CONFIGS / "m3fd-ct.yaml")
    assert (cfg.fusion.dim, cfg.fusion.depth, cfg.disc.dim, cfg.data.img_size) == (32, 3, 32, 640)


@pytest.mark.parametrize("overrides", [["train.mode=ir"], ["train.mode=vis"], ["train.mode=tt"],
                                       ["train.mode=frontend", "fusion.name=mean"]])
def test_reference_overrides_of_the_cpu_config(overrides: list[str]) -> None:
    cfg = load_config(CONFIGS / "synth-ct.yaml", overrides)
    assert cfg.train.mode in MODES
    base = load_config(CONFIGS / "synth-ct.yaml")
    # same data, detector and budget
    assert (cfg.data, cfg.detector, cfg.train.epochs, cfg.train.lr_det) == (
        base.data, base.detector, base.train.epochs, base.train.lr_det)
