"""Synthetic multi-focus pairs from one sharp image and a random-blob region mask.

For a sharp image ``I`` and a region mask ``m`` (1 = the region ``a`` keeps in focus)::

    a = I * m + blur(I) * (1 - m)
    b = blur(I) * blur(m) + I * (1 - blur(m))

and the training target is ``m`` (MFIF-GAN's construction; blurring the mask in ``b`` softens the
defocus boundary as a real lens does). ``blur`` is a Gaussian (MFIF-GAN) or a uniform disk
(FuseGAN, the defocus point-spread function of a thin lens).

Everything is pure torch on the input's device; randomness comes only from the
``torch.Generator`` argument, so the same seed gives the same pairs.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F

from tardal.errors import ConfigError
from tardal.losses.ssim import gaussian_window

Blur = Literal["gaussian", "disk"]


class DefocusPair(NamedTuple):
    """``a`` (near focus), ``b`` (far focus): (B,C,H,W) in [0,1]; ``mask``: (B,1,H,W) in {0,1}."""

    a: torch.Tensor
    b: torch.Tensor
    mask: torch.Tensor


def _conv_same(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlate every plane of (B,C,H,W) ``x`` with an odd (k,k) kernel, replicate padding."""
    c, k = x.shape[1], kernel.shape[-1]
    r = k // 2
    weight = kernel.to(dtype=x.dtype, device=x.device).view(1, 1, k, k).expand(c, 1, k, k)
    return F.conv2d(F.pad(x, (r, r, r, r), mode="replicate"), weight, groups=c)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of (B,C,H,W) ``x`` (window 2 ceil(3 sigma) + 1, replicate padding)."""
    if sigma <= 0:
        raise ConfigError(f"defocus sigma must be > 0, found {sigma}")
    g = gaussian_window(2 * math.ceil(3 * sigma) + 1, sigma, dtype=torch.float64)
    return _conv_same(x, torch.outer(g, g))


def disk_kernel(radius: float) -> torch.Tensor:
    """Normalised uniform disk of the given radius, (k,k) float64 with k = 2 ceil(radius) + 1.

    Pixel weights are the covered fraction, estimated on an 8x8 sub-pixel grid, so the disk is
    anti-aliased and a non-integer radius is meaningful.
    """
    if radius <= 0:
        raise ConfigError(f"defocus disk radius must be > 0, found {radius}")
    r = math.ceil(radius)
    k, sub = 2 * r + 1, 8
    offsets = (torch.arange(sub, dtype=torch.float64) + 0.5) / sub - 0.5
    centres = torch.arange(k, dtype=torch.float64) - r
    coords = (centres[:, None] + offsets[None, :]).reshape(-1)  # (k*sub,)
    inside = (coords[:, None] ** 2 + coords[None, :] ** 2 <= radius**2).to(torch.float64)
    weights = inside.view(k, sub, k, sub).mean(dim=(1, 3))
    return weights / weights.sum()


def disk_blur(x: torch.Tensor, radius: float) -> torch.Tensor:
    """Uniform-disk (defocus) blur of (B,C,H,W) ``x``, replicate padding; same shape."""
    return _conv_same(x, disk_kernel(radius))


def blob_mask(batch: int, height: int, width: int, gen: torch.Generator | None = None, *,
              cell: int = 16, fraction: tuple[float, float] = (0.3, 0.7),
              device: torch.device | str | None = None) -> torch.Tensor:
    """Random blob masks (B,1,H,W) float in {0,1}.

    Uniform noise on a coarse grid (one value per ``cell`` pixels, at least 2x2) is bilinearly
    up-sampled into a smooth field and thresholded at a per-image quantile drawn from
    ``U[fraction]``, so each mask covers about that fraction of the image with a few smooth blobs.
    """
    if not 0.0 < fraction[0] <= fraction[1] < 1.0:
        raise ConfigError(f"defocus fraction: expected 0 < low <= high < 1, found {fraction}")
    gh, gw = max(2, math.ceil(height / cell)), max(2, math.ceil(width / cell))
    noise = torch.rand(batch, 1, gh, gw, generator=gen).to(device)
    field = F.interpolate(noise, size=(height, width), mode="bicubic", align_corners=False)
    cover = fraction[0] + (fraction[1] - fraction[0]) * torch.rand(batch, generator=gen)
    ranked = field.flatten(1).sort(dim=1).values
    index = ((1.0 - cover) * (ranked.shape[1] - 1)).round().long().to(ranked.device)
    level = ranked.gather(1, index.unsqueeze(1)).view(batch, 1, 1, 1)  # quantile of each image
    return (field > level).to(torch.float32)


def defocus_pair(image: torch.Tensor, gen: torch.Generator | None = None, *,
                 blur: Blur = "gaussian", strength: float = 2.0,
                 mask: torch.Tensor | None = None, cell: int = 16) -> DefocusPair:
    """A synthetic multi-focus pair from a sharp image (module doc).

    Args:
        image: (B,C,H,W) float in [0,1], sharp.
        gen: random source for the mask (unused when ``mask`` is given).
        blur: ``"gaussian"`` (MFIF-GAN; ``strength`` = sigma) or ``"disk"`` (FuseGAN;
            ``strength`` = radius in pixels).
        mask: optional (B,1,H,W) {0,1} region mask; drawn by :func:`blob_mask` when None.
        cell: blob size of the drawn mask, in pixels.

    Returns:
        :class:`DefocusPair` ``(a, b, mask)``: ``a`` sharp where ``mask`` is 1, blurred elsewhere.
    """
    if image.dim() != 4:
        raise ConfigError(f"defocus image: expected (B,C,H,W), found shape {tuple(image.shape)}")
    if blur == "gaussian":
        def smooth(x: torch.Tensor) -> torch.Tensor:
            return gaussian_blur(x, strength)
    elif blur == "disk":
        def smooth(x: torch.Tensor) -> torch.Tensor:
            return disk_blur(x, strength)
    else:
        raise ConfigError(f"defocus blur: expected 'gaussian' or 'disk', found {blur!r}")
    b, _, h, w = image.shape
    if mask is None:
        mask = blob_mask(b, h, w, gen, cell=cell, device=image.device)
    m = mask.to(dtype=image.dtype, device=image.device)
    blurred, soft = smooth(image), smooth(m)
    a = image * m + blurred * (1.0 - m)
    far = blurred * soft + image * (1.0 - soft)
    return DefocusPair(a, far, m)
