"""COCO-style box evaluation with pycocotools, on detections held in memory.

Records are per image, in *original-image* pixels:

* prediction: ``{"image_id", "boxes_xyxy" (K,4), "scores" (K,), "labels" (K,)}``
* ground truth: ``{"image_id", "boxes_xyxy" (N,4), "labels" (N,)}``, optionally ``"size": (H, W)``

(tensors, arrays or lists; labels are class indices in ``[0, nc)``). Images without objects are
ground-truth records with no boxes; images without detections may be left out of the predictions.

:func:`evaluate_detections` builds COCO objects in memory (category id = class index + 1, image
ids 1..n in ground-truth order), runs the standard ``COCOeval`` bbox protocol (IoU 0.50:0.05:0.95,
101 recall points, at most 100 detections per image and class) and returns:

* ``AP`` (AP@[.5:.95]), ``AP50``, ``AP75``, ``APs``, ``APm``, ``APl``: COCO's numbers, read from
  ``eval["precision"]`` (area "all", 100 detections) ignoring its -1 entries. A class with no
  ground-truth box in the whole set has no AP (its entry is NaN) and is left out of the means,
  as in COCO; its detections are then not counted anywhere. With no ground truth at all every
  number is NaN (a warning is logged).
* ``precision``, ``recall``, ``f1``: for each class, the detections of the whole set are sorted by
  score and matched at IoU 0.5 exactly as COCOeval matches them (greedy by score per image,
  at most 100 per image); precision and recall are computed at every score threshold (ties
  are one threshold) and the threshold with the best F1 is kept. The three numbers are means over
  the classes that have ground truth, each class at its own best threshold (Ultralytics instead
  picks one confidence shared by all classes). A class with ground truth and no match has 0.
* ``per_class``: ``{name: {"AP", "AP50", "precision", "recall", "f1", "conf", "instances",
  "detections"}}`` (``conf`` is the score threshold of the best F1).
* ``images``, ``instances``: counts of evaluated images and ground-truth boxes.

For files other tools read, :func:`coco_predictions` writes a self-describing COCO file
(``info``, ``categories`` with the class names, ``images`` with sizes, ``annotations`` with
scores) whose ``annotations`` list goes straight into pycocotools' ``COCO.loadRes``. Category
ids are class index + 1 by default, or the ids of a reference annotation file's categories
matched by name (:func:`read_categories`, :func:`category_ids`): class orders differ between
releases of one data set (M3FD's third-party COCO files order People, Car, Motorcycle, Bus,
Truck, Lamp; ours is People, Car, Bus, Motorcycle, Lamp, Truck), and ids taken from positions
would silently swap classes.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tardal.errors import DataError

LOGGER = logging.getLogger(__name__)

NAN = float("nan")
_IOU_F1 = 0.5  # IoU of the precision/recall/F1 matching


# ----------------------------------------------------------------------------------------
# Records -> COCO dicts
# ----------------------------------------------------------------------------------------


def _array(value: Any, shape_tail: tuple[int, ...], what: str, dtype: Any = np.float64) -> np.ndarray:
    if value is None:
        value = np.zeros((0, *shape_tail))
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value, dtype=dtype)
    if arr.size == 0:
        arr = arr.reshape((0, *shape_tail))
    if arr.ndim != 1 + len(shape_tail) or tuple(arr.shape[1:]) != shape_tail:
        raise DataError(f"{what}: expected shape (N,{','.join(map(str, shape_tail))}) "
                        f"found {arr.shape}".replace(",)", ")"))
    return arr


def _record(rec: Mapping[str, Any], kind: str, nc: int | None, scores: bool) -> dict[str, Any]:
    if "image_id" not in rec:
        raise DataError(f"{kind} record without 'image_id' (keys: {sorted(rec)})")
    where = f"{kind} of image {rec['image_id']!r}"
    boxes = _array(rec.get("boxes_xyxy"), (4,), f"{where}: boxes_xyxy")
    labels = _array(rec.get("labels"), (), f"{where}: labels", np.int64)
    if labels.shape[0] != boxes.shape[0]:
        raise DataError(f"{where}: {boxes.shape[0]} boxes but {labels.shape[0]} labels")
    if nc is not None and labels.size and (labels.min() < 0 or labels.max() >= nc):
        raise DataError(f"{where}: labels must lie in [0, {nc}), found {labels.min()}..{labels.max()}")
    if not np.isfinite(boxes).all():
        raise DataError(f"{where}: boxes_xyxy has non-finite values")
    out = {"image_id": rec["image_id"], "boxes": boxes, "labels": labels}
    if scores:
        sc = _array(rec.get("scores"), (), f"{where}: scores")
        if sc.shape[0] != boxes.shape[0]:
            raise DataError(f"{where}: {boxes.shape[0]} boxes but {sc.shape[0]} scores")
        out["scores"] = sc
    return out


def _xywh(boxes: np.ndarray) -> list[list[float]]:
    return [[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in boxes]


def to_coco_results(predictions: Iterable[Mapping[str, Any]],
                    image_ids: Mapping[Hashable, int] | None = None,
                    category_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """COCO result list: ``{"image_id", "category_id", "bbox" [x,y,w,h], "score"}`` per
    detection, in the order given.

    ``image_ids`` maps our image ids to COCO's integer ids; without it ``image_id`` is kept as is.
    ``category_ids[k]`` is the id of class index ``k`` (see :func:`category_ids`); without it
    the id is the class index + 1.
    """
    out = []
    for rec in predictions:
        r = _record(rec, "prediction", None if category_ids is None else len(category_ids),
                    scores=True)
        iid = image_ids[r["image_id"]] if image_ids is not None else r["image_id"]
        for bbox, label, score in zip(_xywh(r["boxes"]), r["labels"], r["scores"]):
            cat = int(label) + 1 if category_ids is None else int(category_ids[int(label)])
            out.append({"image_id": iid, "category_id": cat, "bbox": bbox, "score": float(score)})
    return out


def read_categories(path: str | Path) -> list[dict[str, Any]]:
    """The ``categories`` block of a COCO JSON file, as ``[{"id": int, "name": str}]``.

    Raises:
        DataError: the file is missing or not JSON, has no ``categories`` list, or a category
            lacks an integer ``id`` or a ``name``, or two share an id or (ignoring case) a name;
            the message names the file and the entry.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise DataError(f"categories file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"categories file {path} is not a readable JSON file: {exc}") from None
    cats = data.get("categories") if isinstance(data, dict) else None
    if not isinstance(cats, list) or not cats:
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise DataError(f"{path}: expected a COCO file with a non-empty 'categories' list "
                        f"[{{'id', 'name'}}, ...], found {found}")
    out: list[dict[str, Any]] = []
    ids: dict[int, int] = {}
    names: dict[str, int] = {}
    for k, c in enumerate(cats):
        where = f"{path}: categories[{k}]"
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or \
                isinstance(c.get("id"), bool) or not isinstance(c.get("id"), int):
            raise DataError(f"{where}: expected {{'id': integer, 'name': string}}, found {c!r}")
        cid, name = int(c["id"]), c["name"].strip()
        if cid in ids:
            raise DataError(f"{where}: id {cid} is also the id of categories[{ids[cid]}]")
        if name.lower() in names:
            raise DataError(f"{where}: name {name!r} is also the name of "
                            f"categories[{names[name.lower()]}] (names are matched ignoring case)")
        ids[cid], names[name.lower()] = k, k
        out.append({"id": cid, "name": name})
    return out


def category_ids(names: Sequence[str], categories: Sequence[Mapping[str, Any]] | None = None,
                 source: str = "the categories") -> list[int]:
    """The COCO category id of each of our classes: class index + 1 without ``categories``,
    else the id of the category of the same name (ignoring case and surrounding spaces).

    Raises:
        DataError: a class of ours has no category of that name; the message lists both name
            sets (``source`` names where the categories came from).
    """
    if categories is None:
        return list(range(1, len(names) + 1))
    by_name = {str(c["name"]).strip().lower(): int(c["id"]) for c in categories}
    missing = [n for n in names if str(n).strip().lower() not in by_name]
    if missing:
        theirs = ", ".join(str(c["name"]) for c in categories)
        raise DataError(
            f"{source}: no category named {', '.join(map(repr, missing))} (matched by name, "
            f"ignoring case); our classes: {', '.join(map(str, names))}; its categories: {theirs}")
    return [by_name[str(n).strip().lower()] for n in names]


def coco_predictions(
    predictions: Iterable[Mapping[str, Any]],
    names: Sequence[str],
    images: Iterable[Mapping[str, Any]],
    *,
    categories: Sequence[Mapping[str, Any]] | None = None,
    info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A self-describing COCO detection file for predictions in original-image pixels.

    Args:
        predictions: per-image prediction records (``image_id``, ``boxes_xyxy`` (K,4),
            ``scores`` (K,), ``labels`` (K,) class indices into ``names``).
        names: our class names.
        images: one record per evaluated image: ``image_id``, ``size`` (H, W), optional
            ``file_name`` (default ``str(image_id)``).
        categories: a reference ``categories`` block (:func:`read_categories`); our classes
            take its ids by name. None: ids are class index + 1.
        info: extra entries for the ``info`` block.

    Returns:
        ``{"info", "categories": [{"id", "name"}], "images": [{"id", "file_name", "width",
        "height"}], "annotations": [{"id", "image_id", "category_id", "bbox" [x,y,w,h],
        "score", "area"}]}``; image ids are our ``image_id`` values (the stems), annotation ids
        start at 1. ``annotations`` is a valid argument of pycocotools' ``COCO.loadRes``.

    Raises:
        DataError: malformed records, a label outside ``names``, a prediction for an image not
            in ``images``, an image listed twice, or a class missing from ``categories``.
    """
    from tardal import __version__

    ids = category_ids(names, categories, "categories")
    image_list: list[dict[str, Any]] = []
    seen: set[Hashable] = set()
    for rec in images:
        if "image_id" not in rec or rec.get("size") is None:
            raise DataError(f"image record without 'image_id' and 'size' (keys: {sorted(rec)})")
        iid = rec["image_id"]
        if iid in seen:
            raise DataError(f"image {iid!r} is listed twice")
        seen.add(iid)
        h, w = (int(v) for v in rec["size"])
        image_list.append({"id": iid, "file_name": str(rec.get("file_name") or iid),
                           "width": w, "height": h})
    anns: list[dict[str, Any]] = []
    for rec in predictions:
        r = _record(rec, "prediction", len(names), scores=True)
        if r["image_id"] not in seen:
            raise DataError(f"prediction for image {r['image_id']!r}, which is not among the "
                            "images of the file")
        for bbox, label, score in zip(_xywh(r["boxes"]), r["labels"], r["scores"]):
            anns.append({"id": len(anns) + 1, "image_id": r["image_id"],
                         "category_id": ids[int(label)], "bbox": bbox, "score": float(score),
                         "area": bbox[2] * bbox[3]})
    head = {"description": "detections in original-image pixels, bbox = [x, y, width, height]",
            "generator": f"tardal {__version__}"}
    head.update(dict(info or {}))
    cats = sorted(({"id": i, "name": str(n)} for i, n in zip(ids, names)), key=lambda c: c["id"])
    return {"info": head, "categories": cats, "images": image_list, "annotations": anns}


def to_coco_ground_truth(ground_truths: Iterable[Mapping[str, Any]], names: Sequence[str],
                         image_ids: Mapping[Hashable, int] | None = None) -> dict[str, Any]:
    """COCO ground-truth dict (``images``, ``annotations``, ``categories``).

    Category ids are class index + 1; annotation ids start at 1 (pycocotools treats id 0 as "no
    match"); ``area`` is the box area; ``iscrowd`` 0. Images take ``id`` from ``image_ids`` (or
    keep ``image_id``), ``file_name`` = str(image_id), and ``height``/``width`` from ``size``.
    """
    images, anns = [], []
    seen = set()
    for rec in ground_truths:
        r = _record(rec, "ground truth", len(names), scores=False)
        if r["image_id"] in seen:
            raise DataError(f"ground truth: image {r['image_id']!r} appears twice")
        seen.add(r["image_id"])
        iid = image_ids[r["image_id"]] if image_ids is not None else r["image_id"]
        image = {"id": iid, "file_name": str(r["image_id"])}
        if rec.get("size") is not None:
            h, w = (int(v) for v in rec["size"])
            image.update(height=h, width=w)
        images.append(image)
        for bbox, label in zip(_xywh(r["boxes"]), r["labels"]):
            anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": int(label) + 1,
                         "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": 0})
    cats = [{"id": i + 1, "name": str(n)} for i, n in enumerate(names)]
    return {"images": images, "annotations": anns, "categories": cats}


# ----------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------


def _mean(values: np.ndarray) -> float:
    values = values[values > -1]
    return float(values.mean()) if values.size else NAN


def best_f1(scores: np.ndarray, tp: np.ndarray, n_gt: int) -> tuple[float, float, float, float]:
    """Precision, recall, F1 and score threshold at the best F1 of one class.

    Args:
        scores: (D,) detection scores; tp: (D,) bool, whether each detection is a true positive;
        n_gt: number of ground-truth objects (> 0).

    Every distinct score is a threshold (detections with score >= it are kept). Returns zeros
    (and threshold NaN) when nothing is detected.
    """
    if n_gt <= 0:
        raise DataError("best_f1 needs at least one ground-truth object")
    if scores.size == 0:
        return 0.0, 0.0, 0.0, NAN
    order = np.argsort(-scores, kind="mergesort")
    scores, tp = scores[order], tp[order].astype(np.float64)
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1.0 - tp)
    last = np.r_[scores[1:] != scores[:-1], True]  # end of each group of equal scores
    p, r = ctp[last] / (ctp[last] + cfp[last]), ctp[last] / n_gt
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    i = int(np.argmax(f1))
    return float(p[i]), float(r[i]), float(f1[i]), float(scores[last][i])


def evaluate_detections(predictions: Iterable[Mapping[str, Any]],
                        ground_truths: Iterable[Mapping[str, Any]],
                        names: Sequence[str]) -> dict[str, Any]:
    """COCO mAP and precision/recall at the best F1 (see the module docstring for the keys).

    Args:
        predictions: per-image prediction records (images may be missing: no detections).
        ground_truths: one record per evaluated image (boxes may be empty).
        names: class names; labels index into them.

    Raises:
        DataError: malformed records, labels out of range, or predictions for images that have
            no ground-truth record.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    names = [str(n) for n in names]
    ground_truths = list(ground_truths)
    predictions = list(predictions)
    ids = {}
    for rec in ground_truths:
        if "image_id" in rec and rec["image_id"] not in ids:
            ids[rec["image_id"]] = len(ids) + 1
    for rec in predictions:
        if rec.get("image_id") not in ids:
            raise DataError(f"prediction for image {rec.get('image_id')!r}, which has no "
                            "ground-truth record (give one, with no boxes, for every image)")
        _record(rec, "prediction", len(names), scores=True)  # label range check
    gt_dict = to_coco_ground_truth(ground_truths, names, ids)
    results = to_coco_results(predictions, ids)

    sink = io.StringIO()  # pycocotools prints progress on stdout
    with contextlib.redirect_stdout(sink):
        coco_gt = COCO()
        coco_gt.dataset = gt_dict
        coco_gt.createIndex()
        if results:
            coco_dt = coco_gt.loadRes(results)
        else:  # loadRes cannot take an empty list
            coco_dt = COCO()
            coco_dt.dataset = {"images": list(gt_dict["images"]), "annotations": [],
                               "categories": list(gt_dict["categories"])}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
    LOGGER.debug("pycocotools: %s", sink.getvalue().strip().replace("\n", " | "))

    p = ev.params
    prec = ev.eval["precision"]  # (T, R, K, A, M)
    t50 = int(np.argmin(np.abs(p.iouThrs - 0.5)))
    t75 = int(np.argmin(np.abs(p.iouThrs - 0.75)))
    area = {label: i for i, label in enumerate(p.areaRngLbl)}
    m = len(p.maxDets) - 1
    a_all = area["all"]
    out: dict[str, Any] = {
        "AP": _mean(prec[:, :, :, a_all, m]),
        "AP50": _mean(prec[t50, :, :, a_all, m]),
        "AP75": _mean(prec[t75, :, :, a_all, m]),
        "APs": _mean(prec[:, :, :, area["small"], m]),
        "APm": _mean(prec[:, :, :, area["medium"], m]),
        "APl": _mean(prec[:, :, :, area["large"], m]),
    }

    # Precision / recall / F1 at the best F1, from COCOeval's own matches at IoU 0.5.
    n_img, n_area = len(p.imgIds), len(p.areaRng)
    max_det = p.maxDets[m]
    per_class: dict[str, dict[str, float]] = {}
    prf = []
    for k, cat in enumerate(p.catIds):
        evs = [e for e in ev.evalImgs[k * n_area * n_img + a_all * n_img:
                                      k * n_area * n_img + (a_all + 1) * n_img] if e is not None]
        n_gt = int(sum(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0) for e in evs))
        if evs:
            scores = np.concatenate([np.asarray(e["dtScores"][:max_det], dtype=np.float64)
                                     for e in evs])
            matched = np.concatenate([e["dtMatches"][t50, :max_det] for e in evs]) > 0
            ignored = np.concatenate([e["dtIgnore"][t50, :max_det] for e in evs]).astype(bool)
        else:
            scores, matched, ignored = np.zeros(0), np.zeros(0, bool), np.zeros(0, bool)
        keep = ~ignored
        name = names[cat - 1]
        entry = {"AP": _mean(prec[:, :, k, a_all, m]), "AP50": _mean(prec[t50, :, k, a_all, m]),
                 "instances": n_gt, "detections": int(keep.sum())}
        if n_gt:
            pr, rc, f1, conf = best_f1(scores[keep], matched[keep], n_gt)
            prf.append((pr, rc, f1))
        else:
            pr = rc = f1 = conf = NAN
        entry.update(precision=pr, recall=rc, f1=f1, conf=conf)
        per_class[name] = entry
    if prf:
        arr = np.asarray(prf)
        out.update(precision=float(arr[:, 0].mean()), recall=float(arr[:, 1].mean()),
                   f1=float(arr[:, 2].mean()))
    else:
        out.update(precision=NAN, recall=NAN, f1=NAN)
        LOGGER.warning("evaluation: no ground-truth boxes in %d images; every metric is NaN",
                       len(ground_truths))
    out["per_class"] = per_class
    out["images"] = len(gt_dict["images"])
    out["instances"] = len(gt_dict["annotations"])
    return out


# ----------------------------------------------------------------------------------------
# From our batches
# ----------------------------------------------------------------------------------------


class DetectionAccumulator:
    """Collects predictions and ground truth batch by batch, in original-image pixels.

    ``add(preds, batch)`` takes the output of ``Detector.predict`` on the batch's images and the
    collated batch (``name``, ``boxes_xyxy``, ``labels``, ``letterbox``, ``orig_size``); boxes of
    both are mapped back through the letterbox. ``compute()`` runs :func:`evaluate_detections`.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = [str(n) for n in names]
        self.predictions: list[dict[str, Any]] = []
        self.ground_truths: list[dict[str, Any]] = []

    def add(self, predictions: Sequence[Mapping[str, Any]], batch: Mapping[str, Any]) -> None:
        from tardal.detect.boxes import scale_boxes_back

        missing = [k for k in ("name", "boxes_xyxy", "labels", "letterbox", "orig_size")
                   if k not in batch]
        if missing:
            raise DataError(f"DetectionAccumulator.add: batch is missing {', '.join(missing)}")
        if len(predictions) != len(batch["name"]):
            raise DataError(f"DetectionAccumulator.add: {len(predictions)} predictions for "
                            f"{len(batch['name'])} images")
        for i, pred in enumerate(predictions):
            lb, size, name = batch["letterbox"][i], batch["orig_size"][i], batch["name"][i]
            self.ground_truths.append({
                "image_id": name, "size": tuple(int(v) for v in size),
                "boxes_xyxy": scale_boxes_back(batch["boxes_xyxy"][i], lb, size).numpy(),
                "labels": torch.as_tensor(batch["labels"][i]).cpu().numpy(),
            })
            self.predictions.append({
                "image_id": name,
                "boxes_xyxy": scale_boxes_back(pred["boxes_xyxy"].detach().cpu(), lb, size).numpy(),
                "scores": pred["scores"].detach().cpu().numpy(),
                "labels": pred["labels"].detach().cpu().numpy(),
            })

    def compute(self) -> dict[str, Any]:
        return evaluate_detections(self.predictions, self.ground_truths, self.names)

