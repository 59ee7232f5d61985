"""Validation after each epoch, and the preview images of a run.

* Modes with a detector: the evaluation detector (the EMA copy when kept) predicts on the
  validation split, boxes are mapped back to the original images through the letterbox, and
  pycocotools scores them (:class:`~tardal.evaluation.DetectionAccumulator`): ``AP``
  (AP@[.5:.95]), ``AP50``, ``AP75``, ``APs/m/l``, ``precision``, ``recall``, ``f1``,
  ``AP50/<class>``, ``AP/<class>``; ``fitness = AP`` (0 when undefined).
* Modes with G also report G's validation content loss (``content = a_ssim L_ssim + a_pix
  L_pixel``, with ``ssim`` and ``pixel``); for ``dt`` ``fitness = -content``. It scores G's own
  map (:meth:`~tardal.fusion.generator.TarDALGenerator.own_map`): the eval-mode detail split,
  illumination and tone steps are left out, as in training, so the epoch kept does not depend
  on them.

So ``weights/best.pt`` holds the epoch with the best AP@[.5:.95] (the lowest content loss for
``dt``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch

from tardal.engine import distributed
from tardal.engine.context import GENERATOR, Context
from tardal.engine.data import to_device
from tardal.engine.modes import Mode
from tardal.io import write_image
from tardal.losses.criterion import FusionCriterion, content_weights, weighted_sum
from tardal.ops.color import recolor, rgb_to_y


@torch.no_grad()
def validate(ctx: Context, mode: Mode, batches: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """The validation row of an epoch (see the module doc); ``fitness`` is higher-is-better."""
    from tardal.evaluation import DetectionAccumulator, flatten_metrics

    acc = DetectionAccumulator(ctx.names) if mode.has_detector else None
    crit = ctx.criterion or FusionCriterion.from_config(ctx.cfg.loss)
    d = ctx.cfg.detector
    sums: dict[str, torch.Tensor] = {}
    count = 0
    g = ctx.models.get(GENERATOR)
    own = mode.has_generator and getattr(g, "has_eval_steps", False)  # score G's own map
    with ctx.evaluating():
        for batch in batches:
            batch = to_device(dict(batch), ctx.device)
            fused = None
            if acc is not None or not own:  # (without a detector the view is not needed)
                images, fused = mode.view(ctx, batch["ir"], batch["vis"])
            if acc is not None:
                acc.add(ctx.eval_detector.predict(images, conf=d.conf, iou=d.iou,
                                                  max_det=d.max_det), batch)
            if own:
                with ctx.autocast(GENERATOR):
                    fused = g.own_map(batch["ir"], rgb_to_y(batch["vis"])).float()
            if fused is not None and mode.has_generator:
                n = fused.shape[0]
                terms = crit(fused, batch["ir"], rgb_to_y(batch["vis"]), valid=batch.get("valid"))
                terms["content"] = weighted_sum(terms, content_weights(ctx.cfg.loss))
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v.detach() * n
                count += n
    if ctx.dist.enabled:  # every process scores the union of the processes' shards
        keys = sorted(sums)
        totals = torch.stack([torch.as_tensor(sums[k], dtype=torch.float64, device=ctx.device)
                              for k in keys] + [torch.tensor(float(count), dtype=torch.float64,
                                                             device=ctx.device)])
        totals = distributed.all_mean(totals) * ctx.dist.world
        sums, count = dict(zip(keys, totals[:-1])), int(totals[-1])
        if acc is not None:
            _gather(acc)
    out: dict[str, float] = {k: float(v) / max(count, 1) for k, v in sums.items()}
    if acc is None:
        out["fitness"] = -out.get("content", float("inf"))
        return out
    results = acc.compute()
    out.update(flatten_metrics(results))
    ap = float(results["AP"])
    out["fitness"] = ap if math.isfinite(ap) else 0.0
    return out


def _gather(acc: Any) -> None:
    """Replace ``acc``'s records by those of every process, each image once (the sampler pads
    the last shard with repeated images)."""
    seen: set[str] = set()
    preds, gts = [], []
    for p_list, g_list in distributed.gather_objects((acc.predictions, acc.ground_truths)):
        for p, g in zip(p_list, g_list):
            if g["image_id"] not in seen:
                seen.add(g["image_id"])
                preds.append(p)
                gts.append(g)
    acc.predictions, acc.ground_truths = preds, gts


@torch.no_grad()
def preview_images(ctx: Context, mode: Mode, batch: Mapping[str, Any]) -> list[np.ndarray]:
    """One (H,W,3) RGB image per image of a batch: with a detector, its input with the boxes
    of the evaluation detector (score >= ``detector.plot_conf``); else the fused luma
    recoloured with the visible CbCr."""
    from tardal.evaluation.plots import draw_detections

    batch = to_device(dict(batch), ctx.device)
    with ctx.evaluating():
        images, fused = mode.view(ctx, batch["ir"], batch["vis"])
        if not mode.has_detector:
            rgb = recolor(fused, batch["vis"]).clamp(0, 1).cpu()
            return [img.permute(1, 2, 0).numpy() for img in rgb]
        d = ctx.cfg.detector
        preds = ctx.eval_detector.predict(images, conf=max(d.conf, d.plot_conf), iou=d.iou,
                                          max_det=d.max_det)
    # (the first three planes: an early-fusion input carries the infrared as a fourth)
    return [draw_detections(img[:3].permute(1, 2, 0).float().cpu().numpy(),
                            p["boxes_xyxy"].cpu(), p["labels"].cpu(), ctx.names, p["scores"].cpu())
            for img, p in zip(images, preds)]


def write_previews(ctx: Context, mode: Mode, batch: Mapping[str, Any] | None, folder: Path,
                   epoch: int) -> None:
    """``folder/epoch{epoch}_{name}.png`` for each image of the preview batch."""
    if batch is None:
        return
    for img, name in zip(preview_images(ctx, mode, batch), batch["name"]):
        write_image(folder / f"epoch{epoch}_{name}.png", img)
