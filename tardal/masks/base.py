"""Mask providers: the target mask m (B,1,H,W) in [0,1] for a batch, cached per image.

A provider computes one mask per image from the infrared image (H,W) float32 in [0,1] and the
image's boxes (N,4) xyxy pixels. Results are cached under the image name plus a digest of the
infrared pixels and boxes, so an augmented view (crop, flip) of the same image never receives a
stale mask, and the unaugmented validation images hit the cache from the second epoch on.
Binary masks are stored bit-packed, soft masks as 8-bit.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from typing import Any, Mapping

import numpy as np
import torch

from tardal.config import MaskConfig

log = logging.getLogger(__name__)


class MaskProvider:
    """Base class: subclasses implement :meth:`compute`."""

    #: whether :meth:`compute` returns a binary mask (stored bit-packed in the cache).
    binary: bool = True

    def __init__(self, cfg: MaskConfig | None = None) -> None:
        self.cfg = cfg if cfg is not None else MaskConfig()
        self.cache_size = max(0, int(self.cfg.cache))
        self._cache: OrderedDict[tuple, tuple[np.ndarray, tuple[int, int]]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def compute(self, ir: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        """One mask: ``ir`` (H,W) float32 [0,1], boxes (N,4) float32 -> (H,W) float32 [0,1]."""
        raise NotImplementedError

    # -- caching --------------------------------------------------------------------------

    @staticmethod
    def _key(name: str, ir: np.ndarray, boxes: np.ndarray) -> tuple:
        h = hashlib.blake2b(digest_size=16)
        h.update(np.ascontiguousarray(ir).tobytes())
        h.update(np.ascontiguousarray(boxes, np.float32).tobytes())
        return (name, ir.shape, h.hexdigest())

    def _store(self, key: tuple, mask: np.ndarray) -> None:
        if self.cache_size == 0:
            return
        if self.binary:
            packed = np.packbits(mask > 0.5, axis=None)
        else:
            packed = np.clip(np.rint(mask * 255.0), 0, 255).astype(np.uint8)
        self._cache[key] = (packed, mask.shape)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _load(self, key: tuple) -> np.ndarray | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        self._cache.move_to_end(key)
        packed, shape = entry
        if self.binary:
            n = shape[0] * shape[1]
            return np.unpackbits(packed, count=n).reshape(shape).astype(np.float32)
        return packed.astype(np.float32) / 255.0

    def mask_for(self, ir: np.ndarray, boxes_xyxy: np.ndarray | None = None,
                 name: str = "") -> np.ndarray:
        """Mask (H,W) float32 in [0,1] for one image, through the cache when ``name`` is given."""
        if boxes_xyxy is None:
            boxes = np.zeros((0, 4), np.float32)
        else:
            boxes = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
        ir = np.ascontiguousarray(ir, np.float32)
        key = self._key(name, ir, boxes) if name else None
        if key is not None:
            hit = self._load(key)
            if hit is not None:
                self.hits += 1
                return hit
        self.misses += 1
        mask = np.clip(self.compute(ir, boxes).astype(np.float32), 0.0, 1.0)
        if self.binary:
            mask = (mask > 0.5).astype(np.float32)
        if key is not None:
            self._store(key, mask)
        return mask

    def __call__(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Masks (B,1,H,W) float32 in [0,1] for a collated batch (``ir``, ``name``, boxes)."""
        ir = batch["ir"]
        names = batch.get("name") or [""] * ir.shape[0]
        boxes = batch.get("boxes_xyxy") or [None] * ir.shape[0]
        planes = ir.detach().to("cpu", torch.float32)[:, 0].numpy()
        masks = [self.mask_for(planes[i], _np(boxes[i]), str(names[i])) for i in range(ir.shape[0])]
        return torch.from_numpy(np.stack(masks)[:, None]).to(device=ir.device, dtype=ir.dtype)


def _np(x: Any) -> np.ndarray | None:
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)
