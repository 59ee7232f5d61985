"""UFGAN: FusionGAN's objective on a U-Net generator.

Generator (``w = width``; 64 published, ``4 * fusion.dim`` from config, so the default dim 16
gives the published widths; every convolution spectral-normalised, "same" padding):

* encoder: five blocks of two conv3x3 + BatchNorm + LReLU(0.01), widths w, 2w, 4w, 8w, 16w,
  2x2 max-pooling between blocks; dropout (p = ``dropout``) after the deepest block;
* decoder: four 2x2 stride-2 transposed convolutions (halving the width), each followed by
  concatenation with the encoder skip of that scale and a two-conv block;
* conv1x1 w->1 + tanh, mapped onto [0,1] as (tanh + 1) / 2.

Inputs ``cat(ir, vis)`` are rescaled to [-1, 1], replicate-padded on the bottom/right to a
multiple of 16, and the output is cropped back, so any H, W works.

The published code had four bugs, fixed here and in the training objective: the two modalities
were shuffled independently (pairs misaligned: the data loader must keep pairs together); the
discriminator was trained on a generator output that was not detached
(:func:`tardal.losses.published.ufgan_d_loss` expects ``fused.detach()``); dropout was created
inside ``forward`` and so stayed active at evaluation (here it is an ``nn.Dropout`` module,
off in ``.eval()``); test inputs were given in the wrong range (here the public call takes [0,1]
and rescales internally, in training and at test alike).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from tardal.config import FusionConfig
from tardal.errors import ConfigError
from tardal.fusion.decision import crop, pad_to_multiple
from tardal.fusion.registry import FUSION


def double_conv(cin: int, cout: int) -> nn.Sequential:
    """Two spectral-normalised conv3x3 + BatchNorm + LReLU(0.01)."""
    layers: list[nn.Module] = []
    for c in (cin, cout):
        layers += [spectral_norm(nn.Conv2d(c, cout, 3, 1, 1, bias=False)),
                   nn.BatchNorm2d(cout), nn.LeakyReLU(0.01)]
    return nn.Sequential(*layers)


@FUSION.register("ufgan")
class UFGAN(nn.Module):
    """UFGAN U-Net generator: ``fused = G(ir, vis)`` (module doc).

    Args:
        width: channels of the first block, w (config: ``4 * fusion.dim``).
        dropout: dropout probability at the bottleneck (active in training only).

    Input ``ir, vis``: (B,1,H,W) float in [0,1], any H, W; output (B,1,H,W) float in [0,1].
    """

    levels = 5

    def __init__(self, width: int = 64, dropout: float = 0.5) -> None:
        super().__init__()
        if width < 1:
            raise ConfigError(f"ufgan width (4 * fusion.dim) must be >= 1, found {width}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"ufgan dropout must be in [0, 1), found {dropout}")
        widths = [width * 2**i for i in range(self.levels)]
        self.down = nn.ModuleList(
            double_conv(cin, cout) for cin, cout in zip([2] + widths[:-1], widths)
        )
        self.pool = nn.MaxPool2d(2)
        self.dropout = nn.Dropout(dropout)
        self.up = nn.ModuleList(
            spectral_norm(nn.ConvTranspose2d(c, c // 2, 2, 2)) for c in reversed(widths[1:])
        )
        self.merge = nn.ModuleList(double_conv(c, c // 2) for c in reversed(widths[1:]))
        self.out = spectral_norm(nn.Conv2d(width, 1, 1))

    @classmethod
    def from_config(cls, cfg: FusionConfig) -> "UFGAN":
        return cls(width=4 * cfg.dim)

    def forward(self, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(torch.cat((ir, vis), 1) * 2.0 - 1.0, 2 ** (self.levels - 1))
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = self.dropout(skips.pop())
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat((skips.pop(), up(x)), 1))
        return crop((torch.tanh(self.out(x)) + 1.0) * 0.5, size)
