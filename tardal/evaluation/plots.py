"""Pictures for people: ``results.png`` of a run and detections drawn on images.

* :func:`plot_results` draws every numeric column of ``results.csv`` against the epoch, one
  panel per loss term or metric (per-class AP columns share one panel each), with matplotlib's
  Agg backend (imported lazily: nothing is imported or drawn until it is called).
* :func:`draw_detections` draws boxes with class names and scores on an RGB image with OpenCV's
  built-in Hershey font (no font files needed).
* :func:`titled` and :func:`hstack` build side-by-side panels (infrared | visible | fused).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tardal.io import atomic_write_bytes, to_uint8
from tardal.errors import DataError

log = logging.getLogger(__name__)

_SKIP = {"epoch", "step", "time_s"}

# Class colours (RGB), distinct and readable on dark and bright backgrounds.
PALETTE = [(255, 56, 56), (72, 249, 10), (0, 194, 255), (255, 178, 29), (207, 210, 49),
           (255, 55, 199), (146, 204, 23), (61, 219, 134), (26, 147, 52), (0, 212, 187)]


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _panels(columns: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Group columns: ``prefix/AP50/<class>`` columns share one panel, the learning rates
    (``lr/<optimiser>``) another, the rest one each."""
    groups: dict[str, list[str]] = {}
    for col in columns:
        if col in _SKIP:
            continue
        parts = col.split("/")
        if len(parts) >= 3 and parts[-2] in ("AP50", "AP"):
            key = "/".join(parts[:-1]) + " per class"
        elif parts[0] == "lr" and len(parts) == 2:
            key = "learning rates"
        else:
            key = col
        groups.setdefault(key, []).append(col)
    return list(groups.items())


def plot_results(rows: Sequence[Mapping[str, Any]], out: str | Path) -> Path | None:
    """Write a grid of line plots of ``rows`` (``results.csv`` rows) against ``epoch``.

    Empty cells (terms not logged in some epochs) are gaps. Returns the path, or None when
    there is nothing to plot.
    """
    if not rows:
        return None
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # a Figure without pyplot: no global state

    columns: list[str] = []
    for row in rows:
        for k in row:
            if k not in columns:
                columns.append(k)
    panels = _panels(columns)
    if not panels:
        return None
    epochs = [_float(r.get("epoch")) for r in rows]
    ncol = min(6, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    width, height = 3.0 * ncol, 2.3 * nrow  # inches
    fig = Figure(figsize=(width, height), dpi=90)
    # fixed margins in inches (tight_layout measured every label: seconds for a long run's grid)
    fig.subplots_adjust(left=0.55 / width, right=1 - 0.1 / width, bottom=0.3 / height,
                        top=1 - 0.25 / height, wspace=0.35, hspace=0.45)
    for i, (title, cols) in enumerate(panels):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        for col in cols:
            ys = [_float(r.get(col)) for r in rows]
            label = col.split("/")[-1] if len(cols) > 1 else None
            ax.plot(epochs, ys, marker=".", linewidth=1.2, markersize=4, label=label)
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if len(cols) > 1:
            ax.legend(fontsize=6, loc="best")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    out = Path(out)
    atomic_write_bytes(out, buf.getvalue())
    return out


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """(H,W,3) or (H,W) float in [0,1] or uint8 -> contiguous (H,W,3) uint8 RGB."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = to_uint8(arr)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise DataError(f"expected an (H,W), (H,W,1) or (H,W,3) image, found {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr)


def draw_detections(image: np.ndarray, boxes_xyxy: Any, labels: Any, names: Sequence[str],
                    scores: Any = None, min_score: float = 0.0, thickness: int = 1
                    ) -> np.ndarray:
    """Boxes with class labels (and scores) drawn on a copy of ``image``.

    Args:
        image: (H,W,3) RGB, float in [0,1] or uint8 (grey (H,W) is repeated).
        boxes_xyxy: (N,4) pixels of ``image``; labels: (N,) class ids into ``names``;
        scores: optional (N,) in [0,1] (boxes below ``min_score`` are skipped).

    Returns:
        (H,W,3) uint8 RGB.
    """
    import cv2

    canvas = _to_uint8(image).copy()
    boxes = np.asarray(getattr(boxes_xyxy, "cpu", lambda: boxes_xyxy)(), dtype=np.float64)
    labels = np.asarray(getattr(labels, "cpu", lambda: labels)(), dtype=np.int64).reshape(-1)
    sc = None if scores is None else np.asarray(getattr(scores, "cpu", lambda: scores)(),
                                                dtype=np.float64).reshape(-1)
    h = canvas.shape[0]
    scale = max(0.3, min(0.6, h / 700.0))
    order = range(len(labels)) if sc is None else np.argsort(sc, kind="stable")  # best on top
    for i in order:
        if sc is not None and sc[i] < min_score:
            continue
        x1, y1, x2, y2 = (int(round(v)) for v in boxes.reshape(-1, 4)[i])
        k = int(labels[i])
        colour = PALETTE[k % len(PALETTE)]
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_8)
        text = names[k] if 0 <= k < len(names) else str(k)
        if sc is not None:
            text = f"{text} {sc[i]:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else y1 + th + 2
        cv2.rectangle(canvas, (x1, ty - th - 1), (x1 + tw + 2, ty + base - 1), colour, -1)
        cv2.putText(canvas, text, (x1 + 1, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return canvas


def titled(image: np.ndarray, title: str, bar: int = 18) -> np.ndarray:
    """``image`` (H,W,3) with a black title bar of ``bar`` pixels on top: (H+bar,W,3) uint8."""
    import cv2

    img = _to_uint8(image)
    out = np.zeros((img.shape[0] + bar, img.shape[1], 3), np.uint8)
    out[bar:] = img
    cv2.putText(out, title, (4, bar - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


def hstack(images: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Images of equal height side by side with white gaps: (H, sum W + gaps, 3) uint8."""
    imgs = [_to_uint8(i) for i in images]
    h = max(i.shape[0] for i in imgs)
    parts: list[np.ndarray] = []
    for j, img in enumerate(imgs):
        if img.shape[0] < h:
            img = np.pad(img, ((0, h - img.shape[0]), (0, 0), (0, 0)))
        if j:
            parts.append(np.full((h, gap, 3), 255, np.uint8))
        parts.append(img)
    return np.concatenate(parts, axis=1)
