"""The detector's input image, built from the fused luma (differentiable)."""

from __future__ import annotations

from typing import Literal

import torch

from tardal.errors import ConfigError, DataError
from tardal.ops.color import recolor


def detector_input(fused_y: torch.Tensor, vis: torch.Tensor | None = None,
                   mode: Literal["color", "grey"] = "color") -> torch.Tensor:
    """RGB image for the detector from a one-channel image (fused luma, or infrared).

    Args:
        fused_y: (B,1,H,W) float in [0,1], the fused luma (or any grey image, e.g. infrared).
        vis: (B,3,H,W) float RGB in [0,1], pixel-registered with ``fused_y``; needed for
            ``"color"``, ignored for ``"grey"``.
        mode: ``"color"``: the fused luma with the visible CbCr (BT.601), back to RGB (clamped to
            [0,1], where the gradient is zero); ``"grey"``: the luma repeated on three channels.

    Returns:
        (B,3,H,W) float RGB in [0,1], differentiable w.r.t. ``fused_y``.
    """
    if fused_y.ndim != 4 or fused_y.shape[1] != 1:
        raise DataError(f"detector_input: fused_y must be (B,1,H,W), found {tuple(fused_y.shape)}")
    if mode == "grey":
        return fused_y.expand(-1, 3, -1, -1)
    if mode != "color":
        raise ConfigError(f"detector.input: expected 'color' or 'grey', found {mode!r}")
    if vis is None:
        raise DataError("detector_input: mode 'color' needs the visible image")
    if vis.ndim != 4 or vis.shape[1] != 3 or vis.shape[0] != fused_y.shape[0] \
            or vis.shape[-2:] != fused_y.shape[-2:]:
        raise DataError(
            f"detector_input: vis must be (B,3,H,W) matching fused_y {tuple(fused_y.shape)}, "
            f"found {tuple(vis.shape)}"
        )
    return recolor(fused_y, vis)
