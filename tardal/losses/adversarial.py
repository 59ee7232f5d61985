"""Wasserstein adversarial terms: critic loss with a gradient penalty, generator term.

Critic (discriminator) loss for one critic D::

    L_D = E[D(fake)] - E[D(real)] + penalty

* ``wgan-div`` (default): ``k * E[ ||grad_xhat D(xhat)||_2 ^ p ]`` with k = 2, p = 6;
* ``gp``: ``lambda * E[ (||grad_xhat D(xhat)||_2 - 1)^2 ]`` with lambda = 10;

where ``xhat = a * real + (1 - a) * fake`` and ``a ~ U(0,1)`` per sample, the norm taken over
all of a sample's elements. The penalty is built with ``create_graph=True`` so it trains D.
``fake`` must already be detached from the generator.

Generator term: ``adv_t = -E[D_t(view_t(u))]`` and ``adv_d = -E[D_d(view_d(u))]``; the weights
``t_adv`` and ``d_adv`` are applied with the other weights (:mod:`tardal.losses.criterion`).
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
from torch import nn
from tardal.errors import ConfigError

Critic = Callable[[torch.Tensor], torch.Tensor]


def interpolate(real: torch.Tensor, fake: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """``a * real + (1 - a) * fake`` with one ``a ~ U(0,1)`` per sample; requires grad."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    a = torch.rand(shape, dtype=real.dtype, device=real.device, generator=generator)
    return (a * real.detach() + (1.0 - a) * fake.detach()).requires_grad_(True)


def critic_input_grad_norm(critic: Critic, x: torch.Tensor) -> torch.Tensor:
    """``||grad_x sum(critic(x))||_2`` per sample, (B,), differentiable w.r.t. the critic."""
    if not x.requires_grad:
        x = x.requires_grad_(True)
    with torch.enable_grad():
        score = critic(x)
        (grad,) = torch.autograd.grad(score.sum(), x, create_graph=True)
    return grad.flatten(1).norm(2, dim=1)


def wgan_div_penalty(critic: Critic, xhat: torch.Tensor, k: float = 2.0, p: float = 6.0
                     ) -> torch.Tensor:
    """``k * mean(||grad D(xhat)||^p)``: scalar."""
    return k * critic_input_grad_norm(critic, xhat).pow(p).mean()


def gradient_penalty(critic: Critic, xhat: torch.Tensor, lam: float = 10.0) -> torch.Tensor:
    """``lambda * mean((||grad D(xhat)|| - 1)^2)``: scalar (WGAN-GP)."""
    return lam * (critic_input_grad_norm(critic, xhat) - 1.0).pow(2).mean()


def critic_loss(critic: Critic, real: torch.Tensor, fake: torch.Tensor, *,
                penalty: Literal["wgan-div", "gp"] = "wgan-div", k: float = 2.0, p: float = 6.0,
                lam: float = 10.0, generator: torch.Generator | None = None
                ) -> dict[str, torch.Tensor]:
    """Critic terms for real/fake samples (B,C,H,W) (``fake`` detached).

    Returns ``{"wasserstein": E[D(fake)] - E[D(real)], "penalty": ..., "real": E[D(real)],
    "fake": E[D(fake)]}``; the loss to minimise is ``wasserstein + penalty`` (the penalty's own
    coefficient, k or lambda, is part of its definition). ``real`` and ``fake`` scores are
    returned detached, for logging.
    """
    fake = fake.detach()
    s_real, s_fake = critic(real).mean(), critic(fake).mean()
    xhat = interpolate(real, fake, generator)
    if penalty == "wgan-div":
        pen = wgan_div_penalty(critic, xhat, k, p)
    elif penalty == "gp":
        pen = gradient_penalty(critic, xhat, lam)
    else:
        raise ConfigError(f"disc.penalty: expected 'wgan-div' or 'gp', found {penalty!r}")
    return {"wasserstein": s_fake - s_real, "penalty": pen,
            "real": s_real.detach(), "fake": s_fake.detach()}


def generator_adversarial(d_target: nn.Module, d_detail: nn.Module, fused: torch.Tensor,
                          mask: torch.Tensor, valid: torch.Tensor | None = None
                          ) -> dict[str, torch.Tensor]:
    """``{"adv_t": -E[D_t(u * m)], "adv_d": -E[D_d(grad(u) * (1 - m))]}`` (unweighted).

    The critics build their own inputs with ``view`` (see :mod:`tardal.discriminators`).
    Their parameters still receive gradients here if they require them: freeze the critics
    (or step only G's optimiser and zero the critics' gradients) around the generator step.
    """
    return {
        "adv_t": -d_target(d_target.view(fused, mask, valid)).mean(),
        "adv_d": -d_detail(d_detail.view(fused, mask, valid)).mean(),
    }


class CriticLoss(nn.Module):
    """Module form of :func:`critic_loss`; stores the penalty settings."""

    def __init__(self, penalty: Literal["wgan-div", "gp"] = "wgan-div", k: float = 2.0,
                 p: float = 6.0, lam: float = 10.0) -> None:
        super().__init__()
        self.penalty, self.k, self.p, self.lam = penalty, k, p, lam

    def forward(self, critic: Critic, real: torch.Tensor, fake: torch.Tensor
                ) -> dict[str, torch.Tensor]:
        return critic_loss(critic, real, fake, penalty=self.penalty, k=self.k, p=self.p,
                           lam=self.lam)
