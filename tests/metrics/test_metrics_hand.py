"""Metric values on cases small enough to work out by hand (expected values derived in comments).

SD, SF, SSIM and Nabf have no oracle files, so these are their main checks; the other metrics
get hand cases too, in particular for the suites' quirks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tardal.metrics import (
    average_gradient,
    correlation_coefficient,
    entropy,
    mse,
    mutual_information,
    nabf,
    psnr,
    qabf,
    scd,
    spatial_frequency,
    ssim,
    ssim_index,
    standard_deviation,
    vif,
    vif_pair,
)
from tardal.metrics.structural import ssim_valid


def step_edge(h: int, w: int, left: float, right: float, at: int | None = None) -> np.ndarray:
    """Columns [0, at) = left, [at, w) = right (a vertical edge); at defaults to w // 2."""
    at = w // 2 if at is None else at
    img = np.full((h, w), float(right))
    img[:, :at] = left
    return img


def smooth_texture(h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = 120 + 60 * np.sin(x / 5.0) * np.cos(y / 7.0) + rng.normal(0, 5, (h, w))
    return np.clip(np.rint(img), 0, 255)


# ---------------------------------------------------------------------------------- SD


def test_sd_constant_is_zero() -> None:
    assert standard_deviation(np.full((8, 8), 77, np.uint8)) == 0.0


def test_sd_half_black_half_white() -> None:
    # mean 127.5, every pixel deviates by 127.5
    assert standard_deviation(step_edge(4, 4, 0, 255).astype(np.uint8)) == pytest.approx(127.5, abs=1e-12)


def test_sd_known_values_population_form() -> None:
    # {1, 2, 3, 4}: mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, / 4 = 1.25
    img = np.array([[1, 2], [3, 4]], np.uint8)
    assert standard_deviation(img) == pytest.approx(math.sqrt(1.25), abs=1e-12)


# ---------------------------------------------------------------------------------- SF


def test_sf_constant_is_zero() -> None:
    assert spatial_frequency(np.full((6, 9), 200, np.uint8)) == 0.0


def test_sf_vertical_step_edge() -> None:
    # 8 x 5, edge between columns 1 and 2: each row has 4 horizontal differences, one of 255
    # -> RF^2 = 255^2 / 4; no vertical change -> SF = 255 / 2
    img = step_edge(8, 5, 0, 255, at=2).astype(np.uint8)
    assert spatial_frequency(img) == pytest.approx(127.5, abs=1e-12)
    assert spatial_frequency(img.T.copy()) == pytest.approx(127.5, abs=1e-12)


def test_sf_checkerboard_is_the_maximum() -> None:
    # every neighbour difference is +-255 -> RF^2 = CF^2 = 255^2
    y, x = np.mgrid[0:6, 0:6]
    img = (((x + y) % 2) * 255).astype(np.uint8)
    assert spatial_frequency(img) == pytest.approx(255 * math.sqrt(2), abs=1e-9)


# ---------------------------------------------------------------------------------- EN, AG


def test_entropy_known_histograms() -> None:
    assert entropy(np.full((4, 4), 9, np.uint8)) == 0.0
    assert entropy(step_edge(4, 4, 10, 20).astype(np.uint8)) == pytest.approx(1.0)  # two equal bins
    assert entropy(np.arange(256, dtype=np.uint8).reshape(16, 16)) == pytest.approx(8.0)  # flat
    # counts (3, 1): -(3/4 log2 3/4 + 1/4 log2 1/4)
    img = np.array([[5, 5], [5, 6]], np.uint8)
    assert entropy(img) == pytest.approx(-(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)))


def test_average_gradient_of_a_ramp() -> None:
    # f(i, j) = 2 j on 3 x 5: gradient (central and one-sided) is exactly 2 along x, 0 along y,
    # so every pixel contributes sqrt(4 / 2); the sum over 15 pixels is divided by (3-1)(5-1)
    img = np.tile(2.0 * np.arange(5), (3, 1))
    assert average_gradient(img) == pytest.approx(15 * math.sqrt(2) / 8, abs=1e-12)


# ---------------------------------------------------------------------------------- MI, CC, SCD, MSE, PSNR


def test_mi_two_level_images() -> None:
    # F = A = B with levels {0, 100} in equal shares: H = 1 bit, joint H = 1 bit -> 1 + 1
    img = step_edge(4, 4, 0, 100).astype(np.uint8)
    assert mutual_information(img, img, img) == pytest.approx(2.0)


def test_mi_merges_levels_254_and_255_in_the_joint_histogram_only() -> None:
    # F = A = B = the 256 levels once each: H(X) = H(F) = 8 bits. The suite's joint histogram
    # puts (254,254) and (255,255) in one bin: 254 bins of 1/256 and one of 2/256 ->
    # H(X,F) = 254/256 * 8 + 2/256 * 7 = 7.9921875, so each MI term is 16 - 7.9921875.
    img = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert mutual_information(img, img, img) == pytest.approx(2 * (16 - 7.9921875), abs=1e-12)


def test_cc_and_scd_hand_cases() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 128, (16, 16)).astype(np.float64)
    b = rng.integers(0, 128, (16, 16)).astype(np.float64)
    # F = 2A, B = A: both correlations are 1
    assert correlation_coefficient(2 * a, a, a) == pytest.approx(1.0)
    # F = 255 - A, B = A: both are -1
    assert correlation_coefficient(255 - a, a, a) == pytest.approx(-1.0)
    # F = A + B: F - B = A and F - A = B, each perfectly correlated with itself -> 2
    assert scd(a + b, a, b) == pytest.approx(2.0)


def test_mse_and_psnr_mix_ranges() -> None:
    # sources 0, fused 51 = 0.2 on [0, 1]: both MSEs 0.04; PSNR = 20 log10(255 / 0.2)
    zeros = np.zeros((4, 4), np.uint8)
    f = np.full((4, 4), 51, np.uint8)
    assert mse(f, zeros, zeros) == pytest.approx(0.04)
    assert psnr(f, zeros, zeros) == pytest.approx(20 * math.log10(1275.0))
    assert psnr(zeros, zeros, zeros) == math.inf


# ---------------------------------------------------------------------------------- SSIM


def test_ssim_identical_is_one() -> None:
    x = smooth_texture()
    assert ssim_index(x, x) == pytest.approx(1.0, abs=1e-12)
    assert ssim(x, x, x) == pytest.approx(1.0, abs=1e-12)


def test_ssim_constants() -> None:
    # sigma = 0 everywhere: structure term (C2)/(C2) = 1; luminance (2*100*50 + C1)/(100^2 + 50^2 + C1).
    # (E[x^2] - E[x]^2 leaves ~1e-12 rounding residues against C2 = 9e-4: hence abs 1e-8.)
    x = np.full((20, 20), 100.0)
    y = np.full((20, 20), 50.0)
    c1 = (0.01 * 1.0) ** 2  # tang: MATLAB's default dynamic range 1
    assert ssim_index(x, y) == pytest.approx((10000 + c1) / (12500 + c1), abs=1e-8)
    c1 = (0.01 * 255.0) ** 2
    assert ssim_index(x, y, data_range=255.0) == pytest.approx((10000 + c1) / (12500 + c1), abs=1e-8)


def test_ssim_scaled_step_edge() -> None:
    # x: 16 x 64, 50 left of column 32 and 100 from it; y = 2x. With mu_y = 2 mu_x and
    # sigma_y = 2 sigma_x, luminance = structure = 2*2/(1+4) = 0.8 wherever sigma > 0 (C1, C2
    # are negligible at L = 1). The 11-tap window sees both sides only for the 10 columns
    # 27..36; elsewhere sigma = 0 and structure = C2/C2 = 1. Replicate padding adds nothing
    # (rows are identical, the left/right borders are flat).
    x = step_edge(16, 64, 50, 100)
    y = 2 * x
    expected = 0.8 * ((54 / 64) * 1.0 + (10 / 64) * 0.8)  # = 0.775
    assert ssim_index(x, y) == pytest.approx(expected, abs=1e-5)
    # tang SSIM: half of that plus half of SSIM(F, F) = 1
    assert ssim(y, x, y) == pytest.approx(0.5 * expected + 0.5, abs=1e-5)


def test_ssim_valid_uses_only_the_interior() -> None:
    # VIFB's 'valid' map of the same pair: 54 columns, 10 of them (the edge ones) at 0.8*0.8.
    # At L = 255 the constants C1 = 6.5, C2 = 58.5 are not negligible, so check L = 1 here.
    x = step_edge(16, 64, 50, 100)
    expected = 0.8 * ((44 / 54) * 1.0 + (10 / 54) * 0.8)
    assert ssim_valid(x, 2 * x, data_range=1.0) == pytest.approx(expected, abs=1e-5)


# ---------------------------------------------------------------------------------- Nabf


def test_nabf_identical_and_constant_images_have_no_artefacts() -> None:
    x = smooth_texture()
    assert nabf(x, x, x) == 0.0
    c = np.full((16, 16), 128.0)
    assert nabf(c, c, c) == 0.0


@pytest.mark.parametrize("intensity", ["im2double", "raw"])
def test_nabf_edge_that_no_source_has(intensity: str) -> None:
    # F: 8 x 32 step 0 | 255 at column 16; A = B = 128 (no gradient anywhere, so every weight
    # is the minimum 0.001 at any intensity scale). gF > 0 only in columns 15 and 16 (the
    # reflect-101 borders are flat), i.e. 2H of the H*W pixels are artefacts. There gA = 0, so
    # the strength ratio is 0 -> Qg = 0.9999 / (1 + e^{19*0.5}); orientations are 0 (A) and
    # +-pi/2 (F) -> the orientation term | |0 - pi/2| - pi/2 | * 2/pi = 0 -> Qa = 0.9995 /
    # (1 + e^{22*0.5}). Nabf = sum_artefacts 2 (1 - Q) w / sum_all 2 w = (2/W)(1 - Q).
    f = step_edge(8, 32, 0, 255)
    a = np.full((8, 32), 128.0)
    q = math.sqrt(0.9999 / (1 + math.exp(9.5)) * 0.9995 / (1 + math.exp(11.0)))
    assert nabf(f, a, a, intensity=intensity) == pytest.approx((2 / 32) * (1 - q), rel=1e-12)


def test_nabf_argument_order_matters() -> None:
    # Swapping the fused image with a source (as some scripts calling the MATLAB function do)
    # measures something else: the source edge is "absent" from F instead of "added".
    f = step_edge(8, 32, 0, 255)
    a = np.full((8, 32), 128.0)
    assert nabf(f, a, a) > 0.06
    assert nabf(a, f, a) == 0.0


# ---------------------------------------------------------------------------------- Qabf


def test_qabf_identical_images_vifb_scale() -> None:
    # F = A = B: every strength ratio hits the suite's equal-strength rule and takes the value
    # gF itself, which on VIFB's 255*x scale is >= 255 wherever there is an edge, so
    # Qg = 0.9994 / (1 + e^{-15 (gF - 0.5)}) = 0.9994; orientations agree -> A = 1 ->
    # Qa = 0.9879 / (1 + e^{-22 (1 - 0.8)}). Flat pixels have zero weight.
    x = smooth_texture()
    expected = 0.9994 * 0.9879 / (1 + math.exp(-4.4))
    assert qabf(x, x, x, intensity="times255") == pytest.approx(expected, rel=1e-12)


def test_qabf_black_sources_are_undefined() -> None:
    # Zero padding makes the border of any non-black constant image an edge; an all-black
    # source has no edge at all, so the weights sum to 0.
    c = np.zeros((16, 16))
    assert math.isnan(qabf(smooth_texture(16, 16), c, c))


def test_qabf_counts_the_zero_padded_border_as_an_edge() -> None:
    # A constant 40 image: interior gradient 0, border pixels see the zero padding. F = A = B,
    # so Qabf > 0 comes only from the border ring.
    c = np.full((16, 16), 40.0)
    expected = 0.9994 * 0.9879 / (1 + math.exp(-4.4))
    assert qabf(c, c, c, intensity="times255") == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------------- VIF


@pytest.mark.parametrize("uint8_products", [True, False])
def test_vif_identical_is_one(uint8_products: bool) -> None:
    # g = sigma12 / sigma1^2 = 1 and sv^2 = 0 (-> 1e-10): numerator terms equal denominator terms
    x = smooth_texture()
    assert vif_pair(x, x, uint8_products) == pytest.approx(1.0, rel=1e-9)
    assert vif(x, x, x, uint8_products) == pytest.approx(2.0, rel=1e-9)


def test_vif_of_a_constant_fused_image_is_zero() -> None:
    # sigma2^2 = 0 everywhere -> g = 0 -> every numerator term is log10(1) = 0
    x = smooth_texture()
    assert vif_pair(x, np.full_like(x, 100.0)) == 0.0
