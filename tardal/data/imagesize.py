"""Image sizes from file headers, without decoding the pixels.

Importing a set of thousands of pairs only needs each image's size (to normalise boxes and to
check that infrared and visible match) and some assurance that the file is an image at all.
:func:`probe_size` reads the PNG, JPEG or BMP header (a few hundred bytes) and the end of the
file, which also catches the commonest damage, a truncated download. Other formats fall back to
a full decode through :func:`tardal.io.read_raw`. Damage inside the compressed data is only
found by decoding (``tardal data check`` does).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from tardal.errors import DataError
from tardal.io import read_raw

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _tail(fh: BinaryIO, n: int) -> bytes:
    fh.seek(0, 2)
    size = fh.tell()
    fh.seek(max(0, size - n))
    return fh.read()


def _png(path: Path, fh: BinaryIO, head: bytes) -> tuple[int, int]:
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise DataError(f"image {path} is not a valid PNG (IHDR chunk missing)")
    width, height = struct.unpack(">II", head[16:24])
    if b"IEND" not in _tail(fh, 32):
        raise DataError(f"image {path} is truncated (PNG IEND chunk missing)")
    return int(height), int(width)


def _jpeg(path: Path, fh: BinaryIO) -> tuple[int, int]:
    fh.seek(2)
    while True:
        byte = fh.read(1)
        while byte and byte != b"\xff":  # skip fill bytes between segments
            byte = fh.read(1)
        while byte == b"\xff":
            byte = fh.read(1)
        if not byte:
            raise DataError(f"image {path} is truncated or not a JPEG (no frame header found)")
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            continue
        if marker in (0xD9, 0xDA):
            raise DataError(f"image {path} is not a valid JPEG (no frame header before the data)")
        raw_len = fh.read(2)
        if len(raw_len) < 2:
            raise DataError(f"image {path} is truncated (JPEG header cut off)")
        length = struct.unpack(">H", raw_len)[0]
        if marker in _JPEG_SOF:
            seg = fh.read(5)
            if len(seg) < 5:
                raise DataError(f"image {path} is truncated (JPEG frame header cut off)")
            height, width = struct.unpack(">HH", seg[1:5])
            break
        fh.seek(length - 2, 1)
    if not _tail(fh, 64).rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise DataError(f"image {path} is truncated (JPEG end-of-image marker missing)")
    return int(height), int(width)


def probe_size(path: str | Path, decode: bool = True) -> tuple[int, int] | None:
    """(height, width) of an image file, read from its header when the format allows.

    Formats other than PNG, JPEG and BMP are decoded in full, or, with ``decode=False``, give
    None. Raises :class:`~tardal.errors.DataError` naming the file when it is missing, empty,
    not an image, or visibly truncated.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(32)
            if not head:
                raise DataError(f"image {path} is empty (0 bytes)")
            if head.startswith(_PNG_SIGNATURE):
                h, w = _png(path, fh, head)
            elif head.startswith(b"\xff\xd8"):
                h, w = _jpeg(path, fh)
            elif head.startswith(b"BM") and len(head) >= 26:
                w, h = struct.unpack("<ii", head[18:26])
                h = abs(h)
            else:
                suffix = path.suffix.lower()
                if suffix in (".png", ".jpg", ".jpeg", ".bmp"):
                    raise DataError(
                        f"image {path} is not a valid {suffix[1:].upper()} file "
                        f"(unknown signature {head[:8].hex()})"
                    )
                if not decode:
                    return None
                img = read_raw(path)
                h, w = img.shape[:2]
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"image {path} is a folder, not a file") from None
    except OSError as exc:
        raise DataError(f"image {path} cannot be read: {exc}") from None
    if h <= 0 or w <= 0:
        raise DataError(f"image {path} has an invalid size {w}x{h} in its header")
    return int(h), int(w)
