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

Writes to ``--out`` (default: ``<run folder>/eval/<split>``):

* ``metrics.json``: ``AP`` (AP@[.5:.95]), ``AP50``, ``AP75``, ``APs``, ``APm``, ``APl``,
  ``precision``, ``recall``, ``f1`` (at the best F1, mean over classes), ``per_class``
  (``{name: {AP, AP50, precision, recall, f1, conf, instances, detections}}``), ``images``,
  ``instances``, and ``weights``, ``mode``, ``epoch``, ``split``, ``data``, ``names``;
  undefined values (a class absent from the split) are ``null``;
* ``metrics.md``: the same as Markdown tables (printed too);
* ``predictions.json`` with ``--save-json``: COCO results ``[{"image_id": stem,
  "category_id": class index + 1, "bbox": [x, y, w, h], "score"}]`` in original-image pixels.

Overrides change the saved config, typically ``data.root=DIR`` when the data set has moved, or
``detector.conf=0.25``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tardal.cli.train import OverridesAnywhere
from tardal.errors import CheckpointError

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
    p.add_argument("--save-json", action="store_true",
                   help="also write the predictions as COCO results (predictions.json)")
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


def run(args: argparse.Namespace) -> int:
    from tardal.engine.evaluate import evaluate_run, load_run
    from tardal.evaluation import to_coco_results, write_json
    from tardal.io import atomic_write_text

    weights = Path(args.weights)
    if not weights.is_file():
        raise CheckpointError(f"checkpoint {weights} does not exist")
    loaded = load_run(weights, args.overrides, device=args.device)
    report = evaluate_run(loaded, args.split, batch_size=args.batch_size or None,
                          progress=not args.no_progress)
    out = Path(args.out) if args.out else default_out(weights, args.split)
    metrics = dict(report.results)
    metrics.update(weights=str(weights), mode=loaded.mode.name, epoch=loaded.epoch,
                   split=args.split, data=str(report.root), names=loaded.names)
    write_json(out / "metrics.json", metrics)
    title = (f"{loaded.mode.name} run {weights} (epoch {loaded.epoch}) on split "
             f"'{args.split}' of {report.root}: {metrics['images']} images, "
             f"{metrics['instances']} objects")
    text = summary_markdown(metrics, title, loaded.mode.name)
    atomic_write_text(out / "metrics.md", text)
    if args.save_json:
        write_json(out / "predictions.json", to_coco_results(report.predictions))
    print(text)
    print(f"results in {out}")
    return 0
