"""Data for training: make sure the data set exists, then build the loaders from config.

* :func:`ensure_dataset` generates the synthetic set at ``data.root`` when it is missing and
  ``data.generate`` is true (the built-in default data set); otherwise a missing root is an
  error that says how to import one (``tardal data import pairs SRC --out ROOT`` for TNO or
  RoadScene).
* :func:`build_loaders` returns the training loader (augmented, letterboxed to
  ``data.img_size``) and the validation loader (letterboxed, not augmented). Shuffling draws
  from ``(train.seed, epoch)`` through :class:`EpochSampler`, and augmentations from
  ``(seed, epoch, index)`` inside the Dataset, so an epoch's batches are the same whether the
  run was resumed or not, and whatever the number of workers. The sampler hands each worker
  ``(epoch, index)``, so persistent workers (kept alive across epochs) draw the right epoch.
* Modes that need target masks get them from the data pipeline: :class:`TrainPairs` computes
  each image's mask in the DataLoader worker, from the augmented, letterboxed pair and its boxes
  (the pixels the step trains on), with the configured provider; nothing is hashed or cached,
  and the step receives ``batch["mask"]`` (B,1,H,W) like any other tensor.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tardal.config import Config, DataConfig
from tardal.errors import DataError

log = logging.getLogger(__name__)


def ensure_dataset(cfg: DataConfig) -> Path:
    """The data set root, generating the synthetic set there first when allowed and missing."""
    root = Path(cfg.root)
    if (root / "data.yaml").is_file():
        _check_generator_version(root)
        return root
    if root.exists() and any(root.iterdir()):
        raise DataError(
            f"data root {root} exists but holds no data.yaml: it is not a data set in the "
            "canonical layout (import one with 'tardal data import ... --out DIR')"
        )
    if not cfg.generate:
        raise DataError(
            f"data root {root} does not exist; import a data set there (e.g. 'tardal data import "
            f"pairs ../TNO --out {root}') or set data.generate=true to generate the synthetic set"
        )
    from tardal.data.synth import generate  # imported here: only needed the first time

    s = cfg.synth
    log.info("generating the synthetic data set at %s (%d scenes, %dx%d, seed %d)",
             root, s.num, s.width, s.height, s.seed)
    generate(root, s.num, s.width, s.height, s.seed)
    return root


def _check_generator_version(root: Path) -> None:
    """Warn when a synthetic set was made by another version of the generator (its scenes
    differ from what the current one draws, so results are not comparable)."""
    import yaml

    try:
        info = yaml.safe_load((root / "data.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return  # the dataset reader reports unreadable files
    if not isinstance(info, dict) or info.get("source") != "synth":
        return
    from tardal.data.synth import GENERATOR_VERSION

    found = (info.get("synth") or {}).get("generator_version")
    if found != GENERATOR_VERSION:
        log.warning("synthetic data set %s was made by generator version %s, this is version %d; "
                    "delete the folder to regenerate it", root, found, GENERATOR_VERSION)


class EpochSampler(Sampler[tuple[int, int]]):
    """``(epoch, index)`` pairs: a fresh permutation per epoch, drawn from ``(seed, epoch)`` only.

    With ``world > 1`` (torch.distributed) each rank takes every ``world``-th index of the
    permutation, after padding it to a multiple of ``world`` with its own first indices, so every
    rank sees the same number of batches and the ranks together see one epoch.
    """

    def __init__(self, n: int, seed: int, shuffle: bool = True, *, rank: int = 0,
                 world: int = 1) -> None:
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0
        self.rank, self.world = rank, world

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return -(-self.n // self.world)

    def order(self) -> list[int]:
        """The epoch's indices for this rank."""
        if not self.shuffle:
            idx = list(range(self.n))
        else:
            g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
            idx = torch.randperm(self.n, generator=g).tolist()
        if self.world > 1:
            idx += idx[:len(self) * self.world - self.n]
            idx = idx[self.rank::self.world]
        return idx

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(self.epoch, i) for i in self.order()])


class TrainPairs(Dataset):
    """A :class:`~tardal.data.dataset.PairedDataset` indexed by ``(epoch, index)``, with the
    target mask of each item computed here (in the worker) when a provider is given."""

    def __init__(self, pairs: Any, masks: Any = None) -> None:
        self.pairs, self.masks = pairs, masks

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: tuple[int, int] | int) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        self.pairs.set_epoch(epoch)
        item = self.pairs[index]
        if self.masks is not None:
            from tardal.data.dataset import valid_masks

            m = torch.from_numpy(self.masks.mask_for(item["ir"][0].numpy(),
                                                     item["boxes_xyxy"].numpy()))[None]
            # no target on the letterbox padding
            item["mask"] = m * valid_masks([item["content"]], *m.shape[-2:])[0].to(m.dtype)
        return item


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """:func:`~tardal.data.dataset.collate_pairs`, plus ``mask`` (B,1,H,W) when items have one."""
    from tardal.data.dataset import collate_pairs

    batch = collate_pairs(items)
    for key in ("mask", "fused"):
        if key in items[0]:
            batch[key] = torch.stack([it[key] for it in items])
    return batch


#: Batch entries that are tensors of the whole batch (moved to the device); the per-image lists
#: (boxes in pixels, names, letterbox) stay on the host for evaluation.
DEVICE_KEYS = ("ir", "vis", "mask", "valid", "fused", "batch_idx", "cls", "bboxes", "boxes_cxcywh_norm")


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """A shallow copy of ``batch`` with its :data:`DEVICE_KEYS` tensors on ``device``
    (non-blocking: from pinned memory the copy overlaps the step)."""
    out = dict(batch)
    for key in DEVICE_KEYS:
        if key in out:
            out[key] = out[key].to(device, non_blocking=True)
    return out


@dataclass
class Loaders:
    """What the loop needs from the data side."""

    train: DataLoader
    val: DataLoader
    root: Path
    names: list[str]  # class names (empty for unlabelled sets)
    has_labels: bool
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (split, stem, reason)

    def set_epoch(self, epoch: int) -> None:
        """Select epoch ``epoch``'s shuffle and augmentation draws (0-based)."""
        for loader in (self.train, self.val):
            if isinstance(loader.sampler, EpochSampler):
                loader.sampler.set_epoch(epoch)


def build_loaders(cfg: Config, *, masks: bool = False, rank: int = 0, world: int = 1,
                  pin_memory: bool = False) -> Loaders:
    """Training and validation loaders from ``cfg.data`` (generating the synthetic set if due).

    Args:
        masks: compute each training item's target mask (``cfg.mask``) in the workers.
        rank, world: this process's share of each epoch under torch.distributed; the batch
            size per process is ``data.batch_size // world``.
        pin_memory: page-locked batches, for non-blocking copies to a GPU.
    """
    from tardal.data.check import validate_splits
    from tardal.data.dataset import PairedDataset

    d = cfg.data
    root = ensure_dataset(d)
    # every pair of both splits checked before any work (headers and labels, cached): a bad
    # file stops the run here, naming it, unless data.skip_bad leaves it out
    check = validate_splits(root, [d.train_split, d.val_split], skip_bad=d.skip_bad,
                            align=d.align)
    if check.bad:
        log.warning("leaving out %d unusable pair(s) (data.skip_bad): %s", len(check.bad),
                    check.message())
    train_stems, val_stems = check.good(d.train_split), check.good(d.val_split)
    if not train_stems:  # (checked before the datasets, which would warn about it first)
        raise DataError(f"data set {root}: the training split {d.train_split!r} is empty")
    if not val_stems:
        raise DataError(
            f"data set {root}: the validation split {d.val_split!r} (meta/{d.val_split}.txt) is "
            f"empty, so weights/best.pt could not be chosen on held-out data; add a validation "
            f"split, or validate on the training split knowingly with data.val_split="
            f"{d.train_split}")
    train_ds = PairedDataset(root, train_stems, img_size=d.img_size, augment=d.augment,
                             align=d.align, seed=cfg.train.seed)
    val_ds = PairedDataset(root, val_stems, img_size=d.img_size, augment=None, align=d.align,
                           seed=cfg.train.seed)
    if d.cache == "ram":  # before the workers start, so they share the images
        for ds in (train_ds, val_ds):
            ds.cache_images(threads=min(8, os.cpu_count() or 1))
    has_labels = bool(train_ds.info.labels)
    provider = None
    if masks:
        from tardal.masks import build_mask_provider

        provider = build_mask_provider(cfg.mask, has_labels)
    if world > 1 and d.batch_size % world:
        raise DataError(f"data.batch_size {d.batch_size} is not a multiple of the {world} "
                        "processes of this torch.distributed run")
    common = dict(batch_size=d.batch_size // world, collate_fn=collate, num_workers=d.workers,
                  persistent_workers=d.workers > 0, pin_memory=pin_memory)
    train = DataLoader(TrainPairs(train_ds, provider), **common,
                       sampler=EpochSampler(len(train_ds), cfg.train.seed, rank=rank, world=world))
    val = DataLoader(TrainPairs(val_ds), **common,
                     sampler=EpochSampler(len(val_ds), cfg.train.seed, shuffle=False, rank=rank,
                                          world=world))
    return Loaders(train=train, val=val, root=root, names=list(train_ds.names),
                   has_labels=has_labels, skipped=check.rows())


class FusedCache:
    """A frozen front-end's output for every pair of a data set, fused once at the pair's own
    size and kept as 8-bit images (the form a fused image file has); ``cache(index)`` gives the
    (H, W) float32 image in [0, 1] for :attr:`PairedDataset.extra`."""

    def __init__(self, images: list[np.ndarray]) -> None:
        self.images = images

    def __call__(self, index: int) -> np.ndarray:
        return self.images[index].astype(np.float32) / 255.0

    @property
    def nbytes(self) -> int:
        return sum(im.nbytes for im in self.images)


def fuse_dataset(net: torch.nn.Module, dataset: Any, device: torch.device) -> FusedCache:
    """Fuse every pair of ``dataset`` (a :class:`~tardal.data.dataset.PairedDataset`) with the
    frozen ``net`` on ``device``, one pair at a time at its own size."""
    from tardal.data.dataset import read_pair
    from tardal.fusion.inference import fuse_image
    from tardal.fusion.optimize import inference_path
    from tardal.ops.color import rgb_to_y

    path = inference_path(net, device)
    images = []
    for pair in dataset.pairs:
        ir, vis = read_pair(pair, dataset.align)
        ir_t = torch.from_numpy(np.ascontiguousarray(ir, np.float32))[None, None].to(device)
        vis_t = torch.from_numpy(np.ascontiguousarray(vis.transpose(2, 0, 1), np.float32))
        fused = fuse_image(path, ir_t, rgb_to_y(vis_t[None].to(device)))
        images.append((fused[0, 0].float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy())
    return FusedCache(images)
