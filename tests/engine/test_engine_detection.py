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
from tardal.engine.data import build_loaders
from tardal.engine.detection_modes import (
    CooperativeMode,
    DetectionMode,
    FrontendMode,
    TaskOnlyMode,
)
from tardal.engine.modes import MODES, TrainContext
from tardal.engine.optim import build_scheduler
from tardal.engine.run import read_results
from tardal.engine.state import TrainState, seed_everything
from tardal.errors import CheckpointError, ConfigError
from tardal.masks import build_mask_provider
from tardal.ops.color import rgb_to_y

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
}
MODELS = {"ct": {"G", "D_t", "D_d", "det"}, "tt": {"G", "det"}, "ir": {"det"}, "vis": {"det"},
          "frontend": {"G", "det"}}


def test_every_mode_is_registered() -> None:
    assert {"dt", "ct", "tt", "ir", "vis", "frontend"} <= set(MODES.names())


@pytest.mark.parametrize("mode", ["ct", "tt", "ir", "vis", "frontend"])
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
    assert ckpt["extras"]["ema"]["updates"] == 1  # one detector step, one EMA update
    assert ckpt["names"] == ["People", "Car", "Bus", "Motorcycle", "Lamp", "Truck"]
    previews = sorted((run / "previews").glob("epoch1_*.png"))
    assert len(previews) == cfg.train.preview


# ----------------------------------------------------------------------------------------
# The ct step, piece by piece
# ----------------------------------------------------------------------------------------


def _ct_context(cfg: Config) -> tuple[CooperativeMode, TrainContext, dict[str, Any]]:
    mode = CooperativeMode()
    seed_everything(0)
    loaders = build_loaders(cfg)
    models = mode.build_models(cfg, loaders.names)
    opts = mode.build_optimizers(cfg, models)
    ctx = TrainContext(cfg=cfg, device=torch.device("cpu"), models=models, optimizers=opts,
                       schedulers={k: build_scheduler(o, cfg.train, 1) for k, o in opts.items()},
                       masks=build_mask_provider(cfg.mask, loaders.has_labels),
                       names=loaders.names)
    mode.setup(ctx)
    return mode, ctx, next(iter(loaders.train))


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _reference_grads(mode: CooperativeMode, ctx: TrainContext, state: TrainState,
                     batch: dict[str, Any], g_state: dict, det_state: dict, critics: dict,
                     beta: float) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """G's gradients of L_f and of the bridge term, recomputed from saved weights."""
    g = copy.deepcopy(ctx.models["G"])
    g.load_state_dict(g_state)
    ref = TrainContext(cfg=ctx.cfg, device=ctx.device,
                       models={"G": g, "det": copy.deepcopy(ctx.models["det"]),
                               "D_t": copy.deepcopy(ctx.models["D_t"]),
                               "D_d": copy.deepcopy(ctx.models["D_d"])},
                       optimizers={}, masks=ctx.masks, names=ctx.names)
    ref.models["det"].load_state_dict(det_state)
    for k in ("D_t", "D_d"):
        ref.models[k].load_state_dict(critics[k])
    ir, vis = batch["ir"], batch["vis"]
    vis_y = rgb_to_y(vis)
    fused = g(ir, vis_y)
    _, l_f = mode.fusion_terms(ref, state, fused, ir, vis_y, ctx.masks(batch))
    g_f = torch.autograd.grad(l_f, list(g.parameters()), retain_graph=True)
    bridge = mode.bridge_loss(ref, fused, vis, batch)
    g_b = torch.autograd.grad(bridge, list(g.parameters()))
    return list(g_f), list(g_b)


@pytest.mark.parametrize("warm", [True, False], ids=["bridge-warm-up", "after-warm-up"])
def test_ct_step_bilevel(make_cfg: MakeCfg, warm: bool) -> None:
    """One forward of G; the detector changes only in its own step; G's gradient is
    grad L_f (+ beta * grad L_det through the frozen detector after the warm-up)."""
    beta = 0.5
    cfg = make_cfg(*DET, "train.mode=ct", "train.bridge_warm=1", "train.clip_grad=0",
                   f"loss.beta={beta}")
    mode, ctx, batch = _ct_context(cfg)
    state = TrainState(epoch=0 if warm else 1)
    mode.start_epoch(ctx, state)
    g, det = ctx.models["G"], ctx.models["det"]
    g_before = _snapshot(g)
    critics = {k: _snapshot(ctx.models[k]) for k in ("D_t", "D_d")}
    calls = {"G": 0, "det": 0}
    g.register_forward_hook(lambda *a: calls.__setitem__("G", calls["G"] + 1))
    det.register_forward_hook(lambda *a: calls.__setitem__("det", calls["det"] + 1))
    after_det_step: dict[str, dict] = {}
    real_detector_step = mode.detector_step

    def detector_step(*a: Any, **kw: Any) -> dict[str, float]:
        logs = real_detector_step(*a, **kw)
        after_det_step["det"] = _snapshot(det)
        return logs

    mode.detector_step = detector_step  # type: ignore[method-assign]
    det_before = _snapshot(det)
    flags = [p.requires_grad for p in det.parameters()]  # (Ultralytics' DFL conv is fixed)
    logs = mode.train_step(ctx, state, batch)
    assert calls["G"] == 1  # u is computed once and reused by all three steps
    assert calls["det"] == (1 if warm else 2)  # the warm-up skips the bridge's detector forward
    assert logs["beta"] == (0.0 if warm else beta)
    assert ("bridge" in logs) is (not warm)
    # the detector moved in its own step and not afterwards: params and BN statistics
    assert not _same(det_before, after_det_step["det"])
    assert _same(after_det_step["det"], _snapshot(det))
    assert [p.requires_grad for p in det.parameters()] == flags  # frozen() restored them
    assert det.training  # and the training mode
    # G's gradient (left by its optimiser step, no clipping) is grad L_f + beta * grad L_det
    g_f, g_b = _reference_grads(mode, ctx, state, batch, g_before, after_det_step["det"],
                                critics, beta)
    assert sum(float(x.abs().sum()) for x in g_b) > 0  # the bridge reaches G's parameters
    for p, gf, gb in zip(g.parameters(), g_f, g_b):
        expected = gf if warm else gf + beta * gb
        torch.testing.assert_close(p.grad, expected, rtol=1e-4, atol=1e-7)
    if not warm:
        assert logs["loss"] == pytest.approx(
            logs["ssim"] + logs["pixel"] + 0.1 * (logs["adv_t"] + logs["adv_d"])
            + beta * logs["bridge"], rel=1e-5)
    else:
        assert logs["loss"] == pytest.approx(
            logs["ssim"] + logs["pixel"] + 0.1 * (logs["adv_t"] + logs["adv_d"]), rel=1e-5)


def test_bridge_loss_leaves_the_detector_alone(make_cfg: MakeCfg) -> None:
    mode, ctx, batch = _ct_context(make_cfg(*DET, "train.mode=ct"))
    det = ctx.models["det"]
    det.train()
    before = _snapshot(det)  # includes BatchNorm running statistics
    fused = ctx.models["G"](batch["ir"], rgb_to_y(batch["vis"]))
    loss = mode.bridge_loss(ctx, fused, batch["vis"], batch)
    loss.backward()
    assert all(p.grad is None for p in det.parameters())
    assert _same(before, _snapshot(det))
    grads = [p.grad for p in ctx.models["G"].parameters()]
    assert all(gr is not None for gr in grads) and sum(float(gr.abs().sum()) for gr in grads) > 0


def test_tt_holds_g_during_the_warm_up_then_trains_it_by_detection_only(make_cfg: MakeCfg
                                                                        ) -> None:
    cfg = make_cfg(*DET, "train.mode=tt", "train.bridge_warm=1", "data.batch_size=4")
    mode = TaskOnlyMode()
    seed_everything(0)
    loaders = build_loaders(cfg)
    models = mode.build_models(cfg, loaders.names)
    opts = mode.build_optimizers(cfg, models)
    ctx = TrainContext(cfg=cfg, device=torch.device("cpu"), models=models, optimizers=opts,
                       names=loaders.names)
    mode.setup(ctx)
    batch = next(iter(loaders.train))
    g = ctx.models["G"]
    g_params = [p.detach().clone() for p in g.parameters()]
    logs = mode.train_step(ctx, TrainState(epoch=0), batch)
    assert "bridge" not in logs
    assert all(torch.equal(p, q) for p, q in zip(g.parameters(), g_params))
    logs = mode.train_step(ctx, TrainState(epoch=1), batch)
    assert logs["bridge"] > 0 and logs["loss"] == logs["bridge"]
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
    for section in ("models", "optimizers", "schedulers", "extras", "rng"):
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
    bad = tmp_path / "bad.pt"
    torch.save({"config": {}, "models": {"D_t": {}}}, bad)
    with pytest.raises(CheckpointError):
        train(make_cfg(*DET, "train.mode=ct", f"fusion.weights={bad}"), progress=False)


def test_detection_modes_share_one_base() -> None:
    for name in ("ct", "tt", "ir", "vis", "frontend"):
        assert issubclass(MODES.get(name), DetectionMode)
    assert CooperativeMode().needs_masks() and not FrontendMode().needs_masks()


def test_non_finite_detector_loss_stops_the_run(make_cfg: MakeCfg,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from tardal.detect import Detector
    from tardal.losses.criterion import NonFiniteLossError

    real = Detector.loss

    def nan_loss(self: Detector, preds: Any, batch: Any) -> Any:
        total, terms = real(self, preds, batch)
        return total * float("nan"), terms

    monkeypatch.setattr(Detector, "loss", nan_loss)
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 1: detector loss L_det is not"):
        train(make_cfg(*DET, "train.mode=ir"), progress=False)
