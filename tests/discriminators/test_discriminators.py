"""Target and detail discriminators."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tardal.config import DiscriminatorConfig
from tardal.discriminators import (
    DISCRIMINATORS,
    DetailDiscriminator,
    TargetDiscriminator,
    build_discriminator,
)
from tardal.errors import ConfigError, UnknownNameError
from tardal.losses.adversarial import critic_loss
from tardal.losses.gradient import sobel_magnitude


def test_registry_and_config() -> None:
    assert {"detail", "target"} <= set(DISCRIMINATORS.names())
    cfg = DiscriminatorConfig(dim=4, layers=4, pool=2, detail_mask=False)
    d = build_discriminator("detail", cfg)
    assert isinstance(d, DetailDiscriminator) and d.use_mask is False
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8, 16, 32]
    assert all(c.stride == (2, 2) and c.kernel_size == (3, 3) for c in convs)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) for m in d.modules())
    acts = [m for m in d.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 4 and all(a.negative_slope == 0.2 for a in acts)
    with pytest.raises(UnknownNameError, match="Valid names: detail, .*target"):
        build_discriminator("texture", cfg)


@pytest.mark.parametrize("size", [(8, 8), (17, 23), (64, 64), (120, 200)])
@pytest.mark.parametrize("layers", [3, 4])
def test_one_score_per_image_at_any_size(size: tuple[int, int], layers: int) -> None:
    d = TargetDiscriminator(dim=4, layers=layers)
    out = d(torch.rand(3, 1, *size))
    assert out.shape == (3,) and torch.isfinite(out).all()


def test_bad_layer_count() -> None:
    with pytest.raises(ConfigError, match="disc.layers: expected 3 or 4, found 5"):
        TargetDiscriminator(layers=5)


def test_views() -> None:
    x, m = torch.rand(2, 1, 16, 16), (torch.rand(2, 1, 16, 16) > 0.5).float()
    assert torch.equal(TargetDiscriminator(dim=2).view(x, m), x * m)
    assert torch.allclose(DetailDiscriminator(dim=2).view(x, m), sobel_magnitude(x) * (1 - m))
    assert torch.allclose(DetailDiscriminator(dim=2, use_mask=False).view(x, m), sobel_magnitude(x))


@pytest.mark.parametrize("cls", [TargetDiscriminator, DetailDiscriminator])
@pytest.mark.parametrize("penalty", ["wgan-div", "gp"])
def test_gradients_reach_every_parameter(cls: type, penalty: str) -> None:
    torch.manual_seed(0)
    d = cls(dim=4, layers=3)
    img_real, img_fake = torch.rand(4, 1, 32, 32), torch.rand(4, 1, 32, 32)
    m = (torch.rand(4, 1, 32, 32) > 0.7).float()
    terms = critic_loss(d, d.view(img_real, m), d.view(img_fake, m), penalty=penalty)
    (terms["wasserstein"] + terms["penalty"]).backward()
    for name, p in d.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
