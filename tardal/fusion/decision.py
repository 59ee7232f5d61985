"""Decision maps of the multi-focus methods: thresholding, island removal, guided filter, blending.

A decision map ``M: (B,1,H,W)`` says which source each pixel comes from: ``fused = a M + b (1-M)``
(a = near focus, b = far focus). The learned methods predict a soft focus map; inference
thresholds it, removes small islands on both sides and (FuseGAN) softens the seam with a guided
filter. All functions are pure and keep the device of their inputs; :func:`remove_small_regions`
labels connected components with OpenCV on the CPU (there is no gradient to keep).

Also here: :func:`pad_to_multiple` / :func:`crop` for the networks that down-sample, and
:func:`fuse_rgb_with` applying a map computed on the luma to colour images.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from tardal.losses.published import blur_residual
from tardal.ops.color import rgb_to_y


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad (B,C,H,W) ``x`` on the bottom/right to sides divisible by ``multiple``.

    Returns the padded tensor and the original ``(H, W)`` for :func:`crop`.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


def crop(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Top-left ``size = (H, W)`` crop of (B,C,H',W') ``x``; inverts :func:`pad_to_multiple`."""
    return x[..., : size[0], : size[1]]


def threshold(focus: torch.Tensor, level: float = 0.5) -> torch.Tensor:
    """Binary map ``focus > level`` as float {0,1}, same shape."""
    return (focus > level).to(focus.dtype)


def _remove_small(binary: np.ndarray, min_area: int) -> np.ndarray:
    """Clear 8-connected foreground components of a uint8 {0,1} (H,W) array under ``min_area``."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    small = np.zeros(count, dtype=bool)
    small[1:] = stats[1:, cv2.CC_STAT_AREA] < min_area
    out = binary.copy()
    out[small[labels]] = 0
    return out


def remove_small_regions(mask: torch.Tensor, min_fraction: float = 0.001) -> torch.Tensor:
    """Remove islands smaller than ``min_fraction`` of the image from both sides of a binary map.

    ``mask: (B,1,H,W)`` float in {0,1}. Small 8-connected regions of 1 are set to 0, then small
    regions of 0 (holes) are set to 1. Returns a new (B,1,H,W) float map in {0,1}, same device.
    A region exactly at the limit is kept. No gradient.
    """
    b, c, h, w = mask.shape
    assert c == 1, f"decision maps have one channel, found {c}"
    min_area = int(np.ceil(min_fraction * h * w))
    planes = (mask.detach() > 0.5).to(torch.uint8).cpu().numpy()[:, 0]
    out = np.empty_like(planes)
    for i, plane in enumerate(planes):
        kept = _remove_small(np.ascontiguousarray(plane), min_area)
        out[i] = 1 - _remove_small(1 - kept, min_area)
    return torch.from_numpy(out).to(device=mask.device, dtype=mask.dtype).unsqueeze(1)


def box_filter(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over the (2r+1)^2 window clipped to the image (edges average fewer pixels)."""
    k = 2 * radius + 1
    return F.avg_pool2d(x, k, stride=1, padding=radius, count_include_pad=False)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, radius: int = 4, eps: float = 1e-2
                  ) -> torch.Tensor:
    """Grey-guide guided filter (He et al., 2013): edge-aware smoothing of ``src`` by ``guide``.

    ``guide, src: (B,1,H,W)``. Per window ``a = cov(I, p) / (var(I) + eps)``, ``b = mean(p) -
    a mean(I)``; the output is ``mean(a) I + mean(b)``. Where ``src`` is constant over a
    window the output equals that constant; ``radius`` is capped so the window fits the image.
    """
    r = max(0, min(radius, (min(guide.shape[-2:]) - 1) // 2))
    mean_i, mean_p = box_filter(guide, r), box_filter(src, r)
    cov = box_filter(guide * src, r) - mean_i * mean_p
    var = box_filter(guide * guide, r) - mean_i * mean_i
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    return box_filter(a, r) * guide + box_filter(b, r)


def blend(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``a * weight + b * (1 - weight)``; ``weight: (B,1,H,W)`` broadcasts over colour planes."""
    return a * weight + b * (1.0 - weight)


def refine(focus: torch.Tensor, min_fraction: float = 0.001, level: float = 0.5) -> torch.Tensor:
    """Threshold a soft focus map at ``level``, remove islands on both sides: (B,1,H,W) {0,1}."""
    return remove_small_regions(threshold(focus, level), min_fraction)


def blur_residual_decision(a: torch.Tensor, b: torch.Tensor, *, sigma: float = 1.5,
                           window: int = 7, min_fraction: float = 0.001) -> torch.Tensor:
    """Weight-free decision map of MFF-GAN's decision block, post-processed for inference.

    ``M = 1`` where the blur residual ``|I - G*(G*I)|`` of ``a``, summed over a ``window`` box
    (flat pixels have no residual of their own, the box lends them their neighbourhood's), is
    larger than that of ``b``; then islands under ``min_fraction`` of the image are removed from
    both sides. ``a, b: (B,1,H,W)`` -> (B,1,H,W) float {0,1}.
    """
    ra, rb = blur_residual(a, sigma), blur_residual(b, sigma)
    r = window // 2
    score = box_filter(ra, r) - box_filter(rb, r)
    return remove_small_regions((score > 0).to(a.dtype), min_fraction)


def fuse_rgb_with(decide: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                  a_rgb: torch.Tensor, b_rgb: torch.Tensor) -> torch.Tensor:
    """Colour fusion by a decision map computed on the luma.

    ``decide(a_y, b_y) -> (B,1,H,W)`` weight of ``a``; ``a_rgb, b_rgb: (B,3,H,W)`` in [0,1];
    returns ``a_rgb * M + b_rgb * (1 - M)``, (B,3,H,W) in [0,1].
    """
    weight = decide(rgb_to_y(a_rgb), rgb_to_y(b_rgb))
    return blend(a_rgb, b_rgb, weight).clamp(0.0, 1.0)
