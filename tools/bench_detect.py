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

Training speed (images per second of each mode, split into the parts of the real step) is
measured by ``tools/bench_train.py``.

``key=value`` arguments are config overrides applied to every run of the part.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", choices=("synth", "llvip"))
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
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(REPO / "runs" / ".ultralytics"))
    torch.set_num_threads(args.threads)
    defaults = {"synth": "synth-ct.yaml", "llvip": "llvip-ct.yaml"}
    args.config = args.config or str(REPO / "configs" / defaults[args.part])
    if args.part == "synth":
        args.modes = args.modes or ",".join(MODES_SYNTH)
        run_synth(args)
    else:
        args.modes = args.modes or "ct,ir,vis"
        run_llvip(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
