"""`tardal predict WEIGHTS --ir X --vi Y --out DIR`: detections of a trained run on any input.

Examples::

    tardal predict runs/train/ct/weights/best.pt --ir 01_ir.png --vi 01_vi.png --out pred/
    tardal predict best.pt --ir scenes/ir --vi scenes/vi --out pred/ --save-txt --save-json
    tardal predict best.pt --ir drive_ir.mp4 --vi drive_vi.mp4 --out pred/ --conf 0.4

``--ir`` and ``--vi`` are two images, two folders (paired by file stem) or two videos (read
frame by frame; their frame counts and sizes must agree). WEIGHTS is a detection checkpoint of
``tardal train`` (modes ``ct``, ``tt``, ``frontend``, ``ir``, ``vis``). Every frame is
letterboxed to the run's ``data.img_size`` as in training, fused (runs that fuse) and detected;
boxes scoring at least ``--conf`` are kept and mapped back to the frame's pixels.

Output (``--out``)::

    <name>                 the fused image (or the run's single modality) with its boxes;
                           video frames are <video stem>_<index>.png
    labels/<stem>.txt      --save-txt: one 'cls cx cy w h conf' line per box, normalised
    predictions.json       --save-json: COCO-style {categories, images, annotations}
    <ir video stem>.mp4    videos, unless --no-video: infrared | visible | fused with boxes,
                           at the source frame rate
    predict.json           frames, seconds, frames per second (whole pipeline and model only)

Every input is checked before any work; nothing is written for a bad input.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from tardal.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict", help="detect (and fuse) on images, folders or videos with a trained run",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("weights", help="detection checkpoint from 'tardal train' (weights/best.pt)")
    p.add_argument("--ir", required=True, help="infrared image, folder or video")
    p.add_argument("--vi", required=True, help="visible image, folder or video")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--conf", type=float, default=0.25, help="score threshold (default 0.25)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--batch", type=int, default=8, help="frames per forward pass (default 8)")
    p.add_argument("--save-txt", action="store_true", help="YOLO text files under labels/")
    p.add_argument("--save-json", action="store_true", help="COCO-style predictions.json")
    p.add_argument("--no-video", action="store_true", help="no MP4 for video inputs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _check_out(out_dir: Path, ir: Path, vi: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is a file; expected a folder")
    for src in {ir, vi}:
        folder = src if src.is_dir() else src.parent
        if out_dir.resolve() == folder.resolve():
            raise ConfigError(f"--out {out_dir} is an input folder; choose another, the inputs "
                              "would be overwritten")


def run(args: argparse.Namespace) -> int:
    from tardal.io import safe_output_path
    from tardal.predict import open_inputs

    if not 0.0 <= args.conf <= 1.0:
        raise ConfigError(f"--conf must lie in [0, 1], found {args.conf}")
    if args.batch < 1:
        raise ConfigError(f"--batch must be at least 1, found {args.batch}")
    weights = Path(args.weights)
    if not weights.is_file():
        raise CheckpointError(f"checkpoint {weights} does not exist")
    out_dir = Path(args.out)
    _check_out(out_dir, Path(args.ir), Path(args.vi))
    inputs = open_inputs(args.ir, args.vi)
    names = inputs.names
    images = [safe_output_path(out_dir, n) for n in names]
    labels = [safe_output_path(out_dir / "labels", Path(n).stem + ".txt") for n in names]
    video = None
    if inputs.videos is not None and not args.no_video:
        video = safe_output_path(out_dir, inputs.videos[0].path.stem + ".mp4")

    import numpy as np  # after the checks above: bad input is reported without the wait
    import torch
    from tqdm import tqdm

    from tardal.engine.evaluate import load_run
    from tardal.evaluation import write_json
    from tardal.io import atomic_write_text, write_image
    from tardal.predict import (
        Prediction,
        VideoSink,
        batched,
        coco_predictions,
        draw_prediction,
        predict_frames,
        video_panel,
        yolo_lines,
    )

    loaded = load_run(weights, [f"detector.conf={args.conf}"], device=args.device)
    what = "fused" if loaded.mode.has_generator else loaded.mode.name
    sink = VideoSink(video, inputs.videos[0].fps) if video is not None else None
    kept: list[Prediction] = []
    n_done, model_s = 0, 0.0
    log.info("predicting %d frame(s) with the %s run %s on %s -> %s", len(inputs),
             loaded.mode.name, weights, loaded.ctx.device, out_dir)
    t0 = time.perf_counter()
    bar = tqdm(total=len(inputs), desc="predict", unit="frame", dynamic_ncols=True,
               disable=args.no_progress)
    try:
        for frames in batched(inputs.frames(), args.batch):
            t = time.perf_counter()
            preds = predict_frames(loaded, frames)
            if loaded.ctx.device.type == "cuda":
                torch.cuda.synchronize(loaded.ctx.device)
            model_s += time.perf_counter() - t
            for frame, pred in zip(frames, preds):
                drawn = draw_prediction(pred, loaded.names, args.conf)
                write_image(images[n_done], drawn)
                if args.save_txt:
                    atomic_write_text(labels[n_done], yolo_lines(pred, args.conf))
                if sink is not None:
                    sink.write(video_panel(frame, drawn, f"{what} | {loaded.mode.name} detector"))
                if args.save_json:  # the image itself is not kept, only its size
                    pred.shown = np.broadcast_to(np.float32(0), pred.shown.shape)
                    kept.append(pred)
                n_done += 1
            bar.update(len(frames))
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    finally:
        bar.close()
    mp4 = sink.close() if sink is not None else None
    seconds = time.perf_counter() - t0
    if args.save_json:
        write_json(out_dir / "predictions.json", coco_predictions(kept, loaded.names, args.conf))
    fps = n_done / seconds if seconds > 0 else float("nan")
    model_fps = n_done / model_s if model_s > 0 else float("nan")
    write_json(out_dir / "predict.json", {
        "weights": str(weights), "mode": loaded.mode.name, "names": loaded.names,
        "img_size": loaded.cfg.data.img_size, "device": str(loaded.ctx.device),
        "conf": args.conf, "batch": args.batch, "frames": n_done, "seconds": seconds,
        "fps": fps, "model_seconds": model_s, "model_fps": model_fps,
        "video": str(mp4) if mp4 else None,
    })
    print(f"predicted {n_done} frame(s) in {seconds:.2f} s: {fps:.1f} frames/s "
          f"({model_fps:.1f} frames/s in the model) -> {out_dir}"
          + (f"; video {mp4}" if mp4 else ""))
    return 0
