"""The main job end to end (``tardal demo``, ``make demo``): fusion trained for detection, against
the single-modality references, on a CPU in a few minutes.

1. Generate the synthetic benchmark (street scenes with day, night, fog and thermal-crossover
   conditions, six classes) at ``OUT/data``, unless it is there already.
2. Train ``ct`` (cooperative fusion + detection) and the references ``ir`` (detector on infrared)
   and ``vis`` (detector on visible), same data, detector and budget, into ``OUT/train/``. The
   settings are those of ``configs/synth-ct.yaml`` (:data:`CONFIG`, read at run time).
3. Score the three ``best.pt`` on the same test split with pycocotools, print the comparison and
   write it to ``OUT/comparison.md`` and ``OUT/comparison.json``.
4. Draw panels ``OUT/panels/<stem>_<condition>.png``: infrared (with the ``ir`` detector's
   boxes) | visible (``vis`` detector) | fused (``ct``'s fused image and detector), with class
   names and scores, one test scene per condition first.

5. Write ``OUT/report.html``: one self-contained page with the comparison, per-class AP
   tables, precision-recall curves, each run's training curves and the panels
   (:mod:`tardal.evaluation.html`).

``quick=True`` runs the same pipeline on a tiny set (64x64 images, one epoch) for tests.
``data=DIR`` runs it on any data set in the canonical layout (``tardal data import``) instead
of the synthetic one (nothing is generated; the set needs a ``test`` split), and ``modes``
picks the runs (default ``ct``, ``ir``, ``vis``; also ``tt``, ``early`` and ``frontend``, the
latter a detector on the fixed ``mean`` fusion). Panels show every chosen run.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tardal.config import Config, load_config

log = logging.getLogger(__name__)

#: The shipped CPU config: the demo trains with its settings (only the paths, run names and
#: mode differ), so ``make demo`` shows what the detection benchmark measures.
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "synth-ct.yaml"
#: The tiny variant for tests.
QUICK_SETTINGS: tuple[str, ...] = (
    "data.synth.width=64", "data.synth.height=64", "data.img_size=64", "fusion.dim=4",
    "fusion.depth=2", "disc.dim=4", "train.bridge_warm=0", "train.d_warm=0",
    "train.warmup_epochs=0",
)
QUICK_NUM, QUICK_EPOCHS = 20, 1
RUNS = ("ct", "ir", "vis")
#: Keys each demo run sets itself (an override of one is refused), with the flag to use instead.
DEMO_KEYS = {"train.mode": "use --modes", "project": "use --out", "name": "use --out",
             "data.root": "use --data", "data.generate": "use --data"}
#: ``--precision`` choices (:func:`precision_settings`)
PRECISIONS = ("config", "fp32", "bf16")
#: Modes the demo can train; ``frontend`` detects on the fixed method of :data:`FRONTEND`.
DEMO_MODES = ("ct", "tt", "frontend", "early", "ir", "vis")
FRONTEND = "mean"
MODE_NOTES = {"ct": "fusion trained for detection", "tt": "fusion trained by the detection loss "
              "only", "frontend": f"the detector on the fixed {FRONTEND!r} fusion",
              "early": "the detector on visible RGB and infrared stacked as four channels",
              "ir": "the same detector on infrared", "vis": "the same detector on visible"}


@dataclass
class DemoResult:
    """What :func:`run_demo` leaves behind."""

    out: Path
    table: str  # Markdown comparison
    results: dict[str, dict[str, Any]]  # evaluate_detections' dict per run
    runs: dict[str, Path]  # run folders
    panels: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def precision_settings(precision: str = "config") -> list[str]:
    """Config overrides for the demo's ``precision``: ``config`` (the shipped config's: bf16
    autocast on CUDA, fp32 on the CPU), ``fp32``, or ``bf16`` (autocast on CUDA and on the CPU,
    ``train.cpu_amp``: the detectors in bf16, G and its critics in fp32, see
    :meth:`tardal.engine.context.Context.autocast`). Measured on two Zen 4 cores (native bf16):
    the demo took 466 s in fp32 and 403 s in bf16, with test AP50 ``ct`` 0.678 / 0.714, ``ir``
    0.646 / 0.586, ``vis`` 0.500 / 0.499 (``ir`` at seeds 0-3: 0.646, 0.530, 0.546, 0.637 in fp32,
    0.586, 0.548, 0.522, 0.623 in bf16). The default keeps the shipped precision, the same on
    every CPU."""
    from tardal.errors import ConfigError

    if precision == "config":
        return []
    if precision in ("fp32", "bf16"):
        on = "true" if precision == "bf16" else "false"
        return [f"train.amp={on}", f"train.cpu_amp={on}"]
    raise ConfigError(f"--precision: expected one of {', '.join(PRECISIONS)}, found {precision!r}")


def demo_config(out: Path, mode: str, *, quick: bool = False, num: int | None = None,
                epochs: int | None = None, data: str | Path | None = None,
                precision: str = "config", overrides: Sequence[str] = ()) -> Config:
    """The config of one demo run (``mode`` one of :data:`DEMO_MODES`) writing under ``out``:
    :data:`CONFIG` with the run's paths and mode (and the tiny settings with ``quick``), on
    the synthetic set at ``out/data`` or on the data set at ``data``, in ``precision``
    (:func:`precision_settings`), with the user's ``overrides`` (``key=value``, as for
    ``tardal train``; not the keys the demo sets per run, :data:`DEMO_KEYS`)."""
    from tardal.errors import ConfigError

    for ov in overrides:
        key = ov.split("=", 1)[0].strip()
        if key in DEMO_KEYS:
            raise ConfigError(f"demo override {ov!r}: the demo sets {key} for each run "
                              f"({DEMO_KEYS[key]})")
    if not CONFIG.is_file():
        raise ConfigError(f"the demo's config {CONFIG} is missing (it ships with the source tree)")
    extra = [*(QUICK_SETTINGS if quick else ()), f"data.synth.num={QUICK_NUM}"] if quick else []
    extra += [f"data.synth.num={num}"] if num is not None else []
    extra += [f"train.epochs={QUICK_EPOCHS}"] if quick and epochs is None else []
    extra += [f"train.epochs={epochs}"] if epochs is not None else []
    extra += [f"fusion.name={FRONTEND}"] if mode == "frontend" else []
    source = (["data.generate=true", f"data.root={out / 'data'}"] if data is None
              else ["data.generate=false", f"data.root={data}"])
    return load_config(CONFIG, [
        *source, *extra, *precision_settings(precision), *overrides, f"train.mode={mode}",
        f"project={out / 'train'}", f"name={mode}", f"train.preview={0 if quick else 4}",
        "train.device=auto",
    ])


def check_modes(modes: Sequence[str]) -> list[str]:
    """The demo's runs, validated: known detection modes, each once, at least one."""
    from tardal.errors import ConfigError
    from tardal.registry import close_matches

    chosen = [m.strip() for m in modes if m.strip()]
    if not chosen:
        raise ConfigError(f"--modes: expected some of {', '.join(DEMO_MODES)}, found none")
    for m in chosen:
        if m not in DEMO_MODES:
            near = close_matches(m, list(DEMO_MODES))
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise ConfigError(f"--modes: unknown mode {m!r}{hint}; expected some of "
                              f"{', '.join(DEMO_MODES)}")
    if len(set(chosen)) != len(chosen):
        raise ConfigError(f"--modes: each mode once, found {','.join(chosen)}")
    return chosen


def _conditions(root: Path) -> dict[str, str]:
    path = root / "meta" / "conditions.tsv"
    if not path.is_file():
        return {}
    pairs = (line.split("\t", 1) for line in path.read_text().splitlines() if "\t" in line)
    return {stem: cond.strip() for stem, cond in pairs}


def pick_scenes(stems: Sequence[str], conditions: dict[str, str], count: int) -> list[int]:
    """Indices of up to ``count`` scenes: the first of each condition, then the rest in order."""
    chosen: list[int] = []
    seen: set[str] = set()
    for i, stem in enumerate(stems):
        cond = conditions.get(stem)
        if cond is not None and cond not in seen:
            seen.add(cond)
            chosen.append(i)
    chosen += [i for i in range(len(stems)) if i not in chosen]
    return chosen[:count]


def _crop(image: np.ndarray, letterbox: Sequence[float], orig_size: Sequence[int]) -> np.ndarray:
    """The letterboxed (H,W,3) image back at the original size (padding cut, resized)."""
    import cv2

    ratio, pad_x, pad_y = (float(v) for v in letterbox)
    h0, w0 = (int(v) for v in orig_size)
    x0, y0 = int(round(pad_x)), int(round(pad_y))
    w, h = max(1, int(round(w0 * ratio))), max(1, int(round(h0 * ratio)))
    part = np.ascontiguousarray(image[y0:y0 + h, x0:x0 + w])
    return cv2.resize(part, (w0, h0), interpolation=cv2.INTER_LINEAR)


def _panel_views(runs: dict[str, Any]) -> list[tuple[str, str]]:
    """(run key or view key, title) of each view: infrared, visible, then every fusing run."""
    views = [("ir", "infrared | ir detector" if "ir" in runs else "infrared"),
             ("vis", "visible | vis detector" if "vis" in runs else "visible")]
    views += [(k, f"fused | {k} detector") for k, r in runs.items()
              if r.mode.has_generator]
    views += [(k, f"visible | {k} detector") for k, r in runs.items()
              if not r.mode.has_generator and k not in ("ir", "vis")]
    return views


def write_panels(runs: dict[str, Any], split: str, out: Path, count: int) -> list[Path]:
    """Panels infrared | visible | fused with each run's boxes (see the module doc): the
    infrared and visible views carry the ``ir`` and ``vis`` runs' boxes when those ran, and
    every run that fuses (``ct``, ``tt``, ``frontend``) adds its fused image and boxes."""
    from tardal.data.dataset import collate_pairs
    from tardal.detect import scale_boxes_back
    from tardal.engine.evaluate import split_dataset
    from tardal.evaluation.plots import draw_detections, hstack, titled
    from tardal.io import write_image
    from tardal.ops.color import recolor

    first = next(iter(runs.values()))
    ds = split_dataset(first.cfg, split, first.names)
    stems = [p.stem for p in ds.pairs]
    conds = _conditions(Path(ds.root))
    conf = first.cfg.detector.plot_conf
    written = []
    for i in pick_scenes(stems, conds, count):
        batch = collate_pairs([ds[i]])
        lb, size = batch["letterbox"][0], batch["orig_size"][0]
        views = []
        for key, title in _panel_views(runs):
            run = runs.get(key)
            if key == "ir":
                shown = batch["ir"].expand(-1, 3, -1, -1)
            elif key == "vis":
                shown = batch["vis"]
            if run is None:
                views.append(titled(_crop(shown[0].permute(1, 2, 0).numpy(), lb, size), title))
                continue
            images, fused, preds = run.predict(batch)
            if fused is not None:
                shown = recolor(fused, batch["vis"].to(fused.device)).clamp(0, 1)
            elif key not in ("ir", "vis"):  # early: the stacked pair; the visible image shown
                shown = batch["vis"]
            img = _crop(shown[0].permute(1, 2, 0).cpu().numpy(), lb, size)
            p = preds[0]
            boxes = scale_boxes_back(p["boxes_xyxy"].cpu(), lb, size)
            keep = p["scores"].cpu() >= conf
            drawn = draw_detections(img, boxes[keep], p["labels"].cpu()[keep], run.names,
                                    p["scores"].cpu()[keep])
            views.append(titled(drawn, title))
        gt = draw_detections(_crop(batch["vis"][0].permute(1, 2, 0).numpy(), lb, size),
                             scale_boxes_back(batch["boxes_xyxy"][0], lb, size),
                             batch["labels"][0], first.names)
        views.append(titled(gt, "ground truth"))
        name = stems[i] + (f"_{conds[stems[i]]}" if stems[i] in conds else "")
        path = out / f"{name}.png"
        write_image(path, hstack(views))
        written.append(path)
    return written


#: Relative cost of a run per epoch on a CPU (tools/bench_train.py at the shipped config: ct
#: about 2.5x ir); concurrent training starts the dearest runs first.
RUN_COST = {"ct": 2.5, "tt": 1.8, "frontend": 1.0, "early": 1.0, "ir": 1.0, "vis": 1.0}


def demo_lanes(runs: int, jobs: int = 0) -> int:
    """How many runs train at once: ``jobs`` when given, else one per CPU core up to the
    number of runs, and one run on a single core. Each run then uses ``cores // lanes`` torch
    threads (measured on two cores at the shipped config: ct, ir, vis trained in 1111 s side by
    side, 19.2 min for the whole demo, against 22.6 min one after the other)."""
    if jobs < 0:
        from tardal.errors import ConfigError

        raise ConfigError(f"--jobs must be at least 0, found {jobs}")
    if jobs:
        return max(1, min(jobs, runs))
    return max(1, min(runs, os.cpu_count() or 1))


def _train_job(out: str, mode: str, threads: int, options: dict[str, Any]) -> tuple[str, float]:
    """One demo run in a worker process: ``(best checkpoint, seconds)``."""
    import torch

    from tardal.engine import train

    logging.basicConfig(level=logging.INFO, format=f"[{mode}] %(message)s", force=True)
    torch.set_num_threads(threads)
    cfg = demo_config(Path(out), mode, **options)
    t = time.perf_counter()
    result = train(cfg, progress=False)
    return str(result.best), time.perf_counter() - t


def train_concurrently(out: Path, modes: Sequence[str], lanes: int, **options: Any
                       ) -> dict[str, tuple[Path, float]]:
    """Train ``modes`` in ``lanes`` worker processes (spawned; ``cores // lanes`` threads each),
    the dearest runs first (:data:`RUN_COST`), so that on two cores ``ct`` trains beside ``ir``
    and then ``vis``. Returns ``{mode: (best checkpoint, seconds)}``; after the first failure
    the runs not yet started are cancelled, and the failure is raised."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    threads = max(1, (os.cpu_count() or 1) // lanes)
    order = sorted(modes, key=lambda m: -RUN_COST.get(m, 1.0))
    log.info("demo: training %s, %d at a time, %d thread(s) each", ", ".join(order), lanes,
             threads)
    with ProcessPoolExecutor(lanes, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(_train_job, str(out), m, threads, options): m for m in order}
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for f in pending:
            f.cancel()
        for f in done:
            if f.exception() is not None:
                raise f.exception()
    results = {futures_mode: f.result() for f, futures_mode in futures.items()}
    return {m: (Path(results[m][0]), results[m][1]) for m in modes}


def run_demo(out: str | Path = "runs/demo", *, quick: bool = False, num: int | None = None,
             epochs: int | None = None, panels: int = 8, progress: bool = True,
             data: str | Path | None = None, modes: Sequence[str] = RUNS,
             jobs: int = 0, precision: str = "config", overrides: Sequence[str] = ()
             ) -> DemoResult:
    """Generate (or use ``data``), train ``modes``, evaluate, compare, draw, report (see the
    module doc). ``jobs``: runs trained at once (0: :func:`demo_lanes` decides);
    ``precision``: see :func:`precision_settings`; ``overrides``: see :func:`demo_config`."""
    from tardal.engine import train
    from tardal.engine.data import ensure_dataset
    from tardal.engine.device import resolve_device
    from tardal.engine.evaluate import evaluate_run, load_run
    from tardal.evaluation import markdown_comparison, write_json
    from tardal.evaluation.html import pr_curves, write_html_report
    from tardal.io import atomic_write_text

    out = Path(out)
    modes = check_modes(modes)
    lanes = demo_lanes(len(modes), jobs)  # (checks jobs before any work)
    options: dict[str, Any] = dict(quick=quick, num=num, epochs=epochs, data=data,
                                   precision=precision, overrides=tuple(overrides))
    first_cfg = demo_config(out, modes[0], **options)  # (checks precision and overrides too)
    if resolve_device(first_cfg.train.device).type == "cpu":
        log.info("demo: training on the CPU in %s (--precision %s)",
                 "fp32, the detectors in bf16 autocast" if first_cfg.train.cpu_amp else "fp32",
                 precision)
    seconds: dict[str, float] = {}
    t_all = time.perf_counter()
    t = time.perf_counter()
    root = ensure_dataset(first_cfg.data)
    seconds["data"] = time.perf_counter() - t
    run_dirs: dict[str, Path] = {}
    loaded: dict[str, Any] = {}
    results: dict[str, dict[str, Any]] = {}
    curves: dict[str, dict[str, Any]] = {}
    split = "test"
    trained: dict[str, tuple[Path, float]] = {}
    if lanes > 1:  # concurrent runs, the dearest first (see train_concurrently)
        trained = train_concurrently(out, modes, lanes, **options)
    for mode in modes:
        if mode not in trained:
            cfg = demo_config(out, mode, **options)
            log.info("demo: training %s (%d epochs)", mode, cfg.train.epochs)
            t = time.perf_counter()
            result = train(cfg, progress=progress)
            trained[mode] = (result.best, time.perf_counter() - t)
        seconds[f"train_{mode}"] = trained[mode][1]
        run_dirs[mode] = trained[mode][0].parents[1]  # <run>/weights/best.pt
        t = time.perf_counter()
        loaded[mode] = load_run(trained[mode][0])
        report = evaluate_run(loaded[mode], split)
        results[mode] = report.results
        curves[mode] = pr_curves(report.predictions, report.ground_truths, loaded[mode].names)
        seconds[f"eval_{mode}"] = time.perf_counter() - t
    first = loaded[modes[0]]
    names = first.names
    table = markdown_comparison(results, names)
    t = time.perf_counter()
    panel_paths = write_panels(loaded, split, out / "panels", panels)
    seconds["panels"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t_all
    r0 = results[modes[0]]
    what = "the synthetic test split" if data is None else f"the test split of {root}"
    if list(modes) == list(RUNS):
        notes = "ct = fusion trained for detection, ir / vis = the same detector on one modality"
    else:
        notes = "; ".join(f"{m} = {MODE_NOTES[m]}" for m in modes)
    header = (f"Detection on {what} ({r0['images']} scenes, {r0['instances']} objects): "
              f"{notes}.\n\n")
    atomic_write_text(out / "comparison.md", header + table)
    write_json(out / "comparison.json", {
        "split": split, "runs": {k: str(v) for k, v in run_dirs.items()},
        "results": results, "seconds": seconds, "quick": quick,
        "epochs": first.cfg.train.epochs, "img_size": first.cfg.data.img_size,
        "data": str(root), "cpu_amp": first.cfg.train.cpu_amp,
    })
    write_html_report(
        out / "report.html", f"tardal demo: {', '.join(modes)} on {root}",
        {m: {**results[m], "pr": curves[m]} for m in modes}, names, intro=header.strip(),
        training={m: run_dirs[m] / "results.png" for m in modes}, panels=panel_paths)
    return DemoResult(out=out, table=table, results=results, runs=run_dirs, panels=panel_paths,
                      seconds=seconds)
