"""Registered-pair augmentations move both images and the boxes together."""

from __future__ import annotations

import numpy as np
import pytest

from tardal.config import AugmentConfig
from tardal.data.transforms import (
    PAD_VALUE,
    crop_pair,
    hflip,
    letterbox,
    random_augment,
    random_gamma,
    resize_pair,
    unletterbox_boxes,
)


def pair_with_box(h: int = 40, w: int = 60, box=(10, 5, 30, 25)):
    ir = np.zeros((h, w), np.float32)
    x1, y1, x2, y2 = box
    ir[y1:y2, x1:x2] = 1.0
    vis = np.stack([ir, ir * 0.5, ir], axis=2)
    return ir, vis, np.array([box], np.float32), np.array([3], np.int64)


def inside_mean(img: np.ndarray, box) -> float:
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    return float(img[y1:y2, x1:x2].mean())


def test_hflip() -> None:
    ir, vis, boxes, _ = pair_with_box()
    ir_f, vis_f, b = hflip(ir, vis, boxes)
    np.testing.assert_allclose(b, [[30, 5, 50, 25]])
    assert inside_mean(ir_f, b[0]) == 1.0 and inside_mean(vis_f[..., 0], b[0]) == 1.0
    assert ir_f.sum() == ir.sum()
    np.testing.assert_array_equal(hflip(ir_f, vis_f, b)[0], ir)  # twice = identity


def test_resize_pair_scales_boxes() -> None:
    ir, vis, boxes, _ = pair_with_box()
    ir_r, vis_r, b = resize_pair(ir, vis, boxes, 80, 120)
    assert ir_r.shape == (80, 120) and vis_r.shape == (80, 120, 3)
    np.testing.assert_allclose(b, [[20, 10, 60, 50]])
    assert inside_mean(ir_r, (22, 12, 58, 48)) == pytest.approx(1.0)


def test_crop_clips_and_drops_boxes() -> None:
    ir = np.zeros((50, 50), np.float32)
    vis = np.zeros((50, 50, 3), np.float32)
    boxes = np.array([[5, 5, 15, 15],    # fully inside
                      [25, 5, 45, 15],   # cut: half remains -> clipped, kept
                      [38, 30, 48, 40],  # 1 px remains -> dropped (too thin)
                      [0, 0, 4, 4]],     # outside -> dropped
                     np.float32)
    labels = np.array([0, 1, 2, 3])
    ir_c, vis_c, b, lab = crop_pair(ir, vis, boxes, labels, 4, 2, 35, 40)
    assert ir_c.shape == (40, 35) and vis_c.shape == (40, 35, 3)
    assert lab.tolist() == [0, 1]
    np.testing.assert_allclose(b, [[1, 3, 11, 13], [21, 3, 35, 13]])
    # min_visible: a box keeping 30 % of its area is dropped at 0.5, kept at 0.25
    _, _, b2, _ = crop_pair(ir, vis, np.array([[0, 0, 10, 10]], np.float32), [0], 7, 0, 40, 50,
                            min_visible=0.5)
    assert len(b2) == 0
    _, _, b3, _ = crop_pair(ir, vis, np.array([[0, 0, 10, 10]], np.float32), [0], 7, 0, 40, 50)
    np.testing.assert_allclose(b3, [[0, 0, 3, 10]])
    with pytest.raises(ValueError, match="does not fit"):
        crop_pair(ir, vis, boxes, labels, 30, 0, 30, 10)


def test_letterbox_and_back() -> None:
    ir, vis, boxes, _ = pair_with_box(40, 80, (10, 5, 30, 25))
    ir_l, vis_l, b, (ratio, px, py) = letterbox(ir, vis, boxes, 64)
    assert ir_l.shape == (64, 64) and vis_l.shape == (64, 64, 3)
    assert ratio == pytest.approx(0.8) and (px, py) == (0.0, 16.0)
    np.testing.assert_allclose(b, [[8, 20, 24, 36]])
    assert ir_l[0, 0] == pytest.approx(PAD_VALUE) and vis_l[63, 63, 1] == pytest.approx(PAD_VALUE)
    assert inside_mean(ir_l, (9, 21, 23, 35)) == pytest.approx(1.0)
    np.testing.assert_allclose(unletterbox_boxes(b, (ratio, px, py)), boxes, atol=1e-5)


@pytest.mark.parametrize("seed", range(8))
def test_random_augment_keeps_pair_registered(seed: int) -> None:
    ir, vis, boxes, labels = pair_with_box(48, 64, (20, 10, 44, 38))
    cfg = AugmentConfig(hflip=0.5, scale=(0.75, 1.25), crop=1.0)
    rng = np.random.default_rng(seed)
    ir_a, vis_a, b, lab = random_augment(ir, vis, boxes, labels, cfg, rng)
    assert ir_a.shape == vis_a.shape[:2] and ir_a.dtype == np.float32
    h, w = ir_a.shape
    assert 0.75 * 0.5 * 48 - 1 <= h <= 1.25 * 48 + 1
    # Same geometry for both: the visible red channel equals the infrared image.
    np.testing.assert_allclose(vis_a[..., 0], ir_a, atol=1e-6)
    np.testing.assert_allclose(vis_a[..., 1], 0.5 * ir_a, atol=1e-6)
    if len(b):
        assert lab.tolist() == [3]
        x1, y1, x2, y2 = b[0]
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert inside_mean(ir_a, (x1 + 1, y1 + 1, x2 - 1, y2 - 1)) > 0.95  # box still on target
    else:  # dropped only when the crop cut the target (almost) away
        assert ir_a.mean() < 0.3


def test_random_augment_without_changes_is_identity() -> None:
    ir, vis, boxes, labels = pair_with_box()
    cfg = AugmentConfig(hflip=0.0, scale=(1.0, 1.0), crop=0.0)
    ir_a, vis_a, b, lab = random_augment(ir, vis, boxes, labels, cfg, np.random.default_rng(0))
    np.testing.assert_array_equal(ir_a, ir)
    np.testing.assert_array_equal(b, boxes)


def test_random_gamma_draws_one_exponent_per_source() -> None:
    ir, vis, boxes, labels = pair_with_box()
    ir = np.clip(ir * 0.6 + 0.2, 0, 1).astype(np.float32)  # mid-greys, so the power shows
    vis = np.stack([ir, 0.5 * ir, 0.5 * ir], -1).astype(np.float32)
    cfg = AugmentConfig(hflip=0.0, scale=(1.0, 1.0), crop=0.0, gamma=0.5)
    ir_a, vis_a, b, _ = random_augment(ir, vis, boxes, labels, cfg, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    g_ir, g_vis = np.exp(rng.uniform(-0.5, 0.5)), np.exp(rng.uniform(-0.5, 0.5))
    assert abs(np.log(g_ir) - np.log(g_vis)) > 0.05  # independent draws
    np.testing.assert_allclose(ir_a, ir ** g_ir, rtol=1e-5)
    np.testing.assert_allclose(vis_a, vis ** g_vis, rtol=1e-5)
    np.testing.assert_array_equal(b, boxes)  # geometry untouched
    # Black and white stay where they were; the exponent stays within exp(+-gamma).
    np.testing.assert_array_equal(random_gamma(np.float32([0.0, 1.0]), 0.5, rng), [0.0, 1.0])
    x = np.float32([0.25])
    for seed in range(20):
        y = float(random_gamma(x, 0.5, np.random.default_rng(seed))[0])
        assert 0.25 ** np.exp(0.5) - 1e-6 <= y <= 0.25 ** np.exp(-0.5) + 1e-6
