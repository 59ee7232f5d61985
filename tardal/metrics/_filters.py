"""Linear filters with MATLAB's border conventions, in float64.

MATLAB's ``filter2(h, x, shape)`` is a correlation; ``conv2`` flips the kernel. ``'same'`` pads
with zeros, ``'valid'`` keeps only the positions where the kernel fits inside the image.
``imfilter(..., 'replicate')`` and ``imgaussfilt(..., 'Padding', 'replicate')`` repeat the edge
pixels. The functions here reproduce those outputs with separable OpenCV filters (exact float64
arithmetic; the border mode selects the padding).
"""

from __future__ import annotations

import cv2
import numpy as np

_BORDERS = {
    "zero": cv2.BORDER_CONSTANT,
    "replicate": cv2.BORDER_REPLICATE,
    "reflect101": cv2.BORDER_REFLECT_101,
}


def gaussian_kernel_1d(size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian of ``size`` taps, the factor of MATLAB's ``fspecial('gaussian')``.

    ``fspecial`` also zeroes taps below ``eps * max``; for the sizes and sigmas used here
    (size <= 4 sigma + 1 or so) no tap is that small, so the 2-D kernel is exactly the outer
    product of this vector with itself.
    """
    half = (size - 1) / 2.0
    x = np.arange(size, dtype=np.float64) - half
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def separable(img: np.ndarray, ky: np.ndarray, kx: np.ndarray, border: str) -> np.ndarray:
    """Correlate (H, W) float64 ``img`` with the outer product ``ky[:, None] * kx[None, :]``.

    Output has the input's size (MATLAB ``'same'``); ``border`` is ``zero``, ``replicate`` or
    ``reflect101``. Odd kernel lengths only (the centre tap is the anchor, as in MATLAB).
    """
    assert len(ky) % 2 == 1 and len(kx) % 2 == 1, "separable filters need odd kernel lengths"
    src = np.ascontiguousarray(img, dtype=np.float64)
    return cv2.sepFilter2D(
        src,
        cv2.CV_64F,
        np.asarray(kx, np.float64),
        np.asarray(ky, np.float64),
        borderType=_BORDERS[border],
    )


def filter_valid(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """MATLAB ``filter2(k1 * k1', img, 'valid')`` for a symmetric 1-D factor ``k``.

    img: (H, W) float64 -> (H - n + 1, W - n + 1) with n = len(k).
    """
    n = len(k)
    r = (n - 1) // 2
    full = separable(img, k, k, "zero")
    h, w = full.shape
    return full[r : h - (n - 1 - r), r : w - (n - 1 - r)]


def sobel(img: np.ndarray, border: str) -> tuple[np.ndarray, np.ndarray]:
    """Sobel responses (gx, gy) of (H, W) float64 ``img``, unscaled (taps 1, 2, 1).

    gx correlates with ``[-1 0 1; -2 0 2; -1 0 1]`` (increases to the right) and gy with
    ``[-1 -2 -1; 0 0 0; 1 2 1]`` (increases downwards). Correlation and convolution differ only
    by the sign of both responses, which changes neither magnitudes nor ``atan(gy / gx)``.
    """
    smooth = np.array([1.0, 2.0, 1.0])
    diff = np.array([-1.0, 0.0, 1.0])
    gx = separable(img, smooth, diff, border)
    gy = separable(img, diff, smooth, border)
    return gx, gy
