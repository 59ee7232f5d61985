"""Fusion quality metrics that reproduce the MATLAB suites papers quote.

    from tardal.metrics import evaluate
    scores = evaluate(fused, ir, vis)                 # all 13 metrics, ``tang`` convention
    scores = evaluate(fused, ir, vis, metrics=["EN", "MI", "Qabf"])
    scores = evaluate(fused, ir, vis, convention="vifb")

Inputs are numpy arrays on the 8-bit scale: uint8, or float in [0, 255]; grey (H, W) or RGB
(H, W, 3). ``tang`` reduces colour to grey as MATLAB's ``rgb2gray`` + uint8 rounding does;
``vifb`` evaluates colour per channel. The per-metric functions (``entropy``, ``qabf``, ...)
take grey (H, W) arrays and state their convention, units and range in their docstrings.
``METRICS`` is the registry of the default (``tang``) metrics, ``CONVENTIONS`` the registry of
conventions. See docs/metrics.md for the conventions and the conformance results.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tardal.metrics._arrays import RGB2GRAY_WEIGHTS, rgb_to_grey, to_grey_u8
from tardal.metrics.basic import average_gradient, entropy, spatial_frequency, standard_deviation
from tardal.metrics.conventions import CONVENTIONS, TANG_METRICS, Convention, MetricInfo, get_convention
from tardal.metrics.edge import nabf, qabf
from tardal.metrics.information import correlation_coefficient, mse, mutual_information, psnr, scd
from tardal.metrics.structural import ssim, ssim_index
from tardal.metrics.vifp import vif, vif_pair

#: Registry of the default-convention metrics: name -> :class:`MetricInfo`.
METRICS = TANG_METRICS

__all__ = [
    "CONVENTIONS",
    "METRICS",
    "RGB2GRAY_WEIGHTS",
    "Convention",
    "MetricInfo",
    "average_gradient",
    "correlation_coefficient",
    "entropy",
    "evaluate",
    "get_convention",
    "metric_names",
    "mse",
    "mutual_information",
    "nabf",
    "psnr",
    "qabf",
    "rgb_to_grey",
    "scd",
    "spatial_frequency",
    "ssim",
    "ssim_index",
    "standard_deviation",
    "to_grey_u8",
    "vif",
    "vif_pair",
]


def metric_names(convention: str = "tang") -> list[str]:
    """Names of every metric of ``convention``, in table order."""
    return get_convention(convention).names()


def evaluate(
    fused: np.ndarray,
    ir: np.ndarray,
    vis: np.ndarray,
    convention: str = "tang",
    metrics: Iterable[str] | str | None = None,
) -> dict[str, float]:
    """Evaluate one (fused, ir, vis) triple.

    fused, ir, vis: (H, W) grey or (H, W, 3) RGB arrays of equal height and width, uint8 or float
    in [0, 255]. convention: ``tang`` (default) or ``vifb``. metrics: names to compute
    (case-insensitive; a list or a comma-separated string), all of the convention's when None.

    Returns ``{name: value}`` (Python floats, NaN where a metric is undefined, e.g. CC of a
    constant image) in the requested order. Raises UnknownNameError for an unknown convention or
    metric and DataError for mismatched sizes or out-of-range values.
    """
    conv = get_convention(convention)
    names = conv.resolve(metrics)
    f, a, b = conv.prepare(fused, ir, vis)
    return {name: float(conv.metrics.get(name).fn(f, a, b)) for name in names}
