"""Detector input builder and letterbox box mapping."""

from __future__ import annotations

import pytest
import torch

from tardal.detect import detector_input, scale_boxes_back
from tardal.errors import ConfigError, DataError
from tardal.ops.color import recolor, rgb_to_y


def test_grey_repeats_the_luma():
    y = torch.rand(2, 1, 8, 8)
    out = detector_input(y, None, "grey")
    assert out.shape == (2, 3, 8, 8)
    assert all(torch.equal(out[:, c : c + 1], y) for c in range(3))


def test_color_uses_visible_chroma():
    vis = torch.rand(2, 3, 8, 8) * 0.6 + 0.2  # away from the clamp
    out = detector_input(rgb_to_y(vis), vis, "color")
    assert torch.allclose(out, vis, atol=2e-3)  # own luma back: the visible image again
    fused = torch.rand(2, 1, 8, 8)
    out = detector_input(fused, vis)
    assert torch.equal(out, recolor(fused, vis))
    inside = ((out > 0) & (out < 1)).all(dim=1, keepdim=True)  # pixels the clamp left alone
    assert inside.float().mean() > 0.3
    assert torch.allclose(rgb_to_y(out)[inside], fused[inside], atol=2e-3)  # the fused luma


def test_gradient_reaches_the_fused_luma():
    vis = torch.rand(1, 3, 8, 8) * 0.5 + 0.25
    fused = (torch.rand(1, 1, 8, 8) * 0.5 + 0.25).requires_grad_(True)
    for mode in ("color", "grey"):
        fused.grad = None
        detector_input(fused, vis, mode).sum().backward()
        assert fused.grad.abs().min() > 0


def test_bad_inputs():
    with pytest.raises(DataError, match=r"\(B,1,H,W\)"):
        detector_input(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    with pytest.raises(DataError, match="needs the visible"):
        detector_input(torch.rand(1, 1, 8, 8), None)
    with pytest.raises(DataError, match="matching"):
        detector_input(torch.rand(1, 1, 8, 8), torch.rand(1, 3, 4, 8))
    with pytest.raises(ConfigError, match="'color' or 'grey'"):
        detector_input(torch.rand(1, 1, 8, 8), None, "gray")  # type: ignore[arg-type]


def test_scale_boxes_back_inverts_the_letterbox():
    # a 100 (h) x 200 (w) image letterboxed to 64: ratio 0.32, pad_y = (64 - 32) / 2 = 16
    ratio, pad_x, pad_y = 0.32, 0.0, 16.0
    orig = torch.tensor([[10.0, 20.0, 150.0, 90.0], [0.0, 0.0, 200.0, 100.0]])
    lb = orig.clone()
    lb[:, 0::2] = lb[:, 0::2] * ratio + pad_x
    lb[:, 1::2] = lb[:, 1::2] * ratio + pad_y
    kept = lb.clone()
    back = scale_boxes_back(lb, (ratio, pad_x, pad_y), (100, 200))
    assert torch.allclose(back, orig, atol=1e-4)
    assert torch.equal(lb, kept)  # input untouched
    # boxes reaching into the padding are clipped to the original image
    out = scale_boxes_back(torch.tensor([[-5.0, 0.0, 70.0, 64.0]]), (ratio, pad_x, pad_y), (100, 200))
    assert out.tolist() == [[0.0, 0.0, 200.0, 100.0]]
    raw = scale_boxes_back(torch.tensor([[0.0, 0.0, 64.0, 64.0]]), (ratio, pad_x, pad_y), (100, 200),
                           clip=False)
    assert raw[0].tolist() == pytest.approx([0.0, -50.0, 200.0, 150.0])
    assert scale_boxes_back(torch.zeros(0, 4), (1.0, 0.0, 0.0), (8, 8)).shape == (0, 4)
    with pytest.raises(DataError, match="ratio"):
        scale_boxes_back(orig, (0.0, 0.0, 0.0), (100, 200))
