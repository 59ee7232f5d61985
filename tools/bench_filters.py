"""Benchmark: tardal's SSIM and Sobel filters against kornia's (forward + backward, CPU).

Why kornia is a test oracle only and not a runtime dependency::

    python tools/bench_filters.py                 # 8x1x256x256, 1 thread, median of 7

Prints and writes ``runs/bench/filters.json``: seconds per call of each, their ratio, and the
largest difference of the SSIM values. Needs kornia (the ``dev`` extra).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def _timed(fn, x: torch.Tensor, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        a = x.clone().requires_grad_(True)
        t0 = time.perf_counter()
        fn(a).mean().backward()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", default="8x1x256x256")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--out", default=str(REPO / "runs" / "bench" / "filters.json"))
    args = p.parse_args(argv)
    import kornia

    from tardal.evaluation import write_json
    from tardal.losses.gradient import sobel_magnitude
    from tardal.losses.ssim import ssim

    torch.set_num_threads(args.threads)
    shape = tuple(int(v) for v in args.shape.split("x"))
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(shape, generator=g), torch.rand(shape, generator=g)
    pairs = {
        "ssim": (lambda a: ssim(a, y),
                 lambda a: kornia.metrics.ssim(a, y, 11, padding="valid").flatten(1).mean(1)),
        "sobel": (sobel_magnitude, lambda a: kornia.filters.sobel(a, normalized=False)),
    }
    report = {"shape": args.shape, "threads": args.threads, "repeats": args.repeats,
              "torch": str(torch.__version__), "kornia": kornia.__version__,
              "ssim_max_abs_diff": float((pairs["ssim"][0](x) - pairs["ssim"][1](x)).abs().max())}
    for name, (ours, theirs) in pairs.items():
        t_ours, t_kornia = _timed(ours, x, args.repeats), _timed(theirs, x, args.repeats)
        report[name] = {"tardal_s": t_ours, "kornia_s": t_kornia, "speedup": t_kornia / t_ours}
        print(f"{name}: tardal {t_ours * 1e3:.1f} ms, kornia {t_kornia * 1e3:.1f} ms "
              f"({t_kornia / t_ours:.1f}x)")
    print(f"SSIM max |tardal - kornia| = {report['ssim_max_abs_diff']:.2e}")
    write_json(Path(args.out), report)
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
