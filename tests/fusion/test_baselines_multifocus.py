"""Multi-focus baselines on pairs whose answer is known, and the decision-map post-processing."""

from __future__ import annotations

import pytest
import torch

from tardal.data.defocus import gaussian_blur
from tardal.fusion.decision import (
    blend,
    blur_residual_decision,
    box_filter,
    crop,
    guided_filter,
    pad_to_multiple,
    refine,
    remove_small_regions,
    threshold,
)
from tardal.fusion.fusegan import FuseGAN
from tardal.fusion.mffgan import MFFGAN
from tardal.fusion.mfifgan import MFIFGAN

H = W = 64
SEAM = W // 2
MARGIN = 8  # columns either side of the seam left out of the comparison


def _texture(channels: int = 1, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return gaussian_blur(torch.rand(1, channels, H, W, generator=g), 0.7)


def _half_pair(sharp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``a`` blurred on the left half (sharp right), ``b`` blurred on the right (sharp left)."""
    soft = gaussian_blur(sharp, 2.0)
    a, b = sharp.clone(), sharp.clone()
    a[..., :SEAM] = soft[..., :SEAM]
    b[..., SEAM:] = soft[..., SEAM:]
    return a, b


def _half_errors(x: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    """Mean absolute error on the left and right halves, away from the seam."""
    left = (x - ref)[..., : SEAM - MARGIN].abs().mean().item()
    right = (x - ref)[..., SEAM + MARGIN:].abs().mean().item()
    return left, right


def _known_focus(with_islands: bool = True) -> torch.Tensor:
    """Soft map that says ``a`` is in focus on the right half, with small wrong islands."""
    focus = torch.full((1, 1, H, W), 0.2)
    focus[..., SEAM:] = 0.8
    if with_islands:
        focus[..., 10:12, 10:12] = 0.9  # 4 px on the wrong side (< 0.1% of 4096 = 4.1 px)
        focus[..., 50, 50:53] = 0.1  # a 3 px hole
    return focus


def test_mffgan_weight_free_decision_takes_each_half_from_the_sharp_source() -> None:
    sharp = _texture()
    a, b = _half_pair(sharp)
    net = MFFGAN(dim=4)
    m = net.decision(a, b)
    assert m[..., SEAM + MARGIN:].min() == 1.0 and m[..., : SEAM - MARGIN].max() == 0.0
    fused = net.fuse_decision(a, b)
    left, right = _half_errors(fused, sharp)
    assert left < 1e-6 and right < 1e-6
    blurred_left, _ = _half_errors(a, sharp)
    _, blurred_right = _half_errors(b, sharp)
    assert blurred_left > 0.02 and blurred_right > 0.02


def test_mffgan_fuse_rgb_uses_the_luma_decision_on_colour() -> None:
    sharp = _texture(channels=3, seed=1)
    a, b = _half_pair(sharp)
    fused = MFFGAN(dim=4).fuse_rgb(a, b)
    assert fused.shape == (1, 3, H, W)
    left, right = _half_errors(fused, sharp)
    assert left < 1e-6 and right < 1e-6
    assert _half_errors(a, sharp)[0] > 0.02


def test_blur_residual_decision_on_the_raw_pixel_rule_is_noisier() -> None:
    # The box-summed residual plus island removal is what makes the decision clean: the
    # per-pixel training mask alone gets a clearly larger share of pixels wrong.
    from tardal.losses.published import mffgan_masks

    sharp = _texture(seed=2)
    a, b = _half_pair(sharp)
    truth = torch.zeros(1, 1, H, W)
    truth[..., SEAM:] = 1.0
    raw, _ = mffgan_masks(a, b)
    clean = blur_residual_decision(a, b)
    raw_wrong = (raw != truth).float().mean().item()
    clean_wrong = (clean != truth).float().mean().item()
    assert clean_wrong < 0.02 and raw_wrong > 2 * clean_wrong


@pytest.mark.parametrize("cls", [MFIFGAN, FuseGAN])
def test_learned_map_methods_with_a_known_map(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    sharp = _texture(seed=3)
    a, b = _half_pair(sharp)
    net = cls(dim=2, blocks=1).eval()
    monkeypatch.setattr(net, "focus_map", lambda x, y: _known_focus())
    decision = net.decision(a, b)
    # islands removed: the map is exactly one half, away from the seam
    assert decision[..., SEAM + MARGIN:].min() == 1.0
    assert decision[..., : SEAM - MARGIN].max() == 0.0
    fused = net(a, b)
    left, right = _half_errors(fused, sharp)
    assert left < 1e-5 and right < 1e-5
    assert _half_errors(a, sharp)[0] > 0.02 and _half_errors(b, sharp)[1] > 0.02
    rgb = _texture(channels=3, seed=4)
    ra, rb = _half_pair(rgb)
    fused_rgb = net.fuse_rgb(ra, rb)
    assert fused_rgb.shape == (1, 3, H, W)
    assert max(_half_errors(fused_rgb, rgb)) < 1e-5


def test_mfifgan_decision_is_the_thresholded_map_without_islands(
        monkeypatch: pytest.MonkeyPatch) -> None:
    net = MFIFGAN(dim=2, blocks=1)
    monkeypatch.setattr(net, "focus_map", lambda x, y: _known_focus())
    expected = _known_focus(with_islands=False).gt(0.5).float()
    a, b = torch.rand(1, 1, H, W), torch.rand(1, 1, H, W)
    assert torch.equal(net.decision(a, b), expected)
    assert torch.equal(net(a, b), a * expected + b * (1 - expected))


def test_fusegan_guided_filter_softens_only_the_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    net = FuseGAN(dim=2, blocks=1, radius=3)
    monkeypatch.setattr(net, "focus_map", lambda x, y: _known_focus())
    sharp = _texture(seed=5)
    a, b = _half_pair(sharp)
    w = net.decision(a, b)
    assert w.min() >= 0.0 and w.max() <= 1.0
    reach = 2 * 3  # two box filters of radius 3
    assert torch.all(w[..., : SEAM - reach] == 0.0) and torch.all(w[..., SEAM + reach:] == 1.0)
    seam = w[..., SEAM - 3: SEAM + 3]
    assert ((seam > 0.0) & (seam < 1.0)).any()


def test_remove_small_regions_on_both_sides() -> None:
    m = torch.zeros(2, 1, 40, 40)  # 1600 px: 0.1% -> regions under 2 px go
    m[0, 0, 5, 5] = 1.0  # 1 px island: removed
    m[0, 0, 20:30, 20:30] = 1.0  # 100 px region: kept
    m[0, 0, 25, 25] = 0.0  # 1 px hole in it: filled
    m[0, 0, 10, 10:12] = 1.0  # 2 px island: exactly the limit, kept
    m[1] = 1.0
    m[1, 0, 0, 0] = 0.0  # hole in the corner of a full map: filled
    out = remove_small_regions(m)
    assert out[0, 0, 5, 5] == 0.0 and out[0, 0, 25, 25] == 1.0
    assert out[0, 0, 10, 10:12].tolist() == [1.0, 1.0]
    assert out[0].sum() == 100 + 2
    assert torch.equal(out[1], torch.ones(1, 40, 40))


def test_refine_and_threshold() -> None:
    focus = torch.tensor([[[[0.2, 0.5, 0.51, 0.9]]]])
    assert threshold(focus).tolist() == [[[[0.0, 0.0, 1.0, 1.0]]]]
    assert refine(focus, min_fraction=0.0).tolist() == [[[[0.0, 0.0, 1.0, 1.0]]]]


def test_guided_filter_and_box_filter() -> None:
    g = torch.Generator().manual_seed(0)
    guide = torch.rand(1, 1, 20, 24, generator=g)
    const = torch.full((1, 1, 20, 24), 0.7)
    assert torch.allclose(box_filter(const, 3), const)
    assert torch.allclose(guided_filter(guide, const, 3), const, atol=1e-6)
    # with eps -> 0 and the guide as source, the filter returns the guide (edge preserving)
    assert torch.allclose(guided_filter(guide, guide, 2, eps=1e-8), guide, atol=1e-3)
    # with a huge eps it is a (double) box filter of the source
    smooth = guided_filter(guide, guide, 2, eps=1e6)
    assert torch.allclose(smooth, box_filter(box_filter(guide, 2), 2), atol=1e-4)


def test_pad_and_crop_round_trip_and_blend() -> None:
    x = torch.rand(2, 3, 17, 30)
    padded, size = pad_to_multiple(x, 16)
    assert padded.shape[-2:] == (32, 32) and size == (17, 30)
    assert torch.equal(crop(padded, size), x)
    assert torch.equal(padded[..., 17:, :30], x[..., 16:17, :].expand(2, 3, 15, 30))
    w = torch.zeros(2, 1, 17, 30)
    w[..., :10] = 1.0
    y = torch.rand(2, 3, 17, 30)
    out = blend(x, y, w)
    assert torch.equal(out[..., :10], x[..., :10]) and torch.equal(out[..., 10:], y[..., 10:])
