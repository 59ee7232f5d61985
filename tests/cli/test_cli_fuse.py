"""`tardal fuse`: round trip on real TNO pairs, classical methods, tiles, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tardal.cli import main
from tardal.config import load_config
from tardal.fusion import FUSION, load_fusion
from tardal.io import read_ir, read_raw, read_rgb, to_uint8
from tardal.ops.color import recolor, rgb_to_y

PAIRS = ("07", "11")  # 256x256 and 620x450 (odd-sized, non-square)


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Tiny tensors: one thread (tests/conftest.py)."""


@pytest.fixture(scope="module")
def tno(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two TNO pairs linked (not copied) into ir/ and vi/ folders."""
    root = tmp_path_factory.mktemp("tno")
    for side in ("ir", "vi"):
        (root / side).mkdir()
        for stem in PAIRS:
            (root / side / f"{stem}.png").symlink_to(shared_data / "tno" / side / f"{stem}.png")
    return root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A G trained for 8 steps on a generated 64x64 synthetic set (its images are still dull:
    value checks on real pairs use the classical mean below)."""
    from tardal.engine import train

    tmp = tmp_path_factory.mktemp("ckpt")
    cfg = load_config(Path(__file__).parents[2] / "configs" / "synth-dt.yaml", [
        f"data.root={tmp / 'data'}", "data.synth.num=12", "data.synth.width=64",
        "data.synth.height=64", "data.img_size=64", "fusion.dim=8", "disc.dim=8",
        "data.batch_size=4", "train.epochs=4", "train.device=cpu", "train.preview=0",
        f"project={tmp}",
        "train.lr_g=0.01", "train.warmup_epochs=0"])
    torch.set_num_threads(1)
    return train(cfg, progress=False).last


def _luma(path: Path) -> np.ndarray:
    raw = read_raw(path)
    if raw.ndim == 2:
        return raw.astype(np.float32) / 255.0
    rgb = read_rgb(path)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def _expected(net: torch.nn.Module, tno: Path, stem: str) -> np.ndarray:
    ir = torch.from_numpy(read_ir(tno / "ir" / f"{stem}.png"))[None, None]
    vis = torch.from_numpy(read_rgb(tno / "vi" / f"{stem}.png").transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        rgb = recolor(net(ir, rgb_to_y(vis)).clamp(0, 1), vis)
    return to_uint8(rgb[0].permute(1, 2, 0).numpy())


def test_checkpoint_round_trip_on_tno(tno: Path, checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "fused"
    assert main(["fuse", str(checkpoint), "--ir", str(tno / "ir"), "--vi", str(tno / "vi"),
                 "--out", str(out), "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["07.png", "11.png"]
    net, _ = load_fusion(checkpoint)
    for stem in PAIRS:
        fused = read_raw(out / f"{stem}.png")
        h, w = read_ir(tno / "ir" / f"{stem}.png").shape
        assert fused.shape == (h, w, 3)
        # equals G applied directly (BN folding / channels-last change rounding only)
        got = read_rgb(out / f"{stem}.png")
        want = _expected(net, tno, stem).astype(np.float32) / 255.0
        assert np.abs(got - want).max() <= 1.5 / 255
        assert len(np.unique(fused)) > 8  # an image, not a constant


def test_classical_mean_is_sensible_and_grey_flag(tno: Path, tmp_path: Path) -> None:
    out = tmp_path / "mean"
    assert main(["fuse", "--method", "mean", "--ir", str(tno / "ir"), "--vi", str(tno / "vi"),
                 "--out", str(out), "--grey"]) == 0
    for stem in PAIRS:
        raw = read_raw(out / f"{stem}.png")
        ir, vis = read_ir(tno / "ir" / f"{stem}.png"), read_ir(tno / "vi" / f"{stem}.png")
        assert raw.ndim == 2 and raw.shape == ir.shape
        y = raw.astype(np.float32) / 255
        assert np.abs(y - (ir + vis) / 2).max() <= 1 / 255 + 1e-6
        assert _corr(y, ir) > 0.4 and _corr(y, vis) > 0.4


def test_tiled_equals_whole(tno: Path, checkpoint: Path, tmp_path: Path,
                            caplog: pytest.LogCaptureFixture) -> None:
    args = [str(checkpoint), "--ir", str(tno / "ir" / "11.png"), "--vi",
            str(tno / "vi" / "11.png"), "--device", "cpu"]
    assert main(["fuse", *args, "--out", str(tmp_path / "whole")]) == 0
    with caplog.at_level("WARNING", logger="tardal.cli.fuse"):
        assert main(["fuse", *args, "--out", str(tmp_path / "tiled"), "--tile", "128",
                     "--overlap", "32"]) == 0
        assert "seams" not in caplog.text
        assert main(["fuse", *args, "--out", str(tmp_path / "seams"), "--tile", "128",
                     "--overlap", "8"]) == 0
    assert "--overlap 8" in caplog.text and "--overlap 16 or more" in caplog.text
    whole = read_raw(tmp_path / "whole" / "11.png").astype(int)
    tiled = read_raw(tmp_path / "tiled" / "11.png").astype(int)
    assert np.abs(whole - tiled).max() <= 1


def test_tile_overlap_defaults_to_the_exact_one(tno: Path, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from tardal.fusion import load_fusion
    from tardal.fusion.loading import release_weights

    if release_weights() is None:
        pytest.skip("no packaged release G in this installation")
    radius = load_fusion(release_weights())[0].receptive_radius
    assert radius > 100  # the release's illumination step (sigma 32) widens it
    args = ["--ir", str(tno / "ir" / "11.png"), "--vi", str(tno / "vi" / "11.png"), "--device",
            "cpu", "--grey"]
    assert main(["fuse", *args, "--out", str(tmp_path / "whole")]) == 0
    with caplog.at_level("WARNING", logger="tardal.cli.fuse"):
        assert main(["fuse", *args, "--out", str(tmp_path / "tiled"), "--tile",
                     str(2 * radius + 180)]) == 0
    assert "seams" not in caplog.text
    whole = read_raw(tmp_path / "whole" / "11.png").astype(int)
    assert np.abs(whole - read_raw(tmp_path / "tiled" / "11.png").astype(int)).max() <= 1
    capsys.readouterr()
    assert main(["fuse", *args, "--out", str(tmp_path / "small"), "--tile", "200"]) == 2
    err = capsys.readouterr().err
    assert "--tile 200: " in err and f"use --tile {2 * radius + 1} or more" in err
    assert not (tmp_path / "small").exists()


def test_list_and_ext(tno: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fuse", "--list"]) == 0
    assert capsys.readouterr().out.split() == FUSION.names()
    assert main(["fuse", "--method", "max", "--ir", str(tno / "ir" / "07.png"), "--vi",
                 str(tno / "vi" / "07.png"), "--out", str(tmp_path), "--ext", "bmp"]) == 0
    assert (tmp_path / "07.bmp").is_file()


def test_errors(tno: Path, checkpoint: Path, tmp_path: Path,
                capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import tardal.fusion.loading as loading

    monkeypatch.setattr(loading, "RELEASE_WEIGHTS", tmp_path / "no-release.pt")

    def err(*args: str) -> str:
        assert main(["fuse", *args]) == 2
        return capsys.readouterr().err

    lonely = tmp_path / "vi"
    lonely.mkdir()
    (lonely / "07.png").symlink_to((tno / "vi" / "07.png").resolve())
    out = str(tmp_path / "out")
    msg = err("--method", "mean", "--ir", str(tno / "ir"), "--vi", str(lonely), "--out", out)
    assert "1 infrared image(s) without a visible partner" in msg and "11.png" in msg
    msg = err("--method", "mean", "--ir", str(tno / "ir" / "07.png"), "--vi",
              str(tno / "vi" / "11.png"), "--out", out)
    assert "is 256x256 but visible" in msg and "620x450" in msg
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 64)
    assert "corrupt" in err(str(junk), "--ir", str(tno / "ir"), "--vi", str(tno / "vi"),
                            "--out", out)
    assert "either WEIGHTS or --method" in err(str(checkpoint), "--method", "mean", "--ir",
                                               str(tno / "ir"), "--vi", str(tno / "vi"),
                                               "--out", out)
    assert "needs WEIGHTS" in err("--ir", str(tno / "ir"), "--vi", str(tno / "vi"), "--out", out)
    assert "is an input folder" in err("--method", "mean", "--ir", str(tno / "ir"), "--vi",
                                       str(tno / "vi"), "--out", str(tno / "ir"))
    assert "unknown fusion method 'meen'" in err("--method", "meen", "--ir", str(tno / "ir"),
                                                 "--vi", str(tno / "vi"), "--out", out)
    assert "does not exist" in err("--method", "mean", "--ir", str(tmp_path / "x"), "--vi",
                                   str(tno / "vi"), "--out", out)
    nested = {side: tmp_path / "nested" / side for side in ("ir", "vi")}
    for side, folder in nested.items():
        (folder / "train").mkdir(parents=True)
        (folder / "train" / "07.png").symlink_to((tno / side / "07.png").resolve())
    msg = err("--method", "mean", "--ir", str(nested["ir"]), "--vi", str(nested["vi"]), "--out",
              out)
    assert "no images found" in msg and f"--ir {nested['ir'] / 'train'}" in msg


def test_failure_before_the_first_write_leaves_no_output_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    rng = np.random.default_rng(0)
    for side in ("ir", "vi"):
        (tmp_path / side).mkdir()
        assert cv2.imwrite(str(tmp_path / side / "a.png"), rng.integers(0, 255, (40, 48), np.uint8))
    damaged = tmp_path / "vi" / "a.png"
    data = bytearray(damaged.read_bytes())
    data[60:90] = b"\x00" * 30  # header and end intact: only decoding finds it
    damaged.write_bytes(bytes(data))
    out = tmp_path / "out"
    assert main(["fuse", "--method", "mean", "--ir", str(tmp_path / "ir"), "--vi",
                 str(tmp_path / "vi"), "--out", str(out)]) == 2
    assert f"image {damaged} is corrupt" in capsys.readouterr().err
    assert not out.exists()
    # the same pair, repaired, is fused with --ext into the folder made by the first write
    assert cv2.imwrite(str(damaged), rng.integers(0, 255, (40, 48), np.uint8))
    assert main(["fuse", "--method", "mean", "--ir", str(tmp_path / "ir"), "--vi",
                 str(tmp_path / "vi"), "--out", str(out), "--ext", ".JPG"]) == 0
    assert [p.name for p in out.iterdir()] == ["a.jpg"]
