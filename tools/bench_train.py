"""Benchmark: training throughput of the real step of each mode, with the split into its parts.

For each mode (default ``ct``, ``dt``, ``ir``) the script builds the run exactly as ``tardal
train`` does (:func:`tardal.engine.build_context`, the real loaders with their workers and
masks), runs ``--steps`` steps after ``--warmup`` untimed ones with every part open (bridge and
adversarial terms on), the modes taking turns step by step (so that a shared machine's changing
load weighs on all of them alike), and reports images per second (median over steps of wall
time; CUDA is synchronised around each step) and the split measured inside the real step by the profiler
regions of :mod:`tardal.engine.steps` (``G forward``, ``detector forward + loss``, ``fusion
loss``, ``backward + optimiser step``, ``EMA update``, ``critic steps``), taken from a separate
profiled pass as shares of its wall time and scaled to the unprofiled median step. The timed
step includes the wait for the loader (its workers run as in training). Prints a Markdown
table and writes JSON::

    python tools/bench_train.py                                   # shipped synthetic config
    python tools/bench_train.py --size 320 --batch 8 --dim 32 --modes ct,ir
    python tools/bench_train.py --device cuda --size 320 --batch 32 --dim 16 train.amp=true
    python tools/bench_train.py --modes ct,ir train.cpu_amp=true  # the detector in bf16 on a CPU

``key=value`` arguments are config overrides applied to every mode.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _batches(loaders: Any, count: int) -> list[tuple[dict[str, Any], float]]:
    """``count`` training batches (cycling epochs) with the seconds the loader took for each."""
    out: list[tuple[dict[str, Any], float]] = []
    while len(out) < count:
        it = iter(loaders.train)
        while len(out) < count:
            t = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                break
            out.append((batch, time.perf_counter() - t))
    return out


class Bench:
    """One mode's run, built as ``tardal train`` builds it, with its batches drawn up front."""

    def __init__(self, mode_name: str, args: argparse.Namespace) -> None:
        from tardal.config import load_config
        from tardal.engine import build_context
        from tardal.engine.data import build_loaders
        from tardal.engine.modes import get_mode
        from tardal.engine.state import TrainState, seed_everything
        from tardal.engine.steps import set_training

        overrides = [f"train.mode={mode_name}", "train.bridge_warm=0", "train.d_warm=0",
                     f"train.device={args.device}"]
        if args.size:
            overrides.append(f"data.img_size={args.size}")
        if args.batch:
            overrides.append(f"data.batch_size={args.batch}")
        if args.dim:
            overrides.append(f"fusion.dim={args.dim}")
        if args.detector:
            overrides.append(f"detector.model={args.detector}")
        if mode_name == "frontend":
            overrides.append("fusion.name=mean")
        self.name = mode_name
        self.cfg = cfg = load_config(args.config, [*overrides, *args.overrides])
        seed_everything(0)
        self.mode = get_mode(cfg)
        loaders = build_loaders(cfg, masks=self.mode.uses_masks,
                                pin_memory=torch.cuda.is_available() and args.device != "cpu")
        self.ctx = build_context(cfg, loaders.names)
        set_training(self.ctx.models, self.mode.frozen)
        self.state = TrainState(epoch=max(cfg.train.bridge_warm, cfg.train.d_warm))
        self.mode.start_epoch(self.ctx, self.state)
        self.batches = _batches(loaders, args.warmup + args.steps + args.profile_steps)
        self.walls: list[float] = []
        self.cpus: list[float] = []
        self.waits: list[float] = []

    def step(self, i: int, timed: bool) -> None:
        from tardal.engine.data import to_device

        batch, wait = self.batches[i]
        t0, c0 = time.perf_counter(), time.process_time()
        self.mode.step(self.ctx, self.state, to_device(batch, self.ctx.device))
        _sync(self.ctx.device)
        if timed:
            self.walls.append(time.perf_counter() - t0 + wait)
            self.cpus.append(time.process_time() - c0)
            self.waits.append(wait)

    def result(self, first_profiled: int) -> dict[str, Any]:
        """The figures, with the split from a separate profiled pass over the remaining batches
        (the profiler slows the step; only the shares are used)."""
        from torch.profiler import ProfilerActivity, profile

        from tardal.engine.steps import PARTS

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA]
                                               if self.ctx.device.type == "cuda" else [])
        with profile(activities=activities) as prof:
            t0 = time.perf_counter()
            for i in range(first_profiled, len(self.batches)):
                self.step(i, timed=False)
            profiled = time.perf_counter() - t0
        events = {e.key: e for e in prof.key_averages()}
        step = statistics.median(self.walls)
        parts: dict[str, float] = {}
        for name in PARTS:
            e = events.get(name)
            if e is not None:
                parts[name] = e.cpu_time_total / 1e6 / profiled * step if profiled > 0 else 0.0
        cfg, b = self.cfg, self.cfg.data.batch_size
        return {
            "mode": self.name, "img_size": cfg.data.img_size, "batch": b,
            "G_dim": cfg.fusion.dim, "detector": cfg.detector.model,
            "device": str(self.ctx.device), "amp": str(self.ctx.amp_dtype),
            "steps": len(self.walls), "median_s_per_step": step, "images_per_s": b / step,
            # CPU seconds of this process per step: on a shared machine, the measure that other
            # processes' load does not inflate (all threads of this process counted)
            "median_cpu_s_per_step": statistics.median(self.cpus),
            "median_data_wait_s": statistics.median(self.waits), "parts_s_per_step": parts,
            "steps_s": self.walls,
        }


def run_interleaved(modes: list[str], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Build every mode, then time them in turns (one step of each per round), so that a
    change in the machine's load affects all modes alike and their ratios stay fair."""
    benches = [Bench(m, args) for m in modes]
    for i in range(args.warmup + args.steps):
        for b in benches:
            b.step(i, timed=i >= args.warmup)
    results = {}
    for b in benches:
        results[b.name] = b.result(args.warmup + args.steps)
        r = results[b.name]
        print(f"{b.name}: {r['images_per_s']:.2f} img/s ({r['median_s_per_step']:.3f} s/step)",
              flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.add_argument("--config", default=str(REPO / "configs" / "synth-ct.yaml"))
    p.add_argument("--modes", default="ct,dt,ir")
    p.add_argument("--size", type=int, default=0, help="data.img_size (default: the config's)")
    p.add_argument("--batch", type=int, default=0, help="data.batch_size")
    p.add_argument("--dim", type=int, default=0, help="fusion.dim")
    p.add_argument("--detector", default="", help="detector.model, e.g. yolov8n.yaml")
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--profile-steps", type=int, default=2, help="profiled steps for the split")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    p.add_argument("--out", default=str(REPO / "runs" / "bench" / "train.json"))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from tardal import __version__

    results = run_interleaved(list(dict.fromkeys(args.modes.split(","))), args)
    report: dict[str, Any] = {
        "what": "training images per second of the real step, per mode",
        "tardal": __version__, "torch": torch.__version__, "machine": platform.machine(),
        "processor": platform.processor(), "threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()), "config": args.config,
        "overrides": args.overrides, "modes": results,
    }
    if "ct" in results and "ir" in results:
        report["ct_cost_vs_ir"] = (results["ct"]["median_s_per_step"]
                                   / results["ir"]["median_s_per_step"])
        report["ct_cpu_cost_vs_ir"] = (results["ct"]["median_cpu_s_per_step"]
                                       / results["ir"]["median_cpu_s_per_step"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, out)
    parts = _parts(results)
    print("\n| mode | img/s | s/step | cpu s/step | " + " | ".join(map(_short, parts)) + " |")
    print("|---" * (4 + len(parts)) + "|")
    for mode, r in results.items():
        cells = [f"{r['parts_s_per_step'].get(k, 0.0):.3f}" for k in parts]
        print(f"| {mode} | {r['images_per_s']:.2f} | {r['median_s_per_step']:.3f} | "
              f"{r['median_cpu_s_per_step']:.3f} | " + " | ".join(cells) + " |")
    if "ct_cost_vs_ir" in report:
        print(f"\nct costs {report['ct_cost_vs_ir']:.2f}x ir per step (wall), "
              f"{report['ct_cpu_cost_vs_ir']:.2f}x in CPU time")
    print(f"wrote {out}")
    return 0


def _parts(results: dict[str, Any]) -> list[str]:
    from tardal.engine.steps import PARTS

    return [k for k in PARTS if any(k in r["parts_s_per_step"] for r in results.values())]


def _short(name: str) -> str:
    return name.replace("optimiser", "opt.")


if __name__ == "__main__":
    raise SystemExit(main())
