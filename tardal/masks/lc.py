"""``lc``: global-contrast (LC) saliency of the infrared image (the default without labels).

Steps, all per image:

1. ``V = S / max(S)`` with ``S(l) = sum_i H(i) |l - i|`` over the 256-bin histogram (the same
   saliency as the SDW loss, :func:`tardal.losses.sdw.saliency_map`). With ``mask.warm_only``
   the contrast is one-sided, ``S(l) = sum_i H(i) max(l - i, 0)``: only being warmer than the
   rest of the image counts (cold sky and water are contrasted too, but are not targets);
2. Gaussian smoothing (``mask.sigma`` pixels);
3. threshold: ``mean + k * std`` (``mask.threshold: std``, the default, ``mask.k``; on TNO it
   keeps people and vehicles with far less background clutter than Otsu) or Otsu (``otsu``);
4. morphology: opening then closing with a ``mask.morph`` ellipse;
5. binary, or soft (``mask.soft``): the smoothed saliency inside the cleaned mask, divided by its
   maximum there, 0 outside.
"""

from __future__ import annotations

import numpy as np
import torch

from tardal.config import MaskConfig
from tardal.losses.sdw import saliency_map
from tardal.masks.base import MaskProvider
from tardal.masks.registry import MASKS
from tardal.masks.threshold import clean_binary, gaussian_smooth, otsu_threshold, std_threshold
from tardal.errors import ConfigError


def lc_saliency(ir: np.ndarray, warm_only: bool = False) -> np.ndarray:
    """Normalised LC saliency (H,W) float32 in [0,1] of an (H,W) infrared image in [0,1]."""
    if not warm_only:
        t = torch.from_numpy(np.ascontiguousarray(ir, np.float32))[None, None]
        return saliency_map(t)[0, 0].numpy().copy()
    levels = np.rint(np.clip(ir, 0.0, 1.0) * 255.0).astype(np.int64)
    hist = np.bincount(levels.ravel(), minlength=256).astype(np.float64)
    lv = np.arange(256, dtype=np.float64)
    table = hist @ np.maximum(lv[None, :] - lv[:, None], 0.0)  # S(l) = sum_i H(i) max(l - i, 0)
    peak = table.max()
    table = table / peak if peak > 0 else table
    return table[levels].astype(np.float32)


def lc_mask(ir: np.ndarray, *, threshold: str = "std", k: float = 2.0, sigma: float = 2.0,
            morph: int = 3, soft: bool = False, warm_only: bool = False) -> np.ndarray:
    """The ``lc`` mask of one (H,W) infrared image in [0,1]; (H,W) float32 in [0,1]."""
    v = gaussian_smooth(lc_saliency(ir, warm_only), sigma)
    if threshold == "otsu":
        t = otsu_threshold(v)
    elif threshold == "std":
        t = std_threshold(v, k)
    else:
        raise ConfigError(f"mask.threshold: expected 'otsu' or 'std', found {threshold!r}")
    binary = clean_binary(v > t, morph)
    if not soft:
        return binary.astype(np.float32)
    inside = np.where(binary, v, 0.0).astype(np.float32)
    peak = float(inside.max())
    return inside / peak if peak > 0 else inside


@MASKS.register("lc")
class LCMask(MaskProvider):
    """Global-contrast saliency of the infrared image, thresholded and cleaned (module doc)."""

    def __init__(self, cfg: MaskConfig | None = None) -> None:
        super().__init__(cfg)
        self.binary = not self.cfg.soft

    def compute(self, ir: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        c = self.cfg
        return lc_mask(ir, threshold=c.threshold, k=c.k, sigma=c.sigma, morph=c.morph,
                       soft=c.soft, warm_only=c.warm_only)
