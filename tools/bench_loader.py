"""Benchmark: training pairs per second of the data pipeline, with and without ``data.cache``.

Builds the training loader of a config exactly as ``tardal train`` does (augmentation,
letterbox, target masks for the modes that use them) and times whole epochs of it in this
process (``data.workers=0``, OpenCV and torch on one thread: one worker's throughput), for each
``--caches`` setting, interleaved ``--repeat`` times. Building each loader (the cache's fill
included) is timed apart.
Prints a table and writes JSON with the medians.

    python tools/bench_loader.py                                   # configs/synth-ct.yaml
    python tools/bench_loader.py --config configs/llvip-ct.yaml data.root=runs/data/llvip
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy is imported

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(REPO / "configs" / "synth-ct.yaml"))
    ap.add_argument("--caches", default="none,ram", help="data.cache settings to compare")
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per measurement")
    ap.add_argument("--repeat", type=int, default=3, help="measurements per setting (median)")
    ap.add_argument("--out", default="runs/bench/loader.json")
    ap.add_argument("overrides", nargs="*", metavar="key=value")
    args = ap.parse_args(argv)
    if args.epochs < 1 or args.repeat < 1:
        ap.error("--epochs and --repeat must be >= 1")
    caches = [c.strip() for c in args.caches.split(",") if c.strip()]

    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    from tardal.config import load_config
    from tardal.engine.data import build_loaders
    from tardal.engine.modes import get_mode

    def loaders_for(cache: str) -> tuple:
        cfg = load_config(args.config, [*args.overrides, f"data.cache={cache}", "data.workers=0"])
        t0 = time.perf_counter()
        loaders = build_loaders(cfg, masks=get_mode(cfg).uses_masks)
        return cfg, loaders, time.perf_counter() - t0

    built = {c: loaders_for(c) for c in caches}
    cfg = built[caches[0]][0]
    pairs = len(built[caches[0]][1].train.dataset)
    times: dict[str, list[float]] = {c: [] for c in caches}
    for r in range(args.repeat):
        for cache in caches:
            loaders = built[cache][1]
            t0 = time.perf_counter()
            for epoch in range(args.epochs):
                loaders.set_epoch(r * args.epochs + epoch)
                for _ in loaders.train:
                    pass
            times[cache].append((time.perf_counter() - t0) / args.epochs)
            print(f"{cache}: {pairs / times[cache][-1]:.1f} pairs/s", flush=True)
    result = {
        "config": args.config, "overrides": args.overrides, "root": str(built[caches[0]][1].root),
        "img_size": cfg.data.img_size, "mode": cfg.train.mode, "train_pairs": pairs,
        "epochs": args.epochs, "repeat": args.repeat, "torch": torch.__version__,
        "settings": {c: {"epoch_s": times[c], "median_epoch_s": statistics.median(times[c]),
                         "pairs_per_s": pairs / statistics.median(times[c]),
                         "build_s": built[c][2],
                         "cached_bytes": built[c][1].train.dataset.pairs.cached_bytes}
                     for c in caches},
    }
    print(f"\n{pairs} training pairs, img_size {cfg.data.img_size}, mode {cfg.train.mode}, "
          f"one process, one thread\n")
    print("| data.cache | pairs/s | s/epoch | loader built in | cached |")
    print("|---|---|---|---|---|")
    for c, s in result["settings"].items():
        print(f"| {c} | {s['pairs_per_s']:.1f} | {s['median_epoch_s']:.2f} | {s['build_s']:.2f} s "
              f"| {s['cached_bytes'] / 1e6:.0f} MB |")
    if "none" in times and len(caches) > 1:
        for c in caches:
            if c != "none":
                ratio = result["settings"]["none"]["median_epoch_s"] / result["settings"][c][
                    "median_epoch_s"]
                result["settings"][c]["speedup"] = ratio
                print(f"\n{c}: {ratio:.2f}x the pairs/s of reading the files")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
