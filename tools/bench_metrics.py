"""Benchmark: seconds per (fused, ir, vis) triple for the fusion metrics, on one CPU thread.

Times every metric of a convention on its own and all of them in one ``evaluate`` call, at
each size, as the median over ``--repeats`` timed runs after one untimed warm-up run. The
images are synthetic but image-like (smooth structure, edges, sensor noise; seeded), or a real
pair with ``--ir``/``--vi`` (resized to each size; the fused image is their average).

    python tools/bench_metrics.py                            # 640x480 and 1024x768, tang
    python tools/bench_metrics.py --repeats 9 --convention vifb --out runs/bench/metrics-vifb.json

Writes JSON (default ``runs/bench/metrics.json``) and prints a table in milliseconds.
"""

from __future__ import annotations

import os

# One thread for every numeric library, before any of them is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from tardal import __version__  # noqa: E402
from tardal.io import atomic_write_text  # noqa: E402
from tardal.metrics import evaluate, metric_names  # noqa: E402
from tardal.metrics.folders import read_image  # noqa: E402


def synthetic_triple(width: int, height: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fused grey, ir grey, vis RGB) uint8 images with smooth regions, edges and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    blobs = cv2.GaussianBlur(rng.normal(0, 1, (height, width)), (0, 0), sigmaX=width / 40)
    ir = 90 + 400 * blobs + 40 * (((x // (width / 8)) + (y // (height / 6))) % 2)
    ir = np.clip(ir + rng.normal(0, 3, ir.shape), 0, 255)
    base = 60 + 120 * (x / width) + 30 * np.sin(y / 17.0)
    vis = np.stack([base + 20, base, base - 20], axis=-1) + rng.normal(0, 4, (height, width, 3))
    vis[height // 3 : height // 2, width // 4 : width // 2] += 60
    vis = np.clip(vis, 0, 255)
    fused = np.clip(0.5 * ir + 0.5 * vis.mean(axis=2) + rng.normal(0, 2, ir.shape), 0, 255)
    return fused.astype(np.uint8), ir.astype(np.uint8), vis.astype(np.uint8)


def real_triple(ir_path: Path, vi_path: Path, width: int, height: int) -> tuple[np.ndarray, ...]:
    """A real pair resized to width x height, fused by averaging (grey)."""
    ir = cv2.resize(read_image(ir_path), (width, height), interpolation=cv2.INTER_AREA)
    vis = cv2.resize(read_image(vi_path), (width, height), interpolation=cv2.INTER_AREA)
    ir_g = ir if ir.ndim == 2 else ir.mean(axis=2)
    vis_g = vis if vis.ndim == 2 else vis.mean(axis=2)
    fused = np.clip(np.rint((ir_g.astype(np.float64) + vis_g) / 2), 0, 255).astype(np.uint8)
    return fused, ir, vis


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, first-call costs)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(
    sizes: list[tuple[int, int]], convention: str, repeats: int, ir: Path | None, vi: Path | None
) -> dict:
    names = metric_names(convention)
    results: dict[str, dict] = {}
    for w, h in sizes:
        f, a, b = real_triple(ir, vi, w, h) if ir is not None else synthetic_triple(w, h)
        per_metric = {
            m: median_seconds(lambda m=m: evaluate(f, a, b, convention=convention, metrics=[m]), repeats)
            for m in names
        }
        total = median_seconds(lambda: evaluate(f, a, b, convention=convention), repeats)
        results[f"{w}x{h}"] = {"all_metrics_s": total, "per_metric_s": per_metric}
    return results


def parse_sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        w, _, h = part.strip().lower().partition("x")
        if not (w.isdigit() and h.isdigit()):
            raise SystemExit(f"--sizes: expected WIDTHxHEIGHT[,WIDTHxHEIGHT...], found {part!r}")
        out.append((int(w), int(h)))
    return out


def table(results: dict, names: list[str]) -> str:
    sizes = list(results)
    lines = [
        "| metric | " + " | ".join(f"{s} ms" for s in sizes) + " |",
        "| --- |" + " ---: |" * len(sizes),
    ]
    for m in names:
        cells = [f"{results[s]['per_metric_s'][m] * 1e3:.1f}" for s in sizes]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    cells = [f"**{results[s]['all_metrics_s'] * 1e3:.1f}**" for s in sizes]
    lines.append("| **all (one call)** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="640x480,1024x768", help="WxH,... (default 640x480,1024x768)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median; default 5)")
    p.add_argument("--convention", default="tang", help="tang (default) or vifb")
    p.add_argument("--ir", type=Path, default=None, help="real infrared image (with --vi), not synthetic")
    p.add_argument("--vi", type=Path, default=None, help="real visible image (with --ir)")
    p.add_argument("--out", type=Path, default=Path("runs/bench/metrics.json"), help="JSON output")
    args = p.parse_args(argv)
    if (args.ir is None) != (args.vi is None):
        raise SystemExit("--ir and --vi go together")
    if args.repeats < 1:
        raise SystemExit(f"--repeats must be at least 1, found {args.repeats}")
    cv2.setNumThreads(1)
    sizes = parse_sizes(args.sizes)
    results = bench(sizes, args.convention, args.repeats, args.ir, args.vi)
    doc = {
        "what": "seconds per (fused, ir, vis) triple, median over repeats, one thread",
        "convention": args.convention,
        "repeats": args.repeats,
        "images": f"{args.ir} + {args.vi}" if args.ir else "synthetic (seed 0)",
        "tardal": __version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "results": results,
    }
    atomic_write_text(args.out, json.dumps(doc, indent=1) + "\n")
    print(table(results, metric_names(args.convention)))
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
