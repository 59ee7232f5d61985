"""Benchmark: fused images per second of the TarDAL generator, against the public code's layout.

The reference (``public``) is the generator as the public TarDAL code runs it: plain
zero-padded 3x3 convolutions with BatchNorm, eager, fp32, ``torch.no_grad``. ``tardal fuse`` is
the path ``tardal fuse`` takes on the device (:func:`tardal.fusion.optimize.inference_path`:
input padded once and valid convolutions, BatchNorm folded; on a CPU exported to onnxruntime in
G's canvas layout (:meth:`~tardal.fusion.generator.TarDALGenerator.canvas`), on CUDA
channels-last bf16), with the same weights (the time to build it is printed). Also
timed: eager fp32 of our layout (``eager``), and other inference paths of it:
``inference_mode``, BatchNorm folded into the convolutions
(:func:`tardal.fusion.optimize.fold_batchnorm`), channels-last memory (the torch path ``tardal
fuse`` takes without onnxruntime), the same in the canvas layout, and a frozen TorchScript
trace of the folded network. Each variant's time is the median over ``--repeats`` timed runs
after ``--warmup`` untimed ones; its output is compared with eager's (max absolute difference).
BatchNorm statistics are randomised (seeded) so folding is exercised on non-trivial values.

    python tools/bench_fuse.py                       # G dim 32, depth 3; 640x512 and 1024x768
    python tools/bench_fuse.py --repeats 3 --threads 2 --out runs/bench/fuse.json

Writes JSON (default ``runs/bench/fuse.json``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from pathlib import Path
from typing import Callable

import torch

from tardal import __version__
from tardal.fusion.generator import TarDALGenerator
from tardal.fusion.optimize import fold_batchnorm, optimize_for_inference
from tardal.io import atomic_write_text

Runner = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_generator(dim: int, depth: int, seed: int = 0) -> TarDALGenerator:
    """G with seeded random weights and random BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    net = TarDALGenerator(dim=dim, depth=depth)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return net.eval()


def public_layout(net: TarDALGenerator) -> TarDALGenerator:
    """The same weights in the public code's layout: every convolution zero-padded."""
    pub = TarDALGenerator(dim=net.dim, depth=net.depth, output=net.output, padding="zeros")
    pub.load_state_dict(net.state_dict())
    return pub.eval()


def variants(net: TarDALGenerator, compile_: bool = False,
             device: torch.device = torch.device("cpu")) -> dict[str, Runner]:
    """The inference paths to time, each a callable (ir, vis_y) -> fused.

    ``compile_`` adds ``torch.compile`` (Inductor, weights frozen) of the folded channels-last
    network: often the fastest steady state, but it needs a C++ compiler and tens of seconds
    of compilation per input size, so ``tardal fuse`` does not use it.
    """
    from tardal.fusion.optimize import inference_path

    folded = fold_batchnorm(net)
    folded_cl = optimize_for_inference(net, channels_last=True)
    public = public_layout(net)
    t0 = time.perf_counter()
    path = inference_path(net, device)
    print(f"(tardal fuse's path: {type(path).__name__}, built in {time.perf_counter() - t0:.2f} s)")

    def public_eager(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return public(ir, vis)

    def tardal_fuse(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return path(ir, vis)

    def eager(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return net(ir, vis)

    def inference(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return net(ir, vis)

    def fold(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return folded(ir, vis)

    def fold_cl(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            cl = torch.channels_last
            return folded_cl(ir.contiguous(memory_format=cl), vis.contiguous(memory_format=cl))

    def fold_cl_canvas(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            cl = torch.channels_last
            return canvas_cl(ir.contiguous(memory_format=cl), vis.contiguous(memory_format=cl))

    out: dict[str, Runner] = {"public": public_eager, "tardal fuse": tardal_fuse,
                              "eager": eager, "inference_mode": inference, "folded": fold,
                              "folded+channels_last": fold_cl}
    if net.padding == "input":  # the canvas layout (TarDALGenerator.canvas), same outputs
        canvas_cl = folded_cl.canvas()
        out["folded+channels_last+canvas"] = fold_cl_canvas
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            example = (torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64))
            with torch.no_grad():
                scripted = torch.jit.freeze(torch.jit.trace(folded, example).eval())

        def jit(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return scripted(ir, vis)

        out["folded+jit"] = jit
    except Exception as exc:  # noqa: BLE001 - TorchScript is optional; report and go on
        print(f"(skipping TorchScript: {type(exc).__name__}: {exc})")
    if compile_:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        compiled = torch.compile(folded_cl, dynamic=False)

        def comp(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                cl = torch.channels_last
                return compiled(ir.contiguous(memory_format=cl), vis.contiguous(memory_format=cl))

        out["folded+channels_last+compile"] = comp
    return out


def time_interleaved(runners: dict[str, Runner], ir: torch.Tensor, vis: torch.Tensor,
                     repeats: int, warmup: int) -> dict[str, tuple[list[float], torch.Tensor]]:
    """Time every runner ``repeats`` times, round-robin with a rotating order, so that load
    from other processes on a shared machine falls on all variants alike."""
    outs: dict[str, torch.Tensor] = {}
    for name, fn in runners.items():
        for _ in range(warmup):
            outs[name] = fn(ir, vis)
    times: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            outs[name] = runners[name](ir, vis)
            if ir.is_cuda:
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t0)
    return {name: (times[name], outs[name]) for name in names}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", default=["640x512", "1024x768"], help="WxH")
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (slow start)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--batch", type=int, default=1, help="images per call")
    p.add_argument("--out", default="runs/bench/fuse.json")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    net = make_generator(args.dim, args.depth).to(device)
    runners = variants(net, args.compile, device)
    report: dict = {
        "what": f"TarDAL generator, fused images per second, {device.type}, batch {args.batch}",
        "device": str(device), "batch": args.batch,
        "tardal": __version__, "torch": torch.__version__, "machine": platform.machine(),
        "processor": platform.processor(), "threads": torch.get_num_threads(),
        "model": {"dim": args.dim, "depth": args.depth,
                  "params": sum(p.numel() for p in net.parameters())},
        "repeats": args.repeats, "warmup": args.warmup, "sizes": {},
    }
    for size in args.sizes:
        w, h = (int(v) for v in size.lower().split("x"))
        g = torch.Generator().manual_seed(1)
        b = args.batch
        ir = torch.rand(b, 1, h, w, generator=g).to(device)
        vis = torch.rand(b, 1, h, w, generator=g).to(device)
        entry: dict = {"variants": {}}
        timed = time_interleaved(runners, ir, vis, args.repeats, args.warmup)
        ref = timed["eager"][1]
        for name, (times, out) in timed.items():
            med = statistics.median(times)
            diff = float((out.float() - ref.float()).abs().max())
            entry["variants"][name] = {"median_s": med, "images_per_s": b / med,
                                       "times_s": times, "max_abs_diff_vs_eager": diff}
            print(f"{size:>9}  {name:<28} median {med * 1000:8.1f} ms  {b / med:8.2f} img/s  "
                  f"max|diff| {diff:.2e}")
        eager = entry["variants"]["eager"]["median_s"]
        fastest = min((k for k in entry["variants"] if k != "eager"),
                      key=lambda k: entry["variants"][k]["median_s"])
        entry["fastest"] = fastest
        entry["speedup_fastest_vs_eager"] = eager / entry["variants"][fastest]["median_s"]
        print(f"{size:>9}  fastest: {fastest}, {entry['speedup_fastest_vs_eager']:.2f}x eager")
        entry["speedup_tardal_fuse_vs_public"] = (entry["variants"]["public"]["median_s"]
                                                  / entry["variants"]["tardal fuse"]["median_s"])
        print(f"{size:>9}  tardal fuse: {entry['speedup_tardal_fuse_vs_public']:.2f}x the public "
              "layout (zero-padded, eager fp32)")
        report["sizes"][size] = entry
    out = Path(args.out)
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
