"""SSIM (structural similarity) with MATLAB ``ssim`` defaults, and VIFB's variant.

Arguments are (H, W) grey images, uint8 or float on the 0..255 scale.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tardal.metrics._arrays import as_float, same_shape
from tardal.metrics._filters import filter_valid, gaussian_kernel_1d, separable

SSIM_K1, SSIM_K2 = 0.01, 0.03
SSIM_SIGMA = 1.5
SSIM_SIZE = 11  # 2 * ceil(3 * sigma) + 1, MATLAB's default filter size for sigma 1.5

Blur = Callable[[np.ndarray], np.ndarray]
Moments = tuple[np.ndarray, np.ndarray, np.ndarray]


def blur_fn(border: str | None) -> Blur:
    """Gaussian 11 x 11 (sigma 1.5) blur: 'valid' output when ``border`` is None, else same size."""
    k = gaussian_kernel_1d(SSIM_SIZE, SSIM_SIGMA)
    if border is None:
        return lambda img: filter_valid(img, k)
    return lambda img: separable(img, k, k, border)


def moments(x: np.ndarray, blur: Blur) -> Moments:
    """Local mean, squared mean and variance of ``x`` under the Gaussian window."""
    mu = blur(x)
    mu2 = mu * mu
    return mu, mu2, blur(x * x) - mu2


def ssim_mean(
    x: np.ndarray, y: np.ndarray, data_range: float, blur: Blur, y_moments: Moments | None = None
) -> float:
    """Mean of the SSIM map (exponents 1, C3 = C2 / 2 folded in, as MATLAB does)."""
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    mx, mxx, sxx = moments(x, blur)
    my, myy, syy = y_moments if y_moments is not None else moments(y, blur)
    sxy = blur(x * y) - mx * my
    smap = ((2.0 * mx * my + c1) * (2.0 * sxy + c2)) / ((mxx + myy + c1) * (sxx + syy + c2))
    return float(np.mean(smap))


def ssim_index(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> float:
    """Mean SSIM of two (H, W) images as MATLAB's ``ssim(x, y)`` with its defaults.

    Gaussian window sigma 1.5 (11 x 11) with replicate padding (``imgaussfilt``), K1 0.01,
    K2 0.03, exponents 1, mean of the SSIM map over every pixel. ``data_range`` L sets
    C1 = (K1 L)^2 and C2 = (K2 L)^2. Range [-1, 1]; 1 for identical images.
    """
    same_shape(x, y, names=("x", "y"))
    return ssim_mean(as_float(x, "x"), as_float(y, "y"), data_range, blur_fn("replicate"))


def ssim(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray, data_range: float = 1.0) -> float:
    """SSIM: ``0.5 SSIM(F, ir) + 0.5 SSIM(F, vis)``, ``tang`` convention.

    The images are on 0..255 but MATLAB's default dynamic range for double input is 1, so
    ``data_range`` defaults to 1 and the stabilising constants (1e-4, 9e-4) are negligible: this
    reproduces the suite's numbers. Pass ``data_range=255`` for the textbook SSIM (larger values
    on flat or dark regions). Range [-1, 1]; higher is better.
    """
    same_shape(fused, ir, vis)
    blur = blur_fn("replicate")
    f = as_float(fused, "fused")
    f_moments = moments(f, blur)
    s_ir = ssim_mean(as_float(ir, "ir"), f, data_range, blur, f_moments)
    s_vis = ssim_mean(as_float(vis, "vis"), f, data_range, blur, f_moments)
    return 0.5 * s_ir + 0.5 * s_vis


def ssim_valid(x: np.ndarray, y: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM over the ``'valid'`` part of the map (no padding), as VIFB's own ``ssim``.

    Same Gaussian window (11 x 11, sigma 1.5), constants from ``data_range`` (VIFB: 255).
    """
    same_shape(x, y, names=("x", "y"))
    return ssim_mean(as_float(x, "x"), as_float(y, "y"), data_range, blur_fn(None))
