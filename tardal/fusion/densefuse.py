"""DenseFuse (Li and Wu, TIP 2019): an auto-encoder with a hand-made fusion rule in between.

The network is trained only to reconstruct single grey images
(:func:`tardal.losses.published.densefuse_loss` on :meth:`DenseFuse.reconstruct`); fusion encodes
both sources, merges the two 4d-channel feature stacks with a rule and decodes:

* ``add``: ``(phi_a + phi_b) / 2``, the addition strategy as the authors' PyTorch code runs
  it. The paper's plain sum doubles the feature scale the decoder was trained on (it only ever
  saw one image's features): measured on the 4 TNO pairs of tang-conformance with a RoadScene-
  trained network, the sum saturated 26-53 % of the pixels to white (mean grey 224-239 against
  128-161 in the sources);
* ``l1``: activity ``C_k = sum_c |phi_k|`` averaged over a 3x3 window, ``w_k = C_k / (C_a + C_b)``,
  ``f = w_a phi_a + w_b phi_b``.

Layout (``d = dim``, 16 in the paper; every conv 3x3, reflect padding, no normalisation):
encoder conv 1->d + ReLU, dense block of three convs (inputs d, 2d, 3d; d out each; ReLU;
concatenation) giving 4d; decoder 4d->4d->2d->d (ReLU) then d->1 (linear).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from tardal.config import FusionConfig
from tardal.errors import ConfigError
from tardal.fusion.registry import FUSION

Rule = Literal["add", "l1"]


def _conv(cin: int, cout: int, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, 1, 1, padding_mode="reflect")]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def add_rule(phi_a: torch.Tensor, phi_b: torch.Tensor) -> torch.Tensor:
    """``(phi_a + phi_b) / 2`` on (B,C,H,W) feature maps (module doc: why not the sum)."""
    return 0.5 * (phi_a + phi_b)


def l1_rule(phi_a: torch.Tensor, phi_b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """The l1-norm rule on (B,C,H,W) feature maps: activity-weighted average (module doc)."""
    c_a = F.avg_pool2d(phi_a.abs().sum(1, keepdim=True), 3, 1, 1, count_include_pad=False)
    c_b = F.avg_pool2d(phi_b.abs().sum(1, keepdim=True), 3, 1, 1, count_include_pad=False)
    w_a = (c_a + eps) / (c_a + c_b + 2.0 * eps)
    return w_a * phi_a + (1.0 - w_a) * phi_b


@FUSION.register("densefuse")
class DenseFuse(nn.Module):
    """DenseFuse: ``fused = decode(rule(encode(a), encode(b)))``, clamped to [0,1].

    Args:
        dim: width d (config ``fusion.dim``; 16, the config default, is the published width).
        rule: ``"add"`` (default) or ``"l1"`` (module doc); not in ``FusionConfig``, set it as an
            attribute or constructor keyword.

    Input ``a, b``: (B,1,H,W) float in [0,1] (H, W >= 2); output (B,1,H,W) float in [0,1].
    :meth:`reconstruct` gives the unclamped auto-encoder output used for training.
    """

    def __init__(self, dim: int = 16, rule: Rule = "add") -> None:
        super().__init__()
        if dim < 1:
            raise ConfigError(f"fusion.dim must be >= 1 for densefuse, found {dim}")
        if rule not in ("add", "l1"):
            raise ConfigError(f"densefuse rule: expected 'add' or 'l1', found {rule!r}")
        self.rule: Rule = rule
        self.stem = _conv(1, dim)
        self.dense = nn.ModuleList(_conv(dim * (i + 1), dim) for i in range(3))
        self.decoder = nn.Sequential(
            _conv(4 * dim, 4 * dim), _conv(4 * dim, 2 * dim), _conv(2 * dim, dim),
            _conv(dim, 1, relu=False),
        )

    @classmethod
    def from_config(cls, cfg: FusionConfig) -> "DenseFuse":
        return cls(dim=cfg.dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B,1,H,W) -> (B,4d,H,W) features."""
        x = self.stem(x)
        for layer in self.dense:
            x = torch.cat((x, layer(x)), dim=1)
        return x

    def decode(self, phi: torch.Tensor) -> torch.Tensor:
        """(B,4d,H,W) -> (B,1,H,W), unbounded."""
        return self.decoder(phi)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Auto-encoder output (B,1,H,W), unclamped: the training path."""
        return self.decode(self.encode(x))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.rule not in ("add", "l1"):
            raise ConfigError(f"densefuse rule: expected 'add' or 'l1', found {self.rule!r}")
        merge = add_rule if self.rule == "add" else l1_rule
        return self.decode(merge(self.encode(a), self.encode(b))).clamp(0.0, 1.0)
