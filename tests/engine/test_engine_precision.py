"""``train.cpu_amp``: bf16 autocast on the CPU, and how the CPU's native bf16 is told
(tardal/engine/device.py, tardal/engine/context.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import pytest
import torch

from tardal.config import Config
from tardal.engine.device import native_bf16
from tardal.engine.state import TrainState
from tests.engine.conftest import context_for

MakeCfg = Callable[..., Config]
CT = ["train.mode=ct", "train.bridge_warm=0", "train.d_warm=0", "data.batch_size=4",
      "train.ema_tau=10"]

FLAGS = "fpu vme sse sse2 avx2 avx512f avx512bw"


def _cpuinfo(tmp_path: Path, *flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    cpu = f"processor\t: {{n}}\nmodel name\t: a CPU\nflags\t\t: {' '.join([FLAGS, *flags])}\n\n"
    path.write_text(cpu.format(n=0) + cpu.format(n=1))
    return path


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    assert native_bf16(_cpuinfo(tmp_path, "avx512_bf16", "avx512_vnni")) == "avx512_bf16"
    assert native_bf16(_cpuinfo(tmp_path, "amx_tile", "amx_bf16")) == "amx_bf16"
    assert native_bf16(_cpuinfo(tmp_path, "avx512_vnni")) == ""  # AVX-512 alone: emulated
    assert native_bf16(tmp_path / "missing") == ""  # no /proc (macOS, Windows)


def test_cpu_amp_sets_bf16_autocast_and_warns_without_native_bf16(
        make_cfg: MakeCfg, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tardal.engine import build_context, context

    assert build_context(make_cfg(), []).amp_dtype is None  # fp32 by default on the CPU
    for flag, warned in (("avx512_bf16", False), ("", True)):
        monkeypatch.setattr(context, "native_bf16", lambda flag=flag: flag)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tardal.engine.context"):
            ctx = build_context(make_cfg("train.cpu_amp=true"), [])
        assert ctx.amp_dtype is torch.bfloat16
        with ctx.autocast("det"):
            assert torch.is_autocast_enabled("cpu")
            assert torch.get_autocast_dtype("cpu") is torch.bfloat16
        with ctx.autocast("G"):  # G stays fp32 unless train.amp_fusion
            assert not torch.is_autocast_enabled("cpu")
        assert ctx.in_autocast("det") and not ctx.in_autocast("G")
        assert ("no native bf16" in caplog.text) is warned
    with build_context(make_cfg("train.cpu_amp=true", "train.amp_fusion=true"), []).autocast("G"):
        assert torch.is_autocast_enabled("cpu")


@pytest.mark.parametrize("fusion", ["false", "true"])
def test_a_ct_step_in_bf16_matches_fp32_within_bf16_rounding(make_cfg: MakeCfg,
                                                             fusion: str) -> None:
    """The same first ct step (same weights, batch and random draws) in fp32 and in bf16
    autocast (the detector, and G too with ``train.amp_fusion``): every loss term agrees to
    bf16's precision, G's convolutions ran in the precision asked for, and the step still
    moves every network."""
    logs, moved = {}, {}
    for amp in ("false", "true"):
        mode, ctx, batch = context_for(make_cfg(*CT, f"train.cpu_amp={amp}",
                                                f"train.amp_fusion={fusion}"))
        before = {k: [p.detach().clone() for p in m.parameters()] for k, m in ctx.models.items()}
        with ctx.autocast("G"):
            assert ctx.models["G"](batch["ir"], batch["vis"][:, :1]).dtype == (
                torch.bfloat16 if amp == fusion == "true" else torch.float32)
        torch.manual_seed(0)
        logs[amp] = {k: float(v) for k, v in mode.step(ctx, TrainState(epoch=0), batch).items()}
        moved[amp] = {k: any(not torch.equal(p, q) for p, q in zip(m.parameters(), before[k]))
                      for k, m in ctx.models.items()}
    fp32, bf16 = logs["false"], logs["true"]
    assert moved["true"] == moved["false"] and all(moved["true"].values())
    for key in ("ssim", "pixel", "det", "box", "cls", "dfl", "bridge", "loss"):
        # bf16 keeps 8 bits of mantissa: about 0.4 % per value, more through a network
        assert bf16[key] == pytest.approx(fp32[key], rel=0.05), (key, fp32, bf16)
    assert fp32["loss"] != bf16["loss"]  # it did run in another precision
