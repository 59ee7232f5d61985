"""Benchmark: the published fusion methods side by side, each trained with its shipped config.

Three parts, each writing ``runs/bench/baselines_<part>.json`` and ``.md`` and printing the
Markdown tables:

``fusion``: every infrared-visible method (DenseFuse, FusionGAN, PMGI, UFGAN, U2Fusion) is
trained with ``configs/<method>.yaml`` on the shared RoadScene pairs (never on TNO), fuses the
4 TNO pairs of ``../shared/data/tang-conformance`` (``tardal fuse --grey``) and is scored with
the nine MATLAB-suite metrics (``tardal metrics``' tang convention) next to the classical
methods, tardal's release G and the published outputs in that folder. Our DenseFuse, FusionGAN,
PMGI and U2Fusion are compared with the published output of the same name (relative deviation
per metric, within 15 % counted), and every method gets its rank among itself and the nine
published methods::

    python tools/bench_baselines.py fusion                     # ~30 min on 2 CPU cores
    python tools/bench_baselines.py fusion --methods densefuse,pmgi --reuse
    python tools/bench_baselines.py fusion --methods none   # the release G and classical only

``detect``: on the synthetic benchmark at the shipped budget (``configs/synth-ct.yaml``), each
method's RoadScene-trained network (from the ``fusion`` part, trained here if missing) as a
frozen front-end (``train.mode=frontend``) under the same YOLO detector, plus ``early``, ``ir``,
``vis`` and ``ct``; AP50 / AP50:95 on the test split and per synthetic condition::

    python tools/bench_baselines.py detect

``multifocus``: MFF-GAN, MFIF-GAN and FuseGAN (trained with their configs on synthetic defocus
pairs of RoadScene's visible images) and the classical methods fuse the colour pairs of
``../shared/data/lytro`` (``tardal fuse --multifocus``); Qabf, MI, VIF, SF and AG::

    python tools/bench_baselines.py multifocus

``--reuse`` keeps a method's trained weights (and its recorded training time) when its run
folder already has them; ``key=value`` arguments are config overrides for every training run.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(Path(__file__).resolve().parent))

IRVIS = ("densefuse", "fusiongan", "pmgi", "ufgan", "u2fusion")
MULTIFOCUS = ("mffgan", "mfifgan", "fusegan")
CLASSICAL = ("mean", "max", "laplacian")
# Our methods that appear among the published outputs of tang-conformance, by folder name.
PUBLISHED_AS = {"densefuse": "DenseFuse", "fusiongan": "FusionGAN", "pmgi": "PMGI",
                "u2fusion": "U2Fusion"}
FUSION_METRICS = ("EN", "MI", "SCD", "VIF", "Qabf", "AG", "CC", "PSNR", "MSE")
MULTIFOCUS_METRICS = ("Qabf", "MI", "VIF", "SF", "AG")
DETECT_REFERENCES = ("early", "ir", "vis", "ct")
TOLERANCE = 0.15
RELEASE = REPO / "tardal" / "weights" / "tardal-release.pt"

log = logging.getLogger("bench_baselines")


def _environment(threads: int) -> dict[str, Any]:
    from tardal import __version__

    return {"tardal": __version__, "torch": str(torch.__version__), "python": platform.python_version(),
            "machine": platform.machine(), "processor": platform.processor(),
            "threads": threads, "load_average": list(os.getloadavg())}


def _tardal(*argv: str) -> None:
    """Run one ``tardal`` command in this process; a non-zero exit stops the benchmark."""
    from tardal.cli import main

    rc = main(list(argv))
    if rc != 0:
        raise SystemExit(f"tardal {' '.join(argv)}: exit {rc}")


def _load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _write(out: Path, data: dict[str, Any], markdown: str) -> None:
    from tardal.io import atomic_write_text

    data["environment"]["load_average_end"] = list(os.getloadavg())
    atomic_write_text(out.with_suffix(".json"), json.dumps(data, indent=2) + "\n")
    atomic_write_text(out.with_suffix(".md"), markdown)
    print(markdown)
    print(f"written {out.with_suffix('.json')} and {out.with_suffix('.md')}")


# --------------------------------------------------------------------------------- training


def ensure_roadscene(src: Path, root: Path) -> Path:
    """The shared RoadScene pairs in the canonical layout at ``root`` (imported once)."""
    if not (root / "data.yaml").is_file():
        _tardal("data", "import", "pairs", str(src), "--out", str(root))
    return root


def train_method(method: str, args: argparse.Namespace, previous: dict[str, Any]) -> dict[str, Any]:
    """Train ``method`` with ``configs/<method>.yaml`` on RoadScene; its weights and time.

    With ``--reuse`` and the recorded weights still on disk, the recorded entry is kept.
    """
    from tardal.config import load_config
    from tardal.engine import train

    weights = previous.get("weights")
    if args.reuse and weights and Path(weights).is_file():
        log.info("%s: reusing %s", method, weights)
        return previous
    cfg = load_config(REPO / "configs" / f"{method}.yaml",
                      [f"data.root={args.roadscene}", f"project={args.project}", f"name={method}",
                       *args.overrides])
    log.info("=== training %s (%d epochs, %d px, batch %d) ===", method, cfg.train.epochs,
             cfg.data.img_size, cfg.data.batch_size)
    t0 = time.perf_counter()
    result = train(cfg, progress=False)
    return {"weights": str(result.best), "train_s": round(time.perf_counter() - t0, 1),
            "epochs": result.state.epoch, "steps": result.state.step,
            "img_size": cfg.data.img_size, "batch_size": cfg.data.batch_size}


def trained(methods: tuple[str, ...] | list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Train (or reuse) every method; the training records are kept in ``training.json``."""
    record_path = Path(args.project) / "training.json"
    records = _load_json(record_path)
    for m in methods:
        records[m] = train_method(m, args, records.get(m, {}))
        from tardal.io import atomic_write_text

        atomic_write_text(record_path, json.dumps(records, indent=2) + "\n")
    return {m: records[m] for m in methods}


# ---------------------------------------------------------------------------------- scoring


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}" if abs(x) < 1000 else f"{x:.0f}"


def ranks(means: dict[str, dict[str, float]], method: str, published: list[str],
          metrics: tuple[str, ...]) -> dict[str, int]:
    """Rank (1 = best) of ``method`` among itself and the ``published`` methods, per metric."""
    from tardal.metrics.conventions import TANG_METRICS

    out = {}
    for metric in metrics:
        higher = TANG_METRICS.get(metric).higher_is_better
        mine = means[method][metric]
        better = sum(1 for p in published
                     if (means[p][metric] > mine if higher else means[p][metric] < mine))
        out[metric] = better + 1
    return out


def score_folders(fused: dict[str, Path], ir: Path, vi: Path,
                  metrics: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Mean of each metric per method (``tardal metrics``' tang convention)."""
    from tardal.metrics.folders import evaluate_folders

    results = evaluate_folders(list(fused.values()), ir, vi, convention="tang",
                               metrics=list(metrics), progress=False)
    summary = results.summary()
    return {name: {k: summary[folder_name][k]["mean"] for k in metrics}
            for name, folder_name in zip(fused, results.methods)}


def run_fusion(args: argparse.Namespace) -> None:
    tang = Path(args.tang)
    environment = _environment(args.threads)  # the load before the work
    methods = ([] if args.methods == "none" else
               args.methods.split(",") if args.methods else list(IRVIS))
    ensure_roadscene(Path(args.roadscene_src), Path(args.roadscene))
    records = trained(methods, args)
    out_root = Path(args.project) / "fused-tno"
    fused: dict[str, Path] = {}
    for m in methods:
        _tardal("fuse", records[m]["weights"], "--ir", str(tang / "ir"), "--vi", str(tang / "vi"),
                "--out", str(out_root / m), "--grey", "--ext", "png")
        fused[m] = out_root / m
    release = Path(args.release)
    if release.is_file():
        _tardal("fuse", str(release), "--ir", str(tang / "ir"), "--vi", str(tang / "vi"),
                "--out", str(out_root / "tardal-release"), "--grey", "--ext", "png")
        fused["tardal (release G)"] = out_root / "tardal-release"
        prov = torch.load(release, weights_only=True).get("provenance", {})
        records = {**records, "tardal (release G)": {"weights": str(release),
                                                     "train_s": prov.get("train_s"),
                                                     "steps": prov.get("steps")}}
    else:
        log.warning("no release G at %s: tardal's row is left out", release)
    for m in CLASSICAL:
        _tardal("fuse", "--method", m, "--ir", str(tang / "ir"), "--vi", str(tang / "vi"),
                "--out", str(out_root / m), "--grey", "--ext", "png")
        fused[m] = out_root / m
    published = sorted(p.name for p in (tang / "fused").iterdir() if p.is_dir())
    for p in published:
        fused[f"{p} (published)"] = tang / "fused" / p
    means = score_folders(fused, tang / "ir", tang / "vi", FUSION_METRICS)
    pub_names = [f"{p} (published)" for p in published]
    ours = [n for n in fused if n not in pub_names]
    data: dict[str, Any] = {
        "part": "fusion", "train_data": str(args.roadscene_src), "test_data": str(tang / "ir"),
        "metrics": list(FUSION_METRICS), "overrides": args.overrides,
        "environment": environment, "training": records, "means": means,
        "ranks": {}, "against_published": {},
    }
    for n in ours:
        r = ranks(means, n, pub_names, FUSION_METRICS)
        data["ranks"][n] = {"per_metric": r, "mean": sum(r.values()) / len(r)}
    for m, pub in PUBLISHED_AS.items():
        if m not in means or f"{pub} (published)" not in means:
            continue
        rel = {k: (means[m][k] - means[f"{pub} (published)"][k]) / abs(means[f"{pub} (published)"][k])
               for k in FUSION_METRICS}
        data["against_published"][m] = {
            "published": pub, "relative": rel,
            "within": sum(1 for v in rel.values() if abs(v) <= TOLERANCE),
        }
    _write(Path(args.out_dir) / "baselines_fusion", data, fusion_markdown(data, ours, pub_names))


def fusion_markdown(data: dict[str, Any], ours: list[str], published: list[str]) -> str:
    means, training = data["means"], data["training"]
    head = "| method | " + " | ".join(FUSION_METRICS) + " | mean rank | train s |"
    lines = ["## Fusion quality on the 4 TNO pairs of tang-conformance (means; trained on "
             "RoadScene)", "", head, "|---" * (len(FUSION_METRICS) + 3) + "|"]
    for n in ours + published:
        rank = data["ranks"].get(n)
        cells = [_fmt(means[n][k]) + (f" ({rank['per_metric'][k]})" if rank else "")
                 for k in FUSION_METRICS]
        t = training.get(n, {}).get("train_s")
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {_fmt(rank['mean'], 1) if rank else ''}"
                     f" | {_fmt(t, 0) if t is not None else ''} |")
    lines += ["", "Rank in brackets: among the method and the nine published outputs (1 = best; "
              "MSE lower is better).", ""]
    if data["against_published"]:
        lines += [f"## Our versions against the published outputs (relative deviation; within "
                  f"{TOLERANCE:.0%} marked *)", "",
                  "| ours | published | " + " | ".join(FUSION_METRICS) + " | within |",
                  "|---" * (len(FUSION_METRICS) + 3) + "|"]
        for m, e in data["against_published"].items():
            cells = [f"{v:+.1%}" + ("*" if abs(v) <= TOLERANCE else "")
                     for v in e["relative"].values()]
            lines.append(f"| {m} | {e['published']} | " + " | ".join(cells)
                         + f" | {e['within']}/{len(FUSION_METRICS)} |")
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- detection


def run_detect(args: argparse.Namespace) -> None:
    from bench_detect import train_and_score

    methods = ([] if args.methods == "none" else args.methods.split(",")) if args.methods \
        else [*IRVIS, "mean"]
    learned = [m for m in methods if m not in CLASSICAL]
    if learned:
        ensure_roadscene(Path(args.roadscene_src), Path(args.roadscene))
    records = trained(learned, args) if learned else {}
    out = Path(args.out_dir) / "baselines_detect"
    data = _load_json(out.with_suffix(".json")) if args.reuse else {}
    data.update({"part": "detect", "config": str(args.detect_config),
                 "overrides": args.detect_overrides, "environment": _environment(args.threads),
                 "fusion_training": records})
    data.setdefault("runs", {})
    project = Path(args.project) / "detect"
    runs: list[tuple[str, list[str]]] = []
    for m in methods:
        front = (f"fusion.name={m}" if m in CLASSICAL
                 else f"fusion.weights={records[m]['weights']}")
        runs.append((f"frontend-{m}", ["train.mode=frontend", front]))
    runs += [(mode, [f"train.mode={mode}"]) for mode in args.references.split(",") if mode]
    for name, extra in runs:
        if name in data["runs"]:
            log.info("%s: already in %s, kept", name, out.with_suffix(".json"))
            continue
        log.info("=== %s ===", name)
        data["runs"][name] = train_and_score(
            Path(args.detect_config),
            [*args.detect_overrides, *extra, f"project={project}", f"name={name}"], "test")
        for m in methods:
            if name == f"frontend-{m}" and m in records:
                data["runs"][name]["fusion_train_s"] = records[m]["train_s"]
        _write(out, data, detect_markdown(data))


def detect_markdown(data: dict[str, Any]) -> str:
    from bench_detect import _table

    return ("## Detection on the synthetic benchmark (test split; same YOLO detector, data and "
            "budget; frozen front-ends trained on RoadScene)\n\n" + _table(data["runs"])
            + "\n`train s`: the detector run; the front-end's own training time is "
            "`fusion_train_s` in the JSON and in the fusion table.\n")


# ------------------------------------------------------------------------------ multi-focus


def lytro_pairs(src: Path, root: Path) -> tuple[Path, Path]:
    """Lytro's ``NAME_A.jpg`` / ``NAME_B.jpg`` as two folders ``near/NAME.jpg``, ``far/NAME.jpg``
    (symbolic links), the layout ``tardal fuse`` pairs by stem."""
    near, far = root / "near", root / "far"
    for folder, tag in ((near, "_A"), (far, "_B")):
        folder.mkdir(parents=True, exist_ok=True)
        for f in sorted(src.glob(f"*{tag}.*")):
            link = folder / (f.stem[: -len(tag)] + f.suffix)
            if not link.exists():
                link.symlink_to(f.resolve())
    if not any(near.iterdir()):
        raise SystemExit(f"no *_A / *_B images in {src}")
    return near, far


def run_multifocus(args: argparse.Namespace) -> None:
    methods = args.methods.split(",") if args.methods else list(MULTIFOCUS)
    environment = _environment(args.threads)
    ensure_roadscene(Path(args.roadscene_src), Path(args.roadscene))
    records = trained(methods, args)
    near, far = lytro_pairs(Path(args.lytro), Path(args.project) / "lytro")
    out_root = Path(args.project) / "fused-lytro"
    fused: dict[str, Path] = {}
    for m in methods:
        _tardal("fuse", records[m]["weights"], "--multifocus", "--ir", str(near), "--vi",
                str(far), "--out", str(out_root / m), "--ext", "png")
        fused[m] = out_root / m
    for m in CLASSICAL:
        _tardal("fuse", "--method", m, "--multifocus", "--ir", str(near), "--vi", str(far),
                "--out", str(out_root / m), "--ext", "png")
        fused[m] = out_root / m
    means = score_folders(fused, near, far, MULTIFOCUS_METRICS)
    data = {"part": "multifocus", "data": str(args.lytro), "pairs": len(list(near.iterdir())),
            "metrics": list(MULTIFOCUS_METRICS), "overrides": args.overrides,
            "environment": environment, "training": records, "means": means}
    lines = [f"## Multi-focus fusion on Lytro ({data['pairs']} colour pairs; means; metrics on "
             "the grey of the colour images)", "",
             "| method | " + " | ".join(MULTIFOCUS_METRICS) + " | train s |",
             "|---" * (len(MULTIFOCUS_METRICS) + 2) + "|"]
    for n, vals in means.items():
        t = records.get(n, {}).get("train_s")
        lines.append(f"| {n} | " + " | ".join(_fmt(vals[k]) for k in MULTIFOCUS_METRICS)
                     + f" | {_fmt(t, 0) if t is not None else ''} |")
    _write(Path(args.out_dir) / "baselines_multifocus", data, "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", choices=("fusion", "detect", "multifocus"))
    p.add_argument("overrides", nargs="*", help="config overrides key=value for every fusion "
                                                "method's training run")
    p.add_argument("--methods", default=None,
                   help="comma-separated fusion methods (none: no trained baseline; fusion: the "
                        "release G, the classical and the published methods only)")
    p.add_argument("--reuse", action="store_true",
                   help="keep trained weights and finished detection runs found in the outputs")
    p.add_argument("--project", default=str(REPO / "runs" / "bench" / "baselines"))
    p.add_argument("--out-dir", default=str(REPO / "runs" / "bench"))
    p.add_argument("--roadscene-src", default=str(SHARED / "roadscene"))
    p.add_argument("--roadscene", default=str(REPO / "runs" / "data" / "roadscene"))
    p.add_argument("--tang", default=str(SHARED / "tang-conformance"))
    p.add_argument("--lytro", default=str(SHARED / "lytro"))
    p.add_argument("--release", default=str(RELEASE), help="fusion: tardal's release G")
    p.add_argument("--detect-config", default=str(REPO / "configs" / "synth-ct.yaml"))
    p.add_argument("--detect-overrides", default="",
                   help="detect: comma-separated overrides for every detection run")
    p.add_argument("--references", default=",".join(DETECT_REFERENCES),
                   help="detect: reference modes trained beside the front-ends")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_intermixed_args(argv)
    args.detect_overrides = [o for o in args.detect_overrides.split(",") if o]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(REPO / "runs" / ".ultralytics"))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    {"fusion": run_fusion, "detect": run_detect, "multifocus": run_multifocus}[args.part](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
