"""FusionGAN (Ma et al., Information Fusion 2019): a plain convolutional generator trained
adversarially to give the fused image the visible image's texture and the infrared intensity.

Generator on ``cat(ir, vis)`` rescaled to [-1, 1] (``d = dim``; d = 16, the config default, gives
the published widths 256, 128, 64, 32):

* conv5x5 2->16d, conv5x5 16d->8d, conv3x3 8d->4d, conv3x3 4d->2d, each BatchNorm + LReLU(0.2);
* conv1x1 2d->1 + tanh, mapped onto [0,1] as (tanh + 1) / 2.

Every convolution weight carries spectral normalisation. Deviation from the published network,
on purpose: it used "valid" convolutions (output 12 px smaller than the input, test inputs
edge-padded by 6); here every convolution uses "same" replicate padding (edge padding per layer),
so the output has the input's size for any H, W.

Losses: :func:`tardal.losses.published.fusiongan_g_loss` / ``fusiongan_d_loss``; the
discriminator is ``DISCRIMINATORS["fusiongan"]`` (judging vis vs fused).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from tardal.config import FusionConfig
from tardal.errors import ConfigError
from tardal.fusion.registry import FUSION


def sn_conv(cin: int, cout: int, k: int, *, bias: bool = True) -> nn.Conv2d:
    """Spectral-normalised conv k x k, stride 1, "same" replicate padding."""
    return spectral_norm(nn.Conv2d(cin, cout, k, 1, k // 2, bias=bias, padding_mode="replicate"))


@FUSION.register("fusiongan")
class FusionGAN(nn.Module):
    """FusionGAN generator: ``fused = G(ir, vis)``.

    Args:
        dim: width unit d (config ``fusion.dim``); layers have 16d, 8d, 4d, 2d channels.

    Input ``ir, vis``: (B,1,H,W) float in [0,1], any H, W; output (B,1,H,W) float in [0,1].
    """

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        if dim < 1:
            raise ConfigError(f"fusion.dim must be >= 1 for fusiongan, found {dim}")
        widths = [2, 16 * dim, 8 * dim, 4 * dim, 2 * dim]
        kernels = [5, 5, 3, 3]
        layers: list[nn.Module] = []
        for cin, cout, k in zip(widths[:-1], widths[1:], kernels):
            layers += [sn_conv(cin, cout, k, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]
        layers.append(sn_conv(2 * dim, 1, 1))
        self.body = nn.Sequential(*layers)

    @classmethod
    def from_config(cls, cfg: FusionConfig) -> "FusionGAN":
        return cls(dim=cfg.dim)

    def forward(self, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        x = torch.cat((ir, vis), dim=1) * 2.0 - 1.0
        return (torch.tanh(self.body(x)) + 1.0) * 0.5
