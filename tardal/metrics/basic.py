"""Single-image statistics of the fused image: EN, SD, SF, AG (``tang`` convention).

All functions take one (H, W) grey image, uint8 or float on the 0..255 scale, and return a
Python float. Higher is "better" for all four in the fusion literature (more information,
contrast, detail), although noise raises them too.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tardal.errors import DataError
from tardal.metrics._arrays import as_float, levels


def histogram(img: np.ndarray) -> np.ndarray:
    """256-bin histogram (int64 counts) of the grey levels of (H, W) ``img`` (floats rounded)."""
    return np.bincount(levels(img).ravel(), minlength=256)


def entropy_from_counts(counts: np.ndarray, log: Callable[[np.ndarray], np.ndarray] = np.log2) -> float:
    """Shannon entropy of a histogram (any shape), empty bins skipped."""
    counts = np.asarray(counts, dtype=np.float64).ravel()
    p = counts[counts > 0] / counts.sum()
    return float(-(p * log(p)).sum())


def entropy(fused: np.ndarray) -> float:
    """EN: Shannon entropy of the fused image's 256-bin grey-level histogram, in bits.

    Convention (``tang``, MATLAB ``entropy`` on uint8): bins are the integer levels 0..255,
    ``-sum(p * log2(p))`` over non-empty bins. Range [0, 8]; 8 only for a flat histogram.
    """
    return entropy_from_counts(histogram(fused))


def standard_deviation(fused: np.ndarray) -> float:
    """SD: population standard deviation (divide by H*W) of the fused grey levels.

    Units: grey levels on 0..255. Range [0, 127.5].
    """
    f = as_float(fused, "fused")
    return float(np.sqrt(np.mean((f - f.mean()) ** 2)))


def spatial_frequency(fused: np.ndarray) -> float:
    """SF: ``sqrt(RF^2 + CF^2)`` on the 0..255 scale.

    RF^2 is the mean of the squared differences between horizontal neighbours (H*(W-1) terms),
    CF^2 the same for vertical neighbours ((H-1)*W terms). Range [0, 255*sqrt(2)] (a one-pixel
    checkerboard of 0 and 255 reaches the maximum). Images narrower or shorter than 2 pixels
    contribute 0 for the missing direction.
    """
    f = as_float(fused, "fused")
    dx = np.diff(f, axis=1)
    dy = np.diff(f, axis=0)
    rf2 = float(np.mean(dx * dx)) if dx.size else 0.0
    cf2 = float(np.mean(dy * dy)) if dy.size else 0.0
    return float(np.sqrt(rf2 + cf2))


def average_gradient(fused: np.ndarray) -> float:
    """AG: ``sum(sqrt((gx^2 + gy^2) / 2)) / ((H-1)(W-1))`` on the 0..255 scale.

    gx, gy are MATLAB ``gradient`` derivatives (central differences inside, one-sided
    differences on the first/last row and column), as ``numpy.gradient`` computes them. The sum
    runs over all H*W pixels but is divided by (H-1)(W-1), as the suite does. Range [0, ~255];
    needs H, W >= 2.
    """
    f = as_float(fused, "fused")
    if min(f.shape) < 2:
        raise DataError(f"average_gradient needs an image of at least 2x2 pixels, found {f.shape}")
    gy, gx = np.gradient(f)
    s = np.sqrt((gx * gx + gy * gy) / 2.0)
    h, w = f.shape
    return float(s.sum() / ((h - 1) * (w - 1)))
