"""VIF: pixel-domain multiscale visual information fidelity (Sheikh & Bovik's ``vifp_mscale``).

Arguments are (H, W) grey images, uint8 or float on the 0..255 scale.
"""

from __future__ import annotations

import numpy as np

from tardal.errors import DataError
from tardal.metrics._arrays import as_float, same_shape
from tardal.metrics._filters import filter_valid, gaussian_kernel_1d

#: Variance of the visual noise in the HVS model (the reference code's ``sigma_nsq``).
VIF_NOISE_VAR = 2.0
_EPS = 1e-10


def vif_pair(ref: np.ndarray, dist: np.ndarray, uint8_products: bool = False) -> float:
    """VIF of ``dist`` with respect to ``ref``: information kept / information in the reference.

    Four scales; scale s (1..4) uses an N x N Gaussian window, N = 2^(5-s) + 1 (17, 9, 5, 3),
    sigma N/5, ``'valid'`` filtering (no border handling at all); from scale 2 on, both images
    are low-passed with that window ('valid') and subsampled by 2 first. Local variances are
    clipped at 0 and the reference code's 1e-10 guards are reproduced. Unitless, >= 0 (1 for
    identical images; > 1 for contrast-enhanced ones). Needs images of at least 33 x 33 pixels
    (smaller ones leave an empty finest scale).

    ``uint8_products``: at the finest scale, saturate the products ``ref.*ref``, ``dist.*dist``
    and ``ref.*dist`` at 255, which is what MATLAB's uint8 arithmetic does when the images are
    passed as read (Tang's suite). The local variances at that scale then come out negative and
    are clipped to 0 except in very dark regions, so the finest scale barely counts.
    """
    same_shape(dist, ref, names=("distorted", "reference"))
    return _vif_many([ref], dist, uint8_products)[0]


def _vif_many(refs: list[np.ndarray], dist: np.ndarray, uint8_products: bool) -> list[float]:
    """:func:`vif_pair` of several references against one distorted image (its statistics are
    computed once)."""
    xs = [as_float(r, "reference") for r in refs]
    y = as_float(dist, "distorted")
    if min(y.shape) < 33:
        raise DataError(f"VIF needs images of at least 33x33 pixels, found {y.shape[0]}x{y.shape[1]}")
    nums = [0.0] * len(xs)
    dens = [0.0] * len(xs)

    def sat(p: np.ndarray, scale: int) -> np.ndarray:
        # uint8 .* uint8 in MATLAB rounds and saturates; the inputs here are whole numbers.
        return np.minimum(p, 255.0) if uint8_products and scale == 1 else p

    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        k = gaussian_kernel_1d(n, n / 5.0)
        if scale > 1:
            y = filter_valid(y, k)[::2, ::2]
            xs = [filter_valid(x, k)[::2, ::2] for x in xs]
        mu2 = filter_valid(y, k)
        s2 = np.maximum(filter_valid(sat(y * y, scale), k) - mu2 * mu2, 0.0)
        low2 = s2 < _EPS
        for i, x in enumerate(xs):
            mu1 = filter_valid(x, k)
            s1 = np.maximum(filter_valid(sat(x * x, scale), k) - mu1 * mu1, 0.0)
            s12 = filter_valid(sat(x * y, scale), k) - mu1 * mu2
            # The reference code's guards, in its order: flat reference, flat distorted
            # image, negative gain, tiny residual variance.
            g = s12 / (s1 + _EPS)
            sv = s2 - g * s12
            low1 = s1 < _EPS
            g = np.where(low1 | low2, 0.0, g)
            sv = np.where(low2, 0.0, np.where(low1, s2, sv))
            s1 = np.where(low1, 0.0, s1)
            neg = g < 0.0
            sv = np.maximum(np.where(neg, s2, sv), _EPS)
            g = np.where(neg, 0.0, g)
            nums[i] += float(np.sum(np.log10(1.0 + g * g * s1 / (sv + VIF_NOISE_VAR))))
            dens[i] += float(np.sum(np.log10(1.0 + s1 / VIF_NOISE_VAR)))
    return [num / den if den > 0.0 else float("nan") for num, den in zip(nums, dens)]


def vif(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray, uint8_products: bool = True) -> float:
    """VIF: ``vif_pair(ir, F) + vif_pair(vis, F)``, ``tang`` convention (summed, not averaged).

    Computed on the 0..255 scale (the noise variance 2 is in those units). By default the
    finest-scale products saturate at 255 as in the suite, which passes uint8 images (see
    :func:`vif_pair`); ``uint8_products=False`` gives Sheikh & Bovik's VIF, which is 0.6 to
    0.9 times the suite's value on the TNO oracle images. Range [0, ~2+]; higher is better.
    NaN for a constant source.
    """
    same_shape(fused, ir, vis)
    v_ir, v_vis = _vif_many([ir, vis], fused, uint8_products)
    return v_ir + v_vis
