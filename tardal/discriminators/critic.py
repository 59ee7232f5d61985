"""The critic network shared by the target and detail discriminators.

Three or four conv3x3 stride-2 layers (widths d, 2d, 4d[, 8d]) each followed by LeakyReLU(0.2),
no normalisation (a Wasserstein critic with a gradient penalty must not mix samples of a
batch), then an adaptive average pool to ``pool x pool`` and one linear layer (no bias) to a
single score. The pool makes the critic independent of the input size: any H, W >= 1 works.
"""

from __future__ import annotations

import torch
from torch import nn

from tardal.config import DiscriminatorConfig
from tardal.errors import ConfigError
from tardal.losses.gradient import sobel_magnitude
from tardal.ops.morphology import erode
from tardal.registry import Registry

DISCRIMINATORS = Registry("discriminator")


class Critic(nn.Module):
    """Critic ``(B,C,H,W) float -> (B,) float`` (unbounded Wasserstein score).

    Args:
        in_channels: input planes (1 for both TarDAL discriminators).
        dim: width d of the first layer.
        layers: 3 or 4 stride-2 convolutions.
        pool: side of the adaptive average pool before the linear layer.
    """

    def __init__(self, in_channels: int = 1, dim: int = 32, layers: int = 3, pool: int = 4) -> None:
        super().__init__()
        if layers not in (3, 4):
            raise ConfigError(f"disc.layers: expected 3 or 4, found {layers}")
        if dim < 1 or pool < 1:
            raise ConfigError(f"disc.dim and disc.pool must be >= 1, found {dim}, {pool}")
        blocks: list[nn.Module] = []
        cin = in_channels
        for i in range(layers):
            cout = dim * 2**i
            blocks += [nn.Conv2d(cin, cout, 3, 2, 1), nn.LeakyReLU(0.2)]
            cin = cout
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(pool)
        # No bias: every Wasserstein term (E[D(fake)] - E[D(real)], the gradient penalties, the
        # generator's -E[D(u)] gradient) is blind to a constant offset, so it would never train.
        self.score = nn.Linear(cin * pool * pool, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(torch.flatten(self.pool(self.features(x)), 1)).squeeze(1)

    def view(self, image: torch.Tensor, mask: torch.Tensor,
             valid: torch.Tensor | None = None) -> torch.Tensor:
        """The sample this critic judges, built from an image (B,1,H,W) and mask (B,1,H,W);
        ``valid`` (B,1,H,W) zeroes letterbox padding out of the sample."""
        raise NotImplementedError


@DISCRIMINATORS.register("target")
class TargetDiscriminator(Critic):
    """D_t: intensity inside salient targets. ``view(x, m) = x * m`` (times ``valid``)."""

    def view(self, image: torch.Tensor, mask: torch.Tensor,
             valid: torch.Tensor | None = None) -> torch.Tensor:
        return image * (mask if valid is None else mask * valid)


@DISCRIMINATORS.register("detail")
class DetailDiscriminator(Critic):
    """D_d: background texture. ``view(x, m) = sobel_magnitude(x) * (1 - m)``.

    With ``use_mask=False`` (``disc.detail_mask: false``) the whole gradient map is judged.
    ``sobel_scale`` (``disc.sobel``) multiplies the magnitude: 1 (raw) or 1/8 (the public code's
    normalised Sobel; with the divergence penalty's p = 6 the scale changes what the penalty
    means). With ``valid``, the gradients of padding pixels and of the image's own border row (whose
    Sobel window reaches into the padding) are zeroed.
    """

    def __init__(self, in_channels: int = 1, dim: int = 32, layers: int = 3, pool: int = 4,
                 use_mask: bool = True, sobel_scale: float = 1.0) -> None:
        super().__init__(in_channels, dim, layers, pool)
        self.use_mask, self.sobel_scale = use_mask, sobel_scale

    def view(self, image: torch.Tensor, mask: torch.Tensor,
             valid: torch.Tensor | None = None) -> torch.Tensor:
        grad = sobel_magnitude(image)
        if self.sobel_scale != 1.0:
            grad = grad * self.sobel_scale
        if valid is not None:
            grad = grad * erode(valid.to(grad.dtype), 3, same=True)
        return grad * (1.0 - mask) if self.use_mask else grad


#: ``disc.sobel`` -> factor on the unnormalised Sobel magnitude D_d sees.
SOBEL_SCALES = {"raw": 1.0, "normalized": 1.0 / 8.0}


def build_discriminator(name: str, cfg: DiscriminatorConfig) -> Critic:
    """Build the discriminator registered as ``name`` (``target`` or ``detail``) from ``cfg``."""
    cls = DISCRIMINATORS.get(name)
    kwargs = dict(dim=cfg.dim, layers=cfg.layers, pool=cfg.pool)
    if issubclass(cls, DetailDiscriminator):
        kwargs["use_mask"] = cfg.detail_mask
        kwargs["sobel_scale"] = SOBEL_SCALES[cfg.sobel]
    return cls(**kwargs)
