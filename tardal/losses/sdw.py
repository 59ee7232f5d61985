"""Saliency-degree weights (SDW) and the weighted pixel term of TarDAL.

For an 8-bit image with 256-bin histogram ``H``, the global-contrast saliency of grey level l is
``S(l) = sum_i H(i) * |l - i|``; each pixel takes the saliency of its level (a 256-entry lookup
table per image) and ``V = S / max(S)`` is in [0,1]. Per-pixel weights:

* ``"paper"``: ``w_ir = V_ir / (V_ir + V_vis)``, ``w_vis = 1 - w_ir`` (where both saliencies are
  0 the weights are 1/2 each: a small epsilon is added to both numerator and denominator);
* ``"code"``: ``w_ir = 0.5 + 0.5 * (V_ir - V_vis)``, ``w_vis = 1 - w_ir`` (the public-code form);
* ``"max"``: ``w_ir = 1`` where ``ir >= vis_y`` else 0 (no saliency): the term becomes
  ``mean(|u - max(ir, vis_y)|)``, the brighter-source intensity target of later fusion methods,
  which keeps bright visible regions (a daylit sky) that the saliency weights hand to a dark
  infrared.

``L_pixel = mean(w_ir * |u - ir|) + mean(w_vis * |u - vis_y|)``.

With ``valid`` (B,1,H,W; 0 on letterbox padding) the histograms count only valid pixels and the
means run over them, so the padding's grey level weighs in neither.

Weights carry no gradient (they depend on the inputs only). The same saliency feeds the ``lc``
mask provider (:mod:`tardal.masks.lc`).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from tardal.errors import ConfigError
from tardal.ops.morphology import valid_mean

LEVELS = 256


def quantize(x: torch.Tensor) -> torch.Tensor:
    """[0,1] float -> int64 grey levels 0..255 (rounded), same shape."""
    return torch.round(x.detach().clamp(0.0, 1.0) * (LEVELS - 1)).long()


def histograms(levels: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image 256-bin histograms of int levels (B,...) -> (B,256) float counts; ``weight``
    (same shape) counts each pixel that much (0 leaves it out)."""
    b = levels.shape[0]
    flat = levels.reshape(b, -1)
    offsets = torch.arange(b, device=flat.device).unsqueeze(1) * LEVELS
    w = None if weight is None else weight.detach().reshape(-1).to(torch.float64)
    counts = torch.bincount((flat + offsets).reshape(-1), weights=w, minlength=b * LEVELS)
    return counts.view(b, LEVELS).to(torch.float64)


def saliency_table(hist: torch.Tensor) -> torch.Tensor:
    """``S(l) = sum_i H(i) |l - i|`` for every level: (B,256) counts -> (B,256) float64."""
    lv = torch.arange(LEVELS, dtype=torch.float64, device=hist.device)
    dist = (lv.unsqueeze(0) - lv.unsqueeze(1)).abs()  # (256,256), symmetric
    return hist.to(torch.float64) @ dist


def saliency_map(x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Normalised global-contrast saliency ``V`` of (B,1,H,W) [0,1] images; (B,1,H,W) in [0,1].

    The maximum is taken over the 256 levels, so the level farthest (in histogram mass) from the
    rest of the image maps to 1 even when no pixel has it. Constant images give V = 0. With
    ``valid`` the histogram counts only the valid pixels.
    """
    levels = quantize(x)
    table = saliency_table(histograms(levels, valid))
    peak = table.amax(dim=1, keepdim=True)
    table = torch.where(peak > 0, table / peak.clamp_min(1e-12), torch.zeros_like(table))
    b = x.shape[0]
    values = torch.gather(table, 1, levels.reshape(b, -1))
    return values.view_as(x).to(x.dtype)


def sdw_weights(ir: torch.Tensor, vis_y: torch.Tensor,
                form: Literal["paper", "code", "max"] = "paper", eps: float = 1e-6,
                valid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel ``(w_ir, w_vis)`` for (B,1,H,W) [0,1] inputs; each (B,1,H,W) in [0,1], sum 1."""
    if form == "max":
        w_ir = (ir >= vis_y).to(ir.dtype)
        return w_ir, 1.0 - w_ir
    v_ir, v_vis = saliency_map(ir, valid), saliency_map(vis_y, valid)
    if form == "paper":
        w_ir = (v_ir + eps) / (v_ir + v_vis + 2.0 * eps)
    elif form == "code":
        w_ir = 0.5 + 0.5 * (v_ir - v_vis)
    else:
        raise ConfigError(f"loss.sdw: expected 'paper', 'code' or 'max', found {form!r}")
    return w_ir, 1.0 - w_ir


def sdw_pixel_loss(fused: torch.Tensor, ir: torch.Tensor, vis_y: torch.Tensor,
                   form: Literal["paper", "code", "max"] = "paper",
                   valid: torch.Tensor | None = None
                   ) -> torch.Tensor:
    """``mean(w_ir |u - ir|) + mean(w_vis |u - vis_y|)``; (B,1,H,W) inputs, scalar output;
    histograms and means over the ``valid`` pixels when given."""
    w_ir, w_vis = sdw_weights(ir, vis_y, form, valid=valid)
    return valid_mean(w_ir * (fused - ir).abs() + w_vis * (fused - vis_y).abs(), valid)


class SDWPixelLoss(nn.Module):
    """Module form of :func:`sdw_pixel_loss` (stores only ``form``)."""

    def __init__(self, form: Literal["paper", "code", "max"] = "paper") -> None:
        super().__init__()
        self.form = form

    def forward(self, fused: torch.Tensor, ir: torch.Tensor, vis_y: torch.Tensor) -> torch.Tensor:
        return sdw_pixel_loss(fused, ir, vis_y, self.form)
