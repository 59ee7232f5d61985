"""Edge-based metrics: Qabf (Xydeas-Petrovic) and Nabf (Kumar's modified fusion artefacts).

Arguments are (H, W) grey images of equal size, uint8 or float on the 0..255 scale, in the
order (fused, ir, vis).

Both reference implementations take decisions on exact floating-point equalities
(``SAx == 0``, ``gA == gF``, ``gF > gA``). The suites run them on ``im2double`` images
(x / 255), where a Sobel response that is zero in exact arithmetic often comes out as a
+-1e-17 residue, and the residue's sign flips an orientation between +pi/2 and -pi/2. To give
the suite's numbers (not just numbers close to them) the filters here reproduce MATLAB's
arithmetic: the same intensity scale, the same padding and the same order of accumulation.
"""

from __future__ import annotations

import math

import numpy as np

from tardal.errors import DataError
from tardal.metrics._arrays import as_float, same_shape

# Xydeas-Petrovic constants as used by the MATLAB suites.
QABF_TG, QABF_KG, QABF_DG = 0.9994, -15.0, 0.5
QABF_TA, QABF_KA, QABF_DA = 0.9879, -22.0, 0.8

# Petrovic / Kumar constants (objective_fusion_perform_fn.m).
NABF_TD, NABF_WT_MIN, NABF_LG = 2.0, 0.001, 1.5
NABF_NRG, NABF_KG, NABF_SIGMAG = 0.9999, 19.0, 0.5
NABF_NRA, NABF_KA, NABF_SIGMAA = 0.9995, 22.0, 0.5

#: Sobel kernels as the suites write them (``h1``: vertical derivative, ``h3``: horizontal).
SOBEL_H1 = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])
SOBEL_H3 = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])

#: How the suite scales 0..255 grey levels before filtering.
INTENSITY = ("im2double", "raw", "times255")


def _scaled(img: np.ndarray, name: str, intensity: str) -> np.ndarray:
    """0..255 image -> the intensities the suite filters (``x / 255``, ``x`` or ``255 x``)."""
    x = as_float(img, name)
    if intensity == "im2double":
        return x / 255.0  # a true division, as im2double: x * (1/255) rounds differently
    if intensity == "raw":
        return x
    if intensity == "times255":
        return x * 255.0
    raise DataError(f"unknown intensity scale {intensity!r}; expected one of {', '.join(INTENSITY)}")


def conv2_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """MATLAB ``conv2(x, kernel, 'same')`` for a 3x3 kernel, with MATLAB's rounding.

    Zero padding; the kernel is flipped (true convolution); products are accumulated over the
    kernel in column-major order starting from 0. That is the order that reproduces the suite's
    Qabf values (to 3e-15 on the oracle set, against 1e-3 for row-major accumulation), so the
    rounding residues that decide ``SAx == 0`` come out as in MATLAB.
    x: (H, W) float64 -> (H, W) float64.
    """
    h, w = x.shape
    pad = np.zeros((h + 2, w + 2))
    pad[1:-1, 1:-1] = x
    out = np.zeros((h, w))
    for q in range(3):  # kernel columns (outer), rows (inner): column-major
        for p in range(3):
            k = float(kernel[p, q])
            if k != 0.0:  # adding an exact 0 * x would change nothing
                out += k * pad[2 - p : 2 - p + h, 2 - q : 2 - q + w]
    return out


def _qabf_edges(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strength and orientation as the suite's Qabf: ``conv2`` with h3 (x) and h1 (y).

    Orientation is ``atan(SAy / SAx)``, or pi/2 where ``SAx == 0`` exactly.
    """
    sx = conv2_same(x, SOBEL_H3)
    sy = conv2_same(x, SOBEL_H1)
    g = np.sqrt(sx * sx + sy * sy)
    zero = sx == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(zero, math.pi / 2, np.arctan(sy / np.where(zero, 1.0, sx)))
    return g, a


def _qabf_preservation(g_x: np.ndarray, a_x: np.ndarray, g_f: np.ndarray, a_f: np.ndarray) -> np.ndarray:
    """Per-pixel edge preservation Q^{XF} = Qg * Qa with the suite's ratio rule.

    Strength ratio gF/gX where gX > gF, gX/gF where gX < gF, and **gF itself** where the two
    are equal (a quirk of the suite: equal nonzero strengths ought to give 1; on im2double data
    gF is at most ~5.7, so this matters only where F copies a source's neighbourhood).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(
            g_x > g_f,
            g_f / np.where(g_x == 0.0, 1.0, g_x),
            np.where(g_x == g_f, g_f, g_x / np.where(g_f == 0.0, 1.0, g_f)),
        )
    orient = 1.0 - np.abs(a_x - a_f) / (math.pi / 2)
    qg = QABF_TG / (1.0 + np.exp(QABF_KG * (ratio - QABF_DG)))
    qa = QABF_TA / (1.0 + np.exp(QABF_KA * (orient - QABF_DA)))
    return qg * qa


def qabf(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray, intensity: str = "im2double") -> float:
    """Qabf: Xydeas-Petrovic gradient-based edge information preservation.

    Sobel strength g and orientation a per pixel (MATLAB ``conv2`` 'same', zero padding, so the
    image border counts as a strong edge); Q^{AF} = Qg(G^{AF}) Qa(A^{AF}) with sigmoids
    Tg 0.9994, kg -15, Dg 0.5, Ta 0.9879, ka -22, Da 0.8; result
    ``sum(Q^{AF} gA + Q^{BF} gB) / sum(gA + gB)`` (L = 1).

    ``intensity``: the scale the suite filters at, which changes the result through its exact
    comparisons (see the module docstring): ``im2double`` (x / 255, Tang's suite, the default),
    ``times255`` (VIFB) or ``raw``. Unitless, range [0, ~1]; higher is better. NaN when both
    sources are constant (no edges to preserve).
    """
    same_shape(fused, ir, vis)
    g_f, a_f = _qabf_edges(_scaled(fused, "fused", intensity))
    g_a, a_a = _qabf_edges(_scaled(ir, "ir", intensity))
    g_b, a_b = _qabf_edges(_scaled(vis, "vis", intensity))
    q_af = _qabf_preservation(g_a, a_a, g_f, a_f)
    q_bf = _qabf_preservation(g_b, a_b, g_f, a_f)
    den = float(np.sum(g_a) + np.sum(g_b))
    if den == 0.0:
        return float("nan")
    return float((np.sum(q_af * g_a) + np.sum(q_bf * g_b)) / den)


def sobel_kumar(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kumar's ``sobel_fn``: (gv, gh) = correlations with Sobel / 8 after reflect-101 extension.

    gv responds to horizontal change (``[-1 0 1; -2 0 2; -1 0 1] / 8``), gh to vertical change
    (``[-1 -2 -1; 0 0 0; 1 2 1] / 8``). The MATLAB loop sums each 3x3 product column by column
    and then across columns; the passes below perform exactly the same roundings in fewer
    operations (zero taps add an exact +0, scaling by 1/8 or 2/8 is exact, and round-to-nearest
    is symmetric under negation), so results agree to the last bit, signed zeros included.
    """
    h, w = x.shape
    ext = np.pad(x, 1, mode="reflect")  # numpy 'reflect' does not repeat the edge: reflect-101
    # gv: column sums (-a/8 - 2b/8) - c/8 of the left column, minus the same of the right one.
    t = (ext[0:h] * -0.125 + ext[1 : h + 1] * -0.25) + ext[2 : h + 2] * -0.125
    gv = t[:, 0:w] - t[:, 2 : w + 2]
    # gh: per column (c/8 - a/8) (weight 2 in the middle column), summed left to right.
    v = ext[2 : h + 2] * 0.125 - ext[0:h] * 0.125
    gh = (v[:, 0:w] + 2.0 * v[:, 1 : w + 1]) + v[:, 2 : w + 2]
    return gv, gh


def _nabf_edges(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(strength, orientation atan(gv / gh)); orientation 0 where gv and gh are both 0."""
    gv, gh = sobel_kumar(x)
    g = np.sqrt(gh * gh + gv * gv)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.arctan(gv / gh)  # gh = +-0 gives +-pi/2 as in MATLAB
    a = np.where((gv == 0.0) & (gh == 0.0), 0.0, a)
    return g, a


def _nabf_preservation(g_x: np.ndarray, a_x: np.ndarray, g_f: np.ndarray, a_f: np.ndarray) -> np.ndarray:
    """Petrovic's Q^{XF} = sqrt(Qg * Qa) (the form used inside Kumar's Nabf)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(
            (g_x == 0.0) | (g_f == 0.0),
            0.0,
            np.where(g_x > g_f, g_f / np.where(g_x == 0.0, 1.0, g_x), g_x / np.where(g_f == 0.0, 1.0, g_f)),
        )
    orient = np.abs(np.abs(a_x - a_f) - math.pi / 2) * (2.0 / math.pi)
    qg = NABF_NRG / (1.0 + np.exp(-NABF_KG * (ratio - NABF_SIGMAG)))
    qa = NABF_NRA / (1.0 + np.exp(-NABF_KA * (orient - NABF_SIGMAA)))
    return np.sqrt(qg * qa)


def nabf(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray, intensity: str = "im2double") -> float:
    """Nabf: Kumar's modified fusion-artefact measure (noise and artefacts added by fusion).

    An artefact is counted where the fused gradient exceeds both source gradients; it is
    weighted by the losses ``(1 - Q^{AF}) wA + (1 - Q^{BF}) wB`` and the sum is divided by
    ``sum(wA + wB)``. Weights are ``g^1.5`` where the source gradient g >= 2, else 0.001
    (Sobel / 8, reflect-101 borders, Petrovic's sqrt(Qg Qa) preservation with Nrg 0.9999,
    kg 19, Nra 0.9995, ka 22, sigma 0.5).

    ``tang`` convention (``intensity="im2double"``, the default): the suite passes x / 255, on
    which no gradient reaches the threshold 2, so every weight is 0.001 and the measure is an
    unweighted mean. ``intensity="raw"`` gives Kumar's original 0..255 weighting.
    Argument order is (fused, ir, vis): the fused image's artefacts relative to the sources.
    Range [0, 1]; lower is better. Unitless.
    """
    same_shape(fused, ir, vis)
    g_f, a_f = _nabf_edges(_scaled(fused, "fused", intensity))
    g_a, a_a = _nabf_edges(_scaled(ir, "ir", intensity))
    g_b, a_b = _nabf_edges(_scaled(vis, "vis", intensity))
    q_af = _nabf_preservation(g_a, a_a, g_f, a_f)
    q_bf = _nabf_preservation(g_b, a_b, g_f, a_f)
    w_a = np.where(g_a >= NABF_TD, g_a**NABF_LG, NABF_WT_MIN)
    w_b = np.where(g_b >= NABF_TD, g_b**NABF_LG, NABF_WT_MIN)
    artefact = (g_f > g_a) & (g_f > g_b)
    num = np.sum(np.where(artefact, (1.0 - q_af) * w_a + (1.0 - q_bf) * w_b, 0.0))
    return float(num / np.sum(w_a + w_b))
