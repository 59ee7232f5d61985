"""U2Fusion (Xu et al., TPAMI 2020): a dense network trained with information-adaptive weights.

Network (``s = dim / 16``; the config default dim 16 gives the published widths; every conv
3x3, reflect padding, no normalisation, LReLU(0.2)):

* conv 2->g (g = 44 s) + LReLU; five dense layers conv(g*(i+1) -> g) + LReLU, each output
  concatenated to its input, giving 6g = 264 s channels;
* decoder 6g -> 128 s -> 64 s -> 32 s (LReLU) -> 1, then ``tanh(x) / 2 + 0.5``.

Loss: :func:`tardal.losses.published.u2fusion_loss` with weights from
:func:`tardal.losses.published.u2fusion_weights`. Substitution: the original weights come from
ImageNet VGG16 feature gradients; those weights cannot be downloaded here, so the same
gradient-energy measure is computed on a 5-level Gaussian pyramid of each image instead.
"""

from __future__ import annotations

import torch
from torch import nn

from tardal.config import FusionConfig
from tardal.errors import ConfigError
from tardal.fusion.registry import FUSION


def _conv(cin: int, cout: int, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, 1, 1, padding_mode="reflect")]
    if act:
        layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


@FUSION.register("u2fusion")
class U2Fusion(nn.Module):
    """U2Fusion network: ``fused = net(a, b)`` (module doc).

    Args:
        dim: width knob (config ``fusion.dim``); widths scale by ``dim / 16`` (at least 1 each).

    Input ``a, b``: (B,1,H,W) float in [0,1], H, W >= 2; output (B,1,H,W) float in [0,1].
    """

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        if dim < 1:
            raise ConfigError(f"fusion.dim must be >= 1 for u2fusion, found {dim}")
        scaled = [max(1, round(c * dim / 16)) for c in (44, 128, 64, 32)]
        g, d1, d2, d3 = scaled
        self.stem = _conv(2, g)
        self.dense = nn.ModuleList(_conv(g * (i + 1), g) for i in range(5))
        self.decoder = nn.Sequential(_conv(6 * g, d1), _conv(d1, d2), _conv(d2, d3),
                                     _conv(d3, 1, act=False))

    @classmethod
    def from_config(cls, cfg: FusionConfig) -> "U2Fusion":
        return cls(dim=cfg.dim)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        x = self.stem(torch.cat((a, b), 1))
        for layer in self.dense:
            x = torch.cat((x, layer(x)), 1)
        return torch.tanh(self.decoder(x)) * 0.5 + 0.5
