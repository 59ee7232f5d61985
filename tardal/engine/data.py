"""Data for training: make sure the data set exists, then build the loaders from config.

* :func:`ensure_dataset` generates the synthetic set at ``data.root`` when it is missing and
  ``data.generate`` is true (the built-in default data set); otherwise a missing root is an
  error that says how to import one (``tardal data import pairs SRC --out ROOT`` for TNO or
  RoadScene).
* :func:`build_loaders` returns the training loader (augmented, letterboxed to
  ``data.img_size``) and the validation loader (letterboxed, not augmented). Shuffling draws
  from ``(train.seed, epoch)`` through :class:`EpochSampler`, and augmentations from
  ``(seed, epoch, index)`` inside the Dataset, so an epoch's batches are the same whether the
  run was resumed or not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Sampler

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


class EpochSampler(Sampler[int]):
    """Indices in a fresh permutation per epoch, drawn from ``(seed, epoch)`` only."""

    def __init__(self, n: int, seed: int, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())


@dataclass
class Loaders:
    """What the loop needs from the data side."""

    train: DataLoader
    val: DataLoader
    root: Path
    names: list[str]  # class names (empty for unlabelled sets)
    has_labels: bool

    def set_epoch(self, epoch: int) -> None:
        """Select epoch ``epoch``'s shuffle and augmentation draws (0-based)."""
        for loader in (self.train, self.val):
            if hasattr(loader.dataset, "set_epoch"):
                loader.dataset.set_epoch(epoch)
            if isinstance(loader.sampler, EpochSampler):
                loader.sampler.set_epoch(epoch)


def build_loaders(cfg: Config) -> Loaders:
    """Training and validation loaders from ``cfg.data`` (generating the synthetic set if due)."""
    from tardal.data.dataset import PairedDataset, collate_pairs

    d = cfg.data
    root = ensure_dataset(d)
    train_ds = PairedDataset(root, d.train_split, img_size=d.img_size, augment=d.augment,
                             align=d.align, seed=cfg.train.seed)
    if len(train_ds) == 0:
        raise DataError(f"data set {root}: the training split {d.train_split!r} is empty")
    val_ds = PairedDataset(root, d.val_split, img_size=d.img_size, augment=None, align=d.align,
                           seed=cfg.train.seed)
    if len(val_ds) == 0:
        log.warning("data set %s: validation split %r is empty; validating on the training "
                    "split without augmentation", root, d.val_split)
        val_ds = PairedDataset(root, d.train_split, img_size=d.img_size, augment=None,
                               align=d.align, seed=cfg.train.seed)
    common = dict(batch_size=d.batch_size, collate_fn=collate_pairs, num_workers=d.workers)
    train = DataLoader(train_ds, sampler=EpochSampler(len(train_ds), cfg.train.seed), **common)
    val = DataLoader(val_ds, sampler=EpochSampler(len(val_ds), cfg.train.seed, shuffle=False),
                     **common)
    has_labels = bool(train_ds.info.labels)
    return Loaders(train=train, val=val, root=root, names=list(train_ds.names),
                   has_labels=has_labels)
