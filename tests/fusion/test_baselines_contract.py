"""Every registered fusion method, trained the way its objective trains it: gradients reach every
parameter, training mode keeps the contract, and a state-dict round trip is exact."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tardal.config import FusionConfig
from tardal.fusion import FUSION, build_fusion

BASELINES = ["densefuse", "fusiongan", "pmgi", "ufgan", "u2fusion", "mffgan", "mfifgan", "fusegan"]


def _pair(b: int, h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 1, h, w, generator=g), torch.rand(b, 1, h, w, generator=g)


def training_output(net: nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The differentiable output each method's objective trains on."""
    if hasattr(net, "focus_map"):  # decision-map methods: the soft focus map
        return net.focus_map(a, b)
    if hasattr(net, "reconstruct"):  # DenseFuse: the auto-encoder
        return net.reconstruct(a)
    return net(a, b)


def test_baselines_are_registered() -> None:
    assert set(BASELINES) <= set(FUSION.names())


TRAINABLE = [n for n in FUSION.names()
             if any(True for _ in build_fusion(FusionConfig(name=n, dim=2, depth=1)).parameters())]


def test_every_baseline_is_trainable() -> None:
    assert set(BASELINES) <= set(TRAINABLE)


@pytest.mark.parametrize("name", TRAINABLE)
def test_gradients_reach_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    net = build_fusion(FusionConfig(name=name, dim=4, depth=2)).train()
    params = dict(net.named_parameters())
    a, b = _pair(2, 33, 47)
    out = training_output(net, a, b)
    target = torch.rand(out.shape, generator=torch.Generator().manual_seed(1))
    ((out - target) ** 2).mean().backward()
    missing = [k for k, p in params.items() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"{name}: no gradient reaches {missing}"


@pytest.mark.parametrize("name", FUSION.names())
def test_train_mode_shape_and_range(name: str) -> None:
    torch.manual_seed(0)
    net = build_fusion(FusionConfig(name=name, dim=4, depth=2)).train()
    a, b = _pair(2, 19, 37)
    out = net(a, b)
    assert out.shape == (2, 1, 19, 37)
    assert torch.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("name", FUSION.names())
def test_state_dict_round_trip(name: str) -> None:
    torch.manual_seed(0)
    net = build_fusion(FusionConfig(name=name, dim=4, depth=2))
    a, b = _pair(2, 33, 29, seed=3)
    with torch.no_grad():
        net.train()(a, b)  # move BatchNorm statistics and spectral-norm vectors off their init
    net.eval()
    torch.manual_seed(1)
    copy = build_fusion(FusionConfig(name=name, dim=4, depth=2))
    copy.load_state_dict(net.state_dict())
    copy.eval()
    with torch.no_grad():
        expected = net(a, b)
        assert torch.equal(copy(a, b), expected)
        if hasattr(net, "focus_map"):
            assert torch.equal(copy.focus_map(a, b), net.focus_map(a, b))


@pytest.mark.parametrize("name", BASELINES)
def test_default_config_builds_the_published_widths(name: str) -> None:
    net = build_fusion(FusionConfig(name=name))
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    widths = [c.out_channels for c in convs]
    published = {
        "densefuse": 16, "fusiongan": 256, "pmgi": 16, "ufgan": 1024, "u2fusion": 44,
        "mffgan": 16, "mfifgan": 256, "fusegan": 256,
    }
    assert published[name] in widths
    assert widths[-1] == 1
