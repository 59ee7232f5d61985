"""Scoring a trained detection run: rebuild it from its checkpoint, predict on a split, COCO mAP.

    run = load_run("runs/train/ct/weights/best.pt", ["data.root=runs/data/synth"])
    report = evaluate_run(run, split="test")
    report.results["AP50"], report.results["per_class"]["Car"]["AP"]

:func:`load_run` needs nothing but the checkpoint: the models are built from the config saved in
it (the mode decides which: ``ct``/``tt``/``frontend`` fuse with ``models["G"]`` then detect,
``ir``/``vis`` detect on one modality), their weights and the detector's EMA are loaded from it,
and initial-weight files named in the config (``fusion.weights``, ``detector.weights``) are not
needed. ``key=value`` overrides apply on top of the saved config (typically ``data.root``).

:func:`evaluate_run` letterboxes the split at the run's ``data.img_size``, predicts with the
evaluation detector (the EMA when the run kept one), maps boxes back to the original images and
scores them with :func:`tardal.evaluation.evaluate_detections` (pycocotools).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from tardal.config import Config
from tardal.engine import checkpoint as ckpt_io
from tardal.engine.context import Context, build_context
from tardal.engine.data import to_device
from tardal.engine.modes import MODES, Mode
from tardal.errors import CheckpointError, DataError, UnknownNameError

log = logging.getLogger(__name__)


@dataclass
class LoadedRun:
    """A detection run rebuilt from a checkpoint, ready to predict (every model in eval mode)."""

    path: Path
    cfg: Config
    mode: Mode
    ctx: Context
    epoch: int  # completed epochs when the checkpoint was written

    @property
    def names(self) -> list[str]:
        return list(self.ctx.names)

    @property
    def detector(self) -> torch.nn.Module:
        """The evaluation detector (the EMA copy when the run kept one)."""
        return self.ctx.eval_detector

    @torch.no_grad()
    def predict(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None,
                                                      list[dict[str, torch.Tensor]]]:
        """(detector input (B,3,H,W), fused luma (B,1,H,W) or None, predictions) for a batch."""
        batch = to_device(batch, self.ctx.device)
        images, fused = self.mode.view(self.ctx, batch["ir"], batch["vis"])
        d = self.cfg.detector
        preds = self.detector.predict(images, conf=d.conf, iou=d.iou, max_det=d.max_det)
        return images, fused, preds


@dataclass
class EvalReport:
    """What :func:`evaluate_run` returns."""

    results: dict[str, Any]  # evaluate_detections' dict
    predictions: list[dict[str, Any]] = field(default_factory=list)  # per image, original pixels
    ground_truths: list[dict[str, Any]] = field(default_factory=list)  # the same images' boxes
    split: str = "test"
    root: Path = Path(".")


def load_run(path: str | Path, overrides: Sequence[str] = (), device: str = "auto") -> LoadedRun:
    """Rebuild the models of a detection checkpoint written by ``tardal train`` (see the module
    doc). Raises :class:`CheckpointError` for a missing or unusable file or a checkpoint without
    a detector (mode ``dt``), :class:`ConfigError` for bad overrides."""
    path = Path(path)
    ckpt = ckpt_io.load(path)
    cfg = ckpt_io.config_of(ckpt, path, overrides)
    try:
        mode = MODES.get(str(ckpt[ckpt_io.MODE]))()
    except UnknownNameError as exc:
        raise CheckpointError(f"checkpoint {path}: {exc}") from None
    if not mode.has_detector:
        raise CheckpointError(
            f"checkpoint {path} is a {mode.name!r} run, which has no detector; evaluate fused "
            "images with 'tardal metrics' instead (after 'tardal fuse')")
    names = ckpt_io.names_of(ckpt, path)
    if not names:
        raise CheckpointError(f"checkpoint {path} holds no class names")
    cfg.train.device = device
    ctx = build_context(cfg, names, restore=True)
    ckpt_io.load_models(ctx, ckpt, path)
    for model in ctx.models.values():
        model.eval()
    epoch = int((ckpt.get(ckpt_io.STATE) or {}).get("epoch", 0))
    log.info("loaded %s run %s (epoch %d, %s)", mode.name, path, epoch, cfg.detector.model)
    return LoadedRun(path=path, cfg=cfg, mode=mode, ctx=ctx, epoch=epoch)


def split_dataset(cfg: Config, split: str, names: Sequence[str]) -> Any:
    """The letterboxed, un-augmented :class:`PairedDataset` of ``split`` at ``cfg.data.root``
    (the synthetic set is generated there first when ``data.generate`` allows it)."""
    from tardal.data.check import validate_splits
    from tardal.data.dataset import PairedDataset
    from tardal.engine.data import ensure_dataset

    root = ensure_dataset(cfg.data)
    # the checks of 'tardal data check' on this split, before any work (data.skip_bad: leave
    # the unusable pairs out, with a warning)
    check = validate_splits(root, [split], skip_bad=cfg.data.skip_bad, align=cfg.data.align)
    if check.bad:
        log.warning("leaving out %d unusable pair(s) (data.skip_bad): %s", len(check.bad),
                    check.message())
    ds = PairedDataset(root, check.good(split), img_size=cfg.data.img_size, augment=None,
                       align=cfg.data.align)
    if len(ds) == 0:
        raise DataError(f"data set {root}: split {split!r} is empty (meta/{split}.txt); pick "
                        "another with --split")
    if list(ds.names) != list(names):
        raise DataError(f"data set {root} has classes {list(ds.names)}, but the checkpoint was "
                        f"trained on {list(names)}")
    return ds


def evaluate_run(run: LoadedRun, split: str = "test", *, batch_size: int | None = None,
                 progress: bool = False) -> EvalReport:
    """COCO mAP of ``run`` on ``split`` of its data set (see the module doc)."""
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from tardal.data.dataset import collate_pairs
    from tardal.evaluation import DetectionAccumulator

    ds = split_dataset(run.cfg, split, run.names)
    loader = DataLoader(ds, batch_size=batch_size or run.cfg.data.batch_size, shuffle=False,
                        collate_fn=collate_pairs, num_workers=run.cfg.data.workers)
    acc = DetectionAccumulator(run.names)
    for batch in tqdm(loader, desc=f"eval {split}", disable=not progress, leave=False):
        _, _, preds = run.predict(batch)
        acc.add(preds, batch)
    results = acc.compute()
    return EvalReport(results=results, predictions=acc.predictions,
                      ground_truths=acc.ground_truths, split=split, root=ds.root)
