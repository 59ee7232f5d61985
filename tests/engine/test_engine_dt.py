"""Mode dt end to end: a short run, exact resume, frozen critics, warm-up, errors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import cv2
import pytest
import torch

from tardal.checkpoint import load_checkpoint
from tardal.config import Config, DataConfig, dump_config, load_config
from tardal.data.dataset import PairedDataset, collate_pairs
from tardal.engine import config_for_resume, train
from tardal.engine.data import ensure_dataset
from tardal.engine.modes import FusionOnlyMode
from tardal.engine.optim import lr_factor
from tardal.engine.steps import backward_and_step, critic_steps, fusion_loss
from tardal.engine.run import increment_dir
from tardal.engine.state import seed_everything
from tardal.errors import ConfigError, DataError
from tardal.fusion import load_fusion
from tardal.losses.criterion import FusionCriterion, NonFiniteLossError
from tardal.ops.color import rgb_to_y
from tests.engine.conftest import context_for

MakeCfg = Callable[..., Config]


def _content(g: torch.nn.Module, batch: dict[str, Any]) -> float:
    """SSIM + SDW pixel terms of G on a batch, BatchNorm on batch statistics (as in training)."""
    g.train()
    ir, vis_y = batch["ir"], rgb_to_y(batch["vis"])
    with torch.no_grad():
        terms = FusionCriterion()(g(ir, vis_y), ir, vis_y)
    return float(terms["ssim"] + terms["pixel"])


def test_three_step_run_lowers_the_content_loss(make_cfg: MakeCfg, synth64: Path) -> None:
    cfg = make_cfg("train.epochs=3", "name=short")  # 8 training pairs, batch 8: one step/epoch
    result = train(cfg, progress=False)
    assert result.state.epoch == 3 and result.state.step == 3
    run = result.run_dir
    assert run == Path(cfg.project) / "short"
    # content loss of the trained G vs the same G at initialisation, on the training batch
    batch = collate_pairs([PairedDataset(synth64, "train", img_size=64)[i] for i in range(8)])
    seed_everything(cfg.train.seed)
    g0 = FusionOnlyMode().build_models(cfg, [])["G"]
    g3, saved_cfg = load_fusion(result.last)
    before, after = _content(g0, batch), _content(g3, batch)
    print(f"content loss before {before:.4f} after 3 steps {after:.4f}")
    assert after < before - 0.05
    # run folder contents
    assert (run / "config.yaml").read_text() == dump_config(cfg)
    assert dump_config(saved_cfg) == dump_config(cfg)
    rows = (run / "results.csv").read_text().splitlines()
    header = rows[0].split(",")
    for col in ("epoch", "train/ssim", "train/pixel", "train/adv_t", "train/adv_d", "train/dt_w",
                "train/dt_pen", "train/dd_w", "train/dd_pen", "val/content", "lr/G", "lr/D_t"):
        assert col in header
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]
    assert len(list((run / "previews").glob("epoch3_*.png"))) == 2
    best = load_checkpoint(result.best)
    assert best["state"]["best_epoch"] == result.state.best_epoch
    assert best["metrics"]["fitness"] == pytest.approx(result.state.best_fitness)
    assert set(best["models"]) == {"G", "D_t", "D_d"}
    assert set(best["optimizers"]) == {"G", "D_t", "D_d"} and "schedulers" not in best
    assert {"python", "numpy", "torch"} <= set(best["rng"]) and best["version"]


def _same_state(a: Any, b: Any, where: str = "") -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), where


def test_resume_continues_exactly(make_cfg: MakeCfg) -> None:
    common = ("train.epochs=3", "data.batch_size=4")  # 2 steps per epoch, adversarial from epoch 2
    full = train(make_cfg(*common, "name=full"), progress=False)
    part = train(make_cfg(*common, "name=part"), progress=False, max_epochs=1)
    assert part.state.step == 2
    resumed = train(config_for_resume(part.run_dir), resume=part.run_dir, progress=False)
    assert resumed.run_dir == part.run_dir and resumed.state.step == full.state.step == 6
    a, b = load_checkpoint(full.last), load_checkpoint(resumed.last)
    for key in ("models", "optimizers", "rng"):
        _same_state(a[key], b[key], key)  # bit for bit
    assert a["state"] == b["state"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "time_s"} for r in rows]  # noqa: E731
    from tardal.engine.run import read_results
    assert strip(read_results(full.run_dir / "results.csv")) == strip(
        read_results(part.run_dir / "results.csv"))
    # a resume with more epochs stretches the LR schedule instead of keeping the saved one
    short = train(make_cfg(*common, "name=short"), progress=False, max_epochs=1)
    longer = train(config_for_resume(short.run_dir, ["train.epochs=5"]), resume=short.run_dir,
                   progress=False, max_epochs=1)
    assert longer.state.epoch == 2 and longer.rows[1]["lr/G"] > full.rows[1]["lr/G"] * 1.5


def test_warm_up_keeps_the_adversarial_term_out(make_cfg: MakeCfg) -> None:
    result = train(make_cfg("train.epochs=2", "train.d_warm=1", "loss.adv=0.5"), progress=False)
    warm, adv = result.rows
    assert warm["train/loss"] == pytest.approx(warm["train/ssim"] + warm["train/pixel"], abs=1e-6)
    with_adv = (adv["train/ssim"] + adv["train/pixel"]
                + 0.5 * (adv["train/adv_t"] + adv["train/adv_d"]))
    assert adv["train/loss"] == pytest.approx(with_adv, abs=1e-6)
    assert abs(adv["train/adv_t"] + adv["train/adv_d"]) > 1e-6


def test_critics_frozen_in_the_generator_step_and_gradients_reach_everything(
        make_cfg: MakeCfg) -> None:
    mode, ctx, batch = context_for(make_cfg("train.d_warm=0"))
    ir, vis_y = batch["ir"], rgb_to_y(batch["vis"])
    mask = batch["mask"]  # made by the data pipeline
    assert mask.shape == ir.shape and 0 < float(mask.mean()) < 1
    fused = ctx.models["G"](ir, vis_y)
    total, terms = fusion_loss(ctx, fused, ir, vis_y, mask, adversarial=True)
    assert set(terms) == {"ssim", "pixel", "adv_t", "adv_d"}
    d_before = {k: [p.detach().clone() for p in ctx.models[k].parameters()] for k in ("D_t", "D_d")}
    backward_and_step(ctx, total, ("G",))
    for name, p in ctx.models["G"].named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, f"G.{name}"
    for key in ("D_t", "D_d"):
        for p, old in zip(ctx.models[key].parameters(), d_before[key]):
            assert p.grad is None and torch.equal(p, old) and p.requires_grad
    g_before = [p.detach().clone() for p in ctx.models["G"].parameters()]
    logs = critic_steps(ctx, fused, ir, vis_y, mask)
    assert set(logs) == {"dt_w", "dt_pen", "dd_w", "dd_pen"}
    for key in ("D_t", "D_d"):
        for name, p in ctx.models[key].named_parameters():
            assert p.grad is not None and float(p.grad.abs().sum()) > 0, f"{key}.{name}"
    for p, old in zip(ctx.models["G"].parameters(), g_before):
        assert torch.equal(p, old)  # critic steps never touch G


def test_non_finite_loss_stops_with_the_step(make_cfg: MakeCfg, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    def nan_terms(self: FusionCriterion, fused: torch.Tensor, *args: Any, **kw: Any) -> dict:
        return {"ssim": fused.mean() * float("nan"), "pixel": fused.mean(),
                "adv_t": fused.mean(), "adv_d": fused.mean()}

    monkeypatch.setattr(FusionCriterion, "forward", nan_terms)
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 1: loss term\(s\) .*ssim.* not "
                       r"finite .* on the batch of images \w+"):
        train(make_cfg(), progress=False)


def test_unknown_mode_and_missing_data(make_cfg: MakeCfg, tmp_path: Path) -> None:
    cfg = make_cfg()
    cfg.train.mode = "nope"  # type: ignore[assignment]
    with pytest.raises(ConfigError, match="train.mode: unknown training mode 'nope'.*dt"):
        train(cfg, progress=False)
    with pytest.raises(DataError, match="tardal data import pairs"):
        ensure_dataset(DataConfig(root=str(tmp_path / "none"), generate=False))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.txt").write_text("x")
    with pytest.raises(DataError, match="holds no data.yaml"):
        ensure_dataset(DataConfig(root=str(tmp_path / "junk")))


def test_run_folders_increment(tmp_path: Path) -> None:
    assert increment_dir(tmp_path, "dt") == tmp_path / "dt"
    (tmp_path / "dt").mkdir()
    (tmp_path / "dt2").mkdir()
    assert increment_dir(tmp_path, "dt") == tmp_path / "dt3"


def test_schedule_shapes() -> None:
    cos = [lr_factor(s, total=11, warmup=2, kind="cosine", final=0.1) for s in range(12)]
    assert cos[:2] == [0.5, 1.0]
    assert cos[2] == pytest.approx(1.0) and cos[10] == pytest.approx(0.1)
    assert cos[6] == pytest.approx(0.55)  # half way: (1 + 0.1) / 2
    assert cos[11] == pytest.approx(0.1)  # past the end: the final factor
    lin = [lr_factor(s, total=5, warmup=0, kind="linear", final=0.0) for s in range(5)]
    assert lin == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    assert lr_factor(4, 5, 1, "constant", 0.0) == 1.0
    with pytest.raises(ConfigError, match="train.schedule"):
        lr_factor(0, 5, 0, "step")


def test_unlabelled_pairs_use_lc_masks(shared_data: Path, tmp_path: Path) -> None:
    from tardal.data.importers import import_pairs

    root = tmp_path / "tno"
    import_pairs(shared_data / "tno", root)  # index file only: images stay where they are
    cfg = load_config(Path(__file__).parents[2] / "configs" / "tno-dt.yaml", [
        f"data.root={root}", f"project={tmp_path / 'runs'}", "data.img_size=64",
        "data.batch_size=8", "fusion.dim=4", "disc.dim=4", "train.epochs=1", "train.device=cpu",
        "train.preview=1"])
    result = train(cfg, progress=False)
    row = result.rows[0]
    assert 0.0 < row["train/mask"] < 0.5  # lc masks: some salient pixels, mostly background
    assert math.isfinite(row["val/content"]) and result.best.is_file()
    assert len(list((result.run_dir / "previews").glob("epoch1_*.png"))) == 1


def test_validation_scores_g_own_map_whatever_the_eval_steps(make_cfg: MakeCfg) -> None:
    common = ("train.epochs=2", "data.batch_size=4", "train.preview=1")
    plain = train(make_cfg(*common, "name=plain"), progress=False)
    steps = train(make_cfg(*common, "name=steps", "fusion.detail=1.5", "fusion.illum=6",
                           "fusion.illum_weight=0.75", "fusion.equalize=0.1"), progress=False)
    assert [r["val/content"] for r in steps.rows] == [r["val/content"] for r in plain.rows]
    assert steps.state.best_epoch == plain.state.best_epoch
    # Training is the same too; only what G shows when fusing (the previews) differs.
    _same_state(load_checkpoint(plain.last)["models"], load_checkpoint(steps.last)["models"])
    a, b = (cv2.imread(str(next((r.run_dir / "previews").glob("epoch2_*.png")))).astype(float)
            for r in (plain, steps))
    assert abs(a - b).mean() > 1.0
