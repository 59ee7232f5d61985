"""Infrared-visible baselines: layouts at the published widths, rules, config mapping, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tardal.config import FusionConfig
from tardal.errors import ConfigError
from tardal.fusion import build_fusion
from tardal.fusion.densefuse import DenseFuse, add_rule, l1_rule
from tardal.fusion.fusiongan import FusionGAN
from tardal.fusion.pmgi import PMGI
from tardal.fusion.u2fusion import U2Fusion
from tardal.fusion.ufgan import UFGAN
from tardal.losses.published import densefuse_loss


def _convs(net: nn.Module) -> list[nn.Conv2d]:
    return [m for m in net.modules() if isinstance(m, nn.Conv2d)]


def _pair(h: int = 24, w: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, 1, h, w, generator=g), torch.rand(1, 1, h, w, generator=g)


def test_densefuse_layout_and_rules() -> None:
    net = DenseFuse()
    assert [(c.in_channels, c.out_channels) for c in _convs(net)] == [
        (1, 16), (16, 16), (32, 16), (48, 16), (64, 64), (64, 32), (32, 16), (16, 1)]
    assert all(c.padding_mode == "reflect" for c in _convs(net))
    assert net.encode(torch.rand(1, 1, 9, 9)).shape == (1, 64, 9, 9)
    phi = torch.rand(2, 8, 5, 5)
    assert torch.equal(add_rule(phi, phi), phi)  # the mean: one image's feature scale
    assert torch.equal(add_rule(phi, torch.zeros_like(phi)), 0.5 * phi)
    assert torch.allclose(l1_rule(phi, torch.zeros_like(phi)), phi, atol=1e-6)
    assert torch.allclose(l1_rule(phi, phi), phi)
    # activity 3 vs 1 everywhere -> weights 3/4, 1/4
    big, small = torch.full((1, 2, 4, 4), 1.5), torch.full((1, 2, 4, 4), -0.5)
    assert torch.allclose(l1_rule(big, small), 0.75 * big + 0.25 * small)


def test_densefuse_rule_switch_and_reconstruction_objective() -> None:
    torch.manual_seed(0)
    net = DenseFuse(dim=4)
    a, b = _pair()
    net.rule = "l1"
    expected = net.decode(l1_rule(net.encode(a), net.encode(b))).clamp(0, 1)
    assert torch.equal(net(a, b), expected)
    assert DenseFuse(dim=4, rule="l1").rule == "l1"
    with pytest.raises(ConfigError, match="expected 'add' or 'l1', found 'max'"):
        DenseFuse(rule="max")  # type: ignore[arg-type]
    loss = densefuse_loss(net.reconstruct(a), a)["loss"]
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_fusiongan_layout() -> None:
    net = FusionGAN()
    convs = _convs(net)
    assert [c.out_channels for c in convs] == [256, 128, 64, 32, 1]
    assert [c.kernel_size[0] for c in convs] == [5, 5, 3, 3, 1]
    assert all(hasattr(c, "parametrizations") for c in convs)  # spectral norm
    assert len([m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]) == 4
    assert build_fusion(FusionConfig(name="fusiongan", dim=2)).body[0].out_channels == 32


def test_pmgi_layout() -> None:
    net = PMGI()
    shapes = [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in _convs(net)]
    per_path = [(3, 16, 5), (16, 16, 3), (32, 16, 1), (48, 16, 3), (32, 16, 1), (64, 16, 3)]
    assert shapes == per_path + per_path + [(128, 1, 1)]


def test_pmgi_paths_see_their_own_input_order() -> None:
    torch.manual_seed(0)
    net = PMGI(dim=4).eval()
    a, b = _pair()
    # swapping the sources is not a symmetry: each path has its own weights
    assert not torch.allclose(net(a, b), net(b, a))


def test_ufgan_widths_pooling_and_dropout() -> None:
    net = UFGAN(width=4)
    assert [blk[0].out_channels for blk in net.down] == [4, 8, 16, 32, 64]
    assert all(hasattr(c, "parametrizations") for c in _convs(net))
    assert build_fusion(FusionConfig(name="ufgan", dim=3)).down[0][0].out_channels == 12
    a, b = _pair(17, 33)
    net.train()
    torch.manual_seed(1)
    first = net(a, b)
    torch.manual_seed(2)
    assert not torch.equal(first, net(a, b))  # dropout is active in training
    net.eval()
    assert torch.equal(net(a, b), net(a, b))  # and off at evaluation (a published bug)
    with pytest.raises(ConfigError, match="dropout must be in"):
        UFGAN(dropout=1.0)


def test_u2fusion_layout() -> None:
    net = U2Fusion()
    convs = _convs(net)
    assert [c.out_channels for c in convs] == [44] * 6 + [128, 64, 32, 1]
    assert convs[6].in_channels == 264
    assert all(c.padding_mode == "reflect" for c in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    small = U2Fusion(dim=8)
    assert [c.out_channels for c in _convs(small)] == [22] * 6 + [64, 32, 16, 1]


@pytest.mark.parametrize("name", ["densefuse", "fusiongan", "pmgi", "ufgan", "u2fusion",
                                  "mffgan", "mfifgan", "fusegan"])
def test_bad_width_raises_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match="must be >= 1"):
        build_fusion(FusionConfig(name=name, dim=0))
