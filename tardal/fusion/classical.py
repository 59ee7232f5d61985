"""Classical fusion rules with no training: the floor learned methods must beat.

All take ``ir, vis_y: (B,1,H,W) float in [0,1]`` and return ``(B,1,H,W) float in [0,1]``, any
H, W (odd sizes included). They are parameter-free ``nn.Module`` s so they fit wherever a fusion
network does (``.eval()``, ``.to(device)``, the ``frontend`` training mode).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tardal.config import FusionConfig
from tardal.errors import ConfigError
from tardal.fusion.registry import FUSION


def mean_fusion(ir: torch.Tensor, vis_y: torch.Tensor) -> torch.Tensor:
    """Pixel average (ir + vis_y) / 2."""
    return (ir + vis_y) * 0.5


def max_fusion(ir: torch.Tensor, vis_y: torch.Tensor) -> torch.Tensor:
    """Pixel maximum. On non-negative [0,1] images the max-absolute rule is the plain maximum."""
    return torch.maximum(ir, vis_y)


# 5-tap binomial kernel (1 4 6 4 1) / 16, the classic Burt-Adelson generating kernel.
_BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)


def _blur(x: torch.Tensor) -> torch.Tensor:
    """Separable 5x5 binomial blur with reflect padding; (B,C,H,W) -> (B,C,H,W)."""
    k = torch.tensor(_BINOMIAL, dtype=x.dtype, device=x.device) / 16.0
    c = x.shape[1]
    # Reflect padding needs a side > 2; replicate handles the tiny coarsest levels.
    mode = "reflect" if min(x.shape[-2:]) > 2 else "replicate"
    x = F.pad(x, (2, 2, 2, 2), mode=mode)
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def _down(x: torch.Tensor) -> torch.Tensor:
    return _blur(x)[..., ::2, ::2]


def _up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def pyramid_levels(height: int, width: int, levels: int) -> int:
    """Levels actually used: at most ``levels``, keeping the coarsest side >= 4 pixels."""
    fit = int(math.floor(math.log2(max(min(height, width), 1)))) - 1
    return max(1, min(levels, fit))


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """[detail_0, ..., detail_{L-2}, base]; ``sum`` of the upsampled levels rebuilds ``x``."""
    out = []
    cur = x
    for _ in range(levels - 1):
        low = _down(cur)
        out.append(cur - _up(low, cur.shape[-2:]))
        cur = low
    out.append(cur)
    return out


def reconstruct(pyramid: list[torch.Tensor]) -> torch.Tensor:
    """Inverse of :func:`laplacian_pyramid`."""
    cur = pyramid[-1]
    for detail in reversed(pyramid[:-1]):
        cur = detail + _up(cur, detail.shape[-2:])
    return cur


def laplacian_fusion(ir: torch.Tensor, vis_y: torch.Tensor, levels: int = 4) -> torch.Tensor:
    """Laplacian-pyramid fusion: max-absolute on the detail levels, mean on the base.

    ``levels`` is capped so the coarsest level keeps at least 4 pixels per side; the result is
    clamped to [0,1] (a reconstruction can overshoot slightly at strong edges).
    """
    n = pyramid_levels(ir.shape[-2], ir.shape[-1], levels)
    pa, pb = laplacian_pyramid(ir, n), laplacian_pyramid(vis_y, n)
    fused = [torch.where(a.abs() >= b.abs(), a, b) for a, b in zip(pa[:-1], pb[:-1])]
    fused.append((pa[-1] + pb[-1]) * 0.5)
    return reconstruct(fused).clamp(0.0, 1.0)


@FUSION.register("mean")
class MeanFusion(nn.Module):
    """``(ir + vis_y) / 2``."""

    def forward(self, ir: torch.Tensor, vis_y: torch.Tensor) -> torch.Tensor:
        return mean_fusion(ir, vis_y)


@FUSION.register("max")
class MaxFusion(nn.Module):
    """Elementwise maximum (max-absolute on [0,1] images)."""

    def forward(self, ir: torch.Tensor, vis_y: torch.Tensor) -> torch.Tensor:
        return max_fusion(ir, vis_y)


@FUSION.register("laplacian")
class LaplacianFusion(nn.Module):
    """Laplacian-pyramid fusion (see :func:`laplacian_fusion`)."""

    def __init__(self, levels: int = 4) -> None:
        super().__init__()
        if levels < 1:
            raise ConfigError(f"fusion.levels must be >= 1, found {levels}")
        self.levels = levels

    @classmethod
    def from_config(cls, cfg: FusionConfig) -> "LaplacianFusion":
        return cls(levels=cfg.levels)

    def forward(self, ir: torch.Tensor, vis_y: torch.Tensor) -> torch.Tensor:
        return laplacian_fusion(ir, vis_y, self.levels)
