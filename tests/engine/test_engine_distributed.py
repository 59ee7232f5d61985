"""torch.distributed on the CPU (gloo): two processes against one with the same global batch.

Each case launches ``torchrun --nproc_per_node 2`` on ``ddp_worker.py`` (a plain training run
that also writes every process's final weights)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tardal.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]
WORKER = str(Path(__file__).with_name("ddp_worker.py"))
TINY = ["data.img_size=64", "data.batch_size=8", "fusion.dim=4", "fusion.depth=2", "disc.dim=4",
        "train.device=cpu", "train.preview=0", "train.warmup_epochs=0", "train.d_warm=0",
        "train.bridge_warm=0", "train.ema_tau=10", "train.epochs=2", "train.log_interval=1"]


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(YOLO_OFFLINE="1", YOLO_CONFIG_DIR=str(tmp / "yolo"), OMP_NUM_THREADS="1",
               PYTHONPATH=str(REPO), **extra)
    return env


def _run(tmp: Path, out: Path, overrides: list[str], procs: int, **env: str
         ) -> subprocess.CompletedProcess:
    out.mkdir(parents=True, exist_ok=True)
    args = [WORKER, str(out), str(REPO / "configs" / "synth-ct.yaml"), *TINY, *overrides,
            f"project={out / 'runs'}"]
    if procs > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs),
               "--master_port", str(29500 + os.getpid() % 1000), *args]
    else:
        cmd = [sys.executable, *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, env=_env(tmp, **env),
                          timeout=300)


def _distance(a: dict, b: dict, keys: tuple[str, ...] | None = None) -> float:
    """Largest relative difference of any parameter tensor (running statistics excluded)."""
    worst = 0.0
    for key in keys or a:
        for name, v in a[key].items():
            if v.is_floating_point() and "running" not in name:
                w = b[key][name]
                worst = max(worst, float((v - w).abs().max()) / (float(v.abs().max()) + 1e-12))
    return worst


@pytest.fixture(scope="module")
def copies(synth64: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny set with its 8 training pairs replaced by 8 copies of the first one: any split
    of a batch over processes then has the batch's statistics (BatchNorm, loss normalisers)."""
    root = tmp_path_factory.mktemp("copies") / "data"
    shutil.copytree(synth64, root)
    train = (root / "meta" / "train.txt").read_text().split()
    first = train[0]
    for stem in train[1:]:
        for sub, ext in (("ir", ".png"), ("vi", ".png"), ("labels", ".txt")):
            src = next((root / sub).glob(f"{first}.*"))
            shutil.copy(src, (root / sub / f"{stem}{src.suffix}"))
    return root


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(copies: Path, tmp_path: Path
                                                            ) -> None:
    # dt with the adversarial terms held out of G's loss (the critics' interpolation draws are
    # per process) and plain SGD (an update proportional to the gradient: Adam's first steps
    # turn float noise in near-zero gradients into full-size steps of either sign)
    common = [f"data.root={copies}", "train.mode=dt", "data.augment.hflip=0",
              "data.augment.crop=0", "data.augment.scale=[1.0,1.0]", "train.optimizer=sgd",
              "train.momentum=0.9", "train.d_warm=5", "train.lr_g=0.05"]
    one = _run(tmp_path, tmp_path / "one", common, 1)
    assert one.returncode == 0, one.stderr[-2000:]
    two = _run(tmp_path, tmp_path / "two", common, 2)
    assert two.returncode == 0, two.stderr[-2000:]
    w1 = torch.load(tmp_path / "one" / "rank0.pt", weights_only=True)
    r0 = torch.load(tmp_path / "two" / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "two" / "rank1.pt", weights_only=True)
    assert _distance(r0, r1) == 0.0  # the processes hold one model
    # same global batch of 8 (4 per process): G's weights the same up to float rounding, and
    # they moved far more than that
    assert _distance(w1, r0, ("G",)) < 1e-4
    ckpt = load_checkpoint(tmp_path / "two" / "runs" / "synth-ct" / "weights" / "last.pt")
    assert ckpt["state"]["step"] == 2 and set(ckpt["models"]) == {"G", "D_t", "D_d"}
    moved = max(float((ckpt["models"]["G"][k] - w1["G"][k]).abs().max())
                for k in w1["G"] if "running" not in k and w1["G"][k].is_floating_point())
    assert moved < 1e-4 * max(float(v.abs().max()) for v in w1["G"].values()
                              if v.is_floating_point())  # rank 0 saved the same weights


@pytest.mark.slow
def test_gradients_are_synchronised_on_different_data(synth64: Path, tmp_path: Path) -> None:
    """Different pairs on each process (ct: G and detector through DDP, critics averaged by
    hand): the processes still end with identical weights."""
    two = _run(tmp_path, tmp_path / "two", [f"data.root={synth64}", "train.mode=ct"], 2)
    assert two.returncode == 0, two.stderr[-2000:]
    r0 = torch.load(tmp_path / "two" / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "two" / "rank1.pt", weights_only=True)
    assert set(r0) == {"G", "D_t", "D_d", "det"}
    assert _distance(r0, r1) < 1e-6
    rows = (tmp_path / "two" / "runs" / "synth-ct" / "results.csv").read_text().splitlines()
    assert len(rows) == 3 and "val/AP50" in rows[0]


@pytest.mark.slow
def test_a_dying_process_stops_the_others(synth64: Path, tmp_path: Path) -> None:
    t = time.monotonic()
    two = _run(tmp_path, tmp_path / "dead", [f"data.root={synth64}", "train.mode=ir"], 2,
               TARDAL_TEST_FAIL_RANK="1")
    assert two.returncode != 0
    assert time.monotonic() - t < 120  # stopped, not hung until the collective timeout
    assert not (tmp_path / "dead" / "rank0.pt").exists()
