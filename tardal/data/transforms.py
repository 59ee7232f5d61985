"""Augmentations and resizing for a registered infrared/visible pair with its boxes.

Every function applies one geometric change to both images and moves the boxes with them, so
the pair stays pixel-registered. Images are numpy float32 in [0, 1]: ``ir`` (H, W), ``vis``
(H, W, 3); ``boxes_xyxy`` (N, 4) float32 pixel edges ``x1 y1 x2 y2`` (a box covering pixel
columns 0..9 is x1 = 0, x2 = 10); ``labels`` (N,) int64.

Boxes cut by a crop are clipped to it and dropped when what is left is too small: narrower or
lower than ``min_size`` pixels, or less than ``min_visible`` of the box's area before the crop.
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np
from tardal.errors import DataError

PAD_VALUE = 114.0 / 255.0  # letterbox padding grey (the Ultralytics value)


class AugmentSettings(Protocol):
    """What :func:`random_augment` reads (``tardal.config.AugmentConfig`` has it)."""

    hflip: float
    scale: tuple[float, float]
    crop: float
    patch: int
    gamma: float


def _resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    shrink = width < img.shape[1] and height < img.shape[0]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    out = cv2.resize(img, (width, height), interpolation=interp)
    if img.ndim == 3 and out.ndim == 2:  # cv2 drops a trailing channel axis of size 1
        out = out[..., None]
    return np.ascontiguousarray(out, dtype=np.float32)


def resize_image(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize one (H, W) or (H, W, C) float32 image to (height, width)."""
    return _resize(img, int(width), int(height))


def resize_pair(
    ir: np.ndarray, vis: np.ndarray, boxes_xyxy: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resize both images to (height, width) and scale the boxes to match."""
    h0, w0 = ir.shape[:2]
    sx, sy = width / w0, height / h0
    boxes = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4) * np.float32([sx, sy, sx, sy])
    return _resize(ir, width, height), _resize(vis, width, height), boxes


def hflip(
    ir: np.ndarray, vis: np.ndarray, boxes_xyxy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mirror both images left-right; box x -> W - x."""
    w = ir.shape[1]
    b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4).copy()
    b[:, [0, 2]] = w - b[:, [2, 0]]
    return np.ascontiguousarray(ir[:, ::-1]), np.ascontiguousarray(vis[:, ::-1]), b


def crop_pair(
    ir: np.ndarray,
    vis: np.ndarray,
    boxes_xyxy: np.ndarray,
    labels: np.ndarray,
    x0: int,
    y0: int,
    width: int,
    height: int,
    *,
    min_size: float = 2.0,
    min_visible: float = 0.25,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut the window ``[x0, x0+width) x [y0, y0+height)`` from both images.

    Boxes are shifted, clipped to the window, and dropped when the clipped box is narrower or
    lower than ``min_size`` pixels or keeps less than ``min_visible`` of its original area.

    Returns:
        ir (height, width), vis (height, width, 3), boxes (M, 4), labels (M,) with M <= N.
    """
    H, W = ir.shape[:2]
    fits = 0 <= x0 and 0 <= y0 and width > 0 and height > 0
    if not (fits and x0 + width <= W and y0 + height <= H):
        raise DataError(f"crop window {x0},{y0} {width}x{height} does not fit a {W}x{H} image")
    b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    lab = np.asarray(labels, np.int64).reshape(-1)
    area0 = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    c = b - np.float32([x0, y0, x0, y0])
    c[:, [0, 2]] = c[:, [0, 2]].clip(0, width)
    c[:, [1, 3]] = c[:, [1, 3]].clip(0, height)
    cw, ch = c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]
    keep = (cw >= min_size) & (ch >= min_size) & (cw * ch >= min_visible * np.maximum(area0, 1e-9))
    ir_c = np.ascontiguousarray(ir[y0:y0 + height, x0:x0 + width])
    vis_c = np.ascontiguousarray(vis[y0:y0 + height, x0:x0 + width])
    return ir_c, vis_c, c[keep], lab[keep]


def letterbox(
    ir: np.ndarray, vis: np.ndarray, boxes_xyxy: np.ndarray, size: int, pad_value: float = PAD_VALUE
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Scale the pair to fit ``size x size`` keeping its aspect ratio, centre it, pad with grey.

    Returns:
        ir (size, size), vis (size, size, 3), boxes in the letterboxed image, and
        ``(ratio, pad_x, pad_y)``: a point maps back to the input as ``(x - pad_x) / ratio``.
    """
    h0, w0 = ir.shape[:2]
    ratio = min(size / h0, size / w0)
    new_w, new_h = max(1, int(round(w0 * ratio))), max(1, int(round(h0 * ratio)))
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    ir_r = _resize(ir, new_w, new_h) if (new_w, new_h) != (w0, h0) else ir.astype(np.float32)
    vis_r = _resize(vis, new_w, new_h) if (new_w, new_h) != (w0, h0) else vis.astype(np.float32)
    ir_out = np.full((size, size), pad_value, np.float32)
    vis_out = np.full((size, size, vis.shape[2]), pad_value, np.float32)
    ir_out[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = ir_r
    vis_out[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = vis_r
    b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4) * np.float32(ratio)
    b += np.float32([pad_x, pad_y, pad_x, pad_y])
    return ir_out, vis_out, b, (float(ratio), float(pad_x), float(pad_y))


def unletterbox_boxes(boxes_xyxy: np.ndarray, lb: tuple[float, float, float]) -> np.ndarray:
    """Map boxes from a letterboxed image back to the input image (inverse of :func:`letterbox`)."""
    ratio, pad_x, pad_y = lb
    b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4) - np.float32([pad_x, pad_y, pad_x, pad_y])
    return b / np.float32(ratio)


def random_augment(
    ir: np.ndarray,
    vis: np.ndarray,
    boxes_xyxy: np.ndarray,
    labels: np.ndarray,
    cfg: AugmentSettings,
    rng: np.random.Generator,
    *,
    min_size: float = 2.0,
    min_visible: float = 0.25,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random rescale, then a random ``cfg.patch`` x ``cfg.patch`` window (when ``patch`` > 0;
    smaller images keep their side) or else (with probability ``cfg.crop``) a random crop
    keeping at least half of each side, then (with probability ``cfg.hflip``) a horizontal flip;
    the same draw for both images; then (``cfg.gamma`` > 0) each source's own random gamma
    (:func:`random_gamma`). The output size varies; letterbox afterwards for a fixed size.
    """
    b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    lab = np.asarray(labels, np.int64).reshape(-1)
    lo, hi = float(cfg.scale[0]), float(cfg.scale[1])
    if hi > 0 and (lo != 1.0 or hi != 1.0):
        s = float(rng.uniform(lo, hi))
        h0, w0 = ir.shape[:2]
        nh, nw = max(8, int(round(h0 * s))), max(8, int(round(w0 * s)))
        if (nh, nw) != (h0, w0):
            ir, vis, b = resize_pair(ir, vis, b, nh, nw)
    patch = int(cfg.patch)
    if patch > 0:
        H, W = ir.shape[:2]
        cw, ch = min(patch, W), min(patch, H)
        x0 = int(rng.integers(0, W - cw + 1))
        y0 = int(rng.integers(0, H - ch + 1))
        if (cw, ch) != (W, H):
            ir, vis, b, lab = crop_pair(ir, vis, b, lab, x0, y0, cw, ch,
                                        min_size=min_size, min_visible=min_visible)
    elif cfg.crop > 0 and rng.random() < cfg.crop:
        H, W = ir.shape[:2]
        cw = int(round(W * rng.uniform(0.5, 1.0)))
        ch = int(round(H * rng.uniform(0.5, 1.0)))
        cw, ch = min(max(cw, 1), W), min(max(ch, 1), H)
        x0 = int(rng.integers(0, W - cw + 1))
        y0 = int(rng.integers(0, H - ch + 1))
        ir, vis, b, lab = crop_pair(ir, vis, b, lab, x0, y0, cw, ch,
                                    min_size=min_size, min_visible=min_visible)
    if cfg.hflip > 0 and rng.random() < cfg.hflip:
        ir, vis, b = hflip(ir, vis, b)
    if cfg.gamma > 0:
        ir = random_gamma(ir, float(cfg.gamma), rng)
        vis = random_gamma(vis, float(cfg.gamma), rng)
    return ir, vis, b, lab


def random_gamma(img: np.ndarray, gamma: float, rng: np.random.Generator) -> np.ndarray:
    """``img ** exp(u)`` with ``u`` uniform in [-gamma, gamma]: a darker (exponent above 1) or
    brighter view of a [0, 1] image with its black and white points kept."""
    g = float(np.exp(rng.uniform(-gamma, gamma)))
    return np.power(np.clip(img, 0.0, 1.0), g, dtype=np.float32)
