"""Fusion terms on the valid (non-padded) region: a letterboxed image scores as its content."""

from __future__ import annotations

import torch

from tardal.discriminators import build_discriminator
from tardal.config import DiscriminatorConfig
from tardal.losses.criterion import FusionCriterion
from tardal.losses.sdw import sdw_pixel_loss
from tardal.losses.ssim import ms_ssim, ssim, ssim_term

Y0, X0, H, W = 6, 3, 40, 50  # content box inside a 56x60 letterboxed canvas


def _content(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 1, H, W, generator=g)
    return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)


def _pad(x: torch.Tensor, value: float) -> torch.Tensor:
    out = torch.full((x.shape[0], 1, 56, 60), value)
    out[..., Y0:Y0 + H, X0:X0 + W] = x
    return out


def _valid() -> torch.Tensor:
    return _pad(torch.ones(2, 1, H, W), 0.0)


def test_masked_terms_on_a_padded_image_equal_the_plain_terms_on_its_content() -> None:
    fused, ir, vis = _content(0), _content(1), _content(2)
    valid = _valid()
    # different padding in each image: on the valid region it must not matter
    pf, pi, pv = _pad(fused, 0.9), _pad(ir, 114 / 255), _pad(vis, 114 / 255)
    torch.testing.assert_close(ssim(pf, pi, valid=valid), ssim(fused, ir), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ssim_term(pf, pi, pv, valid=valid), ssim_term(fused, ir, vis),
                               rtol=1e-5, atol=1e-6)
    # MS-SSIM: the padding's value does not matter; aligned with the pooling grid (content at a
    # multiple of 4 px), the value is the content's own
    other = ms_ssim(_pad(fused, 0.1), _pad(ir, 0.7), window=7, valid=valid)
    torch.testing.assert_close(ms_ssim(pf, pi, window=7, valid=valid), other)
    aligned = torch.zeros(2, 1, 56, 64)
    aligned[..., 8:48, 8:58] = 1.0
    def place(x: torch.Tensor, v: float) -> torch.Tensor:
        out = torch.full((2, 1, 56, 64), v)
        out[..., 8:48, 8:58] = x
        return out
    torch.testing.assert_close(ms_ssim(place(fused, 0.9), place(ir, 0.2), window=7,
                                       valid=aligned),
                               ms_ssim(fused, ir, window=7), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sdw_pixel_loss(pf, pi, pv, valid=valid),
                               sdw_pixel_loss(fused, ir, vis), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(sdw_pixel_loss(pf, pi, pv, "code", valid=valid),
                               sdw_pixel_loss(fused, ir, vis, "code"), rtol=1e-5, atol=1e-7)
    # without the mask the padding changes both terms
    assert abs(float(ssim_term(pf, pi, pv)) - float(ssim_term(fused, ir, vis))) > 0.01
    assert abs(float(sdw_pixel_loss(pf, pi, pv)) - float(sdw_pixel_loss(fused, ir, vis))) > 0.01


def test_gradient_stays_on_the_content() -> None:
    fused, ir, vis = _content(0), _content(1), _content(2)
    pf = _pad(fused, 0.5).requires_grad_(True)
    valid = _valid()
    crit = FusionCriterion()
    terms = crit(pf, _pad(ir, 114 / 255), _pad(vis, 114 / 255), valid=valid)
    (terms["ssim"] + terms["pixel"]).backward()
    assert float(pf.grad[valid == 0].abs().max()) == 0.0
    assert float(pf.grad[valid == 1].abs().max()) > 0.0


def test_critic_views_leave_the_padding_out() -> None:
    cfg = DiscriminatorConfig(dim=4, layers=3)
    d_t, d_d = build_discriminator("target", cfg), build_discriminator("detail", cfg)
    img = _pad(_content(3), 114 / 255)
    valid = _valid()
    mask = torch.ones_like(img)
    assert float(d_t.view(img, mask, valid)[valid == 0].abs().max()) == 0.0
    assert float(d_t.view(img, mask)[valid == 0].abs().max()) > 0.4
    none = torch.zeros_like(img)
    grad = d_d.view(img, none, valid)
    # the step from content to padding is not a texture: no gradient on or next to the padding
    assert float(grad[..., Y0 - 1:Y0 + 1, :].abs().max()) == 0.0
    assert float(d_d.view(img, none)[..., Y0 - 1:Y0 + 1, :].abs().max()) > 0.0
    inner = grad[..., Y0 + 1:Y0 + H - 1, X0 + 1:X0 + W - 1]
    torch.testing.assert_close(inner, d_d.view(img, none)[..., Y0 + 1:Y0 + H - 1,
                                                          X0 + 1:X0 + W - 1])


def test_detail_critic_sobel_forms() -> None:
    img = _content(4)
    none = torch.zeros_like(img)
    raw = build_discriminator("detail", DiscriminatorConfig(dim=4, sobel="raw"))
    normalised = build_discriminator("detail", DiscriminatorConfig(dim=4, sobel="normalized"))
    torch.testing.assert_close(normalised.view(img, none), raw.view(img, none) / 8)
