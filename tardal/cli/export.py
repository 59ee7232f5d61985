"""`tardal export` (ONNX graphs of a trained run) and `tardal export-data` (a fused data set).

Examples::

    tardal export runs/train/ct/weights/best.pt --format onnx             # best.onnx, best-det.onnx
    tardal export best.pt --format onnx --out g.onnx --opset 17
    tardal export-data --method mean --data runs/data/synth --out runs/fused/mean
    tardal export-data --weights runs/train/ct/weights/best.pt --data DIR --out OUT \\
        --splits train,val,test

``tardal export WEIGHTS --format onnx [--out FILE] [--opset 17]`` writes the fusion graph G
(inputs ``ir`` and ``vis_y`` (B,1,H,W), output ``fused``; dynamic B, H, W) to FILE (default:
WEIGHTS with ``.onnx``) when the run has G, and for detection runs the graph from a letterboxed
(``ir``, ``vis``) pair to the raw detector output ``preds`` (B, 4 + nc, N): box centre x,
centre y, width, height in letterboxed pixels, then the class scores, before NMS; dynamic B,
fixed ``data.img_size``) to ``<FILE stem>-det.onnx``. See :mod:`tardal.export`.

``tardal export-data`` fuses every pair of the chosen splits of a canonical data set (made by
``tardal data import``) with a registered method or a checkpoint's G and writes it in the
Ultralytics layout: ``images/{split}/``, ``labels/{split}/`` (the YOLO labels, copied),
``data.yaml`` (``path``, ``train``, ``val``, ``names``), and ``annotations/{split}.json``
(COCO). Train Ultralytics on it with ``YOLO("yolov8n.yaml").train(data="OUT/data.yaml")``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tardal.errors import CheckpointError, ConfigError, DataError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a trained run's networks (ONNX)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("weights", help="checkpoint from 'tardal train' (weights/best.pt)")
    p.add_argument("--format", default="onnx", help="export format (onnx)")
    p.add_argument("--out", help="fusion graph file (default: WEIGHTS with .onnx)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.set_defaults(func=run_export)

    q = sub.add_parser(
        "export-data", help="fuse a data set and write it in the Ultralytics layout",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("--method", help="registered fusion method (mean, max, laplacian, ...)")
    q.add_argument("--weights", help="checkpoint from 'tardal train' whose G fuses")
    q.add_argument("--data", required=True, help="data set root in the canonical layout")
    q.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    q.add_argument("--splits", default="train,val", help="splits to export (default train,val)")
    q.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.set_defaults(func=run_export_data)


def run_export(args: argparse.Namespace) -> int:
    if args.format != "onnx":
        raise ConfigError(f"--format: expected onnx, found {args.format!r}")
    if not Path(args.weights).is_file():
        raise CheckpointError(f"checkpoint {args.weights} does not exist")
    from tardal.export import export_onnx

    done = export_onnx(args.weights, args.out, opset=args.opset)
    for what, path in (("fusion graph", done.fusion), ("detection graph", done.detection)):
        if path is not None:
            print(f"{what}: {path}")
    return 0


def run_export_data(args: argparse.Namespace) -> int:
    if bool(args.method) == bool(args.weights):
        raise ConfigError("tardal export-data needs exactly one of --method NAME and "
                          "--weights CKPT")
    if args.weights and not Path(args.weights).is_file():
        raise CheckpointError(f"checkpoint {args.weights} does not exist")
    if not (Path(args.data) / "data.yaml").is_file():
        raise DataError(f"--data {args.data}: expected a data set in the canonical layout (a "
                        "folder with data.yaml, made by 'tardal data import')")
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    if not splits or len(set(splits)) != len(splits):
        raise ConfigError(f"--splits: expected distinct split names, found {args.splits!r}")
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"--out {out} exists and is not an empty folder")
    from tardal.export import export_dataset, fusion_function

    fuse, what = fusion_function(args.weights, args.method, args.device)
    done = export_dataset(args.data, out, fuse, splits=splits, progress=not args.no_progress)
    counts = ", ".join(f"{s} {n}" for s, n in done.counts.items())
    print(f"fused with {what}: {counts} pair(s) -> {done.out} (data.yaml: {done.data_yaml})")
    return 0
