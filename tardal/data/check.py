"""Validate a data set in the canonical layout and gather its statistics.

:func:`check_dataset` walks every pair of the set: both images are decoded (or, with
``decode=False``, only their headers read), their sizes compared, every label file parsed.
Problems are collected, not raised, so one run lists them all; the report also counts pairs per
split, boxes per class (overall and per split), image sizes and a histogram of box sizes.
:func:`format_report` renders it as text.

:func:`validate_splits` is the cheap form run before training or evaluation: the same checks on
the pairs of the given splits only, from image headers (no decoding) and label files, cached by
file identity so an unchanged set is not read again. It raises one DataError listing every bad
file, or with ``skip_bad`` returns the bad stems and why, for the caller to leave out.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tardal.data.imagesize import probe_size
from tardal.data.labels import parse_yolo_text, read_yolo
from tardal.data.layout import (
    SPLITS,
    Pair,
    all_stems,
    find_pairs,
    read_data_yaml,
    read_split,
    split_stems,
)
from tardal.errors import DataError
from tardal.io import atomic_write_text, header_size, max_pixels, read_raw

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


# ----------------------------------------------------------------------------------------
# Validation before work starts
# ----------------------------------------------------------------------------------------

#: Where :func:`validate_splits` keeps what it learnt about each file, relative to the root.
CACHE_FILE = ".cache/validate.json"
# Bump when a check changes what it finds, so cached verdicts of older code are not reused.
CACHE_VERSION = 1
MAX_REPORTED = 20  # problems spelled out in the error; the rest are counted


@dataclass
class SplitCheck:
    """What :func:`validate_splits` found.

    Attributes:
        root: the data set root.
        stems: split -> stems listed in it, in file order (bad ones included).
        bad: stem -> one message per problem (a file, with its line for labels) for every
            unusable pair of those splits, in split order.
        checked: files read (headers and label files); cached: files whose verdict came from
            the cache because they had not changed.
    """

    root: Path
    stems: dict[str, list[str]]
    bad: dict[str, list[str]] = field(default_factory=dict)
    checked: int = 0
    cached: int = 0

    @property
    def ok(self) -> bool:
        return not self.bad

    def good(self, split: str) -> list[str]:
        """The stems of ``split`` without problems, in file order."""
        return [s for s in self.stems[split] if s not in self.bad]

    def rows(self) -> list[tuple[str, str, str]]:
        """``(split, stem, reason)`` for every problem, for a run folder's list of skipped pairs
        (a stem listed in two splits appears under each)."""
        return [(split, stem, reason) for split, members in self.stems.items()
                for stem in members if stem in self.bad for reason in self.bad[stem]]

    def message(self) -> str:
        """One line listing the first :data:`MAX_REPORTED` problems, then a count."""
        problems = [f"{stem}: {reason}" for stem, reasons in self.bad.items() for reason in reasons]
        shown = "; ".join(problems[:MAX_REPORTED])
        more = (f"; ... and {len(problems) - MAX_REPORTED} more problem(s)"
                if len(problems) > MAX_REPORTED else "")
        return (f"{len(self.bad)} unusable pair(s) in split(s) {', '.join(self.stems)} of "
                f"{self.root}: {shown}{more} (a full report: tardal data check {self.root}; "
                "or pass --skip-bad to leave them out)")


def _signature(path: Path) -> list[int] | None:
    """File identity for the cache: inode, size, modification and change times (ns).

    The change time moves whenever the content or the metadata is written, even when the
    modification time is set back, so an edited file never matches its old signature.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


class _Cache:
    """Verdicts per file, valid while the file's signature is unchanged (JSON under the root)."""

    def __init__(self, root: Path, enabled: bool) -> None:
        self.path = root / CACHE_FILE
        self.enabled = enabled
        self.entries: dict[str, Any] = {}
        self.changed = False
        self.hits = self.misses = 0
        if enabled and self.path.is_file():
            try:
                doc = json.loads(self.path.read_text(encoding="utf-8"))
                if doc.get("version") == CACHE_VERSION and isinstance(doc.get("files"), dict):
                    self.entries = doc["files"]
            except (OSError, ValueError, AttributeError):
                log.debug("ignoring unreadable validation cache %s", self.path)

    def lookup(self, key: str, sig: list[int] | None, extra: Any = None) -> Any:
        entry = self.entries.get(key)
        if sig is not None and isinstance(entry, dict) and entry.get("sig") == sig \
                and entry.get("extra") == extra:
            self.hits += 1
            return entry["value"]
        self.misses += 1
        return None

    def store(self, key: str, sig: list[int] | None, value: Any, extra: Any = None) -> None:
        if sig is not None:
            self.entries[key] = {"sig": sig, "extra": extra, "value": value}
            self.changed = True

    def save(self) -> None:
        if not (self.enabled and self.changed):
            return
        try:
            atomic_write_text(self.path, json.dumps({"version": CACHE_VERSION,
                                                     "files": self.entries}))
        except DataError as exc:  # a read-only data set is checked again next time
            log.debug("validation cache not written: %s", exc)


def _key(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _image_verdict(path: Path) -> dict[str, Any]:
    """``{"hw": [h, w] or None, "error": message or None}`` from the header only."""
    try:
        hw = probe_size(path, decode=False)
        if hw is None:
            hw = header_size(path)  # TIFF; other formats are judged when decoded
    except DataError as exc:
        return {"hw": None, "error": str(exc)}
    except OSError as exc:
        return {"hw": None, "error": f"image {path} cannot be read: {exc.strerror or exc}"}
    return {"hw": list(hw) if hw else None, "error": None}


def _label_problems(path: Path, nc: int) -> list[str]:
    """Every problem of a YOLO label file: one message per bad line (``file:line: ...``)."""
    try:
        read_yolo(path, nc)
        return []
    except DataError as exc:
        first = str(exc)
    try:
        lines = path.read_bytes().decode("utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return [first]
    problems = []
    for i, line in enumerate(lines):
        try:  # the leading newlines give the parser the line's number
            parse_yolo_text("\n" * i + line, nc, source=str(path))
        except DataError as exc:
            problems.append(str(exc))
    return problems or [first]


def _unresolved_reasons(root: Path, stems: list[str], problems: list[str],
                        labels: bool) -> dict[str, list[str]]:
    """stem -> the pair problems of :func:`find_pairs` that name it."""
    out: dict[str, list[str]] = {}
    for stem in stems:
        mine = [p for p in problems if repr(stem) in p or f"/{stem}.*)" in p]
        if not mine:  # ask about this stem alone
            mine = find_pairs(root, [stem], labels=labels)[1] or [f"pair {stem!r} is unusable"]
        out[stem] = mine
    return out


def validate_splits(
    root: str | Path,
    splits: Sequence[str],
    *,
    skip_bad: bool = False,
    align: str | None = None,
    pixel_limit: int | None = None,
    cache: bool = True,
) -> SplitCheck:
    """Check the pairs of ``splits`` cheaply before training or evaluating on them.

    The checks of ``tardal data check`` without decoding: every stem resolves to an infrared
    and a visible image (and a label file for a labelled set), each image's header is readable
    and within the pixel limit (:func:`tardal.io.max_pixels`), infrared and visible sizes agree
    (unless ``align`` is ``"resize"``), every label line parses, and no stem is in two of the
    splits. Verdicts are cached per file in ``ROOT/.cache/validate.json`` (not written when
    the root is read-only), keyed by the file's inode, size, modification and change times, so
    a changed file is always read again.

    Args:
        root: data set root (canonical layout).
        splits: split names (``train``, ``val``, ``test``, another ``meta/<name>.txt``, or
            ``all``).
        skip_bad: return the bad pairs instead of raising.
        align: ``"error"`` or ``"resize"``; None takes ``align`` from ``data.yaml``
            (default ``"error"``).
        pixel_limit: largest width x height (None: :func:`tardal.io.max_pixels`; 0: none).
        cache: use and update the cache file.

    Returns:
        A :class:`SplitCheck`; ``check.good(split)`` are the usable stems.

    Raises:
        DataError: ``data.yaml`` or a split file is malformed, or (without ``skip_bad``) a pair
            is unusable: one message listing the first problems, each naming its file (and
            line), then how many more.
    """
    root = Path(root)
    info = read_data_yaml(root)
    if align is None:
        align = str(info.extra.get("align", "error"))
    nc = len(info.names)
    limit = max_pixels(pixel_limit)
    stems = {split: split_stems(root, split) for split in dict.fromkeys(splits)}
    result = SplitCheck(root, stems)
    bad: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for split, members in stems.items():
        for stem in members:
            if stem in owner:
                bad.setdefault(stem, []).append(
                    f"stem {stem!r} is in both split {owner[stem]!r} and split {split!r}")
            owner.setdefault(stem, split)
    wanted = list(owner)
    pairs, problems = find_pairs(root, wanted, labels=info.labels)
    resolved = {p.stem for p in pairs}
    unresolved = [s for s in wanted if s not in resolved]
    for stem, reasons in _unresolved_reasons(root, unresolved, problems, info.labels).items():
        bad.setdefault(stem, []).extend(reasons)

    store = _Cache(root, cache)
    for pair in pairs:
        reasons: list[str] = []
        sizes = []
        for path in (pair.ir, pair.vi):
            key, sig = _key(root, path), _signature(path)
            verdict = store.lookup(key, sig)
            if verdict is None:
                verdict = _image_verdict(path)
                store.store(key, sig, verdict)
            if verdict["error"]:
                reasons.append(verdict["error"])
            hw = tuple(verdict["hw"]) if verdict["hw"] else None
            if hw and limit and hw[0] * hw[1] > limit:
                reasons.append(f"image {path} is {hw[1]}x{hw[0]} = {hw[0] * hw[1]:,} pixels, "
                               f"more than the limit of {limit:,}")
            sizes.append(hw)
        ir_hw, vi_hw = sizes
        if ir_hw and vi_hw and ir_hw != vi_hw and align != "resize":
            reasons.append(f"infrared {pair.ir} is {ir_hw[1]}x{ir_hw[0]} but visible {pair.vi} "
                           f"is {vi_hw[1]}x{vi_hw[0]} (width x height)")
        if pair.label is not None:
            key, sig = _key(root, pair.label), _signature(pair.label)
            label_problems = store.lookup(key, sig, extra=nc)
            if label_problems is None:
                label_problems = _label_problems(pair.label, nc)
                store.store(key, sig, label_problems, extra=nc)
            reasons += label_problems
        if reasons:
            bad.setdefault(pair.stem, []).extend(reasons)
    store.save()
    result.bad = {stem: bad[stem] for stem in wanted if stem in bad}
    result.checked, result.cached = store.misses, store.hits
    log.debug("validated %d pair(s) of %s: %d bad; %d file(s) read, %d from the cache",
              len(wanted), root, len(result.bad), result.checked, result.cached)
    if result.bad and not skip_bad:
        raise DataError(result.message())
    return result
