"""The published baselines' losses on hand-made cases whose values are known."""

from __future__ import annotations

import math

import pytest
import torch

from tardal.losses.published import (
    BlurResidual,
    Laplacian,
    U2FusionWeights,
    blur_residual,
    densefuse_loss,
    fusegan_d_loss,
    fusegan_g_loss,
    fusiongan_d_loss,
    fusiongan_g_loss,
    gaussian3,
    gaussian_pyramid,
    laplacian,
    lsgan_target,
    lsgan_term,
    mffgan_d_inputs,
    mffgan_d_loss,
    mffgan_g_loss,
    mffgan_masks,
    mfifgan_d_loss,
    mfifgan_g_loss,
    pmgi_loss,
    total_variation,
    u2fusion_information,
    u2fusion_loss,
    u2fusion_weights,
    ufgan_d_loss,
    ufgan_g_loss,
)
from tardal.losses.ssim import ssim


def _impulse(h: int = 7, w: int = 7) -> torch.Tensor:
    x = torch.zeros(1, 1, h, w)
    x[0, 0, h // 2, w // 2] = 1.0
    return x


def _texture(b: int = 1, h: int = 48, w: int = 48, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 1, h, w, generator=g)


def test_laplacian_of_an_impulse_and_of_a_constant() -> None:
    lap = laplacian(_impulse())[0, 0]
    expected = torch.zeros(7, 7)
    expected[3, 3] = -4.0
    expected[2, 3] = expected[4, 3] = expected[3, 2] = expected[3, 4] = 1.0
    assert torch.equal(lap, expected)
    assert torch.equal(laplacian(torch.full((2, 3, 5, 6), 0.3)), torch.zeros(2, 3, 5, 6))
    x = _texture()
    assert torch.equal(Laplacian()(x), laplacian(x))


def test_laplacian_of_a_ramp_is_zero_inside() -> None:
    ramp = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 6, 8)
    assert torch.allclose(laplacian(ramp)[..., 1:-1], torch.zeros(1, 1, 6, 6))


def test_gaussian3_keeps_constants_and_blur_residual_finds_texture() -> None:
    c = torch.full((1, 1, 9, 9), 0.7)
    assert torch.allclose(gaussian3(c), c)
    assert torch.allclose(blur_residual(c), torch.zeros_like(c), atol=1e-7)
    x = _texture()
    sharp = blur_residual(x).mean()
    soft = blur_residual(gaussian3(gaussian3(x))).mean()
    assert sharp > 3 * soft
    assert torch.equal(BlurResidual()(x), blur_residual(x))


def test_lsgan_with_fixed_labels() -> None:
    score = torch.tensor([0.5, 1.5])
    assert lsgan_term(score, 1.0, 1.0).item() == pytest.approx((0.25 + 0.25) / 2)
    assert lsgan_term(score, 0.0, 0.0).item() == pytest.approx((0.25 + 2.25) / 2)


def test_soft_labels_are_seeded_and_in_range() -> None:
    like = torch.zeros(1000)
    u = lsgan_target(like, 0.7, 1.2, torch.Generator().manual_seed(0))
    v = lsgan_target(like, 0.7, 1.2, torch.Generator().manual_seed(0))
    assert torch.equal(u, v)
    assert u.min() >= 0.7 and u.max() <= 1.2 and u.std() > 0.1


def test_fusiongan_d_loss_matches_the_seeded_labels() -> None:
    d_real, d_fake = torch.tensor([1.0, 0.9, 1.1]), torch.tensor([0.2, 0.0, 0.5])
    g = torch.Generator().manual_seed(5)
    real_labels = 0.7 + 0.5 * torch.rand(3, generator=g)
    fake_labels = 0.3 * torch.rand(3, generator=g)
    t = fusiongan_d_loss(d_real, d_fake, torch.Generator().manual_seed(5))
    assert t["real"].item() == pytest.approx(((d_real - real_labels) ** 2).mean().item())
    assert t["fake"].item() == pytest.approx(((d_fake - fake_labels) ** 2).mean().item())
    assert t["loss"].item() == pytest.approx(t["real"].item() + t["fake"].item())
    for fn in (ufgan_d_loss, mffgan_d_loss):
        same = fn(d_real, d_fake, torch.Generator().manual_seed(5))
        assert same["loss"].item() == pytest.approx(t["loss"].item())


def test_fusiongan_g_loss_by_hand() -> None:
    ir = _texture(seed=1)
    vis = ir.clone()
    fused = ir + 0.1  # a constant shift: intensity 0.01, Laplacians identical
    d_fake = torch.tensor([0.5, 0.5])
    t = fusiongan_g_loss(d_fake, fused, ir, vis, torch.Generator().manual_seed(0))
    labels = 0.7 + 0.5 * torch.rand(2, generator=torch.Generator().manual_seed(0))
    assert t["adv"].item() == pytest.approx(((0.5 - labels) ** 2).mean().item())
    assert t["intensity"].item() == pytest.approx(0.01, rel=1e-4)
    assert t["gradient"].item() == pytest.approx(0.0, abs=1e-10)
    assert t["loss"].item() == pytest.approx(t["adv"].item() + 100 * 0.01, rel=1e-4)


def test_pmgi_loss_by_hand() -> None:
    ir = _texture(seed=2)
    t = pmgi_loss(ir, ir, ir)
    assert t["loss"].item() == 0.0
    c = 0.2
    t = pmgi_loss(ir + c, ir, ir)
    assert t["int_ir"].item() == pytest.approx(c * c, rel=1e-4)
    assert t["grad_vis"].item() == pytest.approx(0.0, abs=1e-10)
    assert t["loss"].item() == pytest.approx(100 * (c * c + 0.3 * c * c), rel=1e-4)
    # gradient terms: Lap of a zero image vs Lap of an impulse, 5 + 4 times sum(lap^2) / N.
    zero = torch.zeros(1, 1, 7, 7)
    t = pmgi_loss(zero, _impulse(), _impulse())
    lap_energy = (16.0 + 4.0) / 49
    assert t["grad_vis"].item() == pytest.approx(lap_energy)
    assert t["loss"].item() == pytest.approx(100 * (1.3 / 49 + 9 * lap_energy))


def test_total_variation_of_a_step() -> None:
    step = torch.zeros(1, 1, 6, 10)
    step[..., 4:] = 1.0
    assert total_variation(step).item() == pytest.approx(1.0 / 9)
    assert total_variation(step.transpose(-1, -2)).item() == pytest.approx(1.0 / 9)
    assert total_variation(torch.full((2, 1, 5, 5), 0.4)).item() == 0.0


def test_densefuse_loss_by_hand() -> None:
    x = _texture(seed=3)
    t = densefuse_loss(x, x)
    assert t["pixel"].item() == 0.0 and t["ssim"].item() == pytest.approx(0.0, abs=1e-6)
    t = densefuse_loss(x * 0.5, x, lam=10.0)
    assert t["pixel"].item() == pytest.approx((x * 0.5).pow(2).mean().item(), rel=1e-5)
    expected_ssim = 1.0 - ssim(x * 0.5, x).mean().item()
    assert t["ssim"].item() == pytest.approx(expected_ssim, rel=1e-5)
    assert t["loss"].item() == pytest.approx(t["pixel"].item() + 10 * expected_ssim, rel=1e-5)


def test_ufgan_g_loss_terms() -> None:
    flat = torch.full((2, 1, 32, 32), 0.5)
    d_fake = torch.ones(2)
    t = ufgan_g_loss(d_fake, flat, flat, flat, torch.Generator().manual_seed(0))
    for k in ("intensity", "gradient", "ssim_ir", "ssim_vis", "tv"):
        assert t[k].item() == pytest.approx(0.0, abs=1e-6), k
    assert t["loss"].item() == pytest.approx(t["adv"].item(), abs=1e-6)
    step = flat.clone()
    step[..., 16:] = 1.0
    t = ufgan_g_loss(d_fake, step, step, step, torch.Generator().manual_seed(0), tv=2.0)
    assert t["tv"].item() == pytest.approx(0.5 / 31)
    assert t["loss"].item() == pytest.approx(t["adv"].item() + 2.0 * 0.5 / 31, abs=1e-5)


def test_u2fusion_information_and_weights() -> None:
    flat = torch.full((1, 1, 64, 64), 0.5)
    tex = _texture(h=64, w=64)
    assert u2fusion_information(flat).item() == pytest.approx(0.0, abs=1e-12)
    assert u2fusion_information(tex).item() > 0.01
    assert [p.shape[-1] for p in gaussian_pyramid(tex)] == [64, 32, 16, 8, 4]
    w_a, w_b = u2fusion_weights(tex, flat)
    assert w_a.item() > 0.99 and w_a.item() + w_b.item() == pytest.approx(1.0)
    w_a, w_b = u2fusion_weights(flat, tex)
    assert w_b.item() > 0.99
    w_a, w_b = u2fusion_weights(tex, tex)
    assert w_a.item() == pytest.approx(0.5)
    # softmax(g / c) by hand
    g_a, g_b = u2fusion_information(tex).item(), u2fusion_information(gaussian3(tex)).item()
    w_a, _ = u2fusion_weights(tex, gaussian3(tex), c=0.1)
    assert w_a.item() == pytest.approx(1.0 / (1.0 + math.exp((g_b - g_a) / 0.1)), rel=1e-5)
    w_m = U2FusionWeights(c=0.1)(tex, gaussian3(tex))[0]
    assert w_m.item() == pytest.approx(w_a.item())


def test_u2fusion_loss_by_hand() -> None:
    a = _texture(b=2, seed=4)
    b = (a + 0.1).clamp(max=1.0)
    one, zero = torch.ones(2), torch.zeros(2)
    assert u2fusion_loss(a, a, b, one, zero)["loss"].item() == pytest.approx(0.0, abs=1e-6)
    half = torch.full((2,), 0.5)
    t = u2fusion_loss(a, a, b, half, half)
    expected_ssim = 0.5 * (1.0 - ssim(b, a)).mean().item()
    expected_mse = 0.5 * (a - b).pow(2).mean().item()
    assert t["ssim"].item() == pytest.approx(expected_ssim, rel=1e-5)
    assert t["mse"].item() == pytest.approx(expected_mse, rel=1e-5)
    assert t["loss"].item() == pytest.approx(expected_ssim + 20 * expected_mse, rel=1e-5)


def test_mffgan_masks_follow_the_sharper_source() -> None:
    a, b = _impulse(), torch.zeros(1, 1, 7, 7)
    m_a, m_b = mffgan_masks(a, b)
    assert m_a[0, 0, 3, 3] == 1.0 and m_a[0, 0, 0, 0] == 0.0  # no residual anywhere: ties -> b
    assert torch.equal(m_a + m_b, torch.ones_like(m_a))
    tex = _texture()
    m_a, _ = mffgan_masks(tex, gaussian3(gaussian3(tex)))
    assert m_a.mean() > 0.9


def test_mffgan_d_inputs_and_g_loss() -> None:
    a, b = _impulse(), torch.zeros(1, 1, 7, 7)
    real, fake = mffgan_d_inputs(b, a, b)
    assert real[0, 0, 3, 3] == 4.0 and real[0, 0, 2, 3] == 1.0 and fake.abs().sum() == 0.0
    d_fake = torch.tensor([1.0])
    # f = a takes a everywhere; where M_b = 1 (all pixels but a's support) a = b = 0 except the
    # impulse's four neighbours (residual of a > 0 there too, so M_a = 1): every term is 0.
    t = mffgan_g_loss(d_fake, a, a, b, torch.Generator().manual_seed(0))
    assert t["intensity"].item() == 0.0 and t["gradient"].item() == 0.0
    # f = b: the intensity error is a's impulse inside M_a, the gradient error a's Laplacian there.
    m_a, _ = mffgan_masks(a, b)
    t = mffgan_g_loss(d_fake, b, a, b, torch.Generator().manual_seed(0))
    assert t["intensity"].item() == pytest.approx(1.0 / 49)
    lap_in_mask = (m_a * laplacian(a).pow(2)).sum().item() / 49
    assert t["gradient"].item() == pytest.approx(lap_in_mask)
    assert t["loss"].item() == pytest.approx(t["adv"].item() + 10 * (1 / 49 + 5 * lap_in_mask))


def test_mfifgan_losses_by_hand() -> None:
    focus = torch.full((1, 1, 4, 4), 0.5)
    t = mfifgan_g_loss(torch.tensor([1.0, 3.0]), focus, torch.ones_like(focus))
    assert t["adv"].item() == -2.0 and t["l1"].item() == 0.5 and t["loss"].item() == 3.0
    # A linear critic D(x) = c * sum(x): its input gradient has norm c * sqrt(N) everywhere.
    n = 3 * 2 * 2
    c = 2.0 / math.sqrt(n)

    def critic(x: torch.Tensor) -> torch.Tensor:
        return c * x.flatten(1).sum(1)

    real, fake = torch.ones(2, 3, 2, 2), torch.zeros(2, 3, 2, 2)
    t = mfifgan_d_loss(critic, real, fake, torch.Generator().manual_seed(0))
    assert t["wasserstein"].item() == pytest.approx(0.0 - c * n)
    assert t["penalty"].item() == pytest.approx(10.0 * (2.0 - 1.0) ** 2)
    assert t["loss"].item() == pytest.approx(10.0 - c * n, abs=1e-5)


def test_fusegan_losses_by_hand() -> None:
    ones, zeros = torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3)
    assert fusegan_d_loss(ones, zeros)["loss"].item() == 0.0
    assert fusegan_d_loss(zeros, ones)["loss"].item() == 2.0
    focus = torch.full((1, 1, 4, 4), 0.25)
    t = fusegan_g_loss(torch.full((1, 1, 2, 2), 0.5), focus, torch.zeros_like(focus))
    assert t["adv"].item() == 0.25 and t["l1"].item() == 0.25
    assert t["loss"].item() == pytest.approx(0.25 + 100 * 0.25)


def test_generator_losses_reach_the_fused_image() -> None:
    fused = torch.rand(1, 1, 16, 16, requires_grad=True)
    ir, vis = torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16)
    d = torch.rand(1)
    for t in (fusiongan_g_loss(d, fused, ir, vis), ufgan_g_loss(d, fused, ir, vis),
              pmgi_loss(fused, ir, vis), mffgan_g_loss(d, fused, ir, vis),
              u2fusion_loss(fused, ir, vis, *u2fusion_weights(ir, vis))):
        (grad,) = torch.autograd.grad(t["loss"], fused)
        assert grad.abs().sum() > 0
