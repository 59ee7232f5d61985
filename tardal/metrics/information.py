"""Metrics comparing the fused image with the two sources: MI, CC, SCD, MSE, PSNR (``tang``).

Arguments are (H, W) grey images of equal size, uint8 or float on the 0..255 scale, in the
order (fused, ir, vis). Every function returns a Python float.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from tardal.metrics._arrays import as_float, levels, same_shape
from tardal.metrics.basic import entropy_from_counts


def joint_histogram(x: np.ndarray, y: np.ndarray, top: int = 255) -> np.ndarray:
    """(256, 256) int64 joint histogram of the grey levels of two equal-size images.

    Row index = level of ``x``, column index = level of ``y`` (floats rounded half up). Levels
    above ``top`` are counted in bin ``top`` (``top=254`` reproduces a MATLAB ``uint8(x) + 1``
    index that saturates at 255, merging levels 254 and 255).
    """
    lx = np.minimum(levels(x).ravel(), top)
    ly = np.minimum(levels(y).ravel(), top)
    return np.bincount(lx * 256 + ly, minlength=256 * 256).reshape(256, 256)


def mutual_information_pair(
    x: np.ndarray,
    f: np.ndarray,
    log: Callable[[np.ndarray], np.ndarray] = np.log2,
    merge_top_joint: bool = False,
) -> float:
    """MI(X, F) = H(X) + H(F) - H(X, F) from 256-bin and 256x256 histograms (bits by default).

    ``merge_top_joint``: count levels 254 and 255 as one in the joint histogram only (the
    marginals keep 256 bins), as Tang's suite does.
    """
    joint = joint_histogram(x, f)
    hx = entropy_from_counts(joint.sum(axis=1), log)
    hf = entropy_from_counts(joint.sum(axis=0), log)
    if merge_top_joint:
        joint = joint_histogram(x, f, top=254)
    hxf = entropy_from_counts(joint, log)
    return hx + hf - hxf


def mutual_information(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray) -> float:
    """MI: MI(ir, F) + MI(vis, F) on the raw grey levels, log2 (bits), ``tang`` convention.

    Each term is ``H(X) + H(F) - H(X,F)``: marginal entropies from 256-bin histograms, the joint
    entropy from a 256x256 histogram in which levels 254 and 255 share a bin. That merge is the
    suite's: it indexes its joint histogram with ``uint8(x) + 1``, which saturates at 255. It
    raises MI by about 0.02 bit on TNO images with saturated regions. No rescaling of the
    images. Range about [0, 16] (each term <= 8 bits); higher is better.
    """
    same_shape(fused, ir, vis)
    return mutual_information_pair(ir, fused, merge_top_joint=True) + mutual_information_pair(
        vis, fused, merge_top_joint=True
    )


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two equal-size arrays (MATLAB ``corr2``); NaN if one is constant."""
    x = np.asarray(x, np.float64).ravel()
    y = np.asarray(y, np.float64).ravel()
    xc = x - x.mean()
    yc = y - y.mean()
    den = math.sqrt(float(np.dot(xc, xc)) * float(np.dot(yc, yc)))
    if den == 0.0:
        return float("nan")
    return float(np.dot(xc, yc) / den)


def correlation_coefficient(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray) -> float:
    """CC: mean of the Pearson correlations corr(ir, F) and corr(vis, F).

    Scale-free; range [-1, 1]. NaN when the fused image or a source is constant.
    """
    same_shape(fused, ir, vis)
    f = as_float(fused, "fused")
    return 0.5 * (pearson(as_float(ir, "ir"), f) + pearson(as_float(vis, "vis"), f))


def scd(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray) -> float:
    """SCD (sum of the correlations of differences): corr(F - vis, ir) + corr(F - ir, vis).

    Scale-free; range [-2, 2]. NaN when a difference image or a source is constant.
    """
    same_shape(fused, ir, vis)
    f = as_float(fused, "fused")
    a = as_float(ir, "ir")
    b = as_float(vis, "vis")
    return pearson(f - b, a) + pearson(f - a, b)


def mse(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray) -> float:
    """MSE: mean of MSE(ir, F) and MSE(vis, F), computed on images scaled to [0, 1].

    Units: squared [0, 1] intensity. Range [0, 1]; lower is better.
    """
    same_shape(fused, ir, vis)
    f = as_float(fused, "fused") / 255.0
    a = as_float(ir, "ir") / 255.0
    b = as_float(vis, "vis") / 255.0
    return 0.5 * (float(np.mean((f - a) ** 2)) + float(np.mean((f - b) ** 2)))


def psnr(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray) -> float:
    """PSNR: ``20 log10(255 / sqrt(MSE))`` with MSE from :func:`mse` (on [0, 1] images), in dB.

    This mixes ranges (peak 255, error on [0, 1]) and so reads 48 dB higher than the textbook
    PSNR; it is the suite's definition and the one papers quote (about 60-64 dB on TNO).
    Range (48.1, inf]; infinite when F equals both sources.
    """
    err = mse(fused, ir, vis)
    if err == 0.0:
        return float("inf")
    return float(20.0 * math.log10(255.0 / math.sqrt(err)))
