"""Image reading and atomic file writing.

Images come back as float32 numpy arrays in [0, 1]:

* :func:`read_ir` -> (H, W). A 3-channel file of identical planes (how M3FD and LLVIP store
  infrared) is read as its first plane; a colour file is reduced with BT.601 luma. 16-bit files
  are scaled by 1/65535 (full range: a 14-bit sensor stored in 16 bits stays dim; rescale it
  before import if that matters).
* :func:`read_rgb` -> (H, W, 3) RGB. A grey file is repeated to three channels.

Corrupt, truncated, missing or unsupported files raise :class:`~tardal.errors.DataError`
naming the file. So do images larger than a pixel limit (decompression bombs: a few kilobytes
of PNG can claim gigapixels); the size is read from the header (PNG, JPEG, BMP, TIFF) before
anything is decoded. The limit is :data:`DEFAULT_MAX_PIXELS` (Pillow's), the environment
variable ``TARDAL_MAX_PIXELS`` (0: no limit) or the ``max_pixels`` argument of the readers.

Writes are atomic: :func:`atomic_write_bytes` writes a temporary file beside the target,
flushes it to disk and renames it over the target, so a failed or interrupted write (disk full,
read-only folder, the process killed) never leaves a damaged file at the target.
:func:`safe_output_path` builds an output path from a name taken from input data and refuses
names that would leave the output folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import struct
import tempfile
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from tardal.errors import ConfigError, DataError, TardalError

#: Largest image (width x height) decoded by default: Pillow's decompression-bomb threshold.
DEFAULT_MAX_PIXELS = 178_956_970
MAX_PIXELS_ENV = "TARDAL_MAX_PIXELS"

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


def max_pixels(limit: int | None = None) -> int:
    """The pixel limit in effect: ``limit`` when given, else ``$TARDAL_MAX_PIXELS``, else
    :data:`DEFAULT_MAX_PIXELS`. 0 means no limit."""
    if limit is None:
        raw = os.environ.get(MAX_PIXELS_ENV, "").strip().replace("_", "")
        if not raw:
            return DEFAULT_MAX_PIXELS
        try:
            limit = int(raw)
        except ValueError:
            raise ConfigError(f"environment variable {MAX_PIXELS_ENV}: expected a whole number "
                              f"of pixels (0: no limit), found {raw!r}") from None
    if limit < 0:
        raise ConfigError(f"pixel limit: expected a number of pixels >= 0 (0: no limit), "
                          f"found {limit}")
    return int(limit)


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) from the first image directory of a classic TIFF, or None."""
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or len(data) < 8 or struct.unpack(order + "H", data[2:4])[0] != 42:
        return None
    offset = struct.unpack(order + "I", data[4:8])[0]
    if offset + 2 > len(data):
        return None
    count = struct.unpack(order + "H", data[offset:offset + 2])[0]
    found: dict[int, int] = {}
    for i in range(count):
        entry = data[offset + 2 + 12 * i: offset + 14 + 12 * i]
        if len(entry) < 12:
            break
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4)
            fmt = "H" if kind == 3 else "I"
            found[tag] = struct.unpack(order + fmt, entry[8:8 + struct.calcsize(fmt)])[0]
    if 256 in found and 257 in found:
        return int(found[257]), int(found[256])
    return None


def header_size(path: str | Path, data: bytes | None = None) -> tuple[int, int] | None:
    """(height, width) of an image from its header (PNG, JPEG, BMP, TIFF), without decoding.

    None when the header does not say: another format, or a header too damaged to read (the
    decoder then judges the file). ``data``: the file's bytes when already read.
    """
    from tardal.data.imagesize import probe_size

    if data is None:
        with Path(path).open("rb") as fh:
            head = fh.read(8)
    else:
        head = data[:8]
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        if data is None:
            data = Path(path).read_bytes()
        return _tiff_size(data)
    try:
        return probe_size(path, decode=False)
    except DataError:
        return None


def check_pixels(path: str | Path, data: bytes | None = None, limit: int | None = None) -> None:
    """Raise DataError when the image at ``path`` has more pixels than the limit
    (:func:`max_pixels`), judged from its header before any decoding."""
    limit = max_pixels(limit)
    if not limit:
        return
    hw = header_size(path, data)
    if hw is not None and hw[0] * hw[1] > limit:
        h, w = hw
        raise DataError(
            f"image {path} is {w}x{h} = {w * h:,} pixels (width x height, from its header), more "
            f"than the limit of {limit:,}: refused before decoding (a decompression bomb?). If "
            f"the file is trusted, raise the limit with {MAX_PIXELS_ENV}=N (0: no limit)"
        )


def read_raw(path: str | Path, *, max_pixels: int | None = None) -> np.ndarray:
    """Decode an image file as stored (uint8 or uint16; grey (H,W) or BGR(A) (H,W,C)).

    Images with more than ``max_pixels`` pixels (None: :func:`max_pixels`) are refused from
    their header, before decoding.
    """
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
    check_pixels(path, data, max_pixels)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise DataError(f"image {path} is corrupt or not a supported image format")
    if img.dtype not in (np.uint8, np.uint16):
        raise DataError(f"image {path} has unsupported sample type {img.dtype} (need 8 or 16 bit)")
    return img


def available_memory() -> int | None:
    """Bytes of memory available to new allocations now (Linux ``MemAvailable``; elsewhere the
    free pages), or None where neither can be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def to_unit(img: np.ndarray) -> np.ndarray:
    """An image as decoded (uint8, uint16, or float32 already in [0, 1]) as a new float32 array
    in [0, 1] (never the input itself, which may be a cached decode)."""
    if img.dtype == np.float32:
        return img.copy()
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    return img.astype(np.float32) / np.float32(scale)


def decode_ir(path: str | Path, *, max_pixels: int | None = None) -> np.ndarray:
    """Infrared image, one plane at its stored depth: (H, W) uint8 or uint16, or float32 in
    [0, 1] (BT.601 luma) for a colour file; :func:`to_unit` of it is :func:`read_ir`'s."""
    img = read_raw(path, max_pixels=max_pixels)
    if img.ndim == 3:
        img = img[..., :3]
        if img.shape[2] == 1 or (np.array_equal(img[..., 0], img[..., 1])
                                 and np.array_equal(img[..., 1], img[..., 2])):
            return np.ascontiguousarray(img[..., 0])
        unit = to_unit(img)
        luma = 0.114 * unit[..., 0] + 0.587 * unit[..., 1] + 0.299 * unit[..., 2]  # (BGR order)
        return luma.astype(np.float32)
    return img


def decode_rgb(path: str | Path, *, max_pixels: int | None = None) -> np.ndarray:
    """Visible image as (H, W, 3) RGB at its stored depth (uint8 or uint16); :func:`to_unit` of
    it is :func:`read_rgb`'s."""
    img = read_raw(path, max_pixels=max_pixels)
    if img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    return cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)


def read_ir(path: str | Path, *, max_pixels: int | None = None) -> np.ndarray:
    """Infrared image as (H, W) float32 in [0, 1] (``max_pixels``: see :func:`read_raw`)."""
    return to_unit(decode_ir(path, max_pixels=max_pixels))


def read_rgb(path: str | Path, *, max_pixels: int | None = None) -> np.ndarray:
    """Visible image as (H, W, 3) RGB float32 in [0, 1] (``max_pixels``: see :func:`read_raw`)."""
    return to_unit(decode_rgb(path, max_pixels=max_pixels))


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
    atomic_write_bytes(path, buf.tobytes(), durable=False)


def safe_output_path(out_dir: str | Path, name: str) -> Path:
    """``out_dir / name`` for a file name taken from input data (an input file's name).

    Raises DataError for a name that would leave ``out_dir`` or is no file name at all: empty,
    ``.`` or ``..``, absolute, or holding a path separator (``/``, ``\\``) or a NUL byte.
    """
    text = str(name)
    bad = (not text or text in (".", "..") or any(c in text for c in "/\\\x00")
           or os.path.isabs(text) or Path(text).name != text)
    if bad:
        raise DataError(f"output name {text!r} would not be a file inside {out_dir}: expected "
                        "a plain file name without '/', '\\' or '..'")
    return Path(out_dir) / text


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _open_temp(path: Path) -> tuple[int, Path]:
    """A new temporary file ``.<name>.<random>.tmp`` beside ``path`` (mode from the umask)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path))


def atomic_write_bytes(path: str | Path, data: bytes, *, error: type[TardalError] = DataError,
                       durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename.

    Whatever happens (a write error, a full disk, an exception, the process killed), ``path``
    holds either its previous content or ``data``, never a mix. A handled failure removes the
    temporary file and raises ``error`` (DataError; CheckpointError for checkpoints) naming
    ``path`` and the reason. ``durable``: flush the data and the rename to disk before returning
    (slower; survives a power cut).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _open_temp(path)
    except OSError as exc:
        raise error(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise error(f"cannot write {path}: {exc.strerror or exc} (the previous file, if any, "
                        "is unchanged)") from None
        raise
    if durable:
        _fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str, *, error: type[TardalError] = DataError) -> None:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"), error=error)


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
