"""Saliency-degree weights and the SDW pixel term, checked on hand-made histograms."""

from __future__ import annotations

import pytest
import torch

from tardal.losses.sdw import (
    SDWPixelLoss,
    histograms,
    quantize,
    saliency_map,
    saliency_table,
    sdw_pixel_loss,
    sdw_weights,
)


def img(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, 1, 2, 2)


def val(t: object) -> float:
    """A tensor's value as a Python float (detached)."""
    return float(torch.as_tensor(t).detach())


def test_histogram_and_saliency_table_by_hand() -> None:
    # levels 0, 0, 0, 255: H(0) = 3, H(255) = 1
    x = img([0, 0, 0, 1])
    h = histograms(quantize(x))
    assert h[0, 0] == 3 and h[0, 255] == 1 and h.sum() == 4
    s = saliency_table(h)[0]
    # S(l) = 3 |l - 0| + 1 |l - 255|  ->  S(0) = 255, S(100) = 455, S(255) = 765
    assert s[0] == 255 and s[100] == 455 and s[255] == 765


def test_saliency_map_by_hand() -> None:
    v = saliency_map(img([0, 0, 0, 1]))
    # V = S / max_l S(l) = S / 765
    assert torch.allclose(v.flatten(), torch.tensor([1 / 3, 1 / 3, 1 / 3, 1.0]))
    # a mid level: levels 0, 51, 51, 255 -> H(0)=1, H(51)=2, H(255)=1
    v2 = saliency_map(img([0, 0.2, 0.2, 1]))
    s = lambda l: abs(l) + 2 * abs(l - 51) + abs(l - 255)  # noqa: E731
    peak = max(s(l) for l in range(256))
    expected = torch.tensor([s(0), s(51), s(51), s(255)], dtype=torch.float32) / peak
    assert torch.allclose(v2.flatten(), expected)


def test_constant_image_has_zero_saliency() -> None:
    assert torch.equal(saliency_map(torch.full((1, 1, 4, 4), 0.5)), torch.zeros(1, 1, 4, 4))


def test_batch_items_use_their_own_histogram() -> None:
    a, b = img([0, 0, 0, 1]), img([0, 0.2, 0.2, 1])
    both = saliency_map(torch.cat((a, b)))
    assert torch.allclose(both[0:1], saliency_map(a)) and torch.allclose(both[1:2], saliency_map(b))


def test_weights_paper_and_code_forms_by_hand() -> None:
    # V_ir = (1/3, 1/3, 1/3, 1), V_vis = (1, 1/3, 1/3, 1/3)
    ir, vis = img([0, 0, 0, 1]), img([1, 0, 0, 0])
    w_ir, w_vis = sdw_weights(ir, vis, "paper")
    assert torch.allclose(w_ir.flatten(), torch.tensor([0.25, 0.5, 0.5, 0.75]), atol=1e-5)
    assert torch.allclose(w_ir + w_vis, torch.ones_like(w_ir))
    c_ir, c_vis = sdw_weights(ir, vis, "code")
    assert torch.allclose(c_ir.flatten(), torch.tensor([1 / 6, 0.5, 0.5, 5 / 6]), atol=1e-6)
    assert torch.allclose(c_vis, 1 - c_ir)


def test_pixel_loss_by_hand() -> None:
    ir, vis = img([0, 0, 0, 1]), img([1, 0, 0, 0])
    u = torch.zeros(1, 1, 2, 2, requires_grad=True)
    loss = sdw_pixel_loss(u, ir, vis, "paper")
    # mean(w_ir |u - ir|) = 0.75 / 4 ; mean(w_vis |u - vis|) = (1 - 0.25) / 4
    assert val(loss) == pytest.approx(0.375, abs=1e-5)
    loss.backward()
    assert u.grad is not None and val(u.grad.abs().sum()) > 0
    assert val(SDWPixelLoss("paper")(u, ir, vis)) == pytest.approx(val(loss))


def test_equal_saliency_gives_equal_weights() -> None:
    x = torch.full((1, 1, 3, 3), 0.4)
    w_ir, w_vis = sdw_weights(x, x, "paper")
    assert torch.allclose(w_ir, torch.full_like(x, 0.5))


def test_bad_form() -> None:
    with pytest.raises(ValueError, match="expected 'paper', 'code' or 'max'"):
        sdw_weights(img([0, 0, 0, 1]), img([0, 0, 0, 1]), "vgg")  # type: ignore[arg-type]


def test_max_form_targets_the_brighter_source() -> None:
    ir, vis = img([0.2, 0.9, 0.5, 0.0]), img([0.6, 0.1, 0.5, 0.3])
    w_ir, w_vis = sdw_weights(ir, vis, "max")
    assert w_ir.flatten().tolist() == [0.0, 1.0, 1.0, 0.0]  # ties go to the infrared
    assert torch.equal(w_vis, 1 - w_ir)
    u = img([0.5, 0.5, 0.5, 0.5])
    # |u - max| = 0.1, 0.4, 0.0, 0.2
    assert val(sdw_pixel_loss(u, ir, vis, "max")) == pytest.approx(0.175, abs=1e-6)
    valid = img([1, 1, 0, 0])
    assert val(sdw_pixel_loss(u, ir, vis, "max", valid=valid)) == pytest.approx(0.25, abs=1e-6)
