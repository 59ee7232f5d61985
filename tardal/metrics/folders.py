"""Evaluate folders of fused results against their sources, and write CSV / Markdown / JSON.

    results = evaluate_folders(["out/densefuse", "out/tardal"], "tno/ir", "tno/vi")
    paths = write_results(results, "runs/metrics")

Files are paired by stem: ``FUSED/01.png`` goes with ``IR/01.*`` and ``VI/01.*`` (extensions
may differ). Every fused image needs both partners, every image must be 8-bit, the three images
of a triple must have the same height and width, and every fused folder must hold every image
the two source folders have; otherwise :class:`~tardal.errors.DataError` names the file or
folder at fault. With ``allow_missing`` a fused folder may lack images: then every method is
scored on the images all of them have, and the ones left out are recorded in the results (and
in every output file), so methods are never averaged over different images. Images are read as
MATLAB's ``imread`` would give them (grey, or RGB for colour files, alpha dropped); each
convention then converts them (``tang``: ``rgb2gray``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from tardal.errors import DataError
from tardal.io import IMAGE_SUFFIXES, atomic_write_text, list_images, read_raw
from tardal.metrics import evaluate, get_convention

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Triple:
    """One stem's files: the sources and, per method, the fused result."""

    stem: str
    ir: Path
    vis: Path
    fused: tuple[Path, ...]  # one per method, in method order


@dataclass
class FolderResults:
    """Per-image values of every method, plus what produced them.

    ``values[method][stem][metric]`` is a float (NaN where undefined).
    """

    convention: str
    metrics: list[str]
    methods: list[str]
    stems: list[str]
    values: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)  # method -> stems it lacks

    @property
    def left_out(self) -> list[str]:
        """Source stems scored for no method because some method lacks them (sorted)."""
        return sorted({s for stems in self.missing.values() for s in stems})

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """``{method: {metric: {"mean", "std", "n", "nan"}}}``; NaN values are left out of the
        mean and the (population) standard deviation and counted in ``nan``."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for method in self.methods:
            per_metric = {}
            for metric in self.metrics:
                vals = np.array([self.values[method][s][metric] for s in self.stems], dtype=np.float64)
                ok = vals[np.isfinite(vals)]
                per_metric[metric] = {
                    "mean": float(ok.mean()) if ok.size else float("nan"),
                    "std": float(ok.std()) if ok.size else float("nan"),
                    "n": int(ok.size),
                    "nan": int(vals.size - ok.size),
                }
            out[method] = per_metric
        return out


def read_image(path: str | Path) -> np.ndarray:
    """8-bit image as MATLAB ``imread`` returns it: (H, W) grey or (H, W, 3) RGB uint8.

    Alpha channels are dropped. 16-bit files raise DataError (the suites assume 8-bit data).
    """
    path = Path(path)
    img = read_raw(path)
    if img.dtype != np.uint8:
        raise DataError(f"image {path} is {img.dtype.itemsize * 8}-bit; fusion metrics need 8-bit images")
    if img.ndim == 3:
        if img.shape[2] == 1:
            img = img[..., 0]
        elif img.shape[2] == 2:  # grey + alpha
            img = img[..., 0]
        else:
            img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
    return img


def _by_stem(folder: Path, role: str) -> dict[str, Path]:
    files = list_images(folder)
    out: dict[str, Path] = {}
    for p in files:
        if p.stem in out:
            raise DataError(
                f"{role} folder {folder} has two images with stem {p.stem!r}: {out[p.stem].name}, {p.name}"
            )
        out[p.stem] = p
    return out


def method_names(fused_dirs: Sequence[str | Path]) -> list[str]:
    """Method name of each fused folder: its name, or its path as given when names collide."""
    dirs = [Path(d) for d in fused_dirs]
    names = [d.name or str(d) for d in dirs]
    return [str(d) if names.count(n) > 1 else n for d, n in zip(dirs, names)]


def _listed(stems: Sequence[str], n: int = 10) -> str:
    more = f", ... ({len(stems) - n} more)" if len(stems) > n else ""
    return ", ".join(stems[:n]) + more


def pair_folders(
    fused_dirs: Sequence[str | Path],
    ir_dir: str | Path,
    vi_dir: str | Path,
    *,
    allow_missing: bool = False,
) -> tuple[list[Triple], dict[str, list[str]]]:
    """Pair the fused images of every folder with their sources by stem.

    Returns the triples (sorted by stem) of the images every folder has, and per method name
    (:func:`method_names`) the source stems its folder lacks. Raises DataError for a fused image
    without both partners, an empty fused folder, and (unless ``allow_missing``) a fused
    folder lacking an image that both source folders have.
    """
    if not fused_dirs:
        raise DataError("no fused folder given")
    ir_files = _by_stem(Path(ir_dir), "infrared")
    vi_files = _by_stem(Path(vi_dir), "visible")
    per_method = [_by_stem(Path(d), "fused") for d in fused_dirs]
    for d, files in zip(fused_dirs, per_method):
        if not files:
            raise DataError(f"fused folder {d} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        for stem, path in files.items():
            for role, folder, table in (("infrared", ir_dir, ir_files), ("visible", vi_dir, vi_files)):
                if stem not in table:
                    raise DataError(
                        f"no {role} partner for fused image {path}: expected {Path(folder) / stem}.* "
                        f"(one of {', '.join(IMAGE_SUFFIXES)})"
                    )
    sources = set(ir_files) & set(vi_files)
    missing = {
        method: sorted(sources - set(files))
        for method, files in zip(method_names(fused_dirs), per_method)
    }
    lacking = [(d, stems) for d, stems in zip(fused_dirs, missing.values()) if stems]
    if lacking and not allow_missing:
        detail = "; ".join(
            f"fused folder {d} lacks {len(stems)} of the {len(sources)} image(s) that {ir_dir} "
            f"and {vi_dir} have: {_listed(stems)}"
            for d, stems in lacking
        )
        raise DataError(f"{detail} (pass --allow-missing to score every method on the images "
                        "all of them have)")
    common = sorted(sources - {s for _, stems in lacking for s in stems})
    if not common:
        raise DataError(f"no image is in every fused folder ({', '.join(map(str, fused_dirs))}) "
                        f"and in both {ir_dir} and {vi_dir}")
    triples = [
        Triple(stem, ir_files[stem], vi_files[stem], tuple(files[stem] for files in per_method))
        for stem in common
    ]
    return triples, missing


def _hw(img: np.ndarray | tuple[int, int]) -> str:
    h, w = img.shape[:2] if isinstance(img, np.ndarray) else img
    return f"{h}x{w}"


def check_sizes(triples: Sequence[Triple]) -> None:
    """Before any metric is computed: the sizes in the image headers agree within each triple
    (raises DataError like :func:`evaluate_triple`; formats without a size in the header are
    checked when decoded)."""
    from tardal.data.imagesize import probe_size

    for t in triples:
        ir, vis = probe_size(t.ir, decode=False), probe_size(t.vis, decode=False)
        if ir and vis and ir != vis:
            raise DataError(f"size mismatch: infrared {t.ir} is {_hw(ir)} (HxW) but visible "
                            f"{t.vis} is {_hw(vis)}")
        for path in t.fused:
            fused = probe_size(path, decode=False)
            if ir and fused and fused != ir:
                raise DataError(f"size mismatch: fused {path} is {_hw(fused)} (HxW) but its "
                                f"sources {t.ir} and {t.vis} are {_hw(ir)}")


def evaluate_triple(
    triple: Triple, convention: str, metrics: Sequence[str] | None
) -> list[dict[str, float]]:
    """Metric values of each method's fused image of one stem (sources read once)."""
    ir = read_image(triple.ir)
    vis = read_image(triple.vis)
    if ir.shape[:2] != vis.shape[:2]:
        raise DataError(
            f"size mismatch: infrared {triple.ir} is {_hw(ir)} (HxW) but visible {triple.vis} is {_hw(vis)}"
        )
    out = []
    for path in triple.fused:
        fused = read_image(path)
        if fused.shape[:2] != ir.shape[:2]:
            raise DataError(
                f"size mismatch: fused {path} is {_hw(fused)} (HxW) but its sources {triple.ir} "
                f"and {triple.vis} are {_hw(ir)}"
            )
        out.append(evaluate(fused, ir, vis, convention=convention, metrics=metrics))
    return out


def _evaluate_task(args: tuple[Triple, str, list[str]]) -> list[dict[str, float]]:
    cv2.setNumThreads(1)  # one thread per worker process
    return evaluate_triple(*args)


def evaluate_folders(
    fused_dirs: Sequence[str | Path],
    ir_dir: str | Path,
    vi_dir: str | Path,
    convention: str = "tang",
    metrics: Sequence[str] | None = None,
    workers: int = 1,
    progress: bool = True,
    allow_missing: bool = False,
) -> FolderResults:
    """Evaluate every fused folder against the sources; see the module docstring for pairing.

    ``workers`` > 1 evaluates stems in that many processes; results are identical and in the
    same order as with one. ``progress`` shows a tqdm bar (on a terminal). ``allow_missing``:
    fused folders may lack images; every method is then scored on the images all of them have
    and ``results.missing`` says what each lacked.
    """
    conv = get_convention(convention)
    names = conv.resolve(metrics)
    triples, missing = pair_folders(fused_dirs, ir_dir, vi_dir, allow_missing=allow_missing)
    check_sizes(triples)
    methods = method_names(fused_dirs)
    results = FolderResults(convention, names, methods, [t.stem for t in triples],
                            missing=missing)
    results.values = {m: {} for m in methods}
    if results.left_out:
        log.warning("%d image(s) left out because a fused folder lacks them: %s",
                    len(results.left_out), _listed(results.left_out))
    log.debug("%d image(s) x %d method(s), %s convention", len(triples), len(methods), convention)
    tasks = [(t, convention, names) for t in triples]
    bar = tqdm(
        total=len(triples) * len(methods), desc="metrics", unit="img", disable=None if progress else True
    )
    try:
        if workers > 1 and len(tasks) > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                outputs = pool.map(_evaluate_task, tasks)
                for triple, per_method in zip(triples, outputs):
                    _store(results, triple, per_method)
                    bar.update(len(methods))
        else:
            for task in tasks:
                _store(results, task[0], evaluate_triple(*task))
                bar.update(len(methods))
    finally:
        bar.close()
    return results


def _store(results: FolderResults, triple: Triple, per_method: list[dict[str, float]]) -> None:
    for method, vals in zip(results.methods, per_method):
        results.values[method][triple.stem] = vals


# --------------------------------------------------------------------------------------------
# Output


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else repr(float(x))


def to_csv(results: FolderResults) -> str:
    """Per-image CSV: ``method,image,<metric>...`` (full float precision).

    Images left out (``--allow-missing``) have a row per method with empty metric cells.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["method", "image", *results.metrics])
    scored = set(results.stems)
    for method in results.methods:
        for stem in sorted(scored | set(results.left_out)):
            if stem not in scored:
                writer.writerow([method, stem, *([""] * len(results.metrics))])
                continue
            vals = results.values[method][stem]
            writer.writerow([method, stem, *(_fmt(vals[m]) for m in results.metrics)])
    return buf.getvalue()


def left_out_note(results: FolderResults) -> str | None:
    """One line saying which images were left out and which folder lacked them, or None."""
    if not results.left_out:
        return None
    lacking = "; ".join(f"{m} lacks {_listed(stems)}" for m, stems in results.missing.items()
                        if stems)
    return (f"{len(results.left_out)} image(s) left out for every method because a fused folder "
            f"lacks them ({lacking})")


def to_markdown(results: FolderResults) -> str:
    """Markdown table of means +- standard deviations, one row per method.

    With several methods the best mean of each column is bold (by the metric's direction).
    """
    conv = get_convention(results.convention)
    summary = results.summary()
    arrows = {m: ("↑" if conv.metrics.get(m).higher_is_better else "↓") for m in results.metrics}
    best: dict[str, str] = {}
    if len(results.methods) > 1:
        for m in results.metrics:
            means = {k: summary[k][m]["mean"] for k in results.methods}
            means = {k: v for k, v in means.items() if not math.isnan(v)}
            if means:
                pick = max if conv.metrics.get(m).higher_is_better else min
                best[m] = pick(means, key=means.get)
    lines = [
        f"Fusion metrics, `{results.convention}` convention: mean ± standard deviation over "
        f"{len(results.stems)} image(s); ↑ higher is better, ↓ lower is better.",
        "",
        "| method | " + " | ".join(f"{m} {arrows[m]}" for m in results.metrics) + " |",
        "| --- |" + " ---: |" * len(results.metrics),
    ]
    notes = []
    for method in results.methods:
        cells = []
        for m in results.metrics:
            s = summary[method][m]
            cell = "nan" if math.isnan(s["mean"]) else f"{s['mean']:.4f} ± {s['std']:.4f}"
            if best.get(m) == method:
                cell = f"**{cell}**"
            cells.append(cell)
            if s["nan"]:
                notes.append(f"{method} {m}: {s['nan']} undefined value(s) left out")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    dropped = left_out_note(results)
    if dropped:
        notes.insert(0, dropped)
    if notes:
        lines += ["", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"


def to_json(results: FolderResults) -> str:
    """Summary JSON: convention, metrics, images (scored), left_out (count, images, and per
    method the images its folder lacked), and per-method mean/std/n/nan."""

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        return x

    doc = {
        "convention": results.convention,
        "metrics": results.metrics,
        "images": results.stems,
        "left_out": {"count": len(results.left_out), "images": results.left_out,
                     "missing": {m: stems for m, stems in results.missing.items() if stems}},
        "methods": clean(results.summary()),
    }
    return json.dumps(doc, indent=1) + "\n"


def output_paths(out: str | Path) -> dict[str, Path]:
    """Where :func:`write_results` writes: ``X.csv``/``X.md`` given -> X.csv, X.md, X.json;
    anything else is a folder holding metrics.csv, metrics.md and metrics.json."""
    out = Path(out)
    if out.suffix.lower() in (".csv", ".md", ".json"):
        base = out.with_suffix("")
    else:
        base = out / "metrics"
    return {ext: base.with_suffix(f".{ext}") for ext in ("csv", "md", "json")}


def write_results(results: FolderResults, out: str | Path) -> dict[str, Path]:
    """Write the per-image CSV, the Markdown table and the JSON summary (atomically)."""
    paths = output_paths(out)
    atomic_write_text(paths["csv"], to_csv(results))
    atomic_write_text(paths["md"], to_markdown(results))
    atomic_write_text(paths["json"], to_json(results))
    return paths
