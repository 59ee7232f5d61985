"""Small data builders shared by the data-layer tests."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np


def write_png(path: Path, img: np.ndarray) -> Path:
    """Write a uint8/uint16 array (grey or BGR) as it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img), path
    return path


def scene(h: int, w: int, boxes_xyxy: Sequence[Sequence[int]] = (), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A registered pair: infrared grey uint8 (H,W) and visible BGR uint8 (H,W,3).

    The background is dark noise; every box is filled bright in both images, so the content
    can be checked after geometric transforms.
    """
    rng = np.random.default_rng(seed)
    ir = rng.integers(0, 40, (h, w), dtype=np.uint8)
    for x1, y1, x2, y2 in boxes_xyxy:
        ir[y1:y2, x1:x2] = 250
    vis = np.stack([ir, ir // 2, ir], axis=2).copy()  # BGR; the pattern is identical
    return ir, vis


def yolo_line(cls: int, box: Sequence[float], w: int, h: int) -> str:
    x1, y1, x2, y2 = box
    return f"{cls} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}\n"


def voc_xml(filename: str, size: tuple[int, int] | None, objects: Sequence[tuple[str, Sequence[float]]]) -> str:
    parts = ["<annotation>", f"<filename>{filename}</filename>"]
    if size is not None:
        parts.append(f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>")
    for name, (x1, y1, x2, y2) in objects:
        parts.append(
            f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{x1}</xmin>"
            f"<ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        )
    parts.append("</annotation>")
    return "\n".join(parts)


