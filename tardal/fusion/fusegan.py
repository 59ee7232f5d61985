"""FuseGAN (Guo et al., TMM 2019): multi-focus fusion by a confidence map from a conditional GAN.

No official code exists; this follows the paper's description. With ``d = dim`` (config default
16) and ``blocks = depth``:

* a Siamese encoder (one set of weights applied to ``a`` and to ``b``): conv3x3 1->4d, conv3x3
  stride 2 4d->8d, conv3x3 stride 2 8d->16d (each BN + ReLU), then ``blocks`` plain residual
  blocks at 16d;
* the two feature maps are concatenated (32d) and decoded by two stride-2 transposed
  convolutions (16d, 8d) + BN + ReLU and a conv3x3 8d->1 + sigmoid: the confidence map that ``a``
  is in focus. Inputs are padded to a multiple of 4 and the map is cropped back.

Refinement into a decision map (:meth:`FuseGAN.decision`): threshold at 0.5, remove islands under
0.1% of the image from both sides, then a guided filter (He et al.) guided by the mean of the
sources softens the seam along image edges; this guided filter stands in for the paper's CRF-like
post-processing. Regions far from the seam keep weights exactly 0 or 1.

Training: :func:`tardal.losses.published.fusegan_g_loss` / ``fusegan_d_loss`` (LSGAN, PatchGAN
discriminator ``DISCRIMINATORS["patchgan"]`` on ``cat(a, b, map)``) on synthetic pairs from
:func:`tardal.data.defocus.defocus_pair` with ``blur="disk"``.
"""

from __future__ import annotations

import torch
from torch import nn

from tardal.config import FusionConfig
from tardal.fusion.decision import blend, fuse_rgb_with, guided_filter, refine
from tardal.fusion.mfifgan import FocusMapNet
from tardal.fusion.registry import FUSION


@FUSION.register("fusegan")
class FuseGAN(nn.Module):
    """FuseGAN: ``fused = a W + b (1 - W)`` with W the refined confidence map.

    Args:
        dim: width unit d (config ``fusion.dim``).
        blocks: residual blocks after the encoder (config ``fusion.depth``).
        min_fraction: islands under this fraction of the image are removed from the map.
        radius, eps: guided-filter window radius and regulariser.

    Input ``a`` (near focus), ``b`` (far focus): (B,1,H,W) float in [0,1], any H, W; output
    (B,1,H,W) float in [0,1]. :meth:`focus_map` is the differentiable training output.
    """

    def __init__(self, dim: int = 16, blocks: int = 3, min_fraction: float = 0.001,
                 radius: int = 4, eps: float = 1e-2) -> None:
        super().__init__()
        self.net = FocusMapNet(dim, blocks, se=False, stem=3)
        self.min_fraction, self.radius, self.eps = min_fraction, radius, eps

    @classmethod
    def from_config(cls, cfg: FusionConfig) -> "FuseGAN":
        return cls(dim=cfg.dim, blocks=cfg.depth)

    def focus_map(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Soft confidence map (B,1,H,W) in [0,1] (1 = ``a`` in focus)."""
        return self.net(a, b)

    def decision(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Refined weight map (B,1,H,W) in [0,1] for (B,1,H,W) sources (module doc)."""
        binary = refine(self.focus_map(a, b), self.min_fraction)
        guide = (a + b) * 0.5
        return guided_filter(guide, binary, self.radius, self.eps).clamp(0.0, 1.0)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return blend(a, b, self.decision(a, b))

    def fuse_rgb(self, a_rgb: torch.Tensor, b_rgb: torch.Tensor) -> torch.Tensor:
        """Colour fusion (B,3,H,W) -> (B,3,H,W): the decision map of the luma applied to colour."""
        return fuse_rgb_with(self.decision, a_rgb, b_rgb)
