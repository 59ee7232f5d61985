"""Sobel gradient magnitude, the texture map the detail discriminator judges, and the
optional max-gradient content term (``loss.grad``)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from tardal.errors import ConfigError
from tardal.ops.morphology import valid_mean

# Unnormalised 3x3 Sobel kernels: a unit step edge gives |g| = 4.
_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


def sobel_xy(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical Sobel responses of (B,C,H,W) ``x``, replicate-padded, same size.

    ``gx`` correlates with ``[[-1,0,1],[-2,0,2],[-1,0,1]]``, ``gy`` with its transpose. Computed as
    differences and [1,2,1] smoothings of shifted slices (separable), which on a CPU back-propagate
    several times faster than a one-channel 3x3 convolution; :func:`sobel_xy_conv` is the
    convolution form (same values up to float rounding; the tests compare them).
    """
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    dx = p[..., :, 2:] - p[..., :, :-2]  # (H+2, W) horizontal difference
    sx = p[..., :, 2:] + 2.0 * p[..., :, 1:-1] + p[..., :, :-2]  # (H+2, W) horizontal smoothing
    gx = dx[..., :-2, :] + 2.0 * dx[..., 1:-1, :] + dx[..., 2:, :]
    gy = sx[..., 2:, :] - sx[..., :-2, :]
    return gx, gy


def sobel_xy_conv(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`sobel_xy` as one grouped 3x3 convolution (the reference form)."""
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


def max_gradient_loss(fused: torch.Tensor, ir: torch.Tensor, vis_y: torch.Tensor,
                      valid: torch.Tensor | None = None,
                      form: Literal["magnitude", "signed", "deficit", "pyramid"] = "magnitude"
                      ) -> torch.Tensor:
    """The max-gradient texture term over the ``valid`` pixels; scalar.

    Inputs (B,1,H,W) in [0,1]; gradients are Sobel responses divided by 4 (a unit step gives 1).
    It asks G to keep, at each pixel, the stronger of the two sources' edges, the texture term
    several later fusion methods add to an intensity term; TarDAL's own objective has only the
    detail critic for texture, so the weight defaults to 0 (``loss.grad``). ``form``:

    * ``"magnitude"``: ``mean(| |grad u| - max(|grad ir|, |grad vis_y|) |)``;
    * ``"signed"``: ``mean(|gx_u - gx_s| + |gy_u - gy_s|) / 2`` where ``s`` is, per pixel, the
      source with the larger Sobel magnitude (the edge's direction and polarity are kept too);
    * ``"deficit"``: ``mean(relu(max(|grad ir|, |grad vis_y|) - |grad u|))``: only edges
      weaker than the stronger source's are penalised, so G may sharpen beyond the sources;
    * ``"pyramid"``: the mean, over the detail levels of a 4-level Laplacian pyramid, of
      ``mean(|d_u - d_s|)`` where ``d_s`` is, per coefficient, the source's with the larger
      magnitude (the ``laplacian`` fusion rule's details, so edges of both sources add up);
      the base level is left to the intensity terms.
    """
    if form == "pyramid":
        return pyramid_detail_loss(fused, ir, vis_y, valid)
    if form == "signed":
        (ix, iy), (vx, vy), (ux, uy) = sobel_xy(ir), sobel_xy(vis_y), sobel_xy(fused)
        take_ir = (ix * ix + iy * iy) >= (vx * vx + vy * vy)
        tx = torch.where(take_ir, ix, vx).detach()
        ty = torch.where(take_ir, iy, vy).detach()
        return valid_mean(((ux - tx).abs() + (uy - ty).abs()) * 0.125, valid)
    target = torch.maximum(sobel_magnitude(ir), sobel_magnitude(vis_y)).detach()
    diff = target - sobel_magnitude(fused)
    if form == "deficit":
        return valid_mean(torch.relu(diff) * 0.25, valid)
    if form != "magnitude":
        raise ConfigError(f"loss.grad_form: expected 'magnitude', 'signed', 'deficit' or "
                          f"'pyramid', found {form!r}")
    return valid_mean(diff.abs() * 0.25, valid)


def pyramid_detail_loss(fused: torch.Tensor, ir: torch.Tensor, vis_y: torch.Tensor,
                        valid: torch.Tensor | None = None, levels: int = 4) -> torch.Tensor:
    """``max_gradient_loss``'s ``"pyramid"`` form; scalar. ``valid`` is sampled with each level
    (every other pixel, as the pyramid's own downsampling)."""
    # imported here: tardal.fusion imports tardal.losses
    from tardal.fusion.classical import laplacian_pyramid, pyramid_levels

    n = pyramid_levels(fused.shape[-2], fused.shape[-1], levels)
    pu = laplacian_pyramid(fused, n)
    with torch.no_grad():
        pa, pb = laplacian_pyramid(ir, n), laplacian_pyramid(vis_y, n)
    terms = []
    for level, (u, a, b) in enumerate(zip(pu[:-1], pa[:-1], pb[:-1])):
        target = torch.where(a.abs() >= b.abs(), a, b)
        v = None if valid is None else valid[..., :: 2 ** level, :: 2 ** level]
        terms.append(valid_mean((u - target).abs(), v))
    if not terms:  # too small for a detail level
        return fused.sum() * 0.0
    return torch.stack(terms).mean()
