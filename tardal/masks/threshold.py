"""Thresholds and clean-up for saliency maps (numpy, CPU): Otsu, mean + k*std, morphology."""

from __future__ import annotations

import cv2
import numpy as np


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of float values in [0,1]: the split maximising between-class variance.

    Returns t such that the foreground is ``values > t``. A constant input returns its value
    (so the foreground is empty).
    """
    v = np.asarray(values, np.float64).ravel()
    if v.size == 0:
        return 0.0
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-12:
        return hi
    hist, edges = np.histogram(v, bins=bins, range=(lo, hi))
    p = hist / hist.sum()
    centers = (edges[:-1] + edges[1:]) / 2.0
    w0 = np.cumsum(p)
    w1 = 1.0 - w0
    m0 = np.cumsum(p * centers)
    mt = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mt * w0 - m0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1.0
    i = int(np.argmax(between[:-1])) if bins > 1 else 0
    return float(edges[i + 1])


def std_threshold(values: np.ndarray, k: float = 2.0) -> float:
    """``mean + k * std`` of the values."""
    v = np.asarray(values, np.float64)
    return float(v.mean() + k * v.std())


def gaussian_smooth(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (reflect border) of an (H,W) float32 map; sigma <= 0 returns a copy."""
    img = np.ascontiguousarray(img, np.float32)
    if sigma <= 0:
        return img.copy()
    return cv2.GaussianBlur(img, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT_101)


def clean_binary(mask: np.ndarray, size: int) -> np.ndarray:
    """Opening then closing of an (H,W) bool mask with a ``size x size`` ellipse (<= 1: none)."""
    if size <= 1:
        return mask.astype(bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    m = mask.astype(np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, kernel)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel)
    return m.astype(bool)
