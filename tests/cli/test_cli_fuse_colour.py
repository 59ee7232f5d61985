"""`tardal fuse --multifocus` (colour in, colour out) and the packaged release weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tardal.cli import main
from tardal.config import Config, FusionConfig, to_dict
from tardal.data.defocus import gaussian_blur
from tardal.engine.checkpoint import PROVENANCE, release, save
from tardal.fusion import build_fusion, load_fusion
from tardal.io import read_rgb, write_image

H = W = 64
SEAM = W // 2
MARGIN = 8


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Tiny tensors: one thread (tests/conftest.py)."""


@pytest.fixture()
def halves(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """A colour texture blurred on the left half in ``near/s.png`` and on the right half in
    ``far/s.png``; returns the folders and the sharp image as written (8-bit, [0,1])."""
    g = torch.Generator().manual_seed(3)
    sharp = gaussian_blur(torch.rand(1, 3, H, W, generator=g), 0.7)
    soft = gaussian_blur(sharp, 2.0)
    near, far = sharp.clone(), sharp.clone()
    near[..., :SEAM] = soft[..., :SEAM]
    far[..., SEAM:] = soft[..., SEAM:]
    for name, img in (("near", near), ("far", far), ("sharp", sharp)):
        (tmp_path / name).mkdir()
        write_image(tmp_path / name / "s.png", img[0].permute(1, 2, 0).numpy())
    return tmp_path / "near", tmp_path / "far", read_rgb(tmp_path / "sharp" / "s.png")


def _half_errors(x: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    d = np.abs(x.astype(np.float64) - ref)
    return float(d[:, : SEAM - MARGIN].mean()), float(d[:, SEAM + MARGIN:].mean())


def _mffgan_checkpoint(path: Path) -> Path:
    cfg = Config()
    cfg.fusion = FusionConfig(name="mffgan", dim=4)
    net = build_fusion(cfg.fusion)
    return save(path, {"config": to_dict(cfg), "mode": "dt",
                       "models": {"G": net.state_dict()}})


def test_decision_map_method_fuses_colour_taking_each_half_from_the_sharp_source(
        halves: tuple[Path, Path, np.ndarray], tmp_path: Path) -> None:
    near, far, sharp = halves
    ckpt = _mffgan_checkpoint(tmp_path / "mffgan.pt")
    assert main(["fuse", str(ckpt), "--ir", str(near), "--vi", str(far), "--out",
                 str(tmp_path / "out")]) == 0  # a decision-map method takes the colour path
    fused = read_rgb(tmp_path / "out" / "s.png")
    assert fused.shape == (H, W, 3)
    left, right = _half_errors(fused, sharp)
    assert left < 1e-6 and right < 1e-6
    blurred, _ = _half_errors(read_rgb(near / "s.png"), sharp)
    assert blurred > 0.02
    assert main(["fuse", str(ckpt), "--ir", str(near), "--vi", str(far), "--out",
                 str(tmp_path / "grey"), "--grey"]) == 0
    from tardal.io import read_raw

    assert read_raw(tmp_path / "grey" / "s.png").ndim == 2


def test_multifocus_flag_fuses_each_channel_with_a_grey_method(
        halves: tuple[Path, Path, np.ndarray], tmp_path: Path) -> None:
    near, far, _ = halves
    assert main(["fuse", "--method", "mean", "--multifocus", "--ir", str(near), "--vi", str(far),
                 "--out", str(tmp_path / "out")]) == 0
    fused = read_rgb(tmp_path / "out" / "s.png")
    expected = (read_rgb(near / "s.png") + read_rgb(far / "s.png")) / 2
    assert np.abs(fused - expected).max() <= 1 / 255 + 1e-6
    # the colour of each source is kept, not replaced by the far source's chroma
    assert np.abs(fused - read_rgb(far / "s.png")).max() > 0.05


def test_decision_map_methods_refuse_tiles(halves: tuple[Path, Path, np.ndarray],
                                           tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    near, far, _ = halves
    ckpt = _mffgan_checkpoint(tmp_path / "mffgan.pt")
    assert main(["fuse", str(ckpt), "--ir", str(near), "--vi", str(far), "--out",
                 str(tmp_path / "out"), "--tile", "32", "--overlap", "8"]) == 2
    assert "tiles are not supported" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_release_weights_are_used_without_a_weights_argument(
        halves: tuple[Path, Path, np.ndarray], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import tardal.fusion.loading as loading

    near, far, _ = halves
    args = ["fuse", "--ir", str(near), "--vi", str(far), "--grey"]
    monkeypatch.setattr(loading, "RELEASE_WEIGHTS", tmp_path / "none.pt")
    assert main([*args, "--out", str(tmp_path / "a")]) == 2
    assert "no packaged release weights" in capsys.readouterr().err

    cfg = Config()
    cfg.fusion = FusionConfig(name="tardal", dim=4, depth=1)
    g = build_fusion(cfg.fusion)
    ckpt = {"config": to_dict(cfg), "mode": "dt", "optimizers": {"G": {}},
            "models": {"G": g.state_dict(), "D_t": {"w": torch.zeros(2)}}, "metrics": {"x": 1.0}}
    slim = release(ckpt, {"seed": 7, "data": {"name": "RoadScene"}})
    assert sorted(slim["models"]) == ["G"] and "optimizers" not in slim
    weights = save(tmp_path / "release.pt", slim)
    assert torch.load(weights, weights_only=True)[PROVENANCE]["seed"] == 7
    monkeypatch.setattr(loading, "RELEASE_WEIGHTS", weights)
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert main(["fuse", str(weights), *args[1:], "--out", str(tmp_path / "c")]) == 0
    assert np.array_equal(read_rgb(tmp_path / "b" / "s.png"), read_rgb(tmp_path / "c" / "s.png"))
    net, loaded_cfg = load_fusion(weights)
    assert loaded_cfg.fusion.dim == 4


def test_the_packaged_release_g() -> None:
    from tardal.fusion.loading import RELEASE_WEIGHTS

    assert RELEASE_WEIGHTS.is_file(), "tools/train_release.py makes the packaged release G"
    assert RELEASE_WEIGHTS.stat().st_size < 5 * 1024 * 1024
    ckpt = torch.load(RELEASE_WEIGHTS, weights_only=True)
    assert sorted(ckpt["models"]) == ["G"] and "optimizers" not in ckpt
    prov = ckpt[PROVENANCE]
    assert prov["data"]["name"] == "RoadScene" and prov["seed"] == ckpt["config"]["train"]["seed"]
    assert prov["data"]["pairs"] == len({k.split("/")[0] for k in prov["data"]["files"]}) > 0
    assert not any("tno" in k.lower() for k in prov["data"]["files"])  # TNO stays a test set
    assert prov["command"].startswith("python tools/train_release.py")
    net, cfg = load_fusion(RELEASE_WEIGHTS)
    assert cfg.fusion.name == "tardal" and cfg.disc.sobel == "normalized"
    with torch.no_grad():
        out = net(torch.rand(1, 1, 37, 53), torch.rand(1, 1, 37, 53))
    assert out.shape == (1, 1, 37, 53) and 0 <= float(out.min()) and float(out.max()) <= 1
