"""Benchmark: onnxruntime (CPU) against PyTorch on the exported graphs of a checkpoint.

Exports WEIGHTS with :func:`tardal.export.export_onnx` into a temporary folder, then times,
on the CPU with the same number of threads:

* the fusion graph G at each ``--sizes`` (``HxW``, batch 1): PyTorch eval + ``no_grad`` against
  onnxruntime, with the max absolute difference of their outputs;
* for detection runs, the detection graph (letterboxed pair -> raw detector output) at the
  run's ``data.img_size``, batch ``--batch``.

Each time is the median over ``--repeats`` runs after ``--warmup`` untimed ones.

    python tools/bench_export.py runs/train/ct/weights/best.pt
    python tools/bench_export.py best.pt --sizes 512x640,768x1024 --threads 2 --out bench.json

Prints a table and writes JSON (default ``runs/bench/export.json``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from tardal import __version__
from tardal.io import atomic_write_text


def median_seconds(fn: Callable[[], object], warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", help="checkpoint from 'tardal train'")
    p.add_argument("--sizes", default="512x640", help="fusion sizes HxW, comma-separated")
    p.add_argument("--batch", type=int, default=1, help="detection batch size")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default="runs/bench/export.json")
    args = p.parse_args()

    import onnxruntime as ort

    from tardal.engine.evaluate import load_run
    from tardal.export import DetectionGraph, export_onnx
    from tardal.fusion import load_fusion

    torch.set_num_threads(args.threads)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1

    def session(path: Path) -> ort.InferenceSession:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        done = export_onnx(args.weights, Path(tmp) / "model.onnx")
        gen = torch.Generator().manual_seed(0)
        if done.fusion is not None:
            net, _ = load_fusion(args.weights)
            sess = session(done.fusion)
            for size in args.sizes.split(","):
                h, w = (int(v) for v in size.lower().split("x"))
                ir = torch.rand(1, 1, h, w, generator=gen)
                vy = torch.rand(1, 1, h, w, generator=gen)
                feed = {"ir": ir.numpy(), "vis_y": vy.numpy()}

                def torch_run() -> np.ndarray:
                    with torch.no_grad():
                        return net(ir, vy).numpy()

                diff = float(np.abs(torch_run() - sess.run(None, feed)[0]).max())
                t_pt = median_seconds(torch_run, args.warmup, args.repeats)
                t_ort = median_seconds(lambda: sess.run(None, feed), args.warmup, args.repeats)
                rows.append({"graph": "fusion", "shape": f"1x1x{h}x{w}", "torch_ms": t_pt * 1e3,
                             "onnxruntime_ms": t_ort * 1e3, "speedup": t_pt / t_ort,
                             "max_abs_diff": diff})
        if done.detection is not None:
            run = load_run(args.weights, device="cpu")
            graph = DetectionGraph(run).eval()
            s, b = run.cfg.data.img_size, args.batch
            ir = torch.rand(b, 1, s, s, generator=gen)
            vis = torch.rand(b, 3, s, s, generator=gen)
            feed = {"ir": ir.numpy(), "vis": vis.numpy()}
            sess = session(done.detection)

            def torch_det() -> np.ndarray:
                with torch.no_grad():
                    return graph(ir, vis).numpy()

            diff = float(np.abs(torch_det() - sess.run(None, feed)[0]).max())
            t_pt = median_seconds(torch_det, args.warmup, args.repeats)
            t_ort = median_seconds(lambda: sess.run(None, feed), args.warmup, args.repeats)
            rows.append({"graph": f"detection ({done.mode})", "shape": f"{b}x(1+3)x{s}x{s}",
                         "torch_ms": t_pt * 1e3, "onnxruntime_ms": t_ort * 1e3,
                         "speedup": t_pt / t_ort, "max_abs_diff": diff})

    print(f"{'graph':<18} {'input':<16} {'torch ms':>9} {'ort ms':>9} {'speedup':>8} "
          f"{'max diff':>9}")
    for r in rows:
        print(f"{r['graph']:<18} {r['shape']:<16} {r['torch_ms']:9.1f} "
              f"{r['onnxruntime_ms']:9.1f} {r['speedup']:8.2f} {r['max_abs_diff']:9.2e}")
    report = {"weights": str(args.weights), "threads": args.threads, "repeats": args.repeats,
              "torch": torch.__version__, "onnxruntime": ort.__version__,
              "tardal": __version__, "cpu": platform.processor() or platform.machine(),
              "rows": rows}
    out = Path(args.out)
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
