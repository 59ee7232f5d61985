"""Validate a data set in the canonical layout and gather its statistics.

:func:`check_dataset` walks every pair of the set: both images are decoded (or, with
``decode=False``, only their headers read), their sizes compared, every label file parsed.
Problems are collected, not raised, so one run lists them all; the report also counts pairs per
split, boxes per class (overall and per split), image sizes and a histogram of box sizes.
:func:`format_report` renders it as text.
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tardal.data.imagesize import probe_size
from tardal.data.labels import read_yolo
from tardal.data.layout import (
    SPLITS,
    Pair,
    all_stems,
    find_pairs,
    read_data_yaml,
    read_split,
)
from tardal.errors import DataError
from tardal.io import read_raw

log = logging.getLogger(__name__)

# Box size = sqrt(width * height) in pixels of the file; bin edges of the histogram.
BOX_SIZE_EDGES = (0, 8, 16, 32, 64, 128, 256, 512)
MAX_LISTED = 50  # problems kept in full in the report; the rest are counted


@dataclass
class _PairResult:
    stem: str
    size: tuple[int, int] | None  # infrared (height, width)
    rows: np.ndarray | None
    problems: list[str]


def _check_pair(pair: Pair, nc: int, align: str, decode: bool) -> _PairResult:
    problems: list[str] = []
    sizes: list[tuple[int, int] | None] = []
    for path in (pair.ir, pair.vi):
        try:
            if decode:
                img = read_raw(path)
                sizes.append((int(img.shape[0]), int(img.shape[1])))
            else:
                sizes.append(probe_size(path))
        except DataError as exc:
            problems.append(str(exc))
            sizes.append(None)
    ir_hw, vi_hw = sizes
    if ir_hw and vi_hw and ir_hw != vi_hw and align != "resize":
        problems.append(
            f"pair {pair.stem!r}: infrared {pair.ir} is {ir_hw[1]}x{ir_hw[0]} but visible "
            f"{pair.vi} is {vi_hw[1]}x{vi_hw[0]} (width x height)"
        )
    rows = None
    if pair.label is not None:
        try:
            rows = read_yolo(pair.label, nc)
        except DataError as exc:
            problems.append(str(exc))
    return _PairResult(pair.stem, ir_hw, rows, problems)


def check_dataset(
    root: str | Path,
    *,
    align: str | None = None,
    decode: bool = True,
    workers: int = 4,
    progress: bool = False,
) -> dict[str, Any]:
    """Validate the data set at ``root`` and gather statistics.

    Args:
        root: data set root.
        align: ``"resize"`` accepts pairs of different sizes; None takes ``align`` from
            ``data.yaml`` (default ``"error"``).
        decode: decode every image (finds damage inside the file); False reads headers only.
        workers: threads decoding images.
        progress: show a progress bar.

    Returns:
        A JSON-ready dict: ``root``, ``source``, ``names``, ``labels``, ``pairs``, ``splits``
        (pairs per split), ``unassigned`` (pairs in no split), ``image_sizes`` ("WxH" ->
        count), ``boxes`` (``total``, ``per_class``, ``per_split``), ``empty_images``,
        ``box_size_hist`` (``edges_px``, ``counts``), ``box_size_coco`` (small < 32^2 <=
        medium < 96^2 <= large), ``problems`` (messages, at most ``MAX_LISTED``),
        ``num_problems`` and ``ok``.

    Raises:
        DataError: only when ``data.yaml`` itself is missing or malformed.
    """
    from tqdm import tqdm

    root = Path(root)
    info = read_data_yaml(root)
    if align is None:
        align = str(info.extra.get("align", "error"))
    names = list(info.names)
    nc = len(names)
    problems: list[str] = []

    splits: dict[str, list[str]] = {}
    for part in SPLITS:
        try:
            splits[part] = read_split(root, part)
        except DataError as exc:
            problems.append(str(exc))
            splits[part] = []
    try:
        stems = all_stems(root)
    except DataError as exc:
        problems.append(str(exc))
        stems = []
    known = set(stems)
    owner: dict[str, str] = {}
    for part, members in splits.items():
        for s in members:
            if s in owner:
                problems.append(f"stem {s!r} is in both {owner[s]}.txt and {part}.txt")
            owner.setdefault(s, part)
            if s not in known:
                known.add(s)
                stems.append(s)  # resolving it reports what is missing
    try:
        pairs, pair_problems = find_pairs(root, sorted(stems), labels=info.labels)
    except DataError as exc:
        pairs, pair_problems = [], [str(exc)]
    problems += pair_problems
    if info.labels and not nc:
        problems.append(f"{root / 'data.yaml'}: labels is true but names is empty")
    if not pairs and not pair_problems:
        problems.append(f"{root} holds no pairs")

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(tqdm(
            pool.map(lambda p: _check_pair(p, nc, align, decode), pairs),
            total=len(pairs), desc="check", unit="pair", disable=not progress, leave=False,
        ))

    size_counts: Counter[str] = Counter()
    per_class = np.zeros(nc, np.int64)
    per_split = {part: np.zeros(nc, np.int64) for part in SPLITS}
    box_sizes: list[np.ndarray] = []
    empty = 0
    for r in results:
        problems += r.problems
        if r.size is not None:
            size_counts[f"{r.size[1]}x{r.size[0]}"] += 1
        if r.rows is None:
            continue
        if len(r.rows) == 0:
            empty += 1
            continue
        c = np.bincount(r.rows[:, 0].astype(np.int64), minlength=nc)[:nc]
        per_class += c
        if r.stem in owner:
            per_split[owner[r.stem]] += c
        if r.size is not None:
            h, w = r.size
            box_sizes.append(np.sqrt(r.rows[:, 3] * w * r.rows[:, 4] * h))
    sizes = np.concatenate(box_sizes) if box_sizes else np.zeros(0)
    edges = list(BOX_SIZE_EDGES) + [float("inf")]
    hist = np.histogram(sizes, bins=edges)[0] if len(sizes) else np.zeros(len(edges) - 1, int)
    report: dict[str, Any] = {
        "root": str(root),
        "source": info.source,
        "names": names,
        "labels": info.labels,
        "align": align,
        "decoded": decode,
        "pairs": len(pairs),
        "splits": {part: len(members) for part, members in splits.items()},
        "unassigned": sum(1 for p in pairs if p.stem not in owner),
        "image_sizes": dict(size_counts.most_common()),
        "boxes": {
            "total": int(per_class.sum()),
            "per_class": {n: int(c) for n, c in zip(names, per_class)},
            "per_split": {
                part: {n: int(c) for n, c in zip(names, v)} for part, v in per_split.items()
            },
        },
        "empty_images": empty if info.labels else None,
        "box_size_hist": {"edges_px": list(BOX_SIZE_EDGES), "counts": [int(x) for x in hist]},
        "box_size_coco": {
            "small": int((sizes < 32).sum()),
            "medium": int(((sizes >= 32) & (sizes < 96)).sum()),
            "large": int((sizes >= 96).sum()),
        },
        "num_problems": len(problems),
        "problems": problems[:MAX_LISTED],
        "ok": not problems,
    }
    return report


def format_report(report: dict[str, Any]) -> str:
    """Render a :func:`check_dataset` report as text for people."""
    lines = [f"data set {report['root']} (source: {report['source']})"]
    sp = report["splits"]
    lines.append(
        f"pairs: {report['pairs']} (train {sp.get('train', 0)}, val {sp.get('val', 0)}, "
        f"test {sp.get('test', 0)}, in no split {report['unassigned']})"
    )
    sizes = report["image_sizes"]
    if sizes:
        shown = ", ".join(f"{k} x{v}" for k, v in list(sizes.items())[:8])
        more = f", ... {len(sizes) - 8} more sizes" if len(sizes) > 8 else ""
        lines.append(f"image sizes (WxH): {shown}{more}")
    if report["labels"]:
        b = report["boxes"]
        lines.append(f"classes: {len(report['names'])}; boxes: {b['total']}; "
                     f"images without objects: {report['empty_images']}")
        width = max((len(n) for n in report["names"]), default=5)
        header = f"  {'class':<{width}}  {'all':>7}" + "".join(f"  {p:>7}" for p in SPLITS)
        lines.append(header)
        for name in report["names"]:
            row = f"  {name:<{width}}  {b['per_class'][name]:>7}"
            row += "".join(f"  {b['per_split'][p][name]:>7}" for p in SPLITS)
            lines.append(row)
        edges = report["box_size_hist"]["edges_px"]
        counts = report["box_size_hist"]["counts"]
        peak = max(counts) if counts and max(counts) > 0 else 1
        lines.append("box size sqrt(w*h) in pixels:")
        for i, c in enumerate(counts):
            label = f"{edges[i]}-{edges[i + 1]}" if i + 1 < len(edges) else f">={edges[i]}"
            lines.append(f"  {label:>9}  {c:>7}  {'#' * round(40 * c / peak)}")
        coco = report["box_size_coco"]
        lines.append(f"  COCO: small {coco['small']}, medium {coco['medium']}, "
                     f"large {coco['large']}")
    else:
        lines.append("unlabelled (no classes)")
    n = report["num_problems"]
    if n:
        lines.append(f"PROBLEMS: {n}")
        lines += [f"  - {p}" for p in report["problems"]]
        if n > len(report["problems"]):
            lines.append(f"  ... and {n - len(report['problems'])} more")
    else:
        lines.append("no problems found")
    return "\n".join(lines)
