"""Box conversions between the letterboxed training image and the original image."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tardal.errors import DataError


def scale_boxes_back(boxes_xyxy: torch.Tensor, letterbox: Sequence[float],
                     orig_size: Sequence[int], clip: bool = True) -> torch.Tensor:
    """Map boxes from letterboxed-image pixels to original-image pixels.

    The dataset letterboxes with ``x_lb = x * ratio + pad_x`` and ``y_lb = y * ratio + pad_y``;
    this is the inverse.

    Args:
        boxes_xyxy: (N,4) float pixels of the letterboxed image.
        letterbox: ``(ratio, pad_x, pad_y)`` from the dataset item (ratio > 0).
        orig_size: ``(H0, W0)`` of the original image.
        clip: clip the result to the original image.

    Returns:
        (N,4) float32 xyxy pixels of the original image (a new tensor).
    """
    ratio, pad_x, pad_y = (float(v) for v in letterbox)
    if not ratio > 0:
        raise DataError(f"scale_boxes_back: letterbox ratio must be > 0, found {ratio}")
    boxes = torch.as_tensor(boxes_xyxy, dtype=torch.float32).reshape(-1, 4).clone()
    boxes[:, 0::2] = (boxes[:, 0::2] - pad_x) / ratio
    boxes[:, 1::2] = (boxes[:, 1::2] - pad_y) / ratio
    if clip:
        h0, w0 = (float(v) for v in orig_size)
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0.0, w0)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0.0, h0)
    return boxes
