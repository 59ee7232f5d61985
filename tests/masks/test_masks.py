"""Mask providers on tiny images: boxes, lc, u2net; caching."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from tardal.config import MaskConfig
from tardal.errors import CheckpointError, ConfigError
from tardal.masks import (
    MASKS,
    BoxesMask,
    LCMask,
    U2NetSmall,
    boxes_mask,
    build_mask_provider,
    lc_mask,
    load_u2net,
)
from tardal.masks.threshold import clean_binary, otsu_threshold


def scene(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """Textured cool background with a warm 10x8 target at rows 20..29, cols 30..37."""
    rng = np.random.default_rng(seed)
    ir = (0.3 + 0.05 * rng.standard_normal((h, w))).astype(np.float32)
    ir[20:30, 30:38] = 0.85
    return np.clip(ir, 0, 1)


def test_registry_and_auto() -> None:
    assert MASKS.names() == ["boxes", "lc", "u2net"]
    assert isinstance(build_mask_provider(MaskConfig(), has_labels=True), BoxesMask)
    assert isinstance(build_mask_provider(MaskConfig(), has_labels=False), LCMask)
    assert isinstance(build_mask_provider(MaskConfig(provider="lc"), has_labels=True), LCMask)


def test_otsu_splits_two_modes() -> None:
    v = np.concatenate([np.full(100, 0.2), np.full(30, 0.8)])
    t = otsu_threshold(v)
    assert 0.2 <= t < 0.8
    assert otsu_threshold(np.full(5, 0.4)) == pytest.approx(0.4)  # constant: empty foreground


def test_boxes_rasterised_exactly_without_refinement() -> None:
    ir = scene()
    m = boxes_mask(ir, np.array([[30.0, 20.0, 38.0, 30.0], [-5, -5, 2.5, 1.2]]), otsu_refine=False)
    expected = np.zeros_like(ir)
    expected[20:30, 30:38] = 1
    expected[0:2, 0:3] = 1  # clipped, partial pixels included
    assert np.array_equal(m, expected)


def test_boxes_otsu_keeps_the_warm_target_only() -> None:
    ir = scene()
    box_larger_than_target = np.array([[25.0, 15.0, 45.0, 35.0]])
    m = boxes_mask(ir, box_larger_than_target, otsu_refine=True)
    assert m[20:30, 30:38].all()
    assert m.sum() == 80  # 10 x 8 target, background inside the box dropped
    flat = np.full((16, 16), 0.5, np.float32)
    assert boxes_mask(flat, np.array([[2.0, 2.0, 6.0, 6.0]]), True).sum() == 16  # uniform: kept


def test_boxes_provider_on_a_batch_soft_and_binary() -> None:
    ir = torch.from_numpy(np.stack([scene(), scene(seed=1)]))[:, None]
    batch = {"ir": ir, "name": ["a", "b"],
             "boxes_xyxy": [torch.tensor([[30.0, 20.0, 38.0, 30.0]]), torch.zeros(0, 4)]}
    m = BoxesMask(MaskConfig(otsu_refine=False))(batch)
    assert m.shape == (2, 1, 48, 64) and m.dtype == torch.float32
    assert float(m[0].sum()) == 80 and float(m[1].sum()) == 0
    soft = BoxesMask(MaskConfig(otsu_refine=False, soft=True))(batch)
    assert 0 < float(soft[0, 0, 19, 33]) < 1 and float(soft.max()) <= 1


@pytest.mark.parametrize("threshold", ["otsu", "std"])
def test_lc_finds_the_warm_target(threshold: str) -> None:
    ir = scene()
    m = lc_mask(ir, threshold=threshold, k=2.0, sigma=1.0, morph=3)
    target = np.zeros_like(m, bool)
    target[20:30, 30:38] = True
    inter, union = (m.astype(bool) & target).sum(), (m.astype(bool) | target).sum()
    assert inter / union > 0.7
    assert set(np.unique(m)) <= {0.0, 1.0}


def test_lc_soft_is_graded_inside_and_zero_outside() -> None:
    ir = scene()
    soft = lc_mask(ir, soft=True, sigma=1.0)
    binary = lc_mask(ir, soft=False, sigma=1.0)
    assert soft.max() == pytest.approx(1.0)
    assert (soft[binary == 0] == 0).all() and (soft[binary == 1] > 0).all()


def test_lc_warm_only_ignores_cold_regions() -> None:
    ir = scene()
    ir[:, :8] = 0.0  # a cold strip (sky) contrasts strongly too
    both = lc_mask(ir, sigma=1.0, threshold="otsu")
    warm = lc_mask(ir, sigma=1.0, threshold="otsu", warm_only=True)
    assert both[:, :8].mean() > 0.9 and warm[:, :8].mean() == 0.0
    assert warm[20:30, 30:38].mean() > 0.9


def test_morphology_removes_specks() -> None:
    m = np.zeros((20, 20), bool)
    m[5, 5] = True
    m[10:16, 10:16] = True
    out = clean_binary(m, 3)
    assert not out[5, 5] and out[12, 12]


def test_cache_hits_by_name_and_pixels() -> None:
    p = LCMask(MaskConfig(cache=2))
    ir = scene()
    a = p.mask_for(ir, name="x")
    b = p.mask_for(ir, name="x")
    assert np.array_equal(a, b) and (p.hits, p.misses) == (1, 1)
    flipped = np.ascontiguousarray(ir[:, ::-1])  # an augmented view under the same name
    c = p.mask_for(flipped, name="x")
    assert p.misses == 2 and np.array_equal(c, a[:, ::-1])
    p.mask_for(scene(seed=3), name="y")  # evicts the oldest entry (cache of 2)
    p.mask_for(ir, name="x")
    assert p.misses == 4


def _u2net_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    net = U2NetSmall()
    path = tmp_path / "u2netp.pth"
    torch.save(net.state_dict(), path)
    return path


def test_u2net_loads_a_local_file_and_gives_masks(tmp_path: Path) -> None:
    path = _u2net_file(tmp_path)
    net = load_u2net(path)
    assert not net.training
    torch.manual_seed(0)
    fresh = U2NetSmall().eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(x), fresh(x))  # the saved weights came back
    for soft in (False, True):
        cfg = MaskConfig(provider="u2net", u2net_weights=str(path), u2net_size=32, soft=soft)
        provider = build_mask_provider(cfg, has_labels=False)
        ir = torch.from_numpy(scene())[None, None]
        m = provider({"ir": ir, "name": ["s"]})
        assert m.shape == (1, 1, 48, 64) and 0 <= float(m.min()) and float(m.max()) <= 1
        if soft:
            assert float(m.max()) == pytest.approx(1.0) and float(m.min()) == pytest.approx(0.0)
        else:
            assert set(torch.unique(m).tolist()) <= {0.0, 1.0}


def test_u2net_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="never downloads"):
        load_u2net("")
    with pytest.raises(CheckpointError, match="do not exist"):
        load_u2net(tmp_path / "missing.pth")
    torch.save({"stage1.rebnconvin.conv_s1.weight": torch.zeros(3)}, tmp_path / "wrong.pth")
    with pytest.raises(CheckpointError, match="does not match the model"):
        load_u2net(tmp_path / "wrong.pth")


class _Payload:
    """Stands in for arbitrary pickled code: weights_only loading must refuse it."""


def test_u2net_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    with path.open("wb") as fh:
        torch.save({"state_dict": _Payload()}, fh, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="contains pickled Python objects") as err:
        load_u2net(path)
    assert "weights_only" not in str(err.value)


def test_u2net_loads_the_one_channel_infrared_network(tmp_path: Path) -> None:
    """The U2-Net-P of the TarDAL authors: one input channel, normalised by (0.485, 0.229)."""
    from tardal.masks.u2net import normalisation

    torch.manual_seed(1)
    net = U2NetSmall(in_channels=1)
    state = net.state_dict()
    assert state["stage1.rebnconvin.conv_s1.weight"].shape == (64, 1, 3, 3)
    path = tmp_path / "u2netp_ir.pth"
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}}, path)  # as distributed
    loaded = load_u2net(path)
    assert loaded.stage1.rebnconvin.conv_s1.in_channels == 1
    assert normalisation(1) == ((0.485,), (0.229,))
    cfg = MaskConfig(provider="u2net", u2net_weights=str(path), u2net_size=32, soft=True)
    provider = build_mask_provider(cfg, has_labels=False)
    ir = scene()
    got = provider.mask_for(ir)
    # the same as the network run by hand on (ir - 0.485) / 0.229 at 32x32, stretched to [0,1]
    x = torch.nn.functional.interpolate(torch.from_numpy(ir)[None, None], size=(32, 32),
                                        mode="bilinear", align_corners=False)
    with torch.no_grad():
        sal = loaded((x - 0.485) / 0.229)
    sal = torch.nn.functional.interpolate(sal, size=ir.shape, mode="bilinear",
                                          align_corners=False)[0, 0].numpy()
    sal = (sal - sal.min()) / (sal.max() - sal.min())
    assert got.shape == ir.shape and np.allclose(got, sal, atol=1e-5)
