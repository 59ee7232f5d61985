"""MFIF-GAN (Wang et al., 2021): multi-focus fusion by a predicted focus map.

The generator predicts where ``a`` (near focus) is sharp, not the fused image. With ``d = dim``
(the config default 16 gives the published widths 64, 128, 256) and ``blocks = depth``:

* shared encoder, applied to each plane of a source separately: conv7x7 1->4d + BN + ReLU,
  conv3x3 stride 2 4d->8d + BN + ReLU, conv3x3 stride 2 8d->16d + BN + ReLU, then ``blocks``
  residual blocks with squeeze-excitation at 16d; the planes' features are averaged per source;
* the two sources' features are concatenated (32d) and decoded by two stride-2 transposed
  convolutions (16d, 8d) + BN + ReLU and a conv7x7 8d->1 + sigmoid: the focus map in [0,1].

Inputs are replicate-padded on the bottom/right to a multiple of 4 and the map is cropped back.

Inference (:meth:`MFIFGAN.forward`, :meth:`MFIFGAN.fuse_rgb`): threshold the map at 0.5, remove
islands smaller than 0.1% of the image from both sides (:func:`tardal.fusion.decision.refine`),
``fused = a M + b (1 - M)``. Training uses the differentiable :meth:`MFIFGAN.focus_map` with
:func:`tardal.losses.published.mfifgan_g_loss` / ``mfifgan_d_loss`` (WGAN-GP, PatchGAN critic
``DISCRIMINATORS["patchgan"]`` on ``cat(a, b, map)``) on synthetic pairs from
:func:`tardal.data.defocus.defocus_pair` (Gaussian blur).
"""

from __future__ import annotations

import torch
from torch import nn

from tardal.config import FusionConfig
from tardal.errors import ConfigError
from tardal.fusion.decision import blend, crop, fuse_rgb_with, pad_to_multiple, refine
from tardal.fusion.registry import FUSION


def conv_bn_relu(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    """conv k x k (replicate "same" padding) + BatchNorm + ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, bias=False, padding_mode="replicate"),
        nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


def up_bn_relu(cin: int, cout: int) -> nn.Sequential:
    """Transposed conv3x3 stride 2 (exact 2x up-sampling) + BatchNorm + ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1, bias=False),
        nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class SqueezeExcitation(nn.Module):
    """Channel gating ``x * sigmoid(fc(relu(fc(mean_hw(x)))))``, reduction ``r``."""

    def __init__(self, channels: int, r: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // r)
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True),
                                nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean(dim=(2, 3)))[:, :, None, None]


class ResidualBlock(nn.Module):
    """``relu(x + g(x))``, g = conv3x3 + BN + ReLU + conv3x3 + BN (+ squeeze-excitation)."""

    def __init__(self, channels: int, se: bool = True) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_relu(channels, channels, 3),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False, padding_mode="replicate"),
            nn.BatchNorm2d(channels),
        )
        self.se: nn.Module = SqueezeExcitation(channels) if se else nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.se(self.body(x)))


class FocusMapNet(nn.Module):
    """Shared encoder + decoder ``(a, b) -> focus map``; the body of MFIF-GAN and FuseGAN.

    Args:
        dim: width unit d (encoder 4d, 8d, 16d; decoder 16d, 8d).
        blocks: residual blocks at 16d.
        se: squeeze-excitation in the residual blocks.
        stem: kernel of the first and last convolutions (7 for MFIF-GAN).
    """

    multiple = 4

    def __init__(self, dim: int, blocks: int, se: bool, stem: int) -> None:
        super().__init__()
        if dim < 1 or blocks < 0:
            raise ConfigError(f"fusion.dim must be >= 1 and fusion.depth >= 0, found {dim}, "
                              f"{blocks}")
        self.encoder = nn.Sequential(
            conv_bn_relu(1, 4 * dim, stem), conv_bn_relu(4 * dim, 8 * dim, 3, 2),
            conv_bn_relu(8 * dim, 16 * dim, 3, 2),
            *(ResidualBlock(16 * dim, se) for _ in range(blocks)),
        )
        self.decoder = nn.Sequential(
            up_bn_relu(32 * dim, 16 * dim), up_bn_relu(16 * dim, 8 * dim),
            nn.Conv2d(8 * dim, 1, stem, 1, stem // 2, padding_mode="replicate"), nn.Sigmoid(),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B,C,H,W) -> (B,16d,H/4,W/4): each plane encoded alone, features averaged over planes."""
        b, c, h, w = x.shape
        feats = self.encoder(x.reshape(b * c, 1, h, w))
        return feats.view(b, c, *feats.shape[1:]).mean(1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(torch.cat((a, b), 1), self.multiple)
        ca = a.shape[1]
        feats = torch.cat((self.encode(x[:, :ca]), self.encode(x[:, ca:])), 1)
        return crop(self.decoder(feats), size)


@FUSION.register("mfifgan")
class MFIFGAN(nn.Module):
    """MFIF-GAN: ``fused = a M + b (1 - M)`` with M the refined predicted focus map.

    Args:
        dim: width unit d (config ``fusion.dim``).
        blocks: SE residual blocks (config ``fusion.depth``; 3 by default on CPU).
        min_fraction: islands under this fraction of the image are removed from the map.

    Input ``a`` (near focus), ``b`` (far focus): (B,1,H,W) float in [0,1], any H, W; output
    (B,1,H,W) float in [0,1]. :meth:`focus_map` is the differentiable training output.
    """

    def __init__(self, dim: int = 16, blocks: int = 3, min_fraction: float = 0.001) -> None:
        super().__init__()
        self.net = FocusMapNet(dim, blocks, se=True, stem=7)
        self.min_fraction = min_fraction

    @classmethod
    def from_config(cls, cfg: FusionConfig) -> "MFIFGAN":
        return cls(dim=cfg.dim, blocks=cfg.depth)

    def focus_map(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Soft focus map (B,1,H,W) in [0,1] (1 = ``a`` in focus) for (B,C,H,W) sources."""
        return self.net(a, b)

    def decision(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Binary decision map (B,1,H,W): threshold 0.5, islands removed on both sides."""
        return refine(self.focus_map(a, b), self.min_fraction)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return blend(a, b, self.decision(a, b))

    def fuse_rgb(self, a_rgb: torch.Tensor, b_rgb: torch.Tensor) -> torch.Tensor:
        """Colour fusion (B,3,H,W) -> (B,3,H,W): the decision map of the luma applied to colour."""
        return fuse_rgb_with(self.decision, a_rgb, b_rgb)
