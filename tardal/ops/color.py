"""Colour conversions between RGB and YCbCr (ITU-R BT.601, full range), differentiable.

All tensors are float in [0, 1], channels first.
"""

from __future__ import annotations

import torch


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) RGB -> (B,3,H,W) YCbCr, Cb and Cr centred on 0.5."""
    r, g, b = rgb.unbind(dim=-3)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = (b - y) * 0.564 + 0.5
    cr = (r - y) * 0.713 + 0.5
    return torch.stack((y, cb, cr), dim=-3)


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) RGB -> (B,1,H,W) luma."""
    r, g, b = rgb.unbind(dim=-3)
    return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(-3)


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) YCbCr -> (B,3,H,W) RGB, clamped to [0, 1]."""
    y, cb, cr = ycbcr.unbind(dim=-3)
    cb = cb - 0.5
    cr = cr - 0.5
    r = y + 1.403 * cr
    g = y - 0.714 * cr - 0.344 * cb
    b = y + 1.773 * cb
    return torch.stack((r, g, b), dim=-3).clamp(0.0, 1.0)


def recolor(fused_y: torch.Tensor, vis_rgb: torch.Tensor) -> torch.Tensor:
    """Fused luma (B,1,H,W) + visible RGB (B,3,H,W) -> RGB (B,3,H,W) with the visible CbCr."""
    cbcr = rgb_to_ycbcr(vis_rgb)[..., 1:, :, :]
    return ycbcr_to_rgb(torch.cat((fused_y, cbcr), dim=-3))
