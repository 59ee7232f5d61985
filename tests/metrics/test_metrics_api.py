"""The entry point, input handling, registries, the MATLAB-exact filters and the vifb functions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tardal.errors import DataError, UnknownNameError
from tardal.metrics import (
    CONVENTIONS,
    METRICS,
    average_gradient,
    entropy,
    evaluate,
    metric_names,
    rgb_to_grey,
    to_grey_u8,
)
from tardal.metrics import vifb
from tardal.metrics._filters import filter_valid, gaussian_kernel_1d, sobel
from tardal.metrics.edge import SOBEL_H1, SOBEL_H3, conv2_same, sobel_kumar

TANG = ["EN", "SD", "SF", "AG", "MI", "CC", "SCD", "PSNR", "MSE", "SSIM", "Qabf", "Nabf", "VIF"]


def triple(h: int = 48, w: int = 56, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    ir = np.clip(100 + 80 * np.sin(x / 6.0) + rng.normal(0, 8, (h, w)), 0, 255).astype(np.uint8)
    vis = np.clip(120 + 70 * np.cos(y / 5.0) + rng.normal(0, 8, (h, w)), 0, 255).astype(np.uint8)
    fused = ((ir.astype(np.float64) + vis) / 2).round().astype(np.uint8)
    return fused, ir, vis


# ------------------------------------------------------------------------------------------ evaluate


def test_evaluate_returns_every_tang_metric_in_order() -> None:
    f, a, b = triple()
    out = evaluate(f, a, b)
    assert list(out) == TANG == metric_names()
    assert all(isinstance(v, float) and math.isfinite(v) for v in out.values())
    assert 0 < out["EN"] <= 8 and 0 < out["Qabf"] < 1 and -1 <= out["CC"] <= 1 and 0 <= out["Nabf"] <= 1


def test_evaluate_subset_is_case_insensitive_and_agrees_with_the_full_run() -> None:
    f, a, b = triple()
    full = evaluate(f, a, b)
    part = evaluate(f, a, b, metrics=["qabf", "EN", "mi"])
    assert list(part) == ["Qabf", "EN", "MI"]
    assert all(part[k] == full[k] for k in part)
    assert evaluate(f, a, b, metrics="sd, Nabf") == {"SD": full["SD"], "Nabf": full["Nabf"]}


def test_unknown_metric_and_convention_list_valid_names() -> None:
    f, a, b = triple()
    with pytest.raises(UnknownNameError, match=r"'ENN'.*Did you mean 'EN'.*Valid names: AG, CC"):
        evaluate(f, a, b, metrics=["ENN"])
    with pytest.raises(UnknownNameError, match=r"'tnag'.*Did you mean 'tang'"):
        evaluate(f, a, b, convention="tnag")
    with pytest.raises(UnknownNameError, match="VIF"):  # not a VIFB metric
        evaluate(f, a, b, convention="vifb", metrics=["VIF"])


def test_size_mismatch_names_both_sizes() -> None:
    f, a, b = triple()
    with pytest.raises(DataError, match=r"fused image is 48x56 \(HxW\) but vis image is 48x50"):
        evaluate(f, a, b[:, :50])
    with pytest.raises(DataError, match=r"48x56.*ir image is 40x56"):
        evaluate(f, a[:40], b, convention="vifb")


def test_bad_values_and_shapes_raise_data_error() -> None:
    f, a, b = triple()
    bad = f.astype(np.float64)
    bad[0, 0] = -1.0
    with pytest.raises(DataError, match=r"fused: pixel values must lie in \[0, 255\], found \[-1, "):
        evaluate(bad, a, b)
    with pytest.raises(DataError, match="NaN"):
        evaluate(np.full(f.shape, np.nan), a, b)
    with pytest.raises(DataError, match=r"ir: expected a grey \(H, W\) or RGB \(H, W, 3\) image.*\(48,\)"):
        evaluate(f, a[:, 0], b)


def test_float_input_equals_uint8_input() -> None:
    f, a, b = triple()
    assert evaluate(f.astype(np.float64), a.astype(np.float32), b) == evaluate(f, a, b)


def test_colour_input_is_reduced_like_matlab_rgb2gray() -> None:
    f, a, b = triple()
    rgb = np.stack([b, np.roll(b, 3, axis=1), 255 - b], axis=-1)
    assert evaluate(f, a, rgb) == evaluate(f, a, rgb_to_grey(rgb))


def test_rgb_to_grey_matches_matlab() -> None:
    # MATLAB: rgb2gray(uint8([255 0 0])) = 76, green 150, blue 29, white 255
    px = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    assert rgb_to_grey(px).tolist() == [[76, 150, 29, 255]]
    # 0.587043*35 + 0.114021*175 = 40.50017 -> 41, where rounded BT.601 weights give 40.495 -> 40
    assert rgb_to_grey(np.array([[[0, 35, 175]]], np.uint8)).tolist() == [[41]]


def test_to_grey_u8_rounds_half_up_and_handles_alpha() -> None:
    assert to_grey_u8(np.array([[0.5, 1.5, 2.49, 254.5]])).tolist() == [[1, 2, 2, 255]]
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = 200
    assert to_grey_u8(rgba).tolist() == [[200, 200], [200, 200]]


def test_registries() -> None:
    assert METRICS.names() == sorted(TANG)
    assert CONVENTIONS.names() == ["tang", "vifb"]
    assert METRICS.get("MSE").higher_is_better is False and METRICS.get("EN").higher_is_better is True
    vifb_names = ["EN", "SD", "SF", "AG", "MI", "PSNR", "RMSE", "SSIM", "Qabf", "CE", "EI", "Qcb", "Qcv"]
    assert metric_names("vifb") == vifb_names


@pytest.mark.parametrize("convention", ["tang", "vifb"])
def test_unit_range_floats_are_rejected(convention: str) -> None:
    f, a, b = triple()
    with pytest.raises(DataError, match="look like \\[0, 1\\] floats.*multiply by 255"):
        evaluate(f / 255.0, a / 255.0, b / 255.0, convention=convention, metrics=["EN"])
    # whole-number floats on 0..255 (even a black triple) are fine
    black = np.zeros((40, 40))
    assert evaluate(black, black, black, convention=convention, metrics=["EN"]) == {"EN": 0.0}


# ------------------------------------------------------------------------------------------ filters


def _conv2_same_reference(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """conv2 'same' from its definition: flip the kernel, zero-pad, sum products."""
    kf = k[::-1, ::-1]
    pad = np.pad(x, 1)
    out = np.zeros_like(x)
    for i in range(3):
        for j in range(3):
            out += kf[i, j] * pad[i : i + x.shape[0], j : j + x.shape[1]]
    return out


def test_conv2_same_matches_its_definition() -> None:
    x = triple()[1].astype(np.float64)
    for k in (SOBEL_H1, SOBEL_H3):
        assert np.array_equal(conv2_same(x, k), _conv2_same_reference(x, k))  # exact on integers
        assert np.allclose(conv2_same(x / 255, k), _conv2_same_reference(x / 255, k), atol=1e-14)


def test_conv2_same_accumulates_in_matlab_order() -> None:
    # Left column 249, 104, 9 and right column 227, 116, 7 (/255): the horizontal Sobel is 0 in
    # exact arithmetic (249 + 208 + 9 = 227 + 232 + 7). conv2 flips h3 and MATLAB accumulates
    # over the kernel column by column: -r2, -2 r1, -r0 (kernel column 1), then +l2, +2 l1, +l0
    # (kernel column 3). That order leaves a rounding residue of its own, which decides
    # ``SAx == 0`` in the suite's Qabf.
    x = np.zeros((3, 3))
    x[:, 0] = np.array([249, 104, 9]) / 255.0
    x[:, 1] = np.array([147, 247, 17]) / 255.0
    x[:, 2] = np.array([227, 116, 7]) / 255.0
    l0, l1, l2 = x[:, 0]
    r0, r1, r2 = x[:, 2]
    expected = (((((0.0 - r2) - 2 * r1) - r0) + l2) + 2 * l1) + l0
    assert expected != 0.0  # the residue this test is about
    assert conv2_same(x, SOBEL_H3)[1, 1] == expected


def test_sobel_kumar_is_bit_identical_to_the_matlab_loop() -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, (20, 30)).astype(np.float64)
    x[5:12, 4:20] = 90.0
    x[:3] = 0.0
    x /= 255.0
    h, w = x.shape
    ext = np.pad(x, 1, mode="reflect")
    vt = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 8
    ht = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]) / 8

    def loop_form(k: np.ndarray) -> np.ndarray:  # sum(sum(window .* k)): per column, then across
        cols = []
        for c in range(3):
            s = k[0, c] * ext[0:h, c : c + w]
            s = s + k[1, c] * ext[1 : h + 1, c : c + w]
            cols.append(s + k[2, c] * ext[2 : h + 2, c : c + w])
        return (cols[0] + cols[1]) + cols[2]

    for got, want in zip(sobel_kumar(x), (loop_form(vt), loop_form(ht))):
        assert np.array_equal(got, want)
        assert np.array_equal(np.signbit(got), np.signbit(want))  # signed zeros too


def test_separable_filters_match_explicit_padding() -> None:
    x = triple()[2].astype(np.float64)
    k = gaussian_kernel_1d(5, 1.0)
    pad = np.pad(x, 2)
    direct = sum(
        k[i] * k[j] * pad[i : i + x.shape[0], j : j + x.shape[1]] for i in range(5) for j in range(5)
    )
    assert np.allclose(filter_valid(x, k), direct[2:-2, 2:-2], atol=1e-10)
    gx, gy = sobel(x, "replicate")
    e = np.pad(x, 1, mode="edge")
    right = e[:-2, 2:] + 2 * e[1:-1, 2:] + e[2:, 2:]
    left = e[:-2, :-2] + 2 * e[1:-1, :-2] + e[2:, :-2]
    below = e[2:, :-2] + 2 * e[2:, 1:-1] + e[2:, 2:]
    above = e[:-2, :-2] + 2 * e[:-2, 1:-1] + e[:-2, 2:]
    assert np.allclose(gx, right - left)
    assert np.allclose(gy, below - above)


# ------------------------------------------------------------------------------------------ vifb


def test_vifb_grey_images_agree_with_tang_where_the_formula_is_shared() -> None:
    f, a, b = triple()
    assert vifb.entropy(f, a, b) == pytest.approx(entropy(f))
    assert vifb.average_gradient(f, a, b) == pytest.approx(average_gradient(f))


def test_vifb_colour_is_the_mean_over_channels() -> None:
    f, a, b = triple()
    f3 = np.stack([f, np.roll(f, 2, axis=0), 255 - f], axis=-1)
    b3 = np.stack([b, b, 255 - b], axis=-1)
    per_channel = [vifb.entropy(f3[..., k], a, b3[..., k]) for k in range(3)]
    assert vifb.entropy(f3, a, b3) == pytest.approx(np.mean(per_channel))
    ssim_k = [vifb.ssim(f3[..., k], a, b3[..., k]) for k in range(3)]
    assert vifb.ssim(f3, a, b3) == pytest.approx(np.mean(ssim_k))


def test_vifb_hand_cases() -> None:
    z = np.zeros((4, 5))
    f = np.full((4, 5), 10.0)
    # VIFB's "RMSE" is sqrt(SSE) / (H W): sqrt(20 * 100) / 20 for each source
    assert vifb.rmse(f, z, z) == pytest.approx(math.sqrt(2000) / 20)
    # SSIM of identical images is summed over the two sources -> 2
    x = triple()[0].astype(np.float64)
    assert vifb.ssim(x, x, x) == pytest.approx(2.0)
    # SF divides by H*W, not by the number of differences: one 255 step per row of 5 columns
    step = np.zeros((4, 5))
    step[:, 3:] = 255.0
    assert vifb.spatial_frequency(step, z, z) == pytest.approx(math.sqrt(4 * 255**2 / 20))
    # MI rescales each image to 0..255 first: a 0/1 image has the same MI as a 0/255 one
    small = (triple()[1] > 128).astype(np.float64)
    assert vifb.mutual_information(small, small, small) == pytest.approx(
        vifb.mutual_information(small * 255, small * 255, small * 255)
    )
    # ... and uses natural logs: two equal levels -> ln 2 per term
    half = np.zeros((4, 4))
    half[:, 2:] = 200.0
    assert vifb.mutual_information(half, half, half) == pytest.approx(2 * math.log(2))


def test_vifb_chen_metrics_on_perfect_fusion() -> None:
    # F equal to both sources: every contrast preservation ratio is 1 -> Qcb = 1, and every
    # CSF-filtered difference is 0 -> Qcv = 0.
    x = triple(64, 64)[1].astype(np.float64)
    assert vifb.chen_blum(x, x, x) == pytest.approx(1.0, abs=1e-12)
    assert vifb.chen_varshney(x, x, x) == pytest.approx(0.0, abs=1e-9)
    # a worse fusion (F = one source only) scores worse on both
    y = triple(64, 64, seed=5)[2].astype(np.float64)
    assert vifb.chen_blum(x, x, y) < 1.0 and vifb.chen_varshney(x, x, y) > 1.0
