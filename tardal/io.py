"""Image reading and atomic file writing.

Images come back as float32 numpy arrays in [0, 1]:

* :func:`read_ir` -> (H, W). A 3-channel file of identical planes (how M3FD and LLVIP store
  infrared) is read as its first plane; a colour file is reduced with BT.601 luma. 16-bit files
  are scaled by 1/65535 (full range: a 14-bit sensor stored in 16 bits stays dim; rescale it
  before import if that matters).
* :func:`read_rgb` -> (H, W, 3) RGB. A grey file is repeated to three channels.

Corrupt, truncated, missing or unsupported files raise :class:`~tardal.errors.DataError`
naming the file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from tardal.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _check_complete(path: Path, data: bytes) -> None:
    """Detect truncation that decoders let through (libjpeg pads a cut JPEG with grey)."""
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg") and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise DataError(f"image {path} is truncated (JPEG end-of-image marker missing)")
    if suffix == ".png" and b"IEND" not in data[-32:]:
        raise DataError(f"image {path} is truncated (PNG IEND chunk missing)")


def read_raw(path: str | Path) -> np.ndarray:
    """Decode an image file as stored (uint8 or uint16; grey (H,W) or BGR(A) (H,W,C))."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist") from None
    except OSError as exc:
        raise DataError(f"image {path} cannot be read: {exc}") from None
    if not data:
        raise DataError(f"image {path} is empty (0 bytes)")
    _check_complete(path, data)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise DataError(f"image {path} is corrupt or not a supported image format")
    if img.dtype not in (np.uint8, np.uint16):
        raise DataError(f"image {path} has unsupported sample type {img.dtype} (need 8 or 16 bit)")
    return img


def _to_unit(img: np.ndarray) -> np.ndarray:
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    return img.astype(np.float32) / np.float32(scale)


def read_ir(path: str | Path) -> np.ndarray:
    """Infrared image as (H, W) float32 in [0, 1]."""
    img = read_raw(path)
    if img.ndim == 3:
        img = img[..., :3]
        if img.shape[2] == 1 or (np.array_equal(img[..., 0], img[..., 1])
                                 and np.array_equal(img[..., 1], img[..., 2])):
            img = img[..., 0]
        else:
            unit = _to_unit(img)
            return (0.114 * unit[..., 0] + 0.587 * unit[..., 1] + 0.299 * unit[..., 2]).astype(np.float32)
    return _to_unit(img)


def read_rgb(path: str | Path) -> np.ndarray:
    """Visible image as (H, W, 3) RGB float32 in [0, 1]."""
    img = read_raw(path)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    else:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
    return _to_unit(img)


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image file (decodes it; raises DataError when unreadable)."""
    img = read_raw(path)
    return int(img.shape[0]), int(img.shape[1])


def to_uint8(img: np.ndarray) -> np.ndarray:
    """[0,1] float -> uint8 with rounding."""
    return np.clip(np.rint(np.asarray(img, np.float64) * 255.0), 0, 255).astype(np.uint8)


def write_image(path: str | Path, img: np.ndarray) -> None:
    """Write (H,W) grey or (H,W,3) RGB, float in [0,1] or uint8, atomically."""
    path = Path(path)
    arr = img if img.dtype == np.uint8 else to_uint8(img)
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(path.suffix or ".png", arr)
    if not ok:
        raise DataError(f"cannot encode image for {path}")
    atomic_write_bytes(path, buf.tobytes())


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def staged_dir(final: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Build a folder in a temporary sibling and move it into place only on success.

    On any exception the temporary folder is removed, so no half-written output is left.
    """
    import shutil

    final = Path(final)
    if final.exists() and any(final.iterdir()) and not overwrite:
        raise DataError(f"output folder {final} exists and is not empty (pass --overwrite)")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial"))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
