"""SSIM and MS-SSIM on [0,1] images, and the TarDAL structural term.

SSIM uses an 11x11 Gaussian window with sigma 1.5, constants C1 = (0.01)^2, C2 = (0.03)^2 for a
data range of 1, and "valid" filtering (no padding), as in Wang et al. 2004; it agrees with
``kornia.metrics.ssim(..., padding="valid")``. Images smaller than the window use a window
shrunk to the image (odd side).

MS-SSIM uses the five standard scale weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333) and
2x2 average pooling between scales. Small images (e.g. 64x64 crops) cannot afford five scales
at window 11: the scales whose side would drop below the window are left out and the remaining
weights are renormalised to sum to 1. Contrast-structure values are clamped at a small positive
floor before the fractional powers, so the value stays finite and differentiable.

``valid`` (B,1,H,W), 1 on the image's own pixels and 0 on letterbox padding, restricts every
mean to the windows that lie wholly inside the valid region (at each MS-SSIM scale, the region
shrunk with the image); an image with no such window falls back to the plain mean.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from tardal.errors import ConfigError, DataError
from tardal.ops.morphology import erode

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_C1 = 0.01**2
_C2 = 0.03**2


def gaussian_window(size: int, sigma: float, *, dtype: torch.dtype = torch.float32,
                    device: torch.device | None = None) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps, shape (size,)."""
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2.0
    g = torch.exp(-(x**2) / (2.0 * sigma**2))
    return (g / g.sum()).to(dtype)


def _valid_sep(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """Separable "valid" correlation of (B,C,H,W) ``x`` with ``win`` along W, then H, as sums of
    shifted slices (no autograd graph: the caller's Function supplies the backward)."""
    n = win.numel()
    h, w = x.shape[-2:]
    taps = win.tolist()
    rows = torch.zeros_like(x[..., :, : w - n + 1])
    for k, c in enumerate(taps):
        rows.add_(x[..., :, k:w - n + 1 + k], alpha=c)
    out = torch.zeros_like(rows[..., : h - n + 1, :])
    for k, c in enumerate(taps):
        out.add_(rows[..., k:h - n + 1 + k, :], alpha=c)
    return out


class _SymmetricFilter(torch.autograd.Function):
    """Valid separable filtering by a symmetric window. Its adjoint is the same filter applied to
    the gradient zero-padded by ``n - 1`` on every side, so the backward costs one forward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(win)
        return _valid_sep(x, win)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (win,) = ctx.saved_tensors
        p = win.numel() - 1
        return _valid_sep(F.pad(grad, (p, p, p, p)), win), None


def _filter(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """Separable "valid" Gaussian filtering of (B,C,H,W) ``x`` by the symmetric 1-D ``win``.

    On CUDA two depthwise convolutions; elsewhere shifted-slice sums with a matching backward,
    about five times faster on a CPU than the backward of a one-channel 1-D convolution (the
    same values up to float rounding; the tests compare both).
    """
    if x.is_cuda:
        c, n = x.shape[1], win.numel()
        x = F.conv2d(x, win.view(1, 1, 1, n).expand(c, 1, 1, n), groups=c)
        return F.conv2d(x, win.view(1, 1, n, 1).expand(c, 1, n, 1), groups=c)
    return _SymmetricFilter.apply(x, win)


def ssim_components(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel SSIM and contrast-structure maps of (B,C,H,W) images in [0,1].

    Returns ``(ssim_map, cs_map)``, each (B,C,H-w+1,W-w+1) with ``w`` the window actually used.
    """
    if x.shape != y.shape:
        raise DataError(f"ssim: inputs differ in shape, {tuple(x.shape)} vs {tuple(y.shape)}")
    win = _window(x, window, sigma)
    return _ssim_from_stats(*(_filter(m, win) for m in (x, y, x * x, y * y, x * y)))


def _window(x: torch.Tensor, window: int, sigma: float) -> torch.Tensor:
    """The 1-D Gaussian actually used for ``x``: ``window`` shrunk to the image (odd side)."""
    w = min(window, x.shape[-2], x.shape[-1])
    w = w if w % 2 == 1 else w - 1
    return gaussian_window(w, sigma, dtype=x.dtype, device=x.device)


def _ssim_from_stats(mu_x: torch.Tensor, mu_y: torch.Tensor, xx: torch.Tensor, yy: torch.Tensor,
                     xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The SSIM and contrast-structure maps from the filtered means, squares and product of a
    pair."""
    sxx, syy, sxy = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
    cs = (2.0 * sxy + _C2) / (sxx + syy + _C2)
    return (2.0 * mu_x * mu_y + _C1) / (mu_x * mu_x + mu_y * mu_y + _C1) * cs, cs


def ssim_to_both(u: torch.Tensor, a: torch.Tensor, b: torch.Tensor, window: int = 11,
                 sigma: float = 1.5, valid: torch.Tensor | None = None, *,
                 luminance: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ssim(u, a), ssim(u, b))`` per image, as :func:`ssim` computes them, with ``u``'s
    filtered mean and square shared: eight filtered maps instead of ten, of which only the four
    that involve ``u`` carry a gradient. (Each map is filtered on its own: the shifted-slice sums
    run several times slower on a stack of maps that no longer fits a core's cache.) With
    ``luminance=False``, the contrast-structure part only (SSIM without its luminance factor)."""
    if not (u.shape == a.shape == b.shape):
        raise DataError(f"ssim: inputs differ in shape, {tuple(u.shape)}, {tuple(a.shape)} "
                        f"and {tuple(b.shape)}")
    win = _window(u, window, sigma)
    mu_u, uu, ua, ub = (_filter(m, win) for m in (u, u * u, u * a, u * b))
    mu_a, mu_b, aa, bb = (_filter(m, win) for m in (a, b, a * a, b * b))
    part = 0 if luminance else 1
    maps = torch.cat([_ssim_from_stats(mu_u, mu_a, uu, aa, ua)[part],
                      _ssim_from_stats(mu_u, mu_b, uu, bb, ub)[part]], 1)
    to_a, to_b = channel_means(maps, valid).chunk(2, 1)  # one erosion of ``valid`` for both
    return to_a.mean(1), to_b.mean(1)


def channel_means(values: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Per-image, per-channel mean (B,C) of a (B,C,h,w) map of valid-filtered windows, over the
    windows wholly inside ``valid`` (B,1,H,W) (``H - h + 1`` is the window side; the erosion is
    made once for all channels); plain mean without ``valid`` or where no window fits."""
    plain = values.flatten(2).mean(2)
    if valid is None:
        return plain
    side = valid.shape[-1] - values.shape[-1] + 1
    inside = erode(valid.to(values.dtype), side).flatten(2)  # (B,1,h*w)
    count = inside.sum(2)
    masked = (values.flatten(2) * inside).sum(2) / count.clamp_min(1.0)
    return torch.where(count > 0, masked, plain)


def region_mean(values: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Per-image mean (B,) of :func:`channel_means` over the channels."""
    return channel_means(values, valid).mean(1)


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5,
         valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean SSIM per image: (B,C,H,W), (B,C,H,W) in [0,1] -> (B,) in [-1, 1]."""
    return region_mean(ssim_components(x, y, window, sigma)[0], valid)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5,
            floor: float = 1e-6, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Multi-scale SSIM per image: (B,C,H,W) pair in [0,1] -> (B,) in [0, 1] (see module doc)."""
    side = min(x.shape[-2], x.shape[-1])
    if valid is not None:  # the scales the smallest image content affords
        rows = (valid.amax(-1) > 0).flatten(1).sum(1)
        cols = (valid.amax(-2) > 0).flatten(1).sum(1)
        side = int(min(int(rows.min()), int(cols.min())))
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS) and side // 2**scales >= window:
        scales += 1
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], dtype=x.dtype, device=x.device)
    weights = weights / weights.sum()
    values = []
    for i in range(scales):
        s, cs = ssim_components(x, y, window, sigma)
        if i == scales - 1:
            values.append(region_mean(s, valid).clamp_min(floor))
        else:
            values.append(region_mean(cs, valid).clamp_min(floor))
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
            if valid is not None:  # a pooled pixel is valid when its whole 2x2 cell is
                valid = 1.0 - F.max_pool2d(1.0 - valid.to(x.dtype), 2)
    stack = torch.stack(values, dim=1)  # (B, scales)
    return torch.prod(stack ** weights, dim=1)


def ssim_term(fused: torch.Tensor, ir: torch.Tensor, vis_y: torch.Tensor,
              kind: Literal["ssim", "ms-ssim", "cs"] = "ssim", valid: torch.Tensor | None = None
              ) -> torch.Tensor:
    """``L_ssim = 1 - (S(u, ir) + S(u, vis_y)) / 2``, batch mean; inputs (B,1,H,W) in [0,1].

    ``S`` is SSIM, MS-SSIM or SSIM's contrast-structure part alone (``cs``: no luminance
    factor, which otherwise pulls u's local mean towards a compromise of the two sources'
    and so against the pixel term), over the ``valid`` region when given (module doc). Scalar,
    0 when ``u`` equals both inputs.
    """
    if kind in ("ssim", "cs"):
        s_ir, s_vis = ssim_to_both(fused, ir, vis_y, valid=valid, luminance=kind == "ssim")
    elif kind == "ms-ssim":
        s_ir, s_vis = ms_ssim(fused, ir, valid=valid), ms_ssim(fused, vis_y, valid=valid)
    else:
        raise ConfigError(f"loss.ssim_kind: expected 'ssim', 'ms-ssim' or 'cs', found {kind!r}")
    return 1.0 - 0.5 * (s_ir.mean() + s_vis.mean())


class SSIMLoss(nn.Module):
    """Module form of :func:`ssim_term` (stores only ``kind``)."""

    def __init__(self, kind: Literal["ssim", "ms-ssim", "cs"] = "ssim") -> None:
        super().__init__()
        self.kind = kind

    def forward(self, fused: torch.Tensor, ir: torch.Tensor, vis_y: torch.Tensor) -> torch.Tensor:
        return ssim_term(fused, ir, vis_y, self.kind)
