"""Wasserstein critic loss and penalties, checked against a critic whose gradient is known."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tardal.discriminators import DetailDiscriminator, TargetDiscriminator
from tardal.losses.adversarial import (
    CriticLoss,
    critic_loss,
    generator_adversarial,
    gradient_penalty,
    wgan_div_penalty,
)
from tardal.losses.gradient import sobel_magnitude


class LinearCritic(nn.Module):
    """D(x) = <w, x> + b: its input gradient is w everywhere, so ||grad D|| = ||w||."""

    def __init__(self, numel: int, value: float) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.full((numel,), value))
        self.b = nn.Parameter(torch.tensor(0.3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w + self.b


def val(t: object) -> float:
    """A tensor's value as a Python float (detached)."""
    return float(torch.as_tensor(t).detach())


def test_wgan_div_penalty_by_hand() -> None:
    critic = LinearCritic(16, 0.5)  # ||w|| = sqrt(16 * 0.25) = 2
    xhat = torch.rand(3, 1, 4, 4, requires_grad=True)
    pen = wgan_div_penalty(critic, xhat, k=2.0, p=6.0)
    assert val(pen.detach()) == pytest.approx(2.0 * 2.0**6)  # 128
    pen.backward()
    # d/dw k ||w||^p = k p ||w||^(p-2) w = 2 * 6 * 16 * 0.5 = 96 per element
    assert torch.allclose(critic.w.grad, torch.full((16,), 96.0))
    assert critic.b.grad is None or val(critic.b.grad) == 0.0  # offsets do not matter


def test_gradient_penalty_by_hand() -> None:
    critic = LinearCritic(16, 0.5)
    pen = gradient_penalty(critic, torch.rand(2, 1, 4, 4), lam=10.0)
    assert val(pen.detach()) == pytest.approx(10.0 * (2.0 - 1.0) ** 2)
    unit = LinearCritic(4, 0.5)  # ||w|| = 1 -> no penalty
    assert val(gradient_penalty(unit, torch.rand(2, 1, 2, 2))) == pytest.approx(0.0, abs=1e-12)


def test_critic_loss_terms_by_hand() -> None:
    critic = LinearCritic(4, 0.25)
    real = torch.ones(2, 1, 2, 2)  # D = 4 * 0.25 + 0.3 = 1.3
    fake = torch.zeros(2, 1, 2, 2)  # D = 0.3
    terms = critic_loss(critic, real, fake, penalty="wgan-div", k=2, p=6)
    assert val(terms["wasserstein"]) == pytest.approx(0.3 - 1.3)
    assert val(terms["penalty"]) == pytest.approx(2 * 0.5**6)  # ||w|| = 0.5
    assert val(terms["real"]) == pytest.approx(1.3) and val(terms["fake"]) == pytest.approx(0.3)
    gp = CriticLoss("gp", lam=10)(critic, real, fake)
    assert val(gp["penalty"]) == pytest.approx(10 * 0.25)


def test_critic_loss_does_not_reach_the_generator() -> None:
    critic = LinearCritic(4, 0.25)
    fake_src = torch.rand(2, 1, 2, 2, requires_grad=True)
    terms = critic_loss(critic, torch.rand(2, 1, 2, 2), fake_src * 2)
    (terms["wasserstein"] + terms["penalty"]).backward()
    assert fake_src.grad is None


def test_generator_term() -> None:
    torch.manual_seed(0)
    d_t, d_d = TargetDiscriminator(dim=2), DetailDiscriminator(dim=2)
    u = torch.rand(2, 1, 16, 16, requires_grad=True)
    m = (torch.rand(2, 1, 16, 16) > 0.5).float()
    terms = generator_adversarial(d_t, d_d, u, m)
    assert val(terms["adv_t"]) == pytest.approx(-val(d_t(u * m).mean()))
    assert val(terms["adv_d"]) == pytest.approx(-val(d_d(sobel_magnitude(u) * (1 - m)).mean()))
    (terms["adv_t"] + terms["adv_d"]).backward()
    assert val(u.grad.abs().sum()) > 0


def test_sobel_magnitude_values() -> None:
    x = torch.zeros(1, 1, 8, 8)
    x[..., 4:] = 1.0  # vertical step between columns 3 and 4
    g = sobel_magnitude(x, eps=0.0)
    assert torch.allclose(g[0, 0, 2:6, 3], torch.full((4,), 4.0))
    assert torch.allclose(g[0, 0, 2:6, 4], torch.full((4,), 4.0))
    assert val(g[0, 0, :, 0].abs().max()) == 0.0
    assert val(sobel_magnitude(torch.zeros(1, 1, 4, 4)).min()) == pytest.approx(1e-3)


def test_sobel_slices_equal_the_convolution_form() -> None:
    from tardal.losses.gradient import sobel_xy, sobel_xy_conv

    torch.manual_seed(0)
    x = torch.rand(2, 3, 13, 17, dtype=torch.float64)
    for a, b in zip(sobel_xy(x), sobel_xy_conv(x)):
        assert a.shape == x.shape
        assert torch.allclose(a, b, atol=1e-12)
