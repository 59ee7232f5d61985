"""Discriminators of the published baselines, registered beside TarDAL's critics.

* ``fusiongan`` (FusionGAN, also MFF-GAN's): four conv3x3 stride 2 (d, 2d, 4d, 8d; d = 32
  published), BatchNorm on layers 2-4, LReLU(0.2), then one linear layer to a score. The original
  flattened a fixed 120x120 patch into the linear layer; an adaptive average pool to
  ``pool x pool`` before it makes the score defined for any input size.
* ``mffgan``: the same network (MFF-GAN judges ``|Lap f|`` against ``max(|Lap a|, |Lap b|)``).
* ``ufgan``: the same four layers with spectral normalisation on every convolution and BatchNorm
  on all four, then global average pooling and one linear score.
* ``patchgan``: a PatchGAN (Isola et al.): conv4x4 stride 2 (d), then ``layers - 1`` conv4x4
  stride 2 doubling the width (at most 8d) with normalisation, one conv4x4 stride 1 at the last
  width with normalisation and one conv4x4 stride 1 to a map of patch scores (B,1,h,w). MFIF-GAN
  (a WGAN-GP critic: ``norm="instance"`` or ``"none"``, never batch statistics, and
  ``score_bias=False``) and FuseGAN (LSGAN, ``norm="batch"``) judge ``cat(a, b, map)`` with it.

Every input is (B,C,H,W) float; the first three return (B,) scores.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from tardal.discriminators.critic import DISCRIMINATORS
from tardal.errors import ConfigError

Norm = Literal["batch", "instance", "none"]


def _norm(kind: Norm, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"discriminator norm: expected 'batch', 'instance' or 'none', found {kind!r}")


@DISCRIMINATORS.register("fusiongan")
class FusionGANDiscriminator(nn.Module):
    """FusionGAN's discriminator ``(B,C,H,W) -> (B,)`` (module doc).

    Args:
        in_channels: input planes (1: the visible or fused image).
        dim: width d of the first layer (32 published).
        pool: side of the adaptive average pool before the linear score.
        spectral: spectral normalisation on every convolution.
        norm_first: BatchNorm on the first layer too (UFGAN).
    """

    def __init__(self, in_channels: int = 1, dim: int = 32, pool: int = 4,
                 spectral: bool = False, norm_first: bool = False) -> None:
        super().__init__()
        if dim < 1 or pool < 1:
            raise ConfigError(f"discriminator dim and pool must be >= 1, found {dim}, {pool}")
        blocks: list[nn.Module] = []
        cin = in_channels
        for i in range(4):
            cout = dim * 2**i
            bn = i > 0 or norm_first
            conv = nn.Conv2d(cin, cout, 3, 2, 1, bias=not bn)
            blocks.append(spectral_norm(conv) if spectral else conv)
            if bn:
                blocks.append(nn.BatchNorm2d(cout))
            blocks.append(nn.LeakyReLU(0.2))
            cin = cout
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(pool)
        self.score = nn.Linear(cin * pool * pool, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(torch.flatten(self.pool(self.features(x)), 1)).squeeze(1)


@DISCRIMINATORS.register("mffgan")
class MFFGANDiscriminator(FusionGANDiscriminator):
    """MFF-GAN's discriminator: FusionGAN's network on Laplacian magnitudes (module doc)."""


@DISCRIMINATORS.register("ufgan")
class UFGANDiscriminator(FusionGANDiscriminator):
    """UFGAN's discriminator: spectral-normalised convolutions, global pooling, one score."""

    def __init__(self, in_channels: int = 1, dim: int = 32) -> None:
        super().__init__(in_channels, dim, pool=1, spectral=True, norm_first=True)


@DISCRIMINATORS.register("patchgan")
class PatchGANDiscriminator(nn.Module):
    """PatchGAN ``(B,C,H,W) -> (B,1,h,w)`` patch scores (module doc).

    Args:
        in_channels: input planes (3 for ``cat(a, b, map)``).
        dim: width d of the first layer (64 in pix2pix).
        layers: stride-2 convolutions (3 in pix2pix's 70x70 PatchGAN).
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
        score_bias: bias on the last convolution; a Wasserstein critic (MFIF-GAN) takes False,
            since every WGAN-GP term is blind to a constant offset and it would never train.

    Inputs with a side under ``min_side = 4 * 2**layers`` pixels are replicate-padded (bottom,
    right) up to it, so the score map is never empty.
    """

    def __init__(self, in_channels: int = 3, dim: int = 64, layers: int = 3,
                 norm: Norm = "batch", score_bias: bool = True) -> None:
        super().__init__()
        if dim < 1 or layers < 1:
            raise ConfigError(f"patchgan dim and layers must be >= 1, found {dim}, {layers}")
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, dim, 4, 2, 1), nn.LeakyReLU(0.2)]
        cin = dim
        for i in range(1, layers + 1):
            cout = dim * min(2**i, 8)
            stride = 2 if i < layers else 1
            blocks += [nn.Conv2d(cin, cout, 4, stride, 1, bias=norm == "none"),
                       _norm(norm, cout), nn.LeakyReLU(0.2)]
            cin = cout
        blocks.append(nn.Conv2d(cin, 1, 4, 1, 1, bias=score_bias))
        self.body = nn.Sequential(*blocks)
        self.min_side = 2**layers * 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = max(0, self.min_side - h), max(0, self.min_side - w)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return self.body(x)
