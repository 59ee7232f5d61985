"""Predictions of a trained detection run on any registered infrared/visible input.

Inputs (:func:`open_inputs`) are two image files, two folders of images paired by file stem
(:func:`tardal.cli.fuse.pair_inputs`), or two videos read frame by frame with OpenCV. Every
input is checked before any work (headers, pair sizes, the videos' frame counts and sizes),
so a bad input leaves nothing behind.

Each frame is letterboxed to the run's ``data.img_size`` exactly as
:class:`tardal.data.dataset.PairedDataset` does (:func:`tardal.data.transforms.letterbox`),
batched, passed through :meth:`tardal.engine.evaluate.LoadedRun.predict`, and the boxes are
mapped back to the frame's own pixels (:func:`predict_frames`). What is shown is the fused image
recoloured with the visible CbCr for runs that fuse (``ct``, ``tt``, ``frontend``), the
detector's own input for ``ir`` / ``vis`` runs, or the visible image for ``early`` (whose
detector reads the stacked pair), cut out of the letterbox at the frame's size.

Writers: :func:`yolo_lines` (``cls cx cy w h conf``, normalised), :func:`coco_predictions` (one
COCO-style dict of all predictions), :class:`VideoSink` (an MP4 written beside its target and
renamed into place when complete).

Shapes: ``ir`` (H,W) float32 in [0,1]; ``vis`` (H,W,3) float32 RGB in [0,1]; boxes (N,4) float32
``x1 y1 x2 y2`` pixels of the frame.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tardal.errors import DataError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg")


# ----------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoInfo:
    """What OpenCV reports for a video file (read from its container, nothing decoded)."""

    path: Path
    frames: int
    width: int
    height: int
    fps: float


@dataclass
class Frame:
    """One registered pair: ``ir`` (H,W) and ``vis`` (H,W,3) float32 in [0,1]."""

    name: str  # output file name (an image's name, or ``<video stem>_<index>.png``)
    ir: np.ndarray
    vis: np.ndarray


@dataclass
class Inputs:
    """Checked inputs: image ``pairs`` or two videos (``videos`` is ``(ir, vis)`` then)."""

    pairs: list[tuple[str, Path, Path]] = field(default_factory=list)
    videos: tuple[VideoInfo, VideoInfo] | None = None

    @property
    def is_video(self) -> bool:
        return self.videos is not None

    @property
    def names(self) -> list[str]:
        """Output names of every frame, in order."""
        if self.videos is not None:
            ir = self.videos[0]
            return [frame_name(ir.path, i) for i in range(ir.frames)]
        return [name for name, _, _ in self.pairs]

    def __len__(self) -> int:
        return self.videos[0].frames if self.videos is not None else len(self.pairs)

    def frames(self) -> Iterator[Frame]:
        """Decode the frames one by one."""
        if self.videos is not None:
            yield from read_video_pairs(self.videos[0], self.videos[1])
        else:
            yield from read_image_pairs(self.pairs)


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def frame_name(video: Path, index: int) -> str:
    """``<video stem>_<index:06d>.png``: the output name of frame ``index`` of ``video``."""
    return f"{Path(video).stem}_{index:06d}.png"


def probe_video(path: str | Path) -> VideoInfo:
    """Frame count, size and rate of a video. Raises DataError when OpenCV cannot open it or it
    reports no frames or no size."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise DataError(f"video {path} does not exist")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise DataError(f"video {path}: OpenCV cannot open it (unsupported or damaged file)")
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()
    if frames <= 0 or width <= 0 or height <= 0:
        raise DataError(f"video {path}: expected frames of a known size, found {frames} "
                        f"frame(s) of {width}x{height}")
    if not fps > 0 or not np.isfinite(fps):
        fps = 25.0
        log.warning("video %s reports no frame rate; using %.0f frames per second", path, fps)
    return VideoInfo(path=path, frames=frames, width=width, height=height, fps=fps)


def check_videos(ir: str | Path, vi: str | Path) -> tuple[VideoInfo, VideoInfo]:
    """Probe both videos; raise DataError naming both files and the numbers when their frame
    counts or frame sizes differ."""
    a, b = probe_video(ir), probe_video(vi)
    if a.frames != b.frames:
        raise DataError(f"videos differ in length: infrared {a.path} has {a.frames} frames, "
                        f"visible {b.path} has {b.frames}")
    if (a.width, a.height) != (b.width, b.height):
        raise DataError(f"videos differ in frame size: infrared {a.path} is "
                        f"{a.width}x{a.height}, visible {b.path} is {b.width}x{b.height} "
                        "(width x height); the pair must be registered")
    return a, b


def open_inputs(ir: str | Path, vi: str | Path) -> Inputs:
    """Pair and check the inputs (see the module doc); nothing is decoded but video headers."""
    ir, vi = Path(ir), Path(vi)
    if is_video(ir) or is_video(vi):
        if not (is_video(ir) and is_video(vi)):
            raise DataError(f"--ir {ir} and --vi {vi}: expected two videos "
                            f"({', '.join(VIDEO_SUFFIXES)}) or two images or two folders")
        return Inputs(videos=check_videos(ir, vi))
    from tardal.cli.fuse import check_pairs, pair_inputs

    pairs = pair_inputs(ir, vi)
    check_pairs(pairs)
    return Inputs(pairs=pairs)


def _ir_plane(frame_bgr: np.ndarray) -> np.ndarray:
    """An infrared video frame (H,W,3) uint8 BGR -> (H,W) float32: its first plane when the
    three are equal (grey stored as colour), else BT.601 luma, as :func:`tardal.io.read_ir`."""
    import cv2

    if frame_bgr.ndim == 2:
        grey = frame_bgr
    elif (np.array_equal(frame_bgr[..., 0], frame_bgr[..., 1])
          and np.array_equal(frame_bgr[..., 0], frame_bgr[..., 2])):
        grey = frame_bgr[..., 0]
    else:
        grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    return grey.astype(np.float32) / 255.0


def read_video_pairs(ir: VideoInfo, vi: VideoInfo) -> Iterator[Frame]:
    """Frames of two checked videos, in step. Raises DataError when a frame cannot be decoded
    (the container promised more frames than it holds)."""
    import cv2

    caps = [cv2.VideoCapture(str(ir.path)), cv2.VideoCapture(str(vi.path))]
    try:
        for i in range(ir.frames):
            ok_a, a = caps[0].read()
            ok_b, b = caps[1].read()
            if not (ok_a and ok_b):
                bad = ir.path if not ok_a else vi.path
                raise DataError(f"video {bad}: frame {i} cannot be decoded (the file reports "
                                f"{ir.frames} frames)")
            vis = cv2.cvtColor(b, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
            yield Frame(name=frame_name(ir.path, i), ir=_ir_plane(a), vis=vis)
    finally:
        for cap in caps:
            cap.release()


def read_image_pairs(pairs: Sequence[tuple[str, Path, Path]]) -> Iterator[Frame]:
    """Decoded image pairs (sizes re-checked once decoded)."""
    from tardal.io import read_ir, read_rgb

    for name, ir_path, vi_path in pairs:
        ir, vis = read_ir(ir_path), read_rgb(vi_path)
        if ir.shape[:2] != vis.shape[:2]:
            (h, w), (hv, wv) = ir.shape[:2], vis.shape[:2]
            raise DataError(f"pair {Path(name).stem!r}: infrared {ir_path} is {w}x{h} but "
                            f"visible {vi_path} is {wv}x{hv} (width x height); the pair must "
                            "be registered")
        yield Frame(name=name, ir=ir, vis=vis)


def batched(frames: Iterator[Frame], size: int) -> Iterator[list[Frame]]:
    """Lists of up to ``size`` frames."""
    chunk: list[Frame] = []
    for f in frames:
        chunk.append(f)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ----------------------------------------------------------------------------------------
# Prediction
# ----------------------------------------------------------------------------------------


@dataclass
class Prediction:
    """One frame's result, in the frame's own pixels."""

    name: str
    shown: np.ndarray  # (H,W,3) float32 RGB in [0,1]: the fused image, or the detector's input
    boxes_xyxy: np.ndarray  # (K,4) float32
    scores: np.ndarray  # (K,) float32, descending
    labels: np.ndarray  # (K,) int64

    @property
    def size(self) -> tuple[int, int]:
        """(H, W)."""
        return int(self.shown.shape[0]), int(self.shown.shape[1])


def letterbox_batch(frames: Sequence[Frame], img_size: int) -> dict[str, Any]:
    """The frames letterboxed to ``img_size`` and collated as the data set's batches
    (``ir`` (B,1,S,S), ``vis`` (B,3,S,S), ``letterbox``, ``orig_size``, ``name``; no boxes)."""
    import torch

    from tardal.data.dataset import collate_pairs
    from tardal.data.transforms import letterbox

    items = []
    for f in frames:
        ir, vis, _, lb = letterbox(f.ir, f.vis, np.zeros((0, 4), np.float32), img_size)
        items.append({
            "ir": torch.from_numpy(np.ascontiguousarray(ir, np.float32))[None],
            "vis": torch.from_numpy(np.ascontiguousarray(vis.transpose(2, 0, 1), np.float32)),
            "boxes_xyxy": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64),
            "name": f.name, "orig_size": (int(f.ir.shape[0]), int(f.ir.shape[1])),
            "letterbox": lb,
        })
    return collate_pairs(items)


def predict_frames(run: Any, frames: Sequence[Frame]) -> list[Prediction]:
    """Run a :class:`~tardal.engine.evaluate.LoadedRun` on a list of frames (one batch).

    Frames of different sizes may share a batch: each is letterboxed to ``data.img_size``.
    """
    from tardal.demo import _crop
    from tardal.detect import scale_boxes_back
    from tardal.ops.color import recolor

    batch = letterbox_batch(frames, run.cfg.data.img_size)
    images, fused, preds = run.predict(batch)
    if fused is not None:
        shown = recolor(fused, batch["vis"].to(fused.device)).clamp(0, 1)
    elif images.shape[1] == 3:
        shown = images.clamp(0, 1)
    else:  # ``early``: visible RGB and infrared stacked; the visible image is shown
        shown = batch["vis"]
    shown_np = shown.permute(0, 2, 3, 1).float().cpu().numpy()
    out = []
    for i, f in enumerate(frames):
        lb, size = batch["letterbox"][i], batch["orig_size"][i]
        p = preds[i]
        out.append(Prediction(
            name=f.name,
            shown=_crop(shown_np[i], lb, size).astype(np.float32),
            boxes_xyxy=scale_boxes_back(p["boxes_xyxy"].cpu(), lb, size).numpy(),
            scores=p["scores"].float().cpu().numpy(),
            labels=p["labels"].long().cpu().numpy(),
        ))
    return out


# ----------------------------------------------------------------------------------------
# Writers
# ----------------------------------------------------------------------------------------


def draw_prediction(pred: Prediction, names: Sequence[str], conf: float = 0.0) -> np.ndarray:
    """The shown image with the boxes scoring at least ``conf``: (H,W,3) uint8 RGB."""
    from tardal.evaluation.plots import draw_detections

    return draw_detections(pred.shown, pred.boxes_xyxy, pred.labels, names, pred.scores,
                           min_score=conf)


def yolo_lines(pred: Prediction, conf: float = 0.0) -> str:
    """YOLO text of the boxes scoring at least ``conf``: one ``cls cx cy w h conf`` line per box,
    coordinates normalised by the frame's width and height."""
    h, w = pred.size
    lines = []
    for (x1, y1, x2, y2), s, k in zip(pred.boxes_xyxy, pred.scores, pred.labels):
        if s < conf:
            continue
        lines.append(f"{int(k)} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
                     f"{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f} {float(s):.6f}")
    return "".join(line + "\n" for line in lines)


def coco_predictions(preds: Sequence[Prediction], names: Sequence[str],
                     conf: float = 0.0) -> dict[str, Any]:
    """``{"categories": [{"id": i + 1, "name"}], "images": [{"id", "file_name", "width",
    "height"}], "annotations": [{"id", "image_id", "category_id", "bbox" [x, y, w, h],
    "area", "score"}]}`` of the boxes scoring at least ``conf`` (ids start at 1)."""
    images, annotations = [], []
    for i, p in enumerate(preds, start=1):
        h, w = p.size
        images.append({"id": i, "file_name": p.name, "width": w, "height": h})
        for (x1, y1, x2, y2), s, k in zip(p.boxes_xyxy, p.scores, p.labels):
            if s < conf:
                continue
            bw, bh = float(x2 - x1), float(y2 - y1)
            annotations.append({
                "id": len(annotations) + 1, "image_id": i, "category_id": int(k) + 1,
                "bbox": [round(float(x1), 3), round(float(y1), 3), round(bw, 3), round(bh, 3)],
                "area": round(bw * bh, 3), "score": round(float(s), 5),
            })
    return {"categories": [{"id": i + 1, "name": str(n)} for i, n in enumerate(names)],
            "images": images, "annotations": annotations}


class VideoSink:
    """An MP4 (``mp4v``) written to a hidden temporary file beside ``path`` and renamed to
    ``path`` by :meth:`close`; :meth:`abort` removes it. Frames are (H,W,3) uint8 RGB of one
    size, fixed by the first frame."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = float(fps)
        self._writer: Any = None
        self._tmp: Path | None = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, frame_rgb: np.ndarray) -> None:
        import cv2

        h, w = frame_rgb.shape[:2]
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # created with the umask's mode (mkstemp would make it private); the container is
            # chosen from the suffix, so the temporary name ends in .mp4 too
            tmp = self.path.with_name(f".{self.path.stem}.{secrets.token_hex(4)}.partial.mp4")
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            self._tmp = tmp
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"),
                                           self.fps, (w, h))
            if not self._writer.isOpened():
                self.abort()
                raise DataError(f"cannot write video {self.path}: OpenCV has no mp4v encoder "
                                "here")
            self._size = (h, w)
        assert (h, w) == self._size, "every frame of a video has one size"
        self._writer.write(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> Path | None:
        """Finish the file and move it into place; None when no frame was written."""
        if self._writer is None:
            return None
        self._writer.release()
        self._writer = None
        assert self._tmp is not None
        os.replace(self._tmp, self.path)
        self._tmp = None
        return self.path

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None


def video_panel(frame: Frame, drawn: np.ndarray, what: str) -> np.ndarray:
    """infrared | visible | ``what`` with boxes, titled: (H+18, 3W+8, 3) uint8 RGB."""
    from tardal.evaluation.plots import hstack, titled

    return hstack([titled(frame.ir, "infrared"), titled(frame.vis, "visible"),
                   titled(drawn, what)])
