"""Header-only image sizes agree with decoding and catch damaged files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tardal.data.imagesize import probe_size
from tardal.errors import DataError


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif"])
@pytest.mark.parametrize("channels", [1, 3])
def test_probe_matches_decoded_size(tmp_path: Path, suffix: str, channels: int) -> None:
    img = np.random.default_rng(0).integers(0, 255, (37, 53, channels)[: 2 if channels == 1 else 3],
                                            dtype=np.uint8)
    p = tmp_path / f"x{suffix}"
    assert cv2.imwrite(str(p), img)
    assert probe_size(p) == (37, 53)


def test_probe_16bit_png(tmp_path: Path) -> None:
    p = tmp_path / "x.png"
    cv2.imwrite(str(p), np.full((9, 17), 40000, np.uint16))
    assert probe_size(p) == (9, 17)


def test_progressive_jpeg_with_exif_like_segment(tmp_path: Path) -> None:
    p = tmp_path / "x.jpg"
    ok, buf = cv2.imencode(".jpg", np.zeros((21, 34, 3), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    data = buf.tobytes()
    app1 = b"\xff\xe1" + (2 + 3000).to_bytes(2, "big") + b"\x00" * 3000  # a big APP1 segment
    p.write_bytes(data[:2] + app1 + data[2:])
    assert probe_size(p) == (21, 34)


def test_damaged_files_raise_naming_the_file(tmp_path: Path) -> None:
    png = tmp_path / "cut.png"
    cv2.imwrite(str(png), np.zeros((20, 20), np.uint8))
    png.write_bytes(png.read_bytes()[:-20])
    with pytest.raises(DataError, match=r"cut\.png is truncated"):
        probe_size(png)
    jpg = tmp_path / "cut.jpg"
    cv2.imwrite(str(jpg), np.zeros((20, 20, 3), np.uint8))
    jpg.write_bytes(jpg.read_bytes()[:-30])
    with pytest.raises(DataError, match=r"cut\.jpg is truncated"):
        probe_size(jpg)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match=r"junk\.png is not a valid PNG"):
        probe_size(junk)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.jpg is empty"):
        probe_size(empty)
    with pytest.raises(DataError, match=r"missing\.png does not exist"):
        probe_size(tmp_path / "missing.png")


def test_probe_without_decoding_unknown_formats(tmp_path: Path) -> None:
    p = tmp_path / "x.tif"
    cv2.imwrite(str(p), np.zeros((5, 6), np.uint8))
    assert probe_size(p, decode=False) is None
    assert probe_size(p) == (5, 6)
