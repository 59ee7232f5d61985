"""`tardal.io`: pixel limits read from headers, safe output names, atomic writes under faults."""

from __future__ import annotations

import errno
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from tardal import io as tio
from tardal.errors import CheckpointError, ConfigError, DataError
from tardal.io import (
    DEFAULT_MAX_PIXELS,
    atomic_write_bytes,
    header_size,
    max_pixels,
    read_ir,
    read_raw,
    read_rgb,
    safe_output_path,
)


def _image(path: Path, h: int = 30, w: int = 40) -> Path:
    img = (np.arange(h * w, dtype=np.uint32).reshape(h, w) % 251).astype(np.uint8)
    assert cv2.imwrite(str(path), img)
    return path


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(path: Path, w: int, h: int) -> Path:
    """A small PNG whose header claims w x h (its data would inflate to w * h bytes)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\x00" * 4096)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", data)
                     + _chunk(b"IEND", b""))
    return path


# ----------------------------------------------------------------------------------------
# Pixel limit


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif"])
def test_header_size_of_every_format(tmp_path: Path, suffix: str) -> None:
    path = _image(tmp_path / f"a{suffix}", 30, 40)
    assert header_size(path) == (30, 40)
    assert header_size(path, path.read_bytes()) == (30, 40)


def test_big_endian_tiff_header(tmp_path: Path) -> None:
    # II/MM, 42, first directory at 8: two entries, width SHORT 300, height LONG 70000
    entries = struct.pack(">HHIHH", 256, 3, 1, 300, 0) + struct.pack(">HHII", 257, 4, 1, 70000)
    data = b"MM" + struct.pack(">HI", 42, 8) + struct.pack(">H", 2) + entries + b"\x00" * 4
    path = tmp_path / "big.tif"
    path.write_bytes(data)
    assert header_size(path) == (70000, 300)
    with pytest.raises(DataError, match=r"big.tif is 300x70000 = 21,000,000 pixels .* limit "
                                        r"of 1,000,000"):
        read_raw(path, max_pixels=1_000_000)


def test_unknown_or_damaged_headers_give_no_size(tmp_path: Path) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all" + b"IEND\xaeB`\x82")
    assert header_size(junk) is None
    with pytest.raises(DataError, match="junk.png is corrupt or not a supported image format"):
        read_raw(junk, max_pixels=10)  # the decoder's verdict, not a size


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif"])
def test_limit_refuses_before_decoding(tmp_path: Path, suffix: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = _image(tmp_path / f"a{suffix}", 30, 40)
    assert read_raw(path, max_pixels=1200).shape == (30, 40)  # exactly at the limit: fine

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded an image that should have been refused")

    monkeypatch.setattr(tio.cv2, "imdecode", no_decoding)
    with pytest.raises(DataError) as info:
        read_raw(path, max_pixels=1199)
    msg = str(info.value)
    assert str(path) in msg and "40x30 = 1,200 pixels" in msg and "limit of 1,199" in msg
    assert "TARDAL_MAX_PIXELS" in msg
    with pytest.raises(DataError, match="limit of 1,199"):
        read_ir(path, max_pixels=1199)
    with pytest.raises(DataError, match="limit of 1,199"):
        read_rgb(path, max_pixels=1199)


def test_decompression_bomb_is_refused_by_default(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TARDAL_MAX_PIXELS", raising=False)
    bomb = _png_claiming(tmp_path / "bomb.png", 50_000, 40_000)
    assert bomb.stat().st_size < 200
    with pytest.raises(DataError, match=r"bomb.png is 50000x40000 = 2,000,000,000 pixels .* "
                                        r"limit of 178,956,970"):
        read_ir(bomb)
    assert max_pixels() == DEFAULT_MAX_PIXELS == 178_956_970


def test_limit_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _image(tmp_path / "a.png", 30, 40)
    monkeypatch.setenv("TARDAL_MAX_PIXELS", "1000")
    assert max_pixels() == 1000
    with pytest.raises(DataError, match="limit of 1,000"):
        read_raw(path)
    assert read_raw(path, max_pixels=5000).shape == (30, 40)  # the argument wins
    monkeypatch.setenv("TARDAL_MAX_PIXELS", "0")  # no limit
    assert max_pixels() == 0 and read_raw(_png_claiming(tmp_path / "b.png", 10, 10)) is not None
    monkeypatch.setenv("TARDAL_MAX_PIXELS", "lots")
    with pytest.raises(ConfigError, match="TARDAL_MAX_PIXELS: expected a whole number .* 'lots'"):
        read_raw(path)
    with pytest.raises(ConfigError, match="found -5"):
        max_pixels(-5)


# ----------------------------------------------------------------------------------------
# Output names


@pytest.mark.parametrize("name", ["01.png", "a b.jpg", ".hidden.png", "x..y.png", "007"])
def test_safe_output_path_keeps_plain_names(tmp_path: Path, name: str) -> None:
    assert safe_output_path(tmp_path, name) == tmp_path / name


@pytest.mark.parametrize("name", ["", ".", "..", "../x.png", "a/b.png", "/etc/passwd",
                                  "..\\x.png", "a\\b.png", "x\x00.png"])
def test_safe_output_path_refuses_names_that_leave_the_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataError) as info:
        safe_output_path(tmp_path, name)
    assert repr(name) in str(info.value) and str(tmp_path) in str(info.value)


# ----------------------------------------------------------------------------------------
# Atomic writes under faults


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _FailingFile:
    """Writes half of the data, then fails like a full disk."""

    def __init__(self, fh):
        self.fh = fh

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()

    def write(self, data: bytes) -> int:
        self.fh.write(data[: len(data) // 2])
        _enospc()

    def __getattr__(self, name):
        return getattr(self.fh, name)


@pytest.mark.parametrize("fault", ["write", "fsync", "replace"])
def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path: Path, fault: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out" / "last.pt"
    atomic_write_bytes(target, b"old" * 1000)
    if fault == "write":
        real_fdopen = os.fdopen
        monkeypatch.setattr(tio.os, "fdopen", lambda *a, **k: _FailingFile(real_fdopen(*a, **k)))
    else:
        monkeypatch.setattr(tio.os, fault, _enospc)
    with pytest.raises(CheckpointError) as info:
        atomic_write_bytes(target, b"new" * 5000, error=CheckpointError)
    monkeypatch.undo()
    assert f"cannot write {target}: No space left on device" in str(info.value)
    assert target.read_bytes() == b"old" * 1000
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.pt"]


def test_interrupt_during_a_write_removes_the_temporary(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a.txt"
    atomic_write_bytes(target, b"old")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tio.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_read_only_folder_names_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    target = folder / "metrics.csv"
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):  # the superuser writes anyway: make the refusal explicit
            real_open = os.open

            def refuse(path, *args, **kwargs):
                if Path(path).parent == folder:
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
                return real_open(path, *args, **kwargs)

            monkeypatch.setattr(tio.os, "open", refuse)
        with pytest.raises(DataError, match=f"cannot write {target}: Permission denied"):
            tio.atomic_write_text(target, "x")
        monkeypatch.undo()
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_written_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o644
