"""Benchmark the synthetic data generator on one CPU core.

Times ``tardal.data.synth.generate`` writing N pairs (default 1,000 at 320x256, PNG files
included) into a temporary folder, ``--repeat`` times, with OpenCV, torch and the BLAS pools
held to one thread. Prints the times and writes JSON with the median.

    python tools/bench_synth.py                       # 1000 pairs, 3 repeats
    python tools/bench_synth.py --num 200 --repeat 5 --json runs/bench/synth-small.json
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy is imported

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=1000, help="pairs per run (default 1000)")
    ap.add_argument("--size", default="320x256", help="WxH (default 320x256)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs (default 3); the median is reported")
    ap.add_argument("--json", default="runs/bench/synth.json", help="where to write the result")
    args = ap.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        ap.error(f"--size must look like 320x256, found {args.size!r}")
    if args.repeat < 1 or args.num < 1:
        ap.error("--num and --repeat must be >= 1")

    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # the generator itself does not need torch
        pass
    from tardal.data.synth import generate, render_scene

    render_scene(np.random.default_rng(0), width, height)  # build the texture bank outside the timing
    times = []
    with tempfile.TemporaryDirectory(prefix="bench_synth_") as tmp:
        for r in range(args.repeat):
            out = Path(tmp) / f"run{r}"
            t0 = time.perf_counter()
            generate(out, args.num, width=width, height=height, seed=args.seed, progress=False)
            times.append(time.perf_counter() - t0)
            print(f"run {r + 1}/{args.repeat}: {args.num} pairs in {times[-1]:.2f} s "
                  f"({args.num / times[-1]:.1f} pairs/s)", flush=True)
            size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    median = statistics.median(times)
    result = {
        "num": args.num,
        "width": width,
        "height": height,
        "seed": args.seed,
        "repeat": args.repeat,
        "threads": 1,
        "seconds": [round(t, 4) for t in times],
        "median_seconds": round(median, 4),
        "pairs_per_second": round(args.num / median, 2),
        "ms_per_pair": round(1000 * median / args.num, 3),
        "output_mib": round(size_mb, 1),
        "cpu": _cpu_name(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    print(f"median {median:.2f} s for {args.num} pairs at {width}x{height} "
          f"= {result['pairs_per_second']:.1f} pairs/s on one thread")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
