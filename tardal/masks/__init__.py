"""Target-mask providers, in one registry: ``boxes``, ``lc``, ``u2net``.

    from tardal.masks import build_mask_provider
    provider = build_mask_provider(cfg.mask, has_labels=True)
    m = provider(batch)            # (B,1,H,W) float32 in [0,1], cached per image

``mask.provider: auto`` picks ``boxes`` when the data set has labels, else ``lc``.
"""

from __future__ import annotations

from tardal.config import MaskConfig
from tardal.masks.base import MaskProvider
from tardal.masks.boxes import BoxesMask, boxes_mask
from tardal.masks.lc import LCMask, lc_mask, lc_saliency
from tardal.masks.registry import MASKS
from tardal.masks.u2net import U2NetMask, U2NetSmall, load_u2net


def resolve_provider_name(cfg: MaskConfig, has_labels: bool) -> str:
    """The provider name ``cfg.provider`` means for a data set with or without labels."""
    if cfg.provider == "auto":
        return "boxes" if has_labels else "lc"
    return cfg.provider


def build_mask_provider(cfg: MaskConfig, has_labels: bool) -> MaskProvider:
    """Build the mask provider named by ``cfg.provider`` (``auto`` resolved by ``has_labels``)."""
    return MASKS.build(resolve_provider_name(cfg, has_labels), cfg)


__all__ = ["MASKS", "MaskProvider", "BoxesMask", "LCMask", "U2NetMask", "U2NetSmall",
           "boxes_mask", "lc_mask", "lc_saliency", "load_u2net", "build_mask_provider",
           "resolve_provider_name"]
