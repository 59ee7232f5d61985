"""``boxes``: the target mask rasterised from ground-truth boxes (the default with labels)."""

from __future__ import annotations

import math

import numpy as np

from tardal.config import MaskConfig
from tardal.masks.base import MaskProvider
from tardal.masks.registry import MASKS
from tardal.masks.threshold import gaussian_smooth, otsu_threshold


def box_pixels(box: np.ndarray, height: int, width: int) -> tuple[int, int, int, int] | None:
    """Integer pixel span ``(x0, y0, x1, y1)`` (end exclusive) covered by an xyxy box, clipped.

    A pixel (i, j) covers [j, j+1) x [i, i+1); every pixel the box overlaps is included. Boxes
    entirely outside the image, or empty, give None.
    """
    x0, y0 = max(0, math.floor(float(box[0]))), max(0, math.floor(float(box[1])))
    x1, y1 = min(width, math.ceil(float(box[2]))), min(height, math.ceil(float(box[3])))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def boxes_mask(ir: np.ndarray, boxes_xyxy: np.ndarray, otsu_refine: bool = True) -> np.ndarray:
    """(H,W) float32 {0,1}: 1 inside the boxes (xyxy pixels).

    With ``otsu_refine`` only the pixels warmer than Otsu's threshold of the infrared values
    inside each box are kept (the target, not the background the box also covers); a box whose
    content is uniform is kept whole.
    """
    h, w = ir.shape
    mask = np.zeros((h, w), np.float32)
    for box in np.asarray(boxes_xyxy, np.float32).reshape(-1, 4):
        span = box_pixels(box, h, w)
        if span is None:
            continue
        x0, y0, x1, y1 = span
        if otsu_refine:
            region = ir[y0:y1, x0:x1]
            keep = region > otsu_threshold(region)
            if not keep.any():
                keep = np.ones_like(keep)
            mask[y0:y1, x0:x1] = np.maximum(mask[y0:y1, x0:x1], keep.astype(np.float32))
        else:
            mask[y0:y1, x0:x1] = 1.0
    return mask


@MASKS.register("boxes")
class BoxesMask(MaskProvider):
    """Boxes from labels, optionally refined by Otsu inside each box (``mask.otsu_refine``).

    With ``mask.soft`` the binary mask is smoothed by a Gaussian of sigma 1 pixel.
    """

    def __init__(self, cfg: MaskConfig | None = None) -> None:
        super().__init__(cfg)
        self.binary = not self.cfg.soft

    def compute(self, ir: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        m = boxes_mask(ir, boxes_xyxy, self.cfg.otsu_refine)
        return m if self.binary else gaussian_smooth(m, 1.0)
