"""Fusion criterion: named unweighted terms, one weighting point, non-finite totals stop."""

from __future__ import annotations

import pytest
import torch

from tardal.config import LossConfig
from tardal.discriminators import DetailDiscriminator, TargetDiscriminator
from tardal.errors import ConfigError
from tardal.fusion import TarDALGenerator
from tardal.losses.criterion import (
    FusionCriterion,
    NonFiniteLossError,
    content_weights,
    fusion_weights,
    weighted_total,
)
from tardal.losses.gradient import max_gradient_loss
from tardal.losses.sdw import sdw_pixel_loss
from tardal.losses.ssim import ssim_term


def val(t: object) -> float:
    """A tensor's value as a Python float (detached)."""
    return float(torch.as_tensor(t).detach())


def test_weights_from_config() -> None:
    cfg = LossConfig(ssim=2.0, pixel=3.0, adv=0.5, t_adv=1.0, d_adv=0.4)
    assert fusion_weights(cfg) == {"ssim": 2.0, "pixel": 3.0, "grad": 0.0, "adv_t": 0.5,
                                   "adv_d": 0.2}
    assert fusion_weights(cfg, adversarial=False)["adv_t"] == 0.0
    assert content_weights(cfg) == {"ssim": 2.0, "pixel": 3.0, "grad": 0.0}
    assert content_weights(LossConfig(grad=4.0))["grad"] == 4.0


def test_weighted_total_by_hand() -> None:
    terms = {"a": torch.tensor(1.5), "b": torch.tensor(-2.0), "c": torch.tensor(float("nan"))}
    assert val(weighted_total(terms, {"a": 2.0, "b": 0.5, "c": 0.0})) == pytest.approx(2.0)
    with pytest.raises(NonFiniteLossError, match=r"fusion loss is not finite.*c=nan"):
        weighted_total(terms, {"a": 1.0, "c": 1.0}, "fusion loss")
    with pytest.raises(ConfigError, match="not computed"):
        weighted_total(terms, {"d": 1.0})


def test_criterion_terms() -> None:
    torch.manual_seed(0)
    ir, vis = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    g = TarDALGenerator(dim=4, depth=2)
    u = g(ir, vis)
    crit = FusionCriterion.from_config(LossConfig(sdw="code"))
    plain = crit(u, ir, vis)
    assert set(plain) == {"ssim", "pixel"}
    assert val(plain["ssim"]) == pytest.approx(val(ssim_term(u, ir, vis)))
    assert val(plain["pixel"]) == pytest.approx(val(sdw_pixel_loss(u, ir, vis, "code")))
    m = (ir > 0.5).float()
    full = crit(u, ir, vis, mask=m, d_target=TargetDiscriminator(dim=2),
                d_detail=DetailDiscriminator(dim=2))
    assert set(full) == {"ssim", "pixel", "adv_t", "adv_d"}
    weighted_total(full, fusion_weights(LossConfig())).backward()
    for name, p in g.named_parameters():
        assert p.grad is not None and val(p.grad.abs().sum()) > 0, name
    with pytest.raises(ValueError, match="target mask"):
        crit(u, ir, vis, d_target=TargetDiscriminator(dim=2), d_detail=DetailDiscriminator(dim=2))


def test_max_gradient_term_by_hand() -> None:
    # a unit vertical step in the visible image, a flat infrared one: the target map is 1 on the
    # two columns beside the step (Sobel 4, divided by 4) and ~0 elsewhere
    w = 16
    vis = torch.zeros(1, 1, 8, w)
    vis[..., w // 2:] = 1.0
    ir = torch.full_like(vis, 0.3)
    assert val(max_gradient_loss(vis, ir, vis)) < 1e-3  # u = vis keeps the stronger edges
    flat = torch.full_like(vis, 0.5)
    assert val(max_gradient_loss(flat, ir, vis)) == pytest.approx(2.0 / w, abs=1e-3)
    half = (vis * 0.5).requires_grad_()  # half the edge height: half the miss on two columns
    assert val(max_gradient_loss(half, ir, vis)) == pytest.approx(1.0 / w, abs=1e-3)
    left = torch.zeros_like(vis)
    left[..., : w // 2 - 2] = 1.0  # the valid pixels stop two columns short of the step
    assert val(max_gradient_loss(flat, ir, vis, valid=left)) < 1e-3
    # descent raises the step: brighter right of it, darker left of it
    max_gradient_loss(half, ir, vis).backward()
    assert half.grad is not None
    assert bool((half.grad[..., w // 2] < 0).all())
    assert bool((half.grad[..., w // 2 - 1] > 0).all())


def test_gradient_term_forms_by_hand() -> None:
    # the visible step rises left to right; an inverted step has the same Sobel magnitude but the
    # opposite sign: only the signed form tells them apart
    w = 16
    vis = torch.zeros(1, 1, 8, w)
    vis[..., w // 2:] = 1.0
    ir = torch.full_like(vis, 0.3)
    inverted = 1.0 - vis
    assert val(max_gradient_loss(inverted, ir, vis, form="magnitude")) < 1e-3
    assert val(max_gradient_loss(vis, ir, vis, form="signed")) < 1e-6
    # Sobel gx is -4 against +4 on the two columns beside the step: |8| / 8 = 1 there, 2 / w
    # on average; a flat u misses by 4 / 8 on the same columns
    assert val(max_gradient_loss(inverted, ir, vis, form="signed")) == pytest.approx(
        2.0 / w, abs=1e-4)
    flat = torch.full_like(vis, 0.5)
    assert val(max_gradient_loss(flat, ir, vis, form="signed")) == pytest.approx(1.0 / w, abs=1e-4)
    # deficit: a sharper edge than the stronger source costs nothing, a weaker one does
    sharper = vis * 2.0
    assert val(max_gradient_loss(sharper, ir, vis, form="deficit")) < 1e-3
    assert val(max_gradient_loss(sharper, ir, vis, form="magnitude")) == pytest.approx(
        2.0 / w, abs=1e-3)
    half = vis * 0.5
    assert val(max_gradient_loss(half, ir, vis, form="deficit")) == pytest.approx(
        val(max_gradient_loss(half, ir, vis, form="magnitude")), abs=1e-6)
    # the signed target follows the stronger source per pixel: the infrared's step where it is
    # the larger one
    ir_step = torch.zeros_like(vis)
    ir_step[..., w // 2:] = -2.0
    assert val(max_gradient_loss(ir_step, ir_step, vis, form="signed")) < 1e-6
    assert val(max_gradient_loss(vis, ir_step, vis, form="signed")) > 0.1
    with pytest.raises(ConfigError, match="grad_form"):
        max_gradient_loss(vis, ir, vis, form="sobel")  # type: ignore[arg-type]


def test_pyramid_detail_form() -> None:
    from tardal.fusion.classical import laplacian_fusion

    torch.manual_seed(0)
    tex = 0.25 + 0.5 * torch.rand(1, 1, 32, 48)
    flat = torch.full_like(tex, 0.5)
    # one textured source: its own details are the target, at any brightness
    assert val(max_gradient_loss(tex, tex, flat, form="pyramid")) < 1e-6
    assert val(max_gradient_loss(tex + 0.1, flat, tex, form="pyramid")) < 1e-5
    other = 0.25 + 0.5 * torch.rand(1, 1, 32, 48)
    mean = (tex + other) * 0.5
    rule = laplacian_fusion(tex, other)  # the same max-absolute details (up to a re-analysis)
    assert val(max_gradient_loss(rule, tex, other, form="pyramid")) < 0.5 * val(
        max_gradient_loss(mean, tex, other, form="pyramid"))
    # only the valid pixels count: an error confined to the padding costs (nearly) nothing
    valid = torch.ones_like(tex)
    valid[..., 24:] = 0.0
    spoiled = tex.clone()
    spoiled[..., 40:] = 0.5
    assert val(max_gradient_loss(spoiled, tex, flat, valid, form="pyramid")) < 0.05 * val(
        max_gradient_loss(spoiled, tex, flat, form="pyramid"))
    # the gradient reaches u and descent moves it towards the textured source
    u = flat.clone().requires_grad_()
    max_gradient_loss(u, tex, flat, form="pyramid").backward()
    assert u.grad is not None
    step = u.detach() - 10.0 * u.grad
    assert val(max_gradient_loss(step, tex, flat, form="pyramid")) < val(
        max_gradient_loss(flat, tex, flat, form="pyramid"))
    tiny = torch.rand(1, 1, 3, 3, requires_grad=True)  # no detail level fits
    assert val(max_gradient_loss(tiny, tiny.detach(), tiny.detach(), form="pyramid")) == 0.0


def test_criterion_passes_the_gradient_form() -> None:
    torch.manual_seed(0)
    ir, vis, u = torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    for form in ("signed", "deficit", "pyramid"):
        terms = FusionCriterion.from_config(LossConfig(grad=1.0, grad_form=form))(u, ir, vis)
        assert val(terms["grad"]) == pytest.approx(val(max_gradient_loss(u, ir, vis, form=form)))
    assert val(max_gradient_loss(u, ir, vis, form="deficit")) < val(max_gradient_loss(u, ir, vis))


def test_criterion_gradient_term_only_when_weighted() -> None:
    torch.manual_seed(0)
    ir, vis = torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    u = torch.rand(2, 1, 16, 16)
    assert "grad" not in FusionCriterion.from_config(LossConfig())(u, ir, vis)
    terms = FusionCriterion.from_config(LossConfig(grad=2.0))(u, ir, vis)
    assert val(terms["grad"]) == pytest.approx(val(max_gradient_loss(u, ir, vis)))
    total = weighted_total(terms, content_weights(LossConfig(ssim=1.0, pixel=0.0, grad=2.0)))
    assert val(total) == pytest.approx(val(terms["ssim"] + 2.0 * terms["grad"]))
