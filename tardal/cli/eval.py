"""`tardal eval WEIGHTS [key=value ...] [--split test] [--out DIR] [--save-json]`.

Scores a detection run (modes ``ct``, ``tt``, ``frontend``, ``ir``, ``vis``) with COCO mAP
(pycocotools) on a split of its data set. The models are rebuilt from the checkpoint's own config:
``ct``/``tt``/``frontend`` fuse each pair with the saved fusion network and detect on the
result, ``ir``/``vis`` detect on one modality; the detector is the EMA copy when the run kept one.
Boxes are mapped back to the original images through the letterbox before scoring.

Examples::

    tardal eval runs/train/synth-ct/weights/best.pt                       # test split
    tardal eval runs/train/ct/weights/best.pt data.root=runs/data/m3fd --split val
    tardal eval best.pt --out runs/eval/ct --save-json                    # + COCO predictions
    tardal eval best.pt --categories ../shared/data/m3fd-labels/m3fd-test.json   # their ids

Writes to ``--out`` (default: ``<run folder>/eval/<split>``):

* ``metrics.json``: ``AP`` (AP@[.5:.95]), ``AP50``, ``AP75``, ``APs``, ``APm``, ``APl``,
  ``precision``, ``recall``, ``f1`` (at the best F1, mean over classes), ``per_class``
  (``{name: {AP, AP50, precision, recall, f1, conf, instances, detections}}``), ``images``,
  ``instances``, and ``weights``, ``mode``, ``epoch``, ``split``, ``data``, ``names``;
  undefined values (a class absent from the split) are ``null``;
* ``metrics.md``: the same as Markdown tables (printed too);
* ``predictions.json`` with ``--save-json``: a self-describing COCO file in original-image
  pixels: ``info``, ``categories`` (``[{"id", "name"}]``, our class names), ``images``
  (``[{"id": stem, "file_name", "width", "height"}]``, every evaluated image) and
  ``annotations`` (``[{"id", "image_id": stem, "category_id", "bbox": [x, y, w, h], "score",
  "area"}]``, ready for pycocotools' ``COCO.loadRes``). Category ids are class index + 1, or
  with ``--categories FILE`` (implies ``--save-json``) the ids of the categories of that COCO
  file matched by name, ignoring case (a class of ours missing there is an error): use it to
  score against a third-party annotation file whose class order differs from ours, e.g. M3FD's
  ``m3fd-test.json`` (People 1, Car 2, Motorcycle 3, Bus 4, Truck 5, Lamp 6).

Overrides change the saved config, typically ``data.root=DIR`` when the data set has moved, or
``detector.conf=0.25``.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

from tardal.cli.train import OverridesAnywhere
from tardal.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="COCO mAP of a trained detection run on a data split",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("weights", help="checkpoint written by 'tardal train' (weights/best.pt)")
    p.add_argument("overrides", nargs="*", metavar="key.sub=value",
                   help="overrides of the saved config, e.g. data.root=DIR")
    p.add_argument("--split", default="test", help="data split to score (default: test)")
    p.add_argument("--out", help="output folder (default: <run>/eval/<split>)")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave unusable pairs of the split out (listed) instead of stopping")
    p.add_argument("--html", action="store_true",
                   help="also write report.html (tables, PR curves, training curves)")
    p.add_argument("--save-json", action="store_true",
                   help="also write the predictions as a COCO file (predictions.json)")
    p.add_argument("--categories", metavar="FILE",
                   help="COCO JSON file whose 'categories' give the category ids of "
                   "predictions.json, matched to our classes by name (implies --save-json)")
    p.add_argument("--batch-size", type=int, default=0, help="default: the run's data.batch_size")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.__class__ = OverridesAnywhere  # same parser, plus overrides after options
    p.set_defaults(func=run)


def default_out(weights: Path, split: str) -> Path:
    """``<run>/eval/<split>`` for ``<run>/weights/x.pt``; ``<folder>/eval/<split>`` otherwise."""
    run = weights.parent.parent if weights.parent.name == "weights" else weights.parent
    return run / "eval" / split


def summary_markdown(metrics: dict, title: str, run_name: str) -> str:
    """A one-row table of the headline numbers (and AP50 per class), then the per-class table
    (instances, P, R, AP50, AP50:95)."""
    from tardal.evaluation import markdown_comparison, markdown_table

    names = metrics.get("names")
    return (f"# {title}\n\n{markdown_comparison({run_name: metrics}, names)}\n"
            f"{markdown_table(metrics, names)}")


def image_records(root: Path, ground_truths: list[dict]) -> list[dict]:
    """``{"image_id", "size", "file_name"}`` per evaluated image: the file name is that of the
    infrared image of the pair (M3FD names both files alike)."""
    from tardal.data.layout import resolve_pairs

    pairs = resolve_pairs(root, [str(g["image_id"]) for g in ground_truths], labels=False)
    files = {p.stem: p.ir.name for p in pairs}
    return [{"image_id": g["image_id"], "size": g["size"], "file_name": files[str(g["image_id"])]}
            for g in ground_truths]


def run(args: argparse.Namespace) -> int:
    from tardal.engine.evaluate import evaluate_run, load_run
    from tardal.evaluation import category_ids, coco_predictions, read_categories, write_json
    from tardal.io import atomic_write_text

    weights = Path(args.weights)
    if not weights.is_file():
        raise CheckpointError(f"checkpoint {weights} does not exist")
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", args.split) or ".." in args.split:
        raise ConfigError(f"--split: expected a split name such as test or val (meta/NAME.txt), "
                          f"found {args.split!r}")
    if args.batch_size < 0:
        raise ConfigError(f"--batch-size must be >= 0 (0: the run's data.batch_size), found "
                          f"{args.batch_size}")
    categories = read_categories(args.categories) if args.categories else None
    overrides = [*args.overrides, *(["data.skip_bad=true"] if args.skip_bad else [])]
    loaded = load_run(weights, overrides, device=args.device)
    if categories is not None:  # fail before the evaluation, not after it
        category_ids(loaded.names, categories, f"--categories {args.categories}")
    report = evaluate_run(loaded, args.split, batch_size=args.batch_size or None,
                          progress=not args.no_progress)
    out = Path(args.out) if args.out else default_out(weights, args.split)
    metrics = dict(report.results)
    metrics.update(weights=str(weights), mode=loaded.mode.name, epoch=loaded.epoch,
                   split=args.split, data=str(report.root), names=loaded.names)
    write_json(out / "metrics.json", metrics)
    if args.html:
        from tardal.evaluation.html import write_eval_report

        write_eval_report(metrics, out / "report.html", report=report)
    title = (f"{loaded.mode.name} run {weights} (epoch {loaded.epoch}) on split "
             f"'{args.split}' of {report.root}: {metrics['images']} images, "
             f"{metrics['instances']} objects")
    text = summary_markdown(metrics, title, loaded.mode.name)
    atomic_write_text(out / "metrics.md", text)
    if args.save_json or categories is not None:
        coco = coco_predictions(
            report.predictions, loaded.names, image_records(report.root, report.ground_truths),
            categories=categories,
            info={"weights": str(weights), "mode": loaded.mode.name, "epoch": loaded.epoch,
                  "split": args.split, "data": str(report.root),
                  "categories_from": str(args.categories) if args.categories else
                  "class index + 1"})
        write_json(out / "predictions.json", coco)
    print(text)
    print(f"results in {out}")
    return 0
