"""Bad input through the real command line: one line on stderr, status 2, nothing left behind.

Every case runs ``python -m tardal ...`` in a subprocess (the code under test, not an installed
copy) and checks that the command exits with status 2, prints exactly one line
``tardal <command>: error: ...`` naming the culprit (key, file, line), shows no traceback, and
creates none of its outputs (run folder, data folder, output folder). Bad values are refused
before any data is generated or model built, so most cases take well under a second; the cases
that must open a checkpoint import torch and are marked slow.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = str(REPO / "configs" / "synth-dt.yaml")
H, W = 40, 48


def _png(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)
    return path


def _grey(seed: int, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w), dtype=np.uint8)


def _colour(seed: int, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _bomb(path: Path, w: int = 50_000, h: int = 40_000) -> Path:
    """A PNG of a few bytes whose header claims w x h pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0,
                                                                          0, 0, 0))
                     + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b""))
    return path


def _pairs(root: Path, stems: tuple[str, ...] = ("a", "b"), vi_stems: tuple[str, ...] | None = None
           ) -> Path:
    for i, s in enumerate(stems):
        _png(root / "ir" / f"{s}.png", _grey(i))
    for i, s in enumerate(stems if vi_stems is None else vi_stems):
        _png(root / "vi" / f"{s}.png", _colour(i))
    return root


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every bad input the cases need, written once."""
    import torch
    import yaml

    from tardal.checkpoint import save_checkpoint
    from tardal.config import Config, to_dict

    w = tmp_path_factory.mktemp("world")
    _pairs(w / "pairs")
    _pairs(w / "lonely", vi_stems=("a",))
    _png(w / "sized" / "ir" / "a.png", _grey(0))
    _png(w / "sized" / "vi" / "a.png", _colour(0, H, H))
    (w / "corrupt" / "ir").mkdir(parents=True)
    (w / "corrupt" / "ir" / "a.png").write_bytes(b"this is no image" * 8)
    _png(w / "corrupt" / "vi" / "a.png", _colour(0))
    _pairs(w / "truncated", stems=("a",))
    cut = w / "truncated" / "vi" / "a.png"
    cut.write_bytes(cut.read_bytes()[:-30])
    _bomb(w / "bomb" / "ir" / "a.png")
    _bomb(w / "bomb" / "vi" / "a.png")
    # fused results for tardal metrics (sources: pairs/)
    for s, seed in (("a", 5), ("b", 6)):
        _png(w / "fused" / "good" / f"{s}.png", _grey(seed))
    _png(w / "fused" / "partial" / "a.png", _grey(5))
    _png(w / "fused" / "small" / "a.png", _grey(5, H, H))
    _png(w / "fused" / "small" / "b.png", _grey(6))
    # checkpoints
    (w / "junk.pt").write_bytes(b"\x00" * 200)
    torch.save({"config": {}, "version": "0", "extra": np.zeros(3)}, w / "pickled.pt")
    save_checkpoint(w / "detector-only.pt", {"config": to_dict(Config()), "mode": "ir",
                                             "models": {"det": {}}})
    # config files
    (w / "bad.yaml").write_text("train:\n  epochs: [1, 2\n")
    (w / "zero-batch.yaml").write_text("data:\n  batch_size: 0\n")
    # an MSRS-like release with a malformed label line
    _pairs(w / "msrs", stems=("a",))
    (w / "msrs" / "labels-fusion").mkdir()
    (w / "msrs" / "labels-fusion" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2\n")
    (w / "msrs" / "classes.txt").write_text("0 person\n")
    # a canonical data set with a malformed label line
    canon = _pairs(w / "canon")
    (canon / "labels").mkdir()
    (canon / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (canon / "labels" / "b.txt").write_text("0 0.5 0.5 0.2 0.2\n\n3 0.5 0.5 0.2 0.2\n")
    (canon / "meta").mkdir()
    (canon / "meta" / "train.txt").write_text("a\nb\n")
    (canon / "data.yaml").write_text(yaml.safe_dump({"names": ["person"], "labels": True}))
    return w


@dataclass
class Case:
    """``argv(world, out)`` -> command line; ``expect`` fragments of the one stderr line;
    ``absent(out)`` paths the failed command must not have created."""

    argv: Callable[[Path, Path], list[str]]
    expect: Callable[[Path, Path], list[str]]
    absent: Callable[[Path], list[Path]] = lambda out: [out / "out"]
    env: dict[str, str] = field(default_factory=dict)


def train(*args: str) -> Callable[[Path, Path], list[str]]:
    return lambda w, out: ["train", CONFIG, f"data.root={out / 'data'}",
                           f"project={out / 'runs'}", *args]


def no_run(out: Path) -> list[Path]:
    return [out / "data", out / "runs"]


def fuse(*args: str, ir: str = "pairs/ir", vi: str = "pairs/vi", weights: str | None = None
         ) -> Callable[[Path, Path], list[str]]:
    def argv(w: Path, out: Path) -> list[str]:
        head = [str(w / weights)] if weights else ["--method", "mean"]
        return ["fuse", *head, "--ir", str(w / ir), "--vi", str(w / vi), "--out",
                str(out / "out"), *args]

    return argv


def metrics(*fused: str, extra: tuple[str, ...] = ()) -> Callable[[Path, Path], list[str]]:
    def argv(w: Path, out: Path) -> list[str]:
        args = ["metrics"]
        for f in fused:
            args += ["--fused", str(w / "fused" / f)]
        return args + ["--ir", str(w / "pairs" / "ir"), "--vi", str(w / "pairs" / "vi"),
                       "--out", str(out / "out"), *extra]

    return argv


def fixed(*fragments: str) -> Callable[[Path, Path], list[str]]:
    return lambda w, out: list(fragments)


CASES = {
    # ---- configuration: keys, types, ranges, files -------------------------------------
    "batch_size=0": Case(train("data.batch_size=0"), fixed(
        "config key 'data.batch_size': expected an integer >= 1, found 0"), no_run),
    "lr_g=-1": Case(train("train.lr_g=-1"), fixed(
        "config key 'train.lr_g': expected a number > 0, found -1.0"), no_run),
    "lr_d=0": Case(train("train.lr_d=0"), fixed(
        "config key 'train.lr_d': expected a number > 0, found 0.0"), no_run),
    "epochs=0": Case(train("train.epochs=0"), fixed(
        "config key 'train.epochs': expected an integer >= 1, found 0"), no_run),
    "hflip=1.5": Case(train("data.augment.hflip=1.5"), fixed(
        "config key 'data.augment.hflip': expected a number in [0, 1], found 1.5"), no_run),
    "scale-unordered": Case(train("data.augment.scale=[2,1]"), fixed(
        "config key 'data.augment.scale': expected two numbers lo, hi with 0 < lo <= hi, "
        "found [2.0, 1.0]"), no_run),
    "workers=-1": Case(train("data.workers=-1"), fixed(
        "config key 'data.workers': expected an integer >= 0, found -1"), no_run),
    "img_size=16": Case(train("data.img_size=16"), fixed(
        "config key 'data.img_size': expected an integer >= 32, found 16"), no_run),
    "ema_decay=1": Case(train("train.ema_decay=1"), fixed(
        "config key 'train.ema_decay': expected a number in [0, 1), found 1.0"), no_run),
    "device=gpu": Case(train("train.device=gpu"), fixed(
        "config key 'train.device': expected auto, cpu, cuda, cuda:N or mps, found 'gpu'"),
        no_run),
    "name-escapes": Case(train("name=../elsewhere"), fixed(
        "config key 'name': expected a plain name", "found '../elsewhere'"), no_run),
    "unknown-key": Case(train("train.epoch=3"), fixed(
        "unknown config key 'train.epoch'. Did you mean 'train.epochs'"), no_run),
    "wrong-type": Case(train("train.epochs=three"), fixed(
        "config key 'train.epochs': expected an integer, found 'three'"), no_run),
    "override-without-value": Case(train("train.epochs"), fixed(
        "override 'train.epochs': expected key=value"), no_run),
    "bad-yaml": Case(
        lambda w, out: ["train", str(w / "bad.yaml"), f"project={out / 'runs'}"],
        lambda w, out: [f"config file {w / 'bad.yaml'} is not valid YAML: line 3, column 1: "
                        "expected ',' or ']'", "started at line 2, column 11"],
        no_run),
    "bad-value-in-file": Case(
        lambda w, out: ["train", str(w / "zero-batch.yaml"), f"project={out / 'runs'}"],
        lambda w, out: [f"{w / 'zero-batch.yaml'}: config key 'data.batch_size': expected an "
                        "integer >= 1, found 0"], no_run),
    "missing-config": Case(lambda w, out: ["train", str(out / "nope.yaml")],
                           lambda w, out: [f"config file {out / 'nope.yaml'} does not exist"],
                           no_run),
    "no-config": Case(fixed("train"), fixed("tardal train needs a CONFIG file"), no_run),
    "max-epochs=0": Case(train("--max-epochs", "0"), fixed(
        "--max-epochs must be at least 1, found 0"), no_run),
    "unknown-flag": Case(train("--epochs", "3"), fixed(
        "tardal train: error: unrecognized arguments: --epochs 3"), no_run),
    "bad-pixel-limit-env": Case(fuse(), fixed(
        "environment variable TARDAL_MAX_PIXELS: expected a whole number of pixels",
        "found 'lots'"), env={"TARDAL_MAX_PIXELS": "lots"}),
    # ---- tardal fuse ---------------------------------------------------------------------
    "fuse-missing-folder": Case(fuse(ir="nowhere/ir"), lambda w, out: [
        f"--ir {w / 'nowhere' / 'ir'} does not exist"]),
    "fuse-unpaired": Case(fuse(ir="lonely/ir", vi="lonely/vi"), lambda w, out: [
        f"1 infrared image(s) without a visible partner in {w / 'lonely' / 'vi'}: b.png"]),
    "fuse-size-mismatch": Case(fuse(ir="sized/ir", vi="sized/vi"), lambda w, out: [
        f"pair 'a': infrared {w / 'sized' / 'ir' / 'a.png'} is 48x40 but visible "
        f"{w / 'sized' / 'vi' / 'a.png'} is 40x40 (width x height)"]),
    "fuse-corrupt-image": Case(fuse(ir="corrupt/ir", vi="corrupt/vi"), lambda w, out: [
        f"image {w / 'corrupt' / 'ir' / 'a.png'} is not a valid PNG file"]),
    "fuse-truncated-image": Case(fuse(ir="truncated/ir", vi="truncated/vi"), lambda w, out: [
        f"image {w / 'truncated' / 'vi' / 'a.png'} is truncated (PNG IEND chunk missing)"]),
    "fuse-decompression-bomb": Case(fuse(ir="bomb/ir", vi="bomb/vi"), lambda w, out: [
        f"image {w / 'bomb' / 'ir' / 'a.png'} is 50000x40000 = 2,000,000,000 pixels",
        "more than the limit of 178,956,970"]),
    "fuse-out-is-input": Case(
        lambda w, out: ["fuse", "--method", "mean", "--ir", str(w / "pairs" / "ir"), "--vi",
                        str(w / "pairs" / "vi"), "--out", str(w / "pairs" / "ir")],
        lambda w, out: [f"--out {w / 'pairs' / 'ir'} is an input folder"]),
    "fuse-negative-tile": Case(fuse("--tile", "-5"), fixed("--tile must be >= 0, found -5")),
    "fuse-overlap-too-big": Case(fuse("--tile", "64", "--overlap", "64"), fixed(
        "--overlap must be in [0, tile), found 64 with --tile 64")),
    "fuse-tile-not-a-number": Case(fuse("--tile", "big"), fixed(
        "tardal fuse: error: argument --tile: invalid int value: 'big'")),
    "fuse-bad-ext": Case(fuse("--ext", "gif"), fixed(
        "--ext: expected one of png, jpg, jpeg, bmp, tif, tiff, found 'gif'")),
    "fuse-no-out": Case(lambda w, out: ["fuse", "--method", "mean", "--ir", str(w / "pairs"),
                                        "--vi", str(w / "pairs")],
                        fixed("tardal fuse needs --out")),
    # ---- tardal metrics ------------------------------------------------------------------
    "metrics-missing-fused-image": Case(metrics("partial"), lambda w, out: [
        f"fused folder {w / 'fused' / 'partial'} lacks 1 of the 2 image(s)", "have: b",
        "--allow-missing"]),
    "metrics-methods-differ": Case(metrics("good", "partial"), lambda w, out: [
        f"fused folder {w / 'fused' / 'partial'} lacks 1 of the 2 image(s)"]),
    "metrics-unknown-metric": Case(metrics("good", extra=("--metrics", "EN,Qab")), fixed(
        "unknown", "'Qab'", "Did you mean 'Qabf'")),
    "metrics-unknown-convention": Case(metrics("good", extra=("--convention", "matlab")), fixed(
        "unknown", "'matlab'", "tang", "vifb")),
    "metrics-size-mismatch": Case(metrics("small"), lambda w, out: [
        f"size mismatch: fused {w / 'fused' / 'small' / 'a.png'} is 40x40 (HxW)", "are 40x48"]),
    "metrics-no-fused-folder": Case(metrics("nowhere"), lambda w, out: [
        f"image folder {w / 'fused' / 'nowhere'} does not exist"]),
    "metrics-workers=0": Case(metrics("good", extra=("--workers", "0")), fixed(
        "--workers must be at least 1, found 0")),
    # ---- tardal demo ---------------------------------------------------------------------
    "demo-epochs=0": Case(lambda w, out: ["demo", "--out", str(out / "out"), "--epochs", "0"],
                          fixed("--epochs must be at least 1, found 0")),
    "demo-panels=-1": Case(lambda w, out: ["demo", "--out", str(out / "out"), "--panels", "-1"],
                           fixed("--panels must be at least 0, found -1")),
    # ---- data ----------------------------------------------------------------------------
    "import-missing-partner": Case(
        lambda w, out: ["data", "import", "pairs", str(w / "lonely"), "--out", str(out / "out")],
        lambda w, out: [str(w / "lonely" / "ir" / "b.png"), "visible"]),
    "import-bad-label-line": Case(
        lambda w, out: ["data", "import", "msrs", str(w / "msrs"), "--out", str(out / "out")],
        lambda w, out: [f"{w / 'msrs' / 'labels-fusion' / 'a.txt'}:2: expected 5 fields"]),
    "check-bad-label-line": Case(
        lambda w, out: ["data", "check", str(w / "canon")],
        lambda w, out: ["1 problem(s)", f"{w / 'canon' / 'labels' / 'b.txt'}:3: class id 3 out "
                        "of range"]),
    "check-no-data-set": Case(lambda w, out: ["data", "check", str(out / "nothing")],
                              lambda w, out: [str(out / "nothing" / "data.yaml"),
                                              "does not exist"]),
    "synth-bad-size": Case(
        lambda w, out: ["data", "synth", "--out", str(out / "out"), "--size", "0x64"],
        fixed("--size: width and height must be positive, found '0x64'")),
}

# Cases that open a checkpoint or a registry: they import torch (seconds each).
SLOW_CASES = {
    "fusion-name-unknown": Case(train("fusion.name=tardl"), fixed(
        "unknown fusion method 'tardl'. Did you mean 'tardal'"), no_run),
    "checkpoint-missing": Case(fuse(weights="missing.pt"), lambda w, out: [
        f"checkpoint {w / 'missing.pt'} does not exist"]),
    "checkpoint-corrupt": Case(fuse(weights="junk.pt"), lambda w, out: [
        f"checkpoint {w / 'junk.pt'} is corrupt or not a tardal checkpoint"]),
    "checkpoint-pickled-object": Case(fuse(weights="pickled.pt"), lambda w, out: [
        f"checkpoint {w / 'pickled.pt'} contains pickled Python objects",
        "can run arbitrary code"]),
    "checkpoint-wrong-kind": Case(fuse(weights="detector-only.pt"), lambda w, out: [
        f"checkpoint {w / 'detector-only.pt'} holds no fusion network", "models['G']"]),
    "resume-corrupt-checkpoint": Case(
        lambda w, out: ["train", "--resume", str(w / "junk.pt")],
        lambda w, out: [f"checkpoint {w / 'junk.pt'} is corrupt"]),
}


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    environ = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(cwd / ".yolo"), **env}
    environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    if "TARDAL_MAX_PIXELS" not in env:
        environ.pop("TARDAL_MAX_PIXELS", None)
    return subprocess.run([sys.executable, "-m", "tardal", *argv], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120)


def _check(case: Case, world: Path, tmp_path: Path) -> None:
    argv = case.argv(world, tmp_path)
    proc = _run(argv, tmp_path, case.env)
    err = proc.stderr
    command = "data" if argv[0] == "data" else argv[0]
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err, err
    assert err.count("\n") == 1 and err.endswith("\n"), f"expected one line, found:\n{err}"
    assert err.startswith(f"tardal {command}: error: "), err
    for fragment in case.expect(world, tmp_path):
        assert fragment in err, f"{fragment!r} not in {err!r}"
    for path in case.absent(tmp_path):
        assert not path.exists(), f"{path} was left behind"
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], [".yolo"])


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, world: Path, tmp_path: Path) -> None:
    _check(CASES[name], world, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SLOW_CASES))
def test_bad_input_needing_torch(name: str, world: Path, tmp_path: Path) -> None:
    _check(SLOW_CASES[name], world, tmp_path)


def test_a_real_bug_still_shows_its_traceback(tmp_path: Path) -> None:
    """An unexpected exception is not dressed up as bad input: traceback and status 1."""
    code = ("import sys; import tardal.cli.metrics as m\n"
            "def boom(args): raise ZeroDivisionError('a bug')\n"
            "m.run = boom\n"
            "from tardal.cli import main\n"
            "sys.exit(main(['metrics', '--fused', 'x', '--ir', 'y', '--vi', 'z']))\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "ZeroDivisionError: a bug" in proc.stderr


def test_there_are_enough_cases() -> None:
    assert len(CASES) + len(SLOW_CASES) >= 30
