"""The fusion-method registry and its factory.

Every fusion method is an ``nn.Module`` called as ``fused = net(ir, vis_y)`` with
``ir, vis_y: (B,1,H,W) float32 in [0,1]`` and ``fused: (B,1,H,W) float32 in [0,1]``, for any H, W.
A method registers under a short name; :func:`build_fusion` builds it from ``cfg.fusion``
through the class's ``from_config`` classmethod (or its no-argument constructor when it has none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tardal.registry import Registry

if TYPE_CHECKING:
    from torch import nn

    from tardal.config import FusionConfig

FUSION = Registry("fusion method")


def build_fusion(cfg: FusionConfig) -> nn.Module:
    """Build the fusion method named ``cfg.name`` with the widths and options in ``cfg``."""
    cls = FUSION.get(cfg.name)
    factory = getattr(cls, "from_config", None)
    return factory(cfg) if factory is not None else cls()
