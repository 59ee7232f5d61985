"""The published baselines' discriminators: registry, layout, any input size, training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tardal.discriminators import (
    DISCRIMINATORS,
    FusionGANDiscriminator,
    PatchGANDiscriminator,
    UFGANDiscriminator,
)
from tardal.errors import ConfigError
from tardal.losses.published import fusegan_d_loss, fusiongan_d_loss, mfifgan_d_loss


def test_registered_names() -> None:
    assert DISCRIMINATORS.names() == ["detail", "fusiongan", "mffgan", "patchgan", "target",
                                      "ufgan"]


def test_fusiongan_layout() -> None:
    d = FusionGANDiscriminator()
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256]
    assert all(c.stride == (2, 2) and c.kernel_size == (3, 3) for c in convs)
    assert len([m for m in d.modules() if isinstance(m, nn.BatchNorm2d)]) == 3
    assert isinstance(d.features[1], nn.LeakyReLU)  # no BatchNorm on the first layer
    assert isinstance(d.score, nn.Linear) and d.score.out_features == 1


def test_ufgan_uses_spectral_norm_and_global_pooling() -> None:
    d = UFGANDiscriminator(dim=4)
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert all(hasattr(c, "parametrizations") for c in convs)
    assert len([m for m in d.modules() if isinstance(m, nn.BatchNorm2d)]) == 4
    assert d.score.in_features == 32


@pytest.mark.parametrize("name", ["fusiongan", "mffgan", "ufgan"])
@pytest.mark.parametrize("size", [(9, 9), (33, 47), (64, 64)])
def test_one_score_per_image(name: str, size: tuple[int, int]) -> None:
    d = DISCRIMINATORS.build(name, dim=4).train()
    out = d(torch.rand(3, 1, *size))
    assert out.shape == (3,) and torch.isfinite(out).all()


@pytest.mark.parametrize("size", [(8, 8), (32, 32), (45, 70)])
def test_patchgan_scores_a_map_at_any_size(size: tuple[int, int]) -> None:
    d = PatchGANDiscriminator(dim=4, norm="instance")
    out = d(torch.rand(2, 3, *size))
    assert out.dim() == 4 and out.shape[:2] == (2, 1) and min(out.shape[-2:]) >= 1


def test_patchgan_size_and_norm() -> None:
    out = PatchGANDiscriminator(dim=4)(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 1, 6, 6)  # pix2pix's 70x70 PatchGAN: 64 -> 32 -> 16 -> 8 -> 7 -> 6
    plain = PatchGANDiscriminator(norm="none")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    with pytest.raises(ConfigError, match="expected 'batch', 'instance' or 'none', found 'layer'"):
        PatchGANDiscriminator(norm="layer")  # type: ignore[arg-type]


def _grads_everywhere(module: nn.Module) -> bool:
    return all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def test_discriminator_losses_train_every_parameter() -> None:
    g = torch.Generator().manual_seed(0)
    d = FusionGANDiscriminator(dim=4)
    real, fake = torch.rand(2, 1, 32, 32, generator=g), torch.rand(2, 1, 32, 32, generator=g)
    fusiongan_d_loss(d(real), d(fake), g)["loss"].backward()
    assert _grads_everywhere(d)
    p = PatchGANDiscriminator(dim=4, norm="batch")
    x, y = torch.rand(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g)
    fusegan_d_loss(p(x), p(y))["loss"].backward()
    assert _grads_everywhere(p)
    c = PatchGANDiscriminator(dim=4, norm="instance", score_bias=False)
    mfifgan_d_loss(c, x, y, g)["loss"].backward()
    assert _grads_everywhere(c)
