"""SSIM / MS-SSIM and the structural term."""

from __future__ import annotations

import pytest
import torch

from tardal.losses.ssim import SSIMLoss, ms_ssim, ssim, ssim_term, ssim_to_both

kornia = pytest.importorskip("kornia", reason="kornia (the dev extra) is the SSIM reference")


def val(t: object) -> float:
    """A tensor's value as a Python float (detached)."""
    return float(torch.as_tensor(t).detach())


def test_ssim_agrees_with_kornia() -> None:
    torch.manual_seed(0)
    x, y = torch.rand(2, 1, 40, 48), torch.rand(2, 1, 40, 48)
    y = 0.5 * x + 0.5 * y
    ref = kornia.metrics.ssim(x, y, 11, padding="valid").flatten(1).mean(1)
    assert torch.allclose(ssim(x, y), ref, atol=1e-5)


def test_identity_and_noise() -> None:
    torch.manual_seed(0)
    x = torch.rand(1, 1, 96, 96)
    noisy = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    assert val(ssim(x, x)) == pytest.approx(1.0, abs=1e-6)
    assert val(ms_ssim(x, x)) == pytest.approx(1.0, abs=1e-6)
    assert val(ssim(x, noisy)) < 0.9
    assert 0.0 < val(ms_ssim(x, noisy)) < 0.95


def test_ms_ssim_on_small_images_is_finite_and_differentiable() -> None:
    x = torch.rand(2, 1, 32, 32)
    y = torch.rand(2, 1, 32, 32, requires_grad=True)
    v = ms_ssim(x, y)
    assert v.shape == (2,) and torch.isfinite(v).all() and (v >= 0).all() and (v <= 1).all()
    v.sum().backward()
    assert torch.isfinite(y.grad).all() and val(y.grad.abs().sum()) > 0


def test_term_is_zero_when_fused_equals_both_and_module_agrees() -> None:
    x = torch.rand(2, 1, 32, 32)
    assert val(ssim_term(x, x, x)) == pytest.approx(0.0, abs=1e-6)
    y = torch.rand(2, 1, 32, 32)
    u = (x + y) / 2
    expected = 1 - (ssim(u, x).mean() + ssim(u, y).mean()) / 2
    assert val(ssim_term(u, x, y)) == pytest.approx(val(expected), abs=1e-6)
    assert val(SSIMLoss("ms-ssim")(u, x, y)) == pytest.approx(
        val(1 - (ms_ssim(u, x).mean() + ms_ssim(u, y).mean()) / 2), abs=1e-6)


def test_images_smaller_than_the_window() -> None:
    x = torch.rand(1, 1, 6, 9)
    assert val(ssim(x, x)) == pytest.approx(1.0, abs=1e-6)


def test_cpu_filter_equals_the_depthwise_convolution_and_its_gradient() -> None:
    """The shifted-slice Gaussian filter (CPU path) against the two 1-D convolutions."""
    import torch.nn.functional as F

    from tardal.losses.ssim import _filter, gaussian_window

    torch.manual_seed(0)
    x = torch.rand(2, 3, 30, 27, dtype=torch.float64, requires_grad=True)
    win = gaussian_window(11, 1.5, dtype=torch.float64)
    c, n = 3, 11
    ref = F.conv2d(F.conv2d(x, win.view(1, 1, 1, n).expand(c, 1, 1, n), groups=c),
                   win.view(1, 1, n, 1).expand(c, 1, n, 1), groups=c)
    out = _filter(x, win)
    assert out.shape == ref.shape == (2, 3, 20, 17)
    assert torch.allclose(out, ref, atol=1e-12)
    g = torch.rand_like(out)
    (ga,) = torch.autograd.grad((out * g).sum(), x)
    (gb,) = torch.autograd.grad((ref * g).sum(), x)
    assert torch.allclose(ga, gb, atol=1e-12)


@pytest.mark.parametrize("size", [(2, 1, 40, 36), (1, 3, 9, 12)])
def test_shared_statistics_equal_two_separate_ssims_with_their_gradient(size) -> None:
    g = torch.Generator().manual_seed(3)
    u = torch.rand(size, generator=g, requires_grad=True)
    a, b = torch.rand(size, generator=g), torch.rand(size, generator=g)
    valid = torch.ones(size[0], 1, *size[2:])
    valid[..., : size[-2] // 4, :] = 0.0  # letterbox rows
    s_a, s_b = ssim_to_both(u, a, b, valid=valid)
    (grad,) = torch.autograd.grad((s_a - 2.0 * s_b).sum(), u)
    u2 = u.detach().clone().requires_grad_(True)
    r_a, r_b = ssim(u2, a, valid=valid), ssim(u2, b, valid=valid)
    (ref,) = torch.autograd.grad((r_a - 2.0 * r_b).sum(), u2)
    torch.testing.assert_close(s_a, r_a, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(s_b, r_b, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, ref, rtol=1e-4, atol=1e-7)
    assert not torch.allclose(s_a, s_b)  # the two sources really differ


def test_contrast_structure_term_ignores_a_brightness_offset() -> None:
    g = torch.Generator().manual_seed(0)
    ir = torch.rand(2, 1, 24, 24, generator=g) * 0.5
    u = ir + 0.3  # the infrared structure, uniformly brighter
    # cs: SSIM without its luminance factor, so the offset costs nothing ...
    cs_ir, _ = ssim_to_both(u, ir, ir, luminance=False)
    torch.testing.assert_close(cs_ir, torch.ones(2), atol=1e-5, rtol=0)
    assert float(ssim_term(u, ir, ir, "cs")) == pytest.approx(0.0, abs=1e-5)
    # ... while full SSIM charges its luminance factor (2ab + C1) / (a^2 + b^2 + C1) < 1.
    assert float(ssim_term(u, ir, ir, "ssim")) > 0.05
    # Flat inputs: cs has no gradient towards either source's mean; SSIM does.
    flat = dict(size=(1, 1, 16, 16), dtype=torch.float64)
    flat_ir, flat_vis = torch.full(fill_value=0.1, **flat), torch.full(fill_value=0.5, **flat)
    x = torch.full(fill_value=0.45, requires_grad=True, **flat)
    ssim_term(x, flat_ir, flat_vis, "cs").backward()
    cs_grad, x.grad = float(x.grad.abs().max()), None
    ssim_term(x, flat_ir, flat_vis, "ssim").backward()
    assert cs_grad < 1e-9 < float(x.grad.abs().max())
    with pytest.raises(Exception, match="'ssim', 'ms-ssim' or 'cs'"):
        ssim_term(u, ir, ir, "nope")  # type: ignore[arg-type]
