"""`tardal demo [--out DIR] [--quick] [--num N] [--epochs E] [--panels K] [--data DIR]
[--modes ct,ir,vis] [--jobs J] [--precision P] [key=value ...]`: the main job.

Generates a small synthetic benchmark, trains ``ct`` (fusion trained for detection) and the
references ``ir`` and ``vis`` on the CPU, scores all three on the same test split, prints the
comparison and writes demo panels (infrared | visible | fused, with each detector's boxes).
Several minutes on two CPU cores; ``--quick`` is a tiny smoke run (seconds). With two or more
cores the runs train side by side in worker processes (``ct`` beside ``ir`` then ``vis``; one
thread each on two cores), ``--jobs 1`` trains them one after the other. ``--precision bf16``
trains the detectors in bf16 autocast on the CPU too (``train.cpu_amp``; G stays fp32): on a
CPU that computes bf16 natively (AVX512-BF16 or AMX) the demo took 403 s against 466 s (see
:func:`tardal.demo.precision_settings`).

``--data DIR`` runs the same comparison on any data set in the canonical layout (made by
``tardal data import``; it needs train, val and test splits) instead of the synthetic one;
``--modes`` picks the runs among ct, tt, frontend (a detector on the fixed mean fusion), early
(visible and infrared stacked as four channels), ir and vis. ``key=value`` overrides (as for
``tardal train``) change every run's config, e.g. ``train.epochs=30 data.img_size=320``.

Output (``--out``, default ``runs/demo``)::

    data/                         the generated data set (reused when present)
    train/{ct,ir,vis}/            run folders (results.csv, results.png, weights/best.pt, ...)
    comparison.md, comparison.json
    panels/<stem>_<condition>.png
    report.html                   everything above in one self-contained page
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="train ct, ir and vis on a synthetic set and compare them (CPU, minutes)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--quick", action="store_true", help="tiny images, one epoch (a smoke test)")
    p.add_argument("--num", type=int, default=None, help="synthetic scenes to generate")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run")
    p.add_argument("--panels", type=int, default=8, help="test scenes to draw")
    p.add_argument("--data", default=None,
                   help="data set in the canonical layout instead of the synthetic one")
    p.add_argument("--modes", default="ct,ir,vis",
                   help="comma-separated runs among ct,tt,frontend,early,ir,vis (default ct,ir,vis)")
    p.add_argument("--jobs", type=int, default=0,
                   help="runs trained at once in worker processes (default 0: one per CPU core "
                        "up to the number of runs; 1: one after the other in this process)")
    p.add_argument("--precision", default="config", choices=("config", "fp32", "bf16"),
                   help="config (default): the shipped config's, bf16 autocast on CUDA and fp32 "
                        "on the CPU; bf16: on the CPU too (faster where the CPU computes bf16 "
                        "natively)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides for every run, as for 'tardal train' "
                        "(e.g. train.epochs=20 data.img_size=320)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tardal.errors import ConfigError

    for flag in ("num", "epochs"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ConfigError(f"--{flag} must be at least 1, found {value}")
    if args.panels < 0:
        raise ConfigError(f"--panels must be at least 0, found {args.panels}")
    from pathlib import Path

    from tardal.errors import DataError

    if args.data is not None and not (Path(args.data) / "data.yaml").is_file():
        raise DataError(f"--data {args.data}: expected a data set in the canonical layout "
                        "(a folder with data.yaml, made by 'tardal data import'), found "
                        + ("no data.yaml in it" if Path(args.data).is_dir() else "no folder"))
    from tardal.demo import check_modes, run_demo  # after the checks: bad flags reported at once

    modes = check_modes(args.modes.split(","))
    result = run_demo(args.out, quick=args.quick, num=args.num, epochs=args.epochs,
                      panels=args.panels, progress=not args.no_progress, data=args.data,
                      modes=modes, jobs=args.jobs, precision=args.precision,
                      overrides=args.overrides)
    print()
    print(result.table)
    s = result.seconds
    print("time: " + ", ".join(f"{k} {v:.0f} s" for k, v in s.items()))
    print(f"comparison: {result.out / 'comparison.md'}; report: {result.out / 'report.html'}; "
          f"panels: {result.out / 'panels'} "
          f"({len(result.panels)}); runs: " + ", ".join(str(p) for p in result.runs.values()))
    return 0
