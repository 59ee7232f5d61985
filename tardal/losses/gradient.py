"""Sobel gradient magnitude, the texture map the detail discriminator judges."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Unnormalised 3x3 Sobel kernels: a unit step edge gives |g| = 4.
_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


def sobel_xy(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical Sobel responses of (B,C,H,W) ``x``, replicate-padded, same size."""
    c = x.shape[1]
    kx = torch.tensor(_SOBEL_X, dtype=x.dtype, device=x.device)
    weight = torch.stack((kx, kx.t())).unsqueeze(1).repeat(c, 1, 1, 1)  # (2C,1,3,3)
    g = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight, groups=c)
    return g[:, 0::2], g[:, 1::2]


def sobel_magnitude(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``sqrt(gx^2 + gy^2 + eps)`` of (B,C,H,W) float ``x``; (B,C,H,W), >= sqrt(eps).

    The ``eps`` keeps the gradient of the square root finite on flat regions. Kernels are the
    unnormalised Sobel pair (a step of height 1 gives a magnitude of 4).
    """
    gx, gy = sobel_xy(x)
    return torch.sqrt(gx * gx + gy * gy + eps)


class SobelMagnitude(nn.Module):
    """Module form of :func:`sobel_magnitude`."""

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sobel_magnitude(x, self.eps)
