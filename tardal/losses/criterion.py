"""The fusion criterion (named, unweighted terms) and the one place where weights apply.

    crit = FusionCriterion.from_config(cfg.loss)
    terms = crit(u, ir, vis_y, mask=m, d_target=d_t, d_detail=d_d)   # ssim, pixel, adv_t, adv_d
    total = weighted_total(terms, fusion_weights(cfg.loss, adversarial=True))

``L_f = a_ssim * ssim + a_pix * pixel + a_grad * grad + a_adv * (t_adv * adv_t + d_adv * d_adv)``;
the max-gradient ``grad`` term is computed only when its weight ``loss.grad`` is above 0.
"""

from __future__ import annotations

import math
from typing import Literal, Mapping

import torch
from torch import nn

from tardal.config import LossConfig
from tardal.errors import ConfigError, DataError, TardalError
from tardal.losses.adversarial import generator_adversarial
from tardal.losses.gradient import max_gradient_loss
from tardal.losses.sdw import sdw_pixel_loss
from tardal.losses.ssim import ssim_term


class NonFiniteLossError(TardalError, FloatingPointError):
    """A loss became NaN or infinite; the message lists every term's value."""


def fusion_weights(cfg: LossConfig, *, adversarial: bool = True) -> dict[str, float]:
    """Weights of the fusion terms from config; ``adversarial=False`` (warm-up) zeroes L_adv."""
    a = cfg.adv if adversarial else 0.0
    return {**content_weights(cfg), "adv_t": a * cfg.t_adv, "adv_d": a * cfg.d_adv}


def content_weights(cfg: LossConfig) -> dict[str, float]:
    """Weights of the content part only (SSIM + SDW pixel + max-gradient): the dt validation
    loss."""
    return {"ssim": cfg.ssim, "pixel": cfg.pixel, "grad": cfg.grad}


def weighted_sum(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float]
                 ) -> torch.Tensor:
    """``sum(weights[k] * terms[k])`` over the weighted keys, without reading it back from the
    device (the training loop checks finiteness once per logging interval).

    Every key of ``weights`` with a non-zero weight must be in ``terms``.
    """
    missing = [k for k, w in weights.items() if w and k not in terms]
    assert not missing, f"weighted terms {missing} were not computed (have {list(terms)})"
    parts = [w * terms[k] for k, w in weights.items() if w]
    return torch.stack(parts).sum() if parts else next(iter(terms.values())) * 0.0


def weighted_total(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float],
                   what: str = "loss") -> torch.Tensor:
    """``sum(weights[k] * terms[k])`` over the weighted keys; raises on a non-finite result.

    Every key of ``weights`` must be in ``terms`` (a zero weight skips the term). A NaN or
    infinite total raises :class:`NonFiniteLossError` naming each term's value.
    """
    missing = [k for k, w in weights.items() if w and k not in terms]
    if missing:
        raise ConfigError(f"{what}: weighted terms {missing} were not computed (have {list(terms)})")
    parts = [w * terms[k] for k, w in weights.items() if w]
    total = torch.stack(parts).sum() if parts else next(iter(terms.values())) * 0.0
    if not torch.isfinite(total.detach()).all():
        values = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in terms.items())
        raise NonFiniteLossError(
            f"{what} is not finite ({float(total.detach())}); terms: {values}. Lower the learning "
            "rate or the penalty exponent (disc.div_p), or check the inputs for NaN"
        )
    return total


class FusionCriterion(nn.Module):
    """Returns the unweighted fusion terms as a dict (see module doc)."""

    def __init__(self, ssim_kind: Literal["ssim", "ms-ssim", "cs"] = "ssim",
                 sdw_form: Literal["paper", "code", "max"] = "paper",
                 gradient: bool = False,
                 grad_form: Literal["magnitude", "signed", "deficit", "pyramid"] = "magnitude",
                 ) -> None:
        super().__init__()
        self.ssim_kind, self.sdw_form, self.gradient = ssim_kind, sdw_form, gradient
        self.grad_form = grad_form

    @classmethod
    def from_config(cls, cfg: LossConfig) -> "FusionCriterion":
        return cls(ssim_kind=cfg.ssim_kind, sdw_form=cfg.sdw, gradient=cfg.grad > 0,
                   grad_form=cfg.grad_form)

    def forward(self, fused: torch.Tensor, ir: torch.Tensor, vis_y: torch.Tensor, *,
                mask: torch.Tensor | None = None, d_target: nn.Module | None = None,
                d_detail: nn.Module | None = None, valid: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        """Terms for fused/ir/vis_y (B,1,H,W) in [0,1]; ``adv_*`` only when critics are given.

        ``valid`` (B,1,H,W; 0 on letterbox padding) keeps every term to the images' own pixels.
        """
        terms = {
            "ssim": ssim_term(fused, ir, vis_y, self.ssim_kind, valid=valid),
            "pixel": sdw_pixel_loss(fused, ir, vis_y, self.sdw_form, valid=valid),
        }
        if self.gradient:
            terms["grad"] = max_gradient_loss(fused, ir, vis_y, valid, self.grad_form)
        if d_target is not None and d_detail is not None:
            if mask is None:
                raise DataError("the adversarial terms need the target mask")
            terms.update(generator_adversarial(d_target, d_detail, fused, mask, valid))
        return terms


def as_floats(terms: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Detached Python floats of a term dict, for logging."""
    out = {}
    for k, v in terms.items():
        f = float(v.detach()) if isinstance(v, torch.Tensor) else float(v)
        out[k] = f if math.isfinite(f) else float("nan")
    return out
