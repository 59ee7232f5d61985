"""Detection modes (ct, tt, ir, vis, frontend) in the one loop: terms, the bilevel step, resume."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from tardal.checkpoint import load_checkpoint
from tardal.config import Config
from tardal.engine import config_for_resume, train
from tardal.engine.modes import MODES, detector_view, get_mode
from tardal.engine.run import read_results
from tardal.engine.state import TrainState
from tardal.engine.steps import fusion_loss
from tardal.errors import CheckpointError, ConfigError
from tardal.ops.color import rgb_to_y
from tests.engine.conftest import context_for

MakeCfg = Callable[..., Config]

# Tiny detector runs: 64x64, the default yolov8n, 8 training pairs.
DET = ["train.lr_det=0.002", "train.ema_tau=10", "train.bridge_warm=0", "train.d_warm=0",
       "detector.conf=0.001"]
DET_TERMS = ("train/det", "train/box", "train/cls", "train/dfl")
VAL_METRICS = ("val/AP", "val/AP50", "val/AP75", "val/precision", "val/recall", "val/f1",
               "val/AP50/People", "val/AP/Truck", "fitness")
FUSION_TERMS = ("train/loss", "train/ssim", "train/pixel", "train/adv_t", "train/adv_d",
                "train/bridge", "train/beta", "train/dt_w", "train/dt_pen", "train/dd_w",
                "train/dd_pen", "train/mask")
EXPECTED = {
    "ct": (*DET_TERMS, *FUSION_TERMS, "val/content", "val/ssim", "lr/G", "lr/D_t", "lr/det"),
    "tt": (*DET_TERMS, "train/bridge", "train/loss", "val/content", "lr/G", "lr/det"),
    "ir": (*DET_TERMS, "lr/det"),
    "vis": (*DET_TERMS, "lr/det"),
    "frontend": (*DET_TERMS, "lr/det"),
    "early": (*DET_TERMS, "lr/det"),
}
MODELS = {"ct": {"G", "D_t", "D_d", "det"}, "tt": {"G", "det"}, "ir": {"det"}, "vis": {"det"},
          "frontend": {"G", "det"}, "early": {"det"}}


def test_every_mode_is_registered() -> None:
    assert {"dt", "ct", "tt", "ir", "vis", "frontend", "early"} <= set(MODES.names())


def test_early_fusion_stacks_the_pair_as_four_channels(make_cfg: MakeCfg) -> None:
    from tardal.engine.evaluate import load_run

    result = train(make_cfg(*DET, "train.mode=early", "train.epochs=1", "name=early4"),
                   progress=False)
    first = load_checkpoint(result.last)["models"]["det"]["model.model.0.conv.weight"]
    assert first.shape[1] == 4  # RGB + infrared
    run = load_run(result.last)
    ir, vis = torch.rand(1, 1, 64, 64), torch.rand(1, 3, 64, 64)
    images, fused = run.mode.view(run.ctx, ir, vis)
    assert fused is None and images.shape == (1, 4, 64, 64)
    assert torch.equal(images[:, :3], vis) and torch.equal(images[:, 3:], ir)


@pytest.mark.parametrize("mode", ["ct", "tt", "ir", "vis", "frontend", "early"])
def test_each_mode_runs_and_logs_its_terms(make_cfg: MakeCfg, mode: str) -> None:
    extra = ["fusion.name=mean"] if mode == "frontend" else []
    cfg = make_cfg(*DET, f"train.mode={mode}", "train.epochs=1", f"name={mode}", *extra)
    result = train(cfg, progress=False)
    assert result.state.step == 1
    row = result.rows[0]
    for key in EXPECTED[mode]:
        assert key in row, key
    for key in VAL_METRICS:
        assert key in row, key
    for key in (*DET_TERMS, *[k for k in EXPECTED[mode] if k.startswith("train/")]):
        assert math.isfinite(row[key]), key
    assert row["train/det"] > 0 and row["train/cls"] > 0
    # the logged total is the gain-weighted sum of the logged terms (7.5 box + 0.5 cls + 1.5 dfl)
    assert row["train/det"] == pytest.approx(
        7.5 * row["train/box"] + 0.5 * row["train/cls"] + 1.5 * row["train/dfl"], rel=1e-5)
    for key in ("val/AP", "val/AP50", "val/AP75"):
        assert 0.0 <= row[key] <= 1.0
    assert row["fitness"] == row["val/AP"]
    if mode in ("ct", "tt"):
        assert row["train/bridge"] > 0  # bridge_warm=0: L_det reached G from the first step
        assert 0 < row["val/content"] < 2
    run = result.run_dir
    for name in ("config.yaml", "results.csv", "results.png", "weights/last.pt", "weights/best.pt"):
        assert (run / name).is_file(), name
    assert (run / "results.png").stat().st_size > 10_000  # a drawn figure, not an empty file
    header = (run / "results.csv").read_text().splitlines()[0].split(",")
    assert "train/det" in header and "val/AP50" in header
    ckpt = load_checkpoint(result.best)
    assert ckpt["mode"] == mode and set(ckpt["models"]) == MODELS[mode]
    assert ckpt["ema"]["updates"] == 1  # one detector step, one EMA update
    assert ckpt["names"] == ["People", "Car", "Bus", "Motorcycle", "Lamp", "Truck"]
    previews = sorted((run / "previews").glob("epoch1_*.png"))
    assert len(previews) == cfg.train.preview


# ----------------------------------------------------------------------------------------
# The ct step, piece by piece
# ----------------------------------------------------------------------------------------


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("warm", [True, False], ids=["bridge-warm-up", "after-warm-up"])
def test_ct_step_one_detector_forward_serves_detector_and_bridge(make_cfg: MakeCfg,
                                                                  warm: bool) -> None:
    """One forward of G and one of the detector. The detector's gradient is grad L_det; G's is
    grad L_f + beta * dL_det/du of the detector as it was before this step, with BatchNorm on
    the batch's statistics (the detector's own training statistics), checked against a
    reference computed on copies."""
    beta = 0.5
    cfg = make_cfg(*DET, "train.mode=ct", "train.bridge_warm=1", "train.clip_grad=0",
                   f"loss.beta={beta}")
    mode, ctx, batch = context_for(cfg)
    state = TrainState(epoch=0 if warm else 1)
    mode.start_epoch(ctx, state)
    g, det = ctx.models["G"], ctx.models["det"]
    g_ref, det_ref = copy.deepcopy(g), copy.deepcopy(det)
    crit_ref = {k: copy.deepcopy(ctx.models[k]) for k in ("D_t", "D_d")}
    calls = {"G": 0, "det": 0}
    g.register_forward_hook(lambda *a: calls.__setitem__("G", calls["G"] + 1))
    det.register_forward_hook(lambda *a: calls.__setitem__("det", calls["det"] + 1))
    det_before = _snapshot(det)
    flags = [p.requires_grad for p in det.parameters()]  # (Ultralytics' DFL conv is fixed)
    logs = mode.step(ctx, state, batch)
    assert calls == {"G": 1, "det": 1}
    assert float(logs["beta"]) == (0.0 if warm else beta)
    assert ("bridge" in logs) is (not warm)
    assert not _same(det_before, _snapshot(det))  # the detector stepped
    assert [p.requires_grad for p in det.parameters()] == flags and det.training
    # reference gradients on the copies (same weights, same batch, training mode)
    ir, vis, mask = batch["ir"], batch["vis"], batch["mask"]
    vis_y = rgb_to_y(vis)
    ref_ctx = copy.copy(ctx)
    ref_ctx.models = {"G": g_ref, "det": det_ref, **crit_ref}
    fused = g_ref(ir, vis_y)
    l_f, _ = fusion_loss(ref_ctx, fused, ir, vis_y, mask, adversarial=True,
                         valid=batch["valid"])
    l_det, _ = det_ref.loss(det_ref(detector_view(cfg, fused, vis)), batch)
    g_params, d_params = list(g_ref.parameters()), [p for p in det_ref.parameters()
                                                    if p.requires_grad]
    g_f = torch.autograd.grad(l_f, g_params, retain_graph=True)
    g_b = torch.autograd.grad(l_det, g_params, retain_graph=True)
    g_det = torch.autograd.grad(l_det, d_params)
    assert sum(float(x.abs().sum()) for x in g_b) > 0  # the bridge reaches G's parameters
    # (float32 sums in another order through the detector's backward: relative 1e-4 of each
    # tensor's scale)
    for p, gf, gb in zip(g.parameters(), g_f, g_b):
        expected = gf if warm else gf + beta * gb
        torch.testing.assert_close(p.grad, expected, rtol=1e-3,
                                   atol=1e-4 * float(expected.abs().max()))
    for p, gd in zip([p for p in det.parameters() if p.requires_grad], g_det):
        torch.testing.assert_close(p.grad, gd, rtol=1e-3, atol=1e-4 * float(gd.abs().max()))
    adv = 0.1 * (float(logs["adv_t"]) + float(logs["adv_d"]))
    content = float(logs["ssim"]) + float(logs["pixel"])
    bridge = 0.0 if warm else beta * float(logs["bridge"])
    assert float(logs["loss"]) == pytest.approx(content + adv + bridge, rel=1e-5)
    if not warm:
        assert float(logs["bridge"]) == float(logs["det"])  # one forward, one value


def test_tt_holds_g_during_the_warm_up_then_trains_it_by_detection_only(make_cfg: MakeCfg
                                                                        ) -> None:
    cfg = make_cfg(*DET, "train.mode=tt", "train.bridge_warm=1", "data.batch_size=4")
    mode, ctx, batch = context_for(cfg)
    g = ctx.models["G"]
    g_params = [p.detach().clone() for p in g.parameters()]
    logs = mode.step(ctx, TrainState(epoch=0), batch)
    assert "bridge" not in logs
    assert all(torch.equal(p, q) for p, q in zip(g.parameters(), g_params))
    assert all(p.grad is None for p in g.parameters())  # no graph through G in the warm-up
    logs = mode.step(ctx, TrainState(epoch=1), batch)
    assert float(logs["bridge"]) > 0 and float(logs["loss"]) == float(logs["bridge"])
    assert any(not torch.equal(p, q) for p, q in zip(g.parameters(), g_params))


def test_ct_resume_is_exact(make_cfg: MakeCfg) -> None:
    common = ("train.mode=ct", *DET, "train.bridge_warm=1", "train.d_warm=1", "train.epochs=2",
              "data.batch_size=4")  # 2 steps per epoch; the bridge opens in epoch 2
    full = train(make_cfg(*common, "name=full"), progress=False)
    part = train(make_cfg(*common, "name=part"), progress=False, max_epochs=1)
    assert part.state.step == 2
    resumed = train(config_for_resume(part.run_dir), resume=part.run_dir, progress=False)
    assert resumed.state.step == full.state.step == 4
    a, b = load_checkpoint(full.last), load_checkpoint(resumed.last)
    for section in ("models", "optimizers", "ema", "rng"):
        _equal(a[section], b[section], section)  # bit for bit on CPU
    assert a["state"] == b["state"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "time_s"} for r in rows]  # noqa: E731
    assert strip(read_results(full.run_dir / "results.csv")) == strip(
        read_results(part.run_dir / "results.csv"))
    assert "train/bridge" in read_results(full.run_dir / "results.csv")[1]


def _equal(a: Any, b: Any, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where  # bit for bit
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _equal(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _equal(x, y, f"{where}[{i}]")
    else:
        assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), where


def test_frontend_freezes_a_trained_fusion_network(make_cfg: MakeCfg) -> None:
    source = train(make_cfg("train.epochs=1", "name=dt-src", "fusion.dim=6"), progress=False)
    cfg = make_cfg(*DET, "train.mode=frontend", f"fusion.weights={source.last}", "fusion.dim=4",
                   "train.epochs=1", "name=front")
    result = train(cfg, progress=False)
    assert cfg.fusion.dim == 6  # the fusion section now describes the loaded network
    src, ckpt = load_checkpoint(source.last), load_checkpoint(result.last)
    assert ckpt["config"]["fusion"]["weights"] == str(source.last)
    for k, v in src["models"]["G"].items():
        assert torch.equal(v, ckpt["models"]["G"][k]), k  # frozen: not one value moved
    assert set(ckpt["optimizers"]) == {"det"}


def test_mode_errors(make_cfg: MakeCfg, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="frontend with fusion.name tardal needs fusion.weights"):
        train(make_cfg(*DET, "train.mode=frontend"), progress=False)
    with pytest.raises(ConfigError, match="fusion.name must be 'tardal'"):
        train(make_cfg(*DET, "train.mode=ct", "fusion.name=mean"), progress=False)
    for mode in ("ct", "tt"):
        cfg = make_cfg(*DET, f"train.mode={mode}", "fusion.detail=2")
        with pytest.raises(ConfigError, match=f"train.mode {mode}: fusion.detail must be 0"):
            train(cfg, progress=False)
        with pytest.raises(ConfigError, match="fusion.detail"):
            get_mode(cfg)  # refused with the mode, before any data or model is made
        cfg = make_cfg(*DET, f"train.mode={mode}", "fusion.illum=16")
        with pytest.raises(ConfigError, match=f"train.mode {mode}: fusion.illum must be 0"):
            get_mode(cfg)
        cfg = make_cfg(*DET, f"train.mode={mode}", "fusion.equalize=0.1")
        with pytest.raises(ConfigError, match=f"train.mode {mode}: fusion.equalize must be 0"):
            get_mode(cfg)
    bad = tmp_path / "bad.pt"
    torch.save({"config": {}, "models": {"D_t": {}}}, bad)
    with pytest.raises(CheckpointError):
        train(make_cfg(*DET, "train.mode=ct", f"fusion.weights={bad}"), progress=False)


def test_modes_declare_what_they_need() -> None:
    for name in ("ct", "tt", "ir", "vis", "frontend", "early"):
        assert MODES.get(name).has_detector
    assert not MODES.get("dt").has_detector
    assert {n for n in MODES.names() if MODES.get(n).uses_masks} == {"ct", "dt"}
    assert "bridge" in MODES.get("ct").logs and "bridge" in MODES.get("tt").logs


def test_non_finite_detector_loss_stops_the_run(make_cfg: MakeCfg,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from tardal.detect import Detector
    from tardal.losses.criterion import NonFiniteLossError

    real = Detector.loss

    def nan_loss(self: Detector, preds: Any, batch: Any) -> Any:
        total, terms = real(self, preds, batch)
        return total * float("nan"), terms

    monkeypatch.setattr(Detector, "loss", nan_loss)
    cfg = make_cfg(*DET, "train.mode=ir", "name=nan")
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 1: loss term\(s\) det not finite"
                       r" .* on the batch of images \w+"):
        train(cfg, progress=False)
    assert not (Path(cfg.project) / "nan" / "weights").exists()  # no checkpoint of a NaN epoch


def test_frontend_cache_fuses_each_pair_once_and_augments_it_with_the_pair(
        make_cfg: MakeCfg) -> None:
    from tardal.data.dataset import read_pair
    from tardal.engine.data import build_loaders, fuse_dataset
    from tardal.fusion import build_fusion

    cfg = make_cfg(*DET, "train.mode=frontend", "fusion.name=laplacian", "train.epochs=1",
                   "name=front-cache")
    loaders = build_loaders(cfg)
    dataset = loaders.train.dataset.pairs
    net = build_fusion(cfg.fusion).eval()
    cache = fuse_dataset(net, dataset, torch.device("cpu"))
    assert len(cache.images) == len(dataset) and cache.images[0].dtype.name == "uint8"
    ir, vis = read_pair(dataset.pairs[0], dataset.align)
    with torch.no_grad():
        direct = net(torch.from_numpy(ir)[None, None],
                     rgb_to_y(torch.from_numpy(vis.transpose(2, 0, 1).copy())[None]))
    assert float((torch.from_numpy(cache(0)) - direct[0, 0]).abs().max()) <= 0.5 / 255 + 1e-6
    # the cached image is augmented and letterboxed exactly like the pair: with augmentation off
    # and no letterbox resize, the item's fused channel is the cache itself
    dataset.extra = cache
    plain = copy.copy(dataset)
    plain.augment, plain.img_size = None, None
    item = plain[0]
    assert torch.equal(item["fused"][0], torch.from_numpy(cache(0)))
    assert item["vis"].shape[0] == 3
    flipped = copy.copy(plain)
    flipped.augment = type(cfg.data.augment)(hflip=1.0, scale=(1.0, 1.0), crop=0.0)
    assert torch.equal(flipped[0]["fused"][0], torch.from_numpy(cache(0)).flip(-1))
    # the training step uses the cached image and never runs the frozen network
    mode, ctx, batch = context_for(cfg)
    calls = []
    ctx.models["G"].register_forward_hook(lambda *a: calls.append(1))
    batch = dict(batch)
    batch["fused"] = torch.rand_like(batch["ir"])
    logs = mode.step(ctx, TrainState(), batch)
    assert calls == [] and math.isfinite(float(logs["det"]))
    del batch["fused"]  # train.cache_fused=false: the network runs on the batch
    mode.step(ctx, TrainState(), batch)
    assert calls == [1]
    result = train(make_cfg(*DET, "train.mode=frontend", "fusion.name=laplacian",
                            "train.epochs=1", "name=front-cache-run"), progress=False)
    assert result.state.step == 1 and math.isfinite(result.rows[0]["train/det"])
