"""Box label files: YOLO text (read and write) and Pascal VOC XML (read).

YOLO text, the canonical form: one object per line, ``cls cx cy w h``, the class an integer id
and the box its centre and size normalised by the image width and height to [0, 1]. An empty
file is an image with no objects. The parser is forgiving about layout (runs of spaces or tabs,
trailing spaces, blank lines, a missing final newline, Windows line ends) and strict about
content: every problem raises :class:`~tardal.errors.DataError` naming the file and line.

Pascal VOC XML: ``<size>`` (optional) and ``<object><name>..</name><bndbox>xmin ymin xmax
ymax</bndbox></object>`` in pixels. Class names are matched to a class list ignoring case; an
unknown name raises an error listing the known ones.
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from tardal.errors import DataError
from tardal.io import atomic_write_text

log = logging.getLogger(__name__)

# How far a box edge may stick out of the image (in normalised units) before it counts as an
# error rather than rounding; edges within the tolerance are clipped to [0, 1].
EDGE_TOLERANCE = 1e-2
_VALUE_TOLERANCE = 1e-6


# ----------------------------------------------------------------------------------------
# YOLO text
# ----------------------------------------------------------------------------------------


def parse_yolo_text(text: str, num_classes: int | None, source: str = "<text>") -> np.ndarray:
    """Parse YOLO label text into an (N, 5) float64 array ``cls cx cy w h``.

    Args:
        text: the file's contents.
        num_classes: class ids must lie in ``[0, num_classes)``; ``None`` skips that check.
        source: the file name used in error messages.

    Returns:
        (N, 5) float64; column 0 holds integer class ids, columns 1-4 values in [0, 1]; box
        edges that stick out by less than ``EDGE_TOLERANCE`` are clipped into the image.

    Raises:
        DataError: a line with the wrong field count, a non-number, a class id that is not an
            integer in range, a value outside [0, 1], a box with no area, or an edge outside
            the image; the message names ``source`` and the line number.
    """
    rows: list[list[float]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{source}:{lineno}"
        if len(fields) != 5:
            raise DataError(
                f"{where}: expected 5 fields 'cls cx cy w h', found {len(fields)}: {line.strip()!r}"
            )
        try:
            values = [float(f) for f in fields]
        except ValueError:
            bad = next(f for f in fields if not _is_number(f))
            raise DataError(f"{where}: {bad!r} is not a number in line {line.strip()!r}") from None
        if not all(math.isfinite(v) for v in values):
            raise DataError(f"{where}: non-finite value in line {line.strip()!r}")
        cls = values[0]
        if cls != int(cls):
            raise DataError(f"{where}: class id must be an integer, found {fields[0]!r}")
        cls = int(cls)
        if cls < 0 or (num_classes is not None and cls >= num_classes):
            allowed = f"0..{num_classes - 1}" if num_classes else "none (the set has no classes)"
            raise DataError(f"{where}: class id {cls} out of range (valid ids: {allowed})")
        cx, cy, w, h = values[1:]
        for name, v, raw in zip(("cx", "cy", "w", "h"), values[1:], fields[1:]):
            if not -_VALUE_TOLERANCE <= v <= 1 + _VALUE_TOLERANCE:
                raise DataError(
                    f"{where}: {name}={raw} is outside [0, 1] "
                    "(coordinates must be normalised by the image size)"
                )
        if w <= 0 or h <= 0:
            raise DataError(f"{where}: box has no area (w={fields[3]}, h={fields[4]})")
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        if min(x1, y1) < -EDGE_TOLERANCE or max(x2, y2) > 1 + EDGE_TOLERANCE:
            raise DataError(
                f"{where}: box edges ({x1:.4f}, {y1:.4f}, {x2:.4f}, {y2:.4f}) lie outside "
                "the image [0, 1]"
            )
        x1, y1, x2, y2 = max(x1, 0.0), max(y1, 0.0), min(x2, 1.0), min(y2, 1.0)
        rows.append([cls, (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])
    if not rows:
        return np.zeros((0, 5), np.float64)
    return np.asarray(rows, np.float64)


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def read_yolo(path: str | Path, num_classes: int | None) -> np.ndarray:
    """Read a YOLO label file; see :func:`parse_yolo_text`. A missing file raises DataError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"label file {path} does not exist") from None
    except OSError as exc:
        raise DataError(f"label file {path} cannot be read: {exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"label file {path} is not UTF-8 text") from None
    return parse_yolo_text(text, num_classes, source=str(path))


def format_yolo(rows: np.ndarray) -> str:
    """(N, 5) ``cls cx cy w h`` -> canonical text (6 decimals, one line each, final newline)."""
    rows = np.asarray(rows, np.float64).reshape(-1, 5)
    return "".join(
        f"{int(r[0])} {r[1]:.6f} {r[2]:.6f} {r[3]:.6f} {r[4]:.6f}\n" for r in rows
    )


def write_yolo(path: str | Path, rows: np.ndarray) -> None:
    """Write (N, 5) ``cls cx cy w h`` rows to ``path`` (an empty file when N = 0)."""
    atomic_write_text(path, format_yolo(rows))


def xyxy_to_yolo(
    boxes_xyxy: np.ndarray, classes: np.ndarray, width: int, height: int
) -> np.ndarray:
    """Pixel boxes -> (N, 5) normalised ``cls cx cy w h``.

    Args:
        boxes_xyxy: (N, 4) pixel edges ``x1 y1 x2 y2``, already clipped to the image.
        classes: (N,) integer class ids.
        width, height: image size in pixels.
    """
    b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    out = np.empty((len(b), 5), np.float64)
    out[:, 0] = np.asarray(classes).reshape(-1)
    out[:, 1] = (b[:, 0] + b[:, 2]) / 2 / width
    out[:, 2] = (b[:, 1] + b[:, 3]) / 2 / height
    out[:, 3] = (b[:, 2] - b[:, 0]) / width
    out[:, 4] = (b[:, 3] - b[:, 1]) / height
    return out


def yolo_to_xyxy(rows: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 5) normalised ``cls cx cy w h`` -> (N, 4) float32 pixel boxes ``x1 y1 x2 y2``."""
    r = np.asarray(rows, np.float64).reshape(-1, 5)
    out = np.empty((len(r), 4), np.float32)
    out[:, 0] = (r[:, 1] - r[:, 3] / 2) * width
    out[:, 1] = (r[:, 2] - r[:, 4] / 2) * height
    out[:, 2] = (r[:, 1] + r[:, 3] / 2) * width
    out[:, 3] = (r[:, 2] + r[:, 4] / 2) * height
    return out


# ----------------------------------------------------------------------------------------
# Pascal VOC XML
# ----------------------------------------------------------------------------------------


@dataclass
class VocAnnotation:
    """One parsed VOC file.

    ``size`` is (width, height) from ``<size>``, or None when absent or zero; ``classes`` (N,)
    int64 ids into the class list; ``boxes_xyxy`` (N, 4) float64 pixel edges as written.
    """

    path: Path
    size: tuple[int, int] | None
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    boxes_xyxy: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float64))

    def __len__(self) -> int:
        return len(self.classes)


def class_lookup(names: Sequence[str]) -> dict[str, int]:
    """Case-insensitive name -> id table for ``names``."""
    return {n.strip().lower(): i for i, n in enumerate(names)}


def _text(elem: ET.Element, tag: str) -> str | None:
    child = elem.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def parse_voc(path: str | Path, names: Sequence[str]) -> VocAnnotation:
    """Parse a Pascal VOC XML file, mapping object names to ids in ``names`` (ignoring case).

    Raises:
        DataError: the file is missing or not XML, an object has no name or no complete
            ``<bndbox>``, a coordinate is not a number, or a name is not in ``names`` (the
            message names the file and lists the known classes).
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise DataError(f"annotation file {path} does not exist") from None
    except ET.ParseError as exc:
        raise DataError(f"annotation file {path} is not valid XML: {exc}") from None
    except OSError as exc:
        raise DataError(f"annotation file {path} cannot be read: {exc}") from None
    lookup = class_lookup(names)

    size = None
    size_el = root.find("size")
    if size_el is not None:
        try:
            w = int(float(_text(size_el, "width") or 0))
            h = int(float(_text(size_el, "height") or 0))
        except ValueError:
            raise DataError(f"annotation file {path}: <size> holds a non-number") from None
        if w > 0 and h > 0:
            size = (w, h)

    classes: list[int] = []
    boxes: list[list[float]] = []
    for k, obj in enumerate(root.iter("object"), start=1):
        name = _text(obj, "name")
        if not name:
            raise DataError(f"annotation file {path}: object {k} has no <name>")
        cls = lookup.get(name.lower())
        if cls is None:
            raise DataError(
                f"annotation file {path}: object {k} has unknown class {name!r}; "
                f"known classes: {', '.join(names)}"
            )
        bb = obj.find("bndbox")
        if bb is None:
            raise DataError(f"annotation file {path}: object {k} ({name}) has no <bndbox>")
        coords = []
        for tag in ("xmin", "ymin", "xmax", "ymax"):
            value = _text(bb, tag)
            if value is None:
                raise DataError(f"annotation file {path}: object {k} ({name}) has no <{tag}>")
            try:
                coords.append(float(value))
            except ValueError:
                raise DataError(
                    f"annotation file {path}: object {k} ({name}) <{tag}> is not a number: "
                    f"{value!r}"
                ) from None
        classes.append(cls)
        boxes.append(coords)
    return VocAnnotation(
        path=path,
        size=size,
        classes=np.asarray(classes, np.int64).reshape(-1),
        boxes_xyxy=np.asarray(boxes, np.float64).reshape(-1, 4),
    )


def voc_size_consistent(
    ann: VocAnnotation, width: int | None = None, height: int | None = None
) -> bool:
    """True when ``ann.size`` is present, equals ``width x height`` if given, and holds the boxes.

    A box may reach one pixel past the size (VOC coordinates are often 1-based).
    """
    if ann.size is None:
        return False
    w, h = ann.size
    if width is not None and height is not None and (w, h) != (width, height):
        return False
    if len(ann):
        b = ann.boxes_xyxy
        if b[:, [0, 2]].max() > w + 1 or b[:, [1, 3]].max() > h + 1:
            return False
    return True


def voc_to_yolo(ann: VocAnnotation, width: int, height: int) -> tuple[np.ndarray, list[int]]:
    """Convert a VOC annotation to (N, 5) normalised YOLO rows for an image of ``width x height``.

    Boxes are clipped to the image. Boxes left with no area are not converted; their 1-based
    object numbers come back in the second value so the caller can report them.
    """
    b = ann.boxes_xyxy.copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, height)
    keep = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    dropped = [int(i) + 1 for i in np.flatnonzero(~keep)]
    return xyxy_to_yolo(b[keep], ann.classes[keep], width, height), dropped


# ----------------------------------------------------------------------------------------
# Class lists
# ----------------------------------------------------------------------------------------


def read_class_list(path: str | Path) -> list[str]:
    """Read a class list: one name per line, or ``id name`` lines (any order, ids 0..n-1).

    Blank lines and surrounding spaces are ignored.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"class list {path} does not exist") from None
    entries: list[tuple[int | None, str]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        parts = line.split(maxsplit=1)
        if not parts:
            continue
        if len(parts) == 2 and parts[0].isdigit():
            entries.append((int(parts[0]), parts[1].strip()))
        else:
            entries.append((None, line.strip()))
    if not entries:
        raise DataError(f"class list {path} is empty")
    if all(i is None for i, _ in entries):
        return [n for _, n in entries]
    if any(i is None for i, _ in entries):
        raise DataError(f"class list {path}: mixes 'id name' lines with bare names")
    ids = sorted(i for i, _ in entries)  # type: ignore[type-var]
    if ids != list(range(len(entries))):
        raise DataError(f"class list {path}: ids must be 0..{len(entries) - 1}, found {ids}")
    by_id = {i: n for i, n in entries}
    return [by_id[i] for i in range(len(entries))]
