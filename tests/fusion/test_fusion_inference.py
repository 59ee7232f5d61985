"""BatchNorm folding, tiled inference and loading from checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from tardal.checkpoint import save_checkpoint
from tardal.config import Config, to_dict
from tardal.errors import CheckpointError, ConfigError
from tardal.fusion import FUSION, TarDALGenerator, load_fusion
from tardal.fusion.inference import fuse_image, fuse_tiled
from tardal.fusion.optimize import count_batchnorm, fold_batchnorm, optimize_for_inference


def _generator(dim: int = 4, depth: int = 3) -> TarDALGenerator:
    torch.manual_seed(3)
    g = TarDALGenerator(dim=dim, depth=depth)
    for m in g.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.3, 3.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return g.eval()


def test_folding_removes_batchnorm_and_keeps_the_output() -> None:
    g = _generator()
    folded = fold_batchnorm(g)
    assert count_batchnorm(g) == 6 and count_batchnorm(folded) == 0
    x, y = torch.rand(2, 1, 31, 45), torch.rand(2, 1, 31, 45)
    with torch.no_grad():
        ref = g(x, y)
        assert (folded(x, y) - ref).abs().max() < 1e-5
        fast = optimize_for_inference(g, channels_last=True)
        cl = torch.channels_last
        out = fast(x.contiguous(memory_format=cl), y.contiguous(memory_format=cl))
    assert (out - ref).abs().max() < 1e-5
    assert g.encoder.bn.__class__ is nn.BatchNorm2d  # the original is untouched


@pytest.mark.parametrize("size", [(70, 95), (64, 64), (129, 40)])
def test_tiles_with_enough_overlap_equal_one_pass(size: tuple[int, int]) -> None:
    g = _generator(depth=3)  # receptive radius 8 -> overlap 16 suffices
    x, y = torch.rand(1, 1, *size), torch.rand(1, 1, *size)
    whole = fuse_image(g, x, y)
    tiled = fuse_image(g, x, y, tile=32, overlap=16)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max() < 1e-5


def test_cpu_inference_path_is_onnxruntime_and_matches_eager() -> None:
    pytest.importorskip("onnxruntime")
    from tardal.fusion.optimize import OnnxRuntimePath, inference_path

    g = _generator()
    path = inference_path(g, torch.device("cpu"))
    assert isinstance(path, OnnxRuntimePath)
    for size in ((37, 53), (2, 64, 48)):  # any size and batch: the graph's axes are dynamic
        shape = (1, 1, *size) if len(size) == 2 else (size[0], 1, *size[1:])
        x, y = torch.rand(shape), torch.rand(shape)
        with torch.no_grad():
            ref = g(x, y)
        out = fuse_image(path, x, y)
        assert out.dtype == torch.float32 and out.shape == ref.shape
        assert (out - ref).abs().max() < 1e-5
        tiled = fuse_image(path, x, y, tile=24, overlap=16)  # tiles stay exact
        assert (tiled - ref).abs().max() < 1e-5
    tiny = torch.rand(1, 1, 6, 40), torch.rand(1, 1, 6, 40)  # below the radius: the torch path
    with torch.no_grad():
        assert (fuse_image(path, *tiny) - g(*tiny)).abs().max() < 1e-5


def test_tiles_without_overlap_differ_at_seams() -> None:
    g = _generator()
    x, y = torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        assert (fuse_tiled(g, x, y, 32, 0) - g(x, y)).abs().max() > 1e-4


def test_pointwise_methods_tile_exactly() -> None:
    x, y = torch.rand(1, 1, 50, 77), torch.rand(1, 1, 50, 77)
    for name in ("mean", "max"):
        net = FUSION.build(name)
        assert torch.equal(fuse_image(net, x, y, tile=16, overlap=4), net(x, y))


def test_bad_tile_arguments() -> None:
    x = torch.rand(1, 1, 20, 20)
    with pytest.raises(ConfigError, match="overlap"):
        fuse_tiled(FUSION.build("mean"), x, x, tile=8, overlap=8)


def _checkpoint(path: Path, g: nn.Module, **extra: object) -> Path:
    cfg = Config()
    cfg.fusion.dim, cfg.fusion.depth = g.dim, g.depth
    return save_checkpoint(path, {"config": to_dict(cfg), "models": {"G": g.state_dict()},
                                  **extra})


def test_load_fusion_roundtrip(tmp_path: Path) -> None:
    g = _generator()
    net, cfg = load_fusion(_checkpoint(tmp_path / "g.pt", g))
    assert cfg.fusion.dim == 4 and not net.training
    x = torch.rand(1, 1, 16, 16)
    assert torch.equal(net(x, x), g(x, x))


def test_load_fusion_errors(tmp_path: Path) -> None:
    g = _generator()
    cfg = Config()
    save_checkpoint(tmp_path / "nog.pt", {"config": to_dict(cfg), "models": {"D_t": {}}})
    with pytest.raises(CheckpointError, match=r"holds no fusion network.*models\['G'\]"):
        load_fusion(tmp_path / "nog.pt")
    cfg.fusion.dim = 8  # config says 8, weights are 4 wide
    save_checkpoint(tmp_path / "bad.pt", {"config": to_dict(cfg), "models": {"G": g.state_dict()}})
    with pytest.raises(CheckpointError, match="does not match the model"):
        load_fusion(tmp_path / "bad.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_fusion(tmp_path / "junk.pt")
