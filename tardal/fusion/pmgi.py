"""PMGI (Zhang et al., AAAI 2020): proportional maintenance of gradient and intensity.

Two paths exchange information through transfer blocks. With ``d = dim`` (16 published, the
config default) and every layer conv + BatchNorm + LReLU(0.2), "same" replicate padding:

* path inputs: infrared path ``cat(ir, ir, vis)``, visible path ``cat(vis, vis, ir)``;
* per path p: ``L1 = conv5x5(3->d)``, ``L2 = conv3x3(d->d)``,
  ``T1 = conv1x1(2d->d)`` on ``cat(L2_p, L2_other)``,
  ``L3 = conv3x3(3d->d)`` on ``cat(L1, L2, T1)``,
  ``T2 = conv1x1(2d->d)`` on ``cat(L3_p, L3_other)``, ``L4 = conv3x3(4d->d)`` on
  ``cat(L1, L2, L3, T2)`` (every path and transfer block has its own weights);
* output: conv1x1 on the eight L-outputs (8d -> 1) + tanh, mapped onto [0,1] as (tanh + 1) / 2.

Inputs are rescaled to [-1, 1] inside. :class:`PMGITopology` is shared with MFF-GAN, which feeds
each path one source and drops the BatchNorm. Loss: :func:`tardal.losses.published.pmgi_loss`.
"""

from __future__ import annotations

import torch
from torch import nn

from tardal.config import FusionConfig
from tardal.errors import ConfigError
from tardal.fusion.registry import FUSION


def conv_act(cin: int, cout: int, k: int, bn: bool) -> nn.Sequential:
    """conv k x k ("same", replicate) (+ BatchNorm) + LReLU(0.2)."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, 1, k // 2, bias=not bn,
                                         padding_mode="replicate")]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class PMGIPath(nn.Module):
    """The layers of one path: L1..L4 and its two transfer blocks T1, T2."""

    def __init__(self, cin: int, d: int, bn: bool) -> None:
        super().__init__()
        self.l1 = conv_act(cin, d, 5, bn)
        self.l2 = conv_act(d, d, 3, bn)
        self.t1 = conv_act(2 * d, d, 1, bn)
        self.l3 = conv_act(3 * d, d, 3, bn)
        self.t2 = conv_act(2 * d, d, 1, bn)
        self.l4 = conv_act(4 * d, d, 3, bn)


class PMGITopology(nn.Module):
    """Two-path network ``(x_a, x_b) -> logits (B,1,H,W)`` (before tanh).

    Args:
        in_channels: planes of each path input (3 for PMGI, 1 for MFF-GAN).
        dim: channels d of every layer.
        bn: BatchNorm after every convolution (PMGI) or none (MFF-GAN).
    """

    def __init__(self, in_channels: int, dim: int, bn: bool) -> None:
        super().__init__()
        self.path_a = PMGIPath(in_channels, dim, bn)
        self.path_b = PMGIPath(in_channels, dim, bn)
        self.out = nn.Conv2d(8 * dim, 1, 1)

    def forward(self, x_a: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor:
        pa, pb = self.path_a, self.path_b
        a1, b1 = pa.l1(x_a), pb.l1(x_b)
        a2, b2 = pa.l2(a1), pb.l2(b1)
        ta, tb = pa.t1(torch.cat((a2, b2), 1)), pb.t1(torch.cat((b2, a2), 1))
        a3, b3 = pa.l3(torch.cat((a1, a2, ta), 1)), pb.l3(torch.cat((b1, b2, tb), 1))
        ta, tb = pa.t2(torch.cat((a3, b3), 1)), pb.t2(torch.cat((b3, a3), 1))
        a4, b4 = pa.l4(torch.cat((a1, a2, a3, ta), 1)), pb.l4(torch.cat((b1, b2, b3, tb), 1))
        return self.out(torch.cat((a1, a2, a3, a4, b1, b2, b3, b4), 1))


@FUSION.register("pmgi")
class PMGI(nn.Module):
    """PMGI generator: ``fused = G(ir, vis)`` (module doc).

    Args:
        dim: channels d of every layer (config ``fusion.dim``; 16 is the published width).

    Input ``ir, vis``: (B,1,H,W) float in [0,1], any H, W; output (B,1,H,W) float in [0,1].
    """

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        if dim < 1:
            raise ConfigError(f"fusion.dim must be >= 1 for pmgi, found {dim}")
        self.net = PMGITopology(3, dim, bn=True)

    @classmethod
    def from_config(cls, cfg: FusionConfig) -> "PMGI":
        return cls(dim=cfg.dim)

    def forward(self, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        i, v = ir * 2.0 - 1.0, vis * 2.0 - 1.0
        logits = self.net(torch.cat((i, i, v), 1), torch.cat((v, v, i), 1))
        return (torch.tanh(logits) + 1.0) * 0.5
