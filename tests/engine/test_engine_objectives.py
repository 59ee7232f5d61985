"""Every trainable fusion method trains in the one loop (mode dt) with its own objective, and
its checkpoint serves ``tardal fuse`` and a frozen front-end."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import pytest
import torch

from tardal.checkpoint import load_checkpoint
from tardal.config import Config, load_config
from tardal.engine import train
from tardal.engine.modes import get_mode
from tardal.engine.objectives import OBJECTIVES
from tardal.fusion import FUSION, load_fusion

MakeCfg = Callable[..., Config]
CONFIGS = Path(__file__).parents[2] / "configs"
PUBLISHED = ("densefuse", "fusiongan", "pmgi", "ufgan", "u2fusion", "mffgan", "mfifgan",
             "fusegan")


def test_every_trainable_method_has_an_objective_and_a_config() -> None:
    assert set(PUBLISHED) | {"tardal"} <= set(OBJECTIVES.names())
    assert set(OBJECTIVES.names()) <= set(FUSION.names())
    for name in PUBLISHED:
        cfg = load_config(CONFIGS / f"{name}.yaml")
        assert cfg.fusion.name == name and cfg.train.mode == "dt" and not cfg.data.generate
        assert "roadscene" in cfg.data.root  # trained on RoadScene, never on TNO


@pytest.mark.parametrize("name", PUBLISHED)
def test_method_trains_with_its_objective(make_cfg: MakeCfg, name: str) -> None:
    cfg = make_cfg(f"fusion.name={name}", "train.epochs=2", "data.img_size=32", f"name={name}")
    mode = get_mode(cfg)
    result = train(cfg, progress=False)
    first, last = result.rows
    for key in mode.logs:
        assert math.isfinite(last[f"train/{key}"]), key
    assert last["train/loss"] > 0 and math.isfinite(last["val/content"])
    ckpt = load_checkpoint(result.last)
    expected = {"G"} | ({"D"} if name not in ("densefuse", "pmgi", "u2fusion") else set())
    assert set(ckpt["models"]) == expected == set(ckpt["optimizers"])
    # the generator moved, and the checkpoint rebuilds it for inference
    net, saved = load_fusion(result.last)
    assert saved.fusion.name == name
    x = torch.rand(1, 1, 36, 44)
    with torch.no_grad():
        out = net(x, x.flip(-1))
    assert out.shape == x.shape and 0.0 <= float(out.min()) and float(out.max()) <= 1.0


def test_a_published_method_as_a_frozen_front_end(make_cfg: MakeCfg) -> None:
    source = train(make_cfg("fusion.name=pmgi", "train.epochs=1", "data.img_size=32",
                            "name=pmgi-src"), progress=False)
    cfg = make_cfg("train.mode=frontend", f"fusion.weights={source.last}", "train.epochs=1",
                   "train.ema_tau=10", "name=pmgi-front")
    result = train(cfg, progress=False)
    src, ckpt = load_checkpoint(source.last), load_checkpoint(result.last)
    assert ckpt["config"]["fusion"]["name"] == "pmgi"
    for k, v in src["models"]["G"].items():
        assert torch.equal(v, ckpt["models"]["G"][k]), k
    assert set(ckpt["optimizers"]) == {"det"}


def test_fixed_methods_have_nothing_to_train(make_cfg: MakeCfg) -> None:
    from tardal.errors import ConfigError

    with pytest.raises(ConfigError, match="'mean' has no training objective"):
        train(make_cfg("fusion.name=mean"), progress=False)
