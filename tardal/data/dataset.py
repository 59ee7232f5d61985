"""The PyTorch Dataset over the canonical layout, and the batch collate function.

::

    ds = PairedDataset("runs/data/synth", "train", img_size=320, augment=cfg.data.augment)
    loader = DataLoader(ds, batch_size=8, shuffle=True, collate_fn=collate_pairs)
    for epoch in range(epochs):
        ds.set_epoch(epoch)   # new augmentation draws each epoch, reproducible from the seed
        for batch in loader: ...

Infrared is read as one channel: a file with three identical planes (M3FD, LLVIP) as its first
plane, a 16-bit file divided by 65535 (see ``data/README.md``). Labels are parsed when the
Dataset is built, so a bad label file fails at once, naming the file and line.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from tardal.data.labels import read_yolo, yolo_to_xyxy
from tardal.data.layout import Pair, check_pair_size, read_data_yaml, resolve_pairs, split_stems
from tardal.data.transforms import AugmentSettings, letterbox, random_augment, resize_image
from tardal.errors import ConfigError, DataError
from tardal.io import decode_ir, decode_rgb, to_unit

log = logging.getLogger(__name__)

ALIGN_MODES = ("error", "resize")


def decode_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """One pair as stored: :func:`tardal.io.decode_ir` and :func:`tardal.io.decode_rgb`."""
    return decode_ir(pair.ir), decode_rgb(pair.vi)


def read_pair(pair: Pair, align: str = "error",
              decoded: tuple[np.ndarray, np.ndarray] | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Decode one pair (or take its ``decoded`` form, :func:`decode_pair`): ir (H, W) and vis
    (H, W, 3) RGB, float32 in [0, 1], of equal size.

    With ``align="error"`` images of different sizes raise DataError naming both files and
    sizes; with ``align="resize"`` the visible image is resized to the infrared size.
    """
    ir, vis = (to_unit(img) for img in (decoded or decode_pair(pair)))
    if ir.shape[:2] != vis.shape[:2]:
        if align != "resize":
            check_pair_size(pair.stem, pair.ir, ir.shape[:2], pair.vi, vis.shape[:2],
                            hint="register the pair, or set align to 'resize' (data.align=resize) "
                            "to resize the visible image to the infrared size")
        vis = resize_image(vis, *ir.shape[:2])
    return ir, vis


class PairedDataset(Dataset):
    """Registered infrared/visible pairs with boxes, from a data set in the canonical layout.

    Args:
        root: data set root (holds ``data.yaml``).
        split: ``train``, ``val``, ``test`` (or another ``meta/<name>.txt``), ``all`` for every
            pair, or an explicit sequence of stems.
        img_size: letterbox every pair to ``img_size x img_size`` (grey 114/255 padding); None
            keeps the file size.
        augment: random scale, crop and flip settings (e.g. ``tardal.config.AugmentConfig``);
            None disables augmentation. Applied before the letterbox.
        align: ``"error"`` or ``"resize"`` for pairs whose images differ in size.
        seed: augmentation seed; item ``i`` of epoch ``e`` draws from ``(seed, e, i)``, so
            results do not depend on worker count or order.
        exclude: stems to leave out (e.g. the pairs ``tardal data check`` found unusable, when
            training with ``--skip-bad``); stems the split does not hold are ignored. Excluded
            pairs are not resolved, so their files may be missing or broken.

    Items are dicts:

    * ``ir``: (1, H, W) float32 in [0, 1]; ``vis``: (3, H, W) float32 RGB in [0, 1]
    * ``boxes_xyxy``: (N, 4) float32 pixels of the returned image; ``labels``: (N,) int64
    * ``name``: the stem; ``orig_size``: (H0, W0) of the infrared file
    * ``letterbox``: (ratio, pad_x, pad_y); a returned-image point maps to the file as
      ``(x - pad_x) / ratio`` (ratio 1, pads 0 without ``img_size``; with augmentation it maps
      to the augmented image instead)
    * ``content``: (x0, y0, w, h), where the image's own pixels lie in the returned image (the
      rest is letterbox padding)
    """

    def __init__(
        self,
        root: str | Path,
        split: str | Sequence[str] = "train",
        *,
        img_size: int | None = None,
        augment: AugmentSettings | None = None,
        align: str = "error",
        seed: int = 0,
        exclude: Iterable[str] = (),
    ) -> None:
        if align not in ALIGN_MODES:
            raise ConfigError(f"align must be one of {', '.join(ALIGN_MODES)}, found {align!r}")
        if img_size is not None and int(img_size) <= 0:
            raise ConfigError(f"img_size must be a positive integer or None, found {img_size!r}")
        self.root = Path(root)
        self.info = read_data_yaml(self.root)
        self.names: list[str] = list(self.info.names)
        self.split = split if isinstance(split, str) else "custom"
        stems = split_stems(self.root, split) if isinstance(split, str) else list(split)
        if isinstance(exclude, str):
            raise ConfigError(f"exclude must be a collection of stems, found the string {exclude!r}")
        leave_out = set(exclude)
        self.excluded: list[str] = [s for s in stems if s in leave_out]
        if self.excluded:
            stems = [s for s in stems if s not in leave_out]
            log.info("split %r of %s: leaving out %d excluded pair(s)", self.split, self.root,
                     len(self.excluded))
        if not stems:
            log.warning("split %r of %s is empty", self.split, self.root)
        self.pairs: list[Pair] = resolve_pairs(self.root, stems, labels=self.info.labels)
        self.img_size = None if img_size is None else int(img_size)
        #: ``extra(index) -> (H, W) float32`` image augmented and letterboxed with the pair and
        #: returned as ``item["fused"]`` (1, H, W): a frozen front-end's cached output
        self.extra: Any = None
        self.augment = augment
        self.align = align
        #: every pair decoded, by index (:meth:`cache_images`); None: decoded on each access
        self.images: list[tuple[np.ndarray, np.ndarray]] | None = None
        self.seed = int(seed)
        self.epoch = 0
        nc = len(self.names)
        self._rows: list[np.ndarray] = [
            read_yolo(p.label, nc) if p.label is not None else np.zeros((0, 5), np.float64)
            for p in self.pairs
        ]

    def __len__(self) -> int:
        return len(self.pairs)

    def __repr__(self) -> str:
        return (f"PairedDataset(root={str(self.root)!r}, split={self.split!r}, pairs={len(self)}, "
                f"classes={len(self.names)}, img_size={self.img_size})")

    def set_epoch(self, epoch: int) -> None:
        """Choose the augmentation draws of ``epoch`` (call before iterating)."""
        self.epoch = int(epoch)

    def cache_images(self, threads: int = 4, budget: float = 0.5) -> bool:
        """Decode every pair once and keep it in memory as stored (8- or 16-bit planes), so
        items skip the decoding with the same values. Refused with a warning, leaving the
        dataset as it was, when the pairs would take more than ``budget`` of the memory
        available now (estimated from the first pairs). Decoding runs on ``threads`` threads.
        DataLoader workers started after this share the images (fork, copy-on-write).
        Returns whether the images are cached."""
        from concurrent.futures import ThreadPoolExecutor

        from tardal.io import available_memory

        if self.images is not None or not self.pairs:
            return self.images is not None
        first = [decode_pair(p) for p in self.pairs[:4]]
        need = sum(a.nbytes + b.nbytes for a, b in first) / len(first) * len(self.pairs)
        free = available_memory()
        if free is not None and need > budget * free:
            log.warning("data.cache ram: the %d pairs of split %r would take %.1f GB, more than "
                        "%.0f %% of the %.1f GB available; reading them from disk instead",
                        len(self.pairs), self.split, need / 1e9, budget * 100, free / 1e9)
            return False
        with ThreadPoolExecutor(max(1, threads)) as pool:
            rest = list(pool.map(decode_pair, self.pairs[len(first):]))
        self.images = first + rest
        log.info("data.cache ram: %d pairs of split %r in memory (%.2f GB)", len(self.images),
                 self.split, self.cached_bytes / 1e9)
        return True

    @property
    def cached_bytes(self) -> int:
        """Bytes held by :meth:`cache_images` (0 when nothing is cached)."""
        return sum(a.nbytes + b.nbytes for a, b in self.images or ())

    def annotations(self, index: int) -> np.ndarray:
        """(N, 5) float64 normalised ``cls cx cy w h`` of pair ``index`` (no image decoding)."""
        return self._rows[index].copy()

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.pairs):
            raise IndexError(f"index {index} out of range for {len(self.pairs)} pairs")
        pair = self.pairs[index]
        cached = None if self.images is None else self.images[index]
        ir, vis = read_pair(pair, self.align, cached)
        if self.extra is not None:  # rides along as a 4th channel through every transform
            vis = np.concatenate([vis, self.extra(index)[..., None]], axis=2)
        h0, w0 = ir.shape[:2]
        rows = self._rows[index]
        boxes = yolo_to_xyxy(rows, w0, h0)
        labels = rows[:, 0].astype(np.int64)
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            ir, vis, boxes, labels = random_augment(ir, vis, boxes, labels, self.augment, rng)
        h1, w1 = ir.shape[:2]
        if self.img_size is not None:
            ir, vis, boxes, lb = letterbox(ir, vis, boxes, self.img_size)
            ratio, pad_x, pad_y = lb
            content = (int(pad_x), int(pad_y), max(1, int(round(w1 * ratio))),
                       max(1, int(round(h1 * ratio))))
        else:
            lb, content = (1.0, 0.0, 0.0), (0, 0, int(w1), int(h1))
        extra = {}
        if self.extra is not None:
            extra["fused"] = torch.from_numpy(np.ascontiguousarray(vis[..., 3], np.float32))[None]
            vis = vis[..., :3]
        return {
            **extra,
            "ir": torch.from_numpy(np.ascontiguousarray(ir, np.float32))[None],
            "vis": torch.from_numpy(np.ascontiguousarray(vis.transpose(2, 0, 1), np.float32)),
            "boxes_xyxy": torch.from_numpy(np.ascontiguousarray(boxes, np.float32).reshape(-1, 4)),
            "labels": torch.from_numpy(np.ascontiguousarray(labels, np.int64).reshape(-1)),
            "name": pair.stem,
            "orig_size": (int(h0), int(w0)),
            "letterbox": lb,
            "content": content,
        }


def valid_masks(contents: list[tuple[int, int, int, int]], height: int, width: int
                ) -> torch.Tensor:
    """(B,1,H,W) float masks, 1 inside each item's ``content`` box (x0, y0, w, h), 0 on the
    letterbox padding around it."""
    out = torch.zeros(len(contents), 1, height, width)
    for i, (x0, y0, w, h) in enumerate(contents):
        out[i, :, y0:y0 + h, x0:x0 + w] = 1.0
    return out


def collate_pairs(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack Dataset items into a batch.

    Returns:
        ``ir`` (B,1,H,W), ``vis`` (B,3,H,W); per-image lists ``boxes_xyxy`` [(N_i,4)],
        ``labels`` [(N_i,)], ``name``, ``orig_size``, ``letterbox``; and the flat form over all
        M boxes of the batch: ``batch_idx`` (M,) float32 image index, ``cls`` (M,1) float32,
        ``bboxes`` (M,4) float32 normalised ``cx cy w h`` (also under ``boxes_cxcywh_norm``).

    Raises:
        DataError: the images do not all have one size (letterbox them with ``img_size``).
    """
    if not items:
        raise DataError("collate_pairs got an empty batch")
    sizes = {tuple(it["ir"].shape[-2:]) for it in items}
    if len(sizes) > 1:
        listed = ", ".join(f"{it['name']}: {tuple(it['ir'].shape[-2:])}" for it in items[:6])
        raise DataError(
            f"cannot batch images of different sizes ({listed}); set img_size to letterbox "
            "them to one size, or use batch size 1"
        )
    H, W = sizes.pop()
    boxes = [it["boxes_xyxy"].reshape(-1, 4).float() for it in items]
    labels = [it["labels"].reshape(-1).long() for it in items]
    flat = torch.cat(boxes) if boxes else torch.zeros(0, 4)
    scale = torch.tensor([W, H, W, H], dtype=torch.float32)
    cxcywh = torch.stack(
        [(flat[:, 0] + flat[:, 2]) / 2, (flat[:, 1] + flat[:, 3]) / 2,
         flat[:, 2] - flat[:, 0], flat[:, 3] - flat[:, 1]], dim=1
    ) / scale if len(flat) else torch.zeros(0, 4)
    batch_idx = torch.cat([torch.full((len(b),), float(i)) for i, b in enumerate(boxes)])
    return {
        "ir": torch.stack([it["ir"] for it in items]),
        "vis": torch.stack([it["vis"] for it in items]),
        "boxes_xyxy": boxes,
        "labels": labels,
        "name": [it["name"] for it in items],
        "orig_size": [it["orig_size"] for it in items],
        "letterbox": [it["letterbox"] for it in items],
        "valid": valid_masks([it["content"] for it in items], H, W) if "content" in items[0]
        else torch.ones(len(items), 1, H, W),
        "batch_idx": batch_idx,
        "cls": torch.cat(labels).float().reshape(-1, 1),
        "bboxes": cxcywh,
        "boxes_cxcywh_norm": cxcywh,
    }
