"""Benchmark: detection from fused images, against single-modality references, and step timings.

Three parts, each writing JSON under ``runs/bench/`` and printing a Markdown table:

``synth``: on the synthetic benchmark at the shipped CPU config (``configs/synth-ct.yaml``),
train ``ct``, ``tt``, ``ir``, ``vis`` and ``frontend`` (plain ``mean`` fusion) with the same
data, split, detector and budget (epochs, batch, learning rates), one after the other, then
score each run's ``best.pt`` with pycocotools on the test split (and per condition: day,
night, fog, thermal crossover)::

    python tools/bench_detect.py synth                      # ~20 min on 2 CPU cores
    python tools/bench_detect.py synth --modes ct,ir train.epochs=5

``llvip``: import ``../shared/data/llvip-mini`` with the LLVIP importer (its own train/val
carve), train ``ct``, ``ir``, ``vis`` from ``configs/llvip-ct.yaml`` and score them on its
validation part::

    python tools/bench_detect.py llvip --src ../shared/data/llvip-mini train.epochs=20

``speed``: seconds per training step per image of ``ct`` (after the bridge warm-up, so every
part runs) at ``--size`` (default 320x320) with G dim 32, depth 3 and YOLOv8n, with the
breakdown measured inside the real step (median over steps after one untimed step)::

    python tools/bench_detect.py speed --size 320 --steps 5 --batch 8

``key=value`` arguments are config overrides applied to every run of the part.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

REPO = Path(__file__).resolve().parents[1]
MODES_SYNTH = ("ct", "tt", "ir", "vis", "frontend")

log = logging.getLogger("bench_detect")


def _environment(threads: int) -> dict[str, Any]:
    from tardal import __version__

    return {"tardal": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "processor": platform.processor(),
            "threads": threads, "load_average": list(os.getloadavg())}


def _write(path: Path, data: dict[str, Any]) -> None:
    from tardal.evaluation import write_json

    write_json(path, data)


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    keep = ("AP", "AP50", "AP75", "precision", "recall", "f1", "images", "instances")
    out = {k: results.get(k) for k in keep}
    out["AP50_per_class"] = {n: e["AP50"] for n, e in results.get("per_class", {}).items()}
    return out


def _conditions(root: Path) -> dict[str, str]:
    path = root / "meta" / "conditions.tsv"
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if "\t" in line:
            stem, cond = line.split("\t", 1)
            out[stem] = cond.strip()
    return out


def _by_condition(report: Any, names: list[str]) -> dict[str, dict[str, Any]]:
    """AP50 / AP per synthetic condition, from the report's predictions and its ground truth."""
    from tardal.evaluation import evaluate_detections

    conds = _conditions(Path(report.root))
    if not conds:
        return {}
    gts = report.ground_truths
    out: dict[str, dict[str, Any]] = {}
    for cond in sorted(set(conds.values())):
        ids = {g["image_id"] for g in gts if conds.get(g["image_id"]) == cond}
        if not ids:
            continue
        res = evaluate_detections([p for p in report.predictions if p["image_id"] in ids],
                                  [g for g in gts if g["image_id"] in ids], names)
        out[cond] = {"AP50": res["AP50"], "AP": res["AP"], "images": len(ids)}
    return out


def train_and_score(config: Path, overrides: list[str], split: str) -> dict[str, Any]:
    """Train one run from ``config`` + ``overrides`` and score its best.pt on ``split``."""
    from tardal.config import load_config
    from tardal.engine import train
    from tardal.engine.evaluate import evaluate_run, load_run

    cfg = load_config(config, overrides)
    t0 = time.perf_counter()
    result = train(cfg, progress=False)
    train_s = time.perf_counter() - t0
    run = load_run(result.best)
    t1 = time.perf_counter()
    report = evaluate_run(run, split)
    eval_s = time.perf_counter() - t1
    entry = {
        "run": str(result.run_dir), "mode": cfg.train.mode, "best_epoch": result.state.best_epoch,
        "epochs": result.state.epoch, "steps": result.state.step, "train_s": round(train_s, 1),
        "eval_s": round(eval_s, 1), "split": split, "test": _summary(report.results),
        "by_condition": _by_condition(report, run.names),
        "val_last": {k: v for k, v in result.rows[-1].items()
                     if k.startswith("val/") and "/" not in k[4:]},
    }
    return entry


def _table(entries: dict[str, dict[str, Any]]) -> str:
    lines = ["| run | AP50 | AP50:95 | AP75 | P | R | train s | " +
             " | ".join(f"AP50 {c}" for c in ("day", "night", "fog", "crossover")) + " |",
             "|---" * 11 + "|"]
    for name, e in entries.items():
        t = e["test"]
        conds = e.get("by_condition", {})
        cells = [f"{t[k]:.3f}" if isinstance(t.get(k), float) else "n/a"
                 for k in ("AP50", "AP", "AP75", "precision", "recall")]
        cells.append(f"{e['train_s']:.0f}")
        cells += [f"{conds[c]['AP50']:.3f}" if c in conds else "n/a"
                  for c in ("day", "night", "fog", "crossover")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_synth(args: argparse.Namespace) -> None:
    out = Path(args.out or REPO / "runs" / "bench" / "detect_synth.json")
    data: dict[str, Any] = {"part": "synth", "config": str(args.config),
                            "overrides": args.overrides,
                            "split": args.split, "environment": _environment(args.threads),
                            "runs": {}}
    if args.resume_json and out.is_file():
        data["runs"] = json.loads(out.read_text()).get("runs", {})
    for mode in args.modes.split(","):
        name = f"{args.tag}{mode}"
        if name in data["runs"]:
            log.info("%s: already in %s, skipped", name, out)
            continue
        extra = [f"train.mode={mode}", f"project={args.project}", f"name={name}"]
        if mode == "frontend":
            extra.append(f"fusion.name={args.frontend}")
        log.info("=== %s ===", name)
        data["runs"][name] = train_and_score(Path(args.config), [*args.overrides, *extra],
                                             args.split)
        _write(out, data)
        print(_table({name: data["runs"][name]}), flush=True)
    ref = [data["runs"][k]["test"]["AP50"] for k in data["runs"]
           if data["runs"][k]["mode"] in ("ir", "vis")]
    if f"{args.tag}ct" in data["runs"] and ref:
        data["ct_margin_AP50"] = data["runs"][f"{args.tag}ct"]["test"]["AP50"] - max(ref)
    data["environment"]["load_average_end"] = list(os.getloadavg())
    _write(out, data)
    print(_table(data["runs"]))
    print(f"written {out}")


def run_llvip(args: argparse.Namespace) -> None:
    from tardal.data.importers import import_llvip

    root = Path(args.data)
    if not (root / "data.yaml").is_file():
        res = import_llvip(args.src, root)
        log.info("imported %s", res.summary() if hasattr(res, "summary") else res)
    out = Path(args.out or REPO / "runs" / "bench" / "detect_llvip.json")
    data: dict[str, Any] = {"part": "llvip", "source": str(args.src), "data": str(root),
                            "config": str(args.config), "overrides": args.overrides,
                            "split": "val", "environment": _environment(args.threads), "runs": {}}
    for split in ("train", "val", "test"):
        f = root / "meta" / f"{split}.txt"
        data[f"{split}_images"] = len(f.read_text().split()) if f.is_file() else 0
    for mode in args.modes.split(","):
        name = f"{args.tag}{mode}"
        extra = [f"data.root={root}", f"train.mode={mode}", f"project={args.project}",
                 f"name={name}"]
        log.info("=== %s ===", name)
        data["runs"][name] = train_and_score(Path(args.config), [*args.overrides, *extra], "val")
        _write(out, data)
    data["environment"]["load_average_end"] = list(os.getloadavg())
    _write(out, data)
    print(_table(data["runs"]))
    print(f"written {out}")


# ----------------------------------------------------------------------------------------
# Step timings
# ----------------------------------------------------------------------------------------


class Timer:
    """Accumulates wall time per label within one step."""

    def __init__(self) -> None:
        self.step: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def __call__(self, label: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.step[label] += time.perf_counter() - t


def _timed(fn: Callable[..., Any], timer: Timer, label: str) -> Callable[..., Any]:
    def wrapper(*a: Any, **kw: Any) -> Any:
        with timer(label):
            return fn(*a, **kw)
    return wrapper


def _reference_timings(ctx: Any, batch: dict[str, Any], steps: int) -> dict[str, float]:
    """Medians of parts timed on their own: G forward+backward, and a backward to the input
    through the frozen detector (the two big pieces of the G-backward row)."""
    from tardal.detect import detector_input, frozen
    from tardal.ops.color import rgb_to_y

    g, det = ctx.models["G"], ctx.models["det"]
    ir, vis = batch["ir"], batch["vis"]
    vis_y = rgb_to_y(vis)
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(max(2, steps)):
        t = time.perf_counter()
        g(ir, vis_y).mean().backward()
        times["G forward + backward alone"].append(time.perf_counter() - t)
        g.zero_grad(set_to_none=True)
        x = detector_input(vis_y, vis, ctx.cfg.detector.input).detach().requires_grad_(True)
        t = time.perf_counter()
        with frozen(det):
            total, _ = det.loss(det(x), batch)
        total.backward()
        times["frozen detector forward + backward to the input alone"].append(
            time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def run_speed(args: argparse.Namespace) -> None:
    """Time the real ct step, with the parts wrapped by timers (see the module doc)."""
    import tardal.engine.detection_modes as dm
    from tardal.config import load_config
    from tardal.engine.data import build_loaders
    from tardal.engine.loop import place
    from tardal.engine.modes import TrainContext
    from tardal.engine.optim import build_scheduler
    from tardal.engine.state import TrainState, seed_everything
    from tardal.masks import build_mask_provider

    overrides = [f"data.img_size={args.size}", f"data.batch_size={args.batch}",
                 f"fusion.dim={args.dim}", "fusion.depth=3", f"disc.dim={args.disc_dim}",
                 "detector.model=yolov8n.yaml", "train.mode=ct", "train.bridge_warm=0",
                 "train.d_warm=0", "train.device=cpu", *args.overrides]
    cfg = load_config(args.config, overrides)
    seed_everything(0)
    loaders = build_loaders(cfg)
    mode = dm.CooperativeMode()
    models = {k: place(m, torch.device("cpu"), cfg.train.channels_last)
              for k, m in mode.build_models(cfg, loaders.names).items()}
    opts = mode.build_optimizers(cfg, models)
    ctx = TrainContext(cfg=cfg, device=torch.device("cpu"), models=models, optimizers=opts,
                       schedulers={k: build_scheduler(o, cfg.train, 100) for k, o in opts.items()},
                       masks=build_mask_provider(cfg.mask, loaders.has_labels), names=loaders.names)
    mode.setup(ctx)
    state = TrainState(epoch=1)
    mode.start_epoch(ctx, state)
    timer = Timer()
    # the parts of CooperativeMode.train_step, wrapped where they are called
    g = ctx.models["G"]
    g_forward = g.forward
    g.forward = _timed(g_forward, timer, "G forward")  # type: ignore[method-assign]
    mode.detector_step = _timed(mode.detector_step, timer, "detector step (fwd+bwd+opt+EMA)")
    mode.fusion_terms = _timed(mode.fusion_terms, timer, "fusion terms L_f (SSIM, SDW, adv)")
    mode.bridge_loss = _timed(mode.bridge_loss, timer, "bridge: frozen detector forward + loss")
    mode.critic_steps = _timed(mode.critic_steps, timer, "critic steps D_t, D_d")
    real_step = dm.optimizer_step

    def step(ctx_: Any, key: str, loss: torch.Tensor) -> None:
        label = ("G backward (through frozen detector, critics, G) + step" if key == "G"
                 else None)
        if label is None:
            return real_step(ctx_, key, loss)
        with timer(label):
            return real_step(ctx_, key, loss)

    dm.optimizer_step = step
    ctx.masks = _timed(ctx.masks, timer, "masks")  # type: ignore[assignment]
    rows: list[dict[str, float]] = []
    batches = iter(loaders.train)
    try:
        for i in range(args.steps + 1):
            batch = next(batches)
            timer.step.clear()
            t = time.perf_counter()
            mode.train_step(ctx, state, batch)
            total = time.perf_counter() - t
            if i == 0:
                continue  # untimed warm-up step
            row = dict(timer.step)
            row["other (data to device, logging)"] = total - sum(row.values())
            row["total"] = total
            rows.append(row)
            log.info("step %d: %.2f s", i, total)
    finally:
        dm.optimizer_step = real_step
    labels = list(rows[0])
    med = {k: statistics.median(r.get(k, 0.0) for r in rows) for k in labels}
    reference = _reference_timings(ctx, batch, args.steps)
    b = cfg.data.batch_size
    out = Path(args.out or REPO / "runs" / "bench" / "detect_speed.json")
    data = {"part": "speed", "size": args.size, "batch": b, "G_dim": args.dim, "G_depth": 3,
            "disc_dim": args.disc_dim, "detector": cfg.detector.model, "steps": args.steps,
            "environment": _environment(args.threads),
            "median_s_per_step": med, "median_s_per_image": {k: v / b for k, v in med.items()},
            "reference_s_per_step": reference, "steps_s": rows}
    _write(out, data)
    print(f"ct step at {args.size}x{args.size}, batch {b}, G dim {args.dim} depth 3, yolov8n, "
          f"{args.threads} threads (median of {args.steps} steps):")
    print("| part | s / step | s / image | share |\n|---|---|---|---|")
    for k, v in med.items():
        if k != "total":
            print(f"| {k} | {v:.3f} | {v / b:.4f} | {v / med['total']:.0%} |")
    print(f"| total | {med['total']:.3f} | {med['total'] / b:.4f} | 100% |")
    print("parts timed alone (to split the G backward row):")
    for k, v in reference.items():
        print(f"| {k} | {v:.3f} | {v / b:.4f} |")
    print(f"written {out}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", choices=("synth", "llvip", "speed"))
    p.add_argument("overrides", nargs="*", help="config overrides key=value for every run")
    p.add_argument("--config", default=None, help="YAML config (default per part)")
    p.add_argument("--modes", default=None, help="comma-separated modes")
    p.add_argument("--split", default="test", help="synth: split to score on")
    p.add_argument("--frontend", default="mean", help="synth: fusion method of the frontend run")
    p.add_argument("--project", default=str(REPO / "runs" / "bench" / "detect"))
    p.add_argument("--tag", default="", help="prefix of the run names")
    p.add_argument("--out", default=None, help="JSON output path")
    p.add_argument("--resume-json", action="store_true", help="synth: skip runs already in --out")
    p.add_argument("--src", default=str(REPO.parent / "shared" / "data" / "llvip-mini"))
    p.add_argument("--data", default=str(REPO / "runs" / "data" / "llvip-mini"))
    p.add_argument("--size", type=int, default=320)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--disc-dim", type=int, default=32)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(REPO / "runs" / ".ultralytics"))
    torch.set_num_threads(args.threads)
    defaults = {"synth": "synth-ct.yaml", "llvip": "llvip-ct.yaml", "speed": "synth-ct.yaml"}
    args.config = args.config or str(REPO / "configs" / defaults[args.part])
    if args.part == "synth":
        args.modes = args.modes or ",".join(MODES_SYNTH)
        run_synth(args)
    elif args.part == "llvip":
        args.modes = args.modes or "ct,ir,vis"
        run_llvip(args)
    else:
        run_speed(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
