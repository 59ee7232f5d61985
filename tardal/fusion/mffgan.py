"""MFF-GAN (Zhang et al., Information Fusion 2021): multi-focus fusion with a weight-free
decision block.

Generator: the PMGI topology (:class:`tardal.fusion.pmgi.PMGITopology`) with one source per path
(path a takes ``a``, path b takes ``b``; first conv 5x5 1->d), no BatchNorm, LReLU(0.2), tanh
mapped onto [0,1]; ``d = dim`` (16 published, the config default). Inputs are rescaled to [-1, 1]
inside.

Decision block (no weights): the blur residual ``|I - G*(G*I)|`` (G a 3x3 Gaussian, sigma 1.5)
says which source is in focus; training uses the per-pixel masks
(:func:`tardal.losses.published.mffgan_masks`), inference by decision map
(:meth:`MFFGAN.decision`, :meth:`MFFGAN.fuse_rgb`) uses the box-summed residual and island
removal of :func:`tardal.fusion.decision.blur_residual_decision`.

Losses: :func:`tardal.losses.published.mffgan_g_loss` / ``mffgan_d_loss`` with the discriminator
``DISCRIMINATORS["mffgan"]`` on :func:`~tardal.losses.published.mffgan_d_inputs`.
"""

from __future__ import annotations

import torch
from torch import nn

from tardal.config import FusionConfig
from tardal.errors import ConfigError
from tardal.fusion.decision import blend, blur_residual_decision, fuse_rgb_with
from tardal.fusion.pmgi import PMGITopology
from tardal.fusion.registry import FUSION


@FUSION.register("mffgan")
class MFFGAN(nn.Module):
    """MFF-GAN generator ``fused = G(a, b)`` plus its weight-free decision path.

    Args:
        dim: channels d of every layer (config ``fusion.dim``).
        window: side of the box summing the blur residual in :meth:`decision`.
        min_fraction: islands under this fraction of the image are removed in :meth:`decision`.

    Input ``a`` (near focus), ``b`` (far focus): (B,1,H,W) float in [0,1], any H, W; output
    (B,1,H,W) float in [0,1].
    """

    def __init__(self, dim: int = 16, window: int = 7, min_fraction: float = 0.001) -> None:
        super().__init__()
        if dim < 1:
            raise ConfigError(f"fusion.dim must be >= 1 for mffgan, found {dim}")
        self.net = PMGITopology(1, dim, bn=False)
        self.window, self.min_fraction = window, min_fraction

    @classmethod
    def from_config(cls, cfg: FusionConfig) -> "MFFGAN":
        return cls(dim=cfg.dim)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (torch.tanh(self.net(a * 2.0 - 1.0, b * 2.0 - 1.0)) + 1.0) * 0.5

    def decision(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Weight-free decision map (B,1,H,W) in {0,1}: 1 where ``a`` is in focus."""
        return blur_residual_decision(a, b, window=self.window, min_fraction=self.min_fraction)

    def fuse_decision(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Grey fusion by the weight-free decision map: ``a M + b (1 - M)``, (B,1,H,W)."""
        return blend(a, b, self.decision(a, b))

    def fuse_rgb(self, a_rgb: torch.Tensor, b_rgb: torch.Tensor) -> torch.Tensor:
        """Colour fusion (B,3,H,W) -> (B,3,H,W): the decision map of the luma applied to colour."""
        return fuse_rgb_with(self.decision, a_rgb, b_rgb)
