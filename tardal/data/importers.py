"""Importers: public infrared/visible releases -> the canonical layout.

``IMPORTERS`` maps a short name to an importer function
``f(src, out, *, seed, split, copy, overwrite, strict, align, progress, verify, **extra)
-> ImportResult``:

* ``m3fd``: ``Ir/``, ``Vis/``, ``Annotation/*.xml`` (Pascal VOC); classes matched by name
  (ignoring case) to People, Car, Bus, Motorcycle, Lamp, Truck; seeded class-stratified split.
* ``llvip``: ``infrared/{train,test}/``, ``visible/{train,test}/``, ``Annotations/*.xml``,
  class person; its own train/test kept, val carved from train (seeded, stratified). Without a
  ``test/`` folder the test part is carved from train as well.
* ``msrs``: ``ir/``, ``vi/``, a YOLO label folder (``labels=``, default ``labels-fusion``) and
  ``classes.txt``; ``train/`` and ``test/`` sub-folders of that shape are kept as parts.
* ``pairs``: ``ir/`` + ``vi/`` without labels (TNO, RoadScene, a user's own pairs).

Images stay where they are by default (``meta/index.tsv`` holds their absolute paths);
``copy=True`` copies the files unchanged into ``ROOT/ir`` and ``ROOT/vi``. Labels are always
written as YOLO text into ``ROOT/labels``, one file per pair (empty for no objects).

Image sizes come from file headers (no decoding), which also catches files that are not images
or are cut short. A pair that cannot be used (a partner, annotation or readable header missing,
or infrared and visible of different sizes without ``align="resize"``) stops the import with
an error naming the file; ``strict=False`` (``--skip-bad``) leaves such pairs out instead, with
a warning, and lists them in ``meta/skipped.tsv``.
``verify=True`` decodes every image instead of reading headers (slower; also finds damage
inside the compressed data, which ``tardal data check`` reports otherwise). Label and
annotation content errors (unknown class, malformed line) always stop the import. The output
folder is built aside and moved into place only when everything succeeded.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from tardal import __version__
from tardal.data.imagesize import probe_size
from tardal.data.labels import (
    format_yolo,
    parse_voc,
    read_class_list,
    read_yolo,
    voc_size_consistent,
    voc_to_yolo,
)
from tardal.data.layout import (
    INDEX,
    SKIPPED,
    SPLITS,
    DataInfo,
    images_by_stem,
    parse_fractions,
    write_data_yaml,
    write_index,
    write_split,
)
from tardal.data.split import class_counts, stratified_split
from tardal.errors import DataError
from tardal.io import atomic_write_text, read_raw, staged_dir
from tardal.registry import Registry

log = logging.getLogger(__name__)

IMPORTERS = Registry("data importer")

M3FD_NAMES = ["People", "Car", "Bus", "Motorcycle", "Lamp", "Truck"]
LLVIP_NAMES = ["person"]


@dataclass
class ImportResult:
    """What an import produced: counts per part and class, and the pairs left out."""

    out: Path
    source: str
    splits: dict[str, int]
    boxes: dict[str, int]  # class name -> boxes
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (stem, reason)
    dropped_boxes: list[str] = field(default_factory=list)  # "file: object k" with no area

    @property
    def pairs(self) -> int:
        return sum(self.splits.values())

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in self.splits.items())
        lines = [f"imported {self.pairs} pairs ({self.source}) into {self.out}: {parts}"]
        if self.boxes:
            total = sum(self.boxes.values())
            per = ", ".join(f"{k} {v}" for k, v in self.boxes.items())
            lines.append(f"boxes: {total} ({per})")
        if self.skipped:
            lines.append(f"left out {len(self.skipped)} pair(s), listed in {self.out / SKIPPED}:")
            lines += [f"  {stem}: {why}" for stem, why in self.skipped[:10]]
            if len(self.skipped) > 10:
                lines.append(f"  ... and {len(self.skipped) - 10} more")
        if self.dropped_boxes:
            lines.append(f"dropped {len(self.dropped_boxes)} box(es) with no area inside the image")
        return "\n".join(lines)


@dataclass
class _Candidate:
    """A possible pair found in the source: any of its files may be missing."""

    stem: str
    ir: Path | None
    vi: Path | None
    ann: Path | None = None  # VOC XML or YOLO text, per importer
    part: str | None = None  # the source's own split, if it has one


@dataclass
class _Good:
    stem: str
    ir: Path
    vi: Path
    rows: np.ndarray  # (N, 5) normalised YOLO rows
    part: str | None


# A converter turns a candidate and its infrared (height, width) into YOLO rows, raising
# DataError for content errors; it may append "file: object k" strings for dropped boxes.
Converter = Callable[[_Candidate, tuple[int, int], list[str]], np.ndarray]


# ----------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------


def find_dir(parent: Path, choices: Sequence[str], what: str, required: bool = True) -> Path | None:
    """The sub-folder of ``parent`` named like one of ``choices`` (ignoring case), or an error."""
    if not parent.is_dir():
        raise DataError(f"source folder {parent} does not exist")
    subdirs = {p.name.lower(): p for p in sorted(parent.iterdir()) if p.is_dir()}
    for name in choices:
        if name.lower() in subdirs:
            return subdirs[name.lower()]
    if not required:
        return None
    found = ", ".join(sorted(p.name for p in subdirs.values())) or "(no folders)"
    raise DataError(
        f"{parent}: expected a {what} folder named {' or '.join(choices)}; found: {found}"
    )


def _check_out(src: Path, out: Path) -> None:
    s, o = src.resolve(), out.resolve()
    if s == o or o in s.parents:
        raise DataError(f"output folder {out} must not be the source folder {src} or contain it")


def _pair_candidates(
    ir_dir: Path, vi_dir: Path, part: str | None = None
) -> list[_Candidate]:
    irs, vis = images_by_stem(ir_dir), images_by_stem(vi_dir)
    return [_Candidate(s, irs.get(s), vis.get(s), None, part) for s in sorted(set(irs) | set(vis))]


def _decoded_size(path: Path) -> tuple[int, int]:
    img = read_raw(path)
    return int(img.shape[0]), int(img.shape[1])


def _probe_pair(
    cand: _Candidate, align: str, fallback: tuple[int, int] | None = None, verify: bool = False
) -> tuple[int, int]:
    """Infrared (height, width) from the headers (or, with ``verify``, by decoding both
    images); DataError when the pair cannot be used."""
    assert cand.ir is not None and cand.vi is not None
    if verify:
        ir_hw, vi_hw = _decoded_size(cand.ir), _decoded_size(cand.vi)
    else:
        ir_hw = probe_size(cand.ir, decode=fallback is None) or fallback
        vi_hw = probe_size(cand.vi, decode=fallback is None) or fallback
    assert ir_hw is not None and vi_hw is not None
    if ir_hw != vi_hw and align != "resize":
        raise DataError(
            f"infrared {cand.ir} is {ir_hw[1]}x{ir_hw[0]} but visible {cand.vi} is "
            f"{vi_hw[1]}x{vi_hw[0]} (width x height); pass --align resize to keep such pairs "
            "(the visible image is then resized to the infrared size when read)"
        )
    return ir_hw


def _collect(
    candidates: list[_Candidate],
    convert: Converter | None,
    *,
    strict: bool,
    align: str,
    progress: bool,
    verify: bool = False,
    ann_kind: str = "",  # e.g. "annotation file DIR/{stem}.xml"; required when given
    size_hint: Callable[[_Candidate], tuple[int, int] | None] | None = None,
) -> tuple[list[_Good], list[tuple[str, str]], list[str]]:
    """Check every candidate; convert its labels. Returns good pairs, skipped, dropped boxes."""
    from tqdm import tqdm

    good: list[_Good] = []
    skipped: list[tuple[str, str]] = []
    dropped: list[str] = []
    stems_seen: dict[str, _Candidate] = {}

    def bad(stem: str, reason: str) -> None:
        if strict:
            raise DataError(f"pair {stem!r}: {reason} (pass --skip-bad to leave such pairs out)")
        log.warning("leaving out pair %r: %s", stem, reason)
        skipped.append((stem, reason))

    for cand in tqdm(candidates, desc="import", unit="pair", disable=not progress, leave=False):
        if cand.stem in stems_seen:
            other = stems_seen[cand.stem]
            raise DataError(
                f"stem {cand.stem!r} occurs twice: {other.ir or other.vi} and {cand.ir or cand.vi}"
            )
        stems_seen[cand.stem] = cand
        if cand.ir is None or cand.vi is None:
            have, kind = (cand.vi, "infrared") if cand.ir is None else (cand.ir, "visible")
            bad(cand.stem, f"{have} has no {kind} partner")
            continue
        if convert is not None and cand.ann is None and ann_kind:
            bad(cand.stem, f"{cand.ir} has no {ann_kind.format(stem=cand.stem)}")
            continue
        hint = size_hint(cand) if size_hint is not None else None  # content errors propagate
        try:
            hw = _probe_pair(cand, align, hint, verify)
        except DataError as exc:
            bad(cand.stem, str(exc))
            continue
        rows = convert(cand, hw, dropped) if convert is not None else np.zeros((0, 5))
        good.append(_Good(cand.stem, cand.ir, cand.vi, rows, cand.part))
    return good, skipped, dropped


def _write(
    out: Path,
    src: Path,
    info: DataInfo,
    good: list[_Good],
    parts: dict[str, list[str]],
    skipped: list[tuple[str, str]],
    *,
    copy: bool,
    overwrite: bool,
) -> None:
    """Write the canonical layout for ``good`` pairs into ``out`` (staged, all or nothing)."""
    with staged_dir(out, overwrite=overwrite) as tmp:
        (tmp / "meta").mkdir()
        if info.labels:
            (tmp / "labels").mkdir()
            for g in good:
                (tmp / "labels" / f"{g.stem}.txt").write_text(format_yolo(g.rows), encoding="utf-8")
        if copy:
            (tmp / "ir").mkdir()
            (tmp / "vi").mkdir()
            for g in good:
                shutil.copyfile(g.ir, tmp / "ir" / f"{g.stem}{g.ir.suffix}")
                shutil.copyfile(g.vi, tmp / "vi" / f"{g.stem}{g.vi.suffix}")
        else:
            # abspath, not resolve(): cheap, and keeps the user's spelling of linked folders
            write_index(tmp, [(g.stem, os.path.abspath(g.ir), os.path.abspath(g.vi)) for g in good])
        for part in SPLITS:
            write_split(tmp, part, parts.get(part, []))
        if skipped:
            atomic_write_text(
                tmp / SKIPPED,
                "".join(f"{stem}\t{why.replace(chr(9), ' ')}\n" for stem, why in skipped),
            )
        info.extra.update({
            "src": os.path.abspath(src),
            "images": "copied" if copy else f"in place (see {INDEX})",
            "pairs": len(good),
            "skipped": len(skipped),
            "imported_by": f"tardal {__version__}",
        })
        write_data_yaml(tmp, info)


def _split_with_own_parts(
    good: list[_Good], nc: int, fractions: tuple[float, float, float], seed: int,
) -> tuple[dict[str, list[str]], bool]:
    """Keep the source's own train/test; carve val from train. Returns parts and whether the
    test part had to be carved from train too (the source has no test pairs)."""
    counts_train = {g.stem: class_counts(g.rows, nc) for g in good if g.part != "test"}
    test = sorted(g.stem for g in good if g.part == "test")
    f_train, f_val, f_test = fractions
    if test:
        denom = f_train + f_val
        sub = (f_train / denom, f_val / denom, 0.0) if denom > 0 else (1.0, 0.0, 0.0)
        parts = stratified_split(counts_train, sub, seed)
        parts["test"] = test
        return parts, False
    return stratified_split(counts_train, fractions, seed), True


def _boxes_per_class(good: list[_Good], names: list[str]) -> dict[str, int]:
    total = np.zeros(len(names), np.int64)
    for g in good:
        total += class_counts(g.rows, len(names))
    return {n: int(c) for n, c in zip(names, total)}


def _finish(
    source: str, src: Path, out: Path, names: list[str], labelled: bool, good: list[_Good],
    parts: dict[str, list[str]], skipped: list[tuple[str, str]], dropped: list[str],
    *, seed: int, fractions: tuple[float, float, float], copy: bool, overwrite: bool,
    extra: dict[str, Any] | None = None,
) -> ImportResult:
    if not good:
        raise DataError(f"no usable pairs found in {src} ({len(skipped)} left out)")
    info = DataInfo(names=list(names), labels=labelled, source=source, seed=seed,
                    split=fractions, extra=dict(extra or {}))
    _write(out, src, info, good, parts, skipped, copy=copy, overwrite=overwrite)
    result = ImportResult(
        out=out, source=source, splits={p: len(parts.get(p, [])) for p in SPLITS},
        boxes=_boxes_per_class(good, names) if labelled else {}, skipped=skipped,
        dropped_boxes=dropped,
    )
    log.debug("%s", result.summary())
    return result


def _voc_converter(names: list[str], strict: bool) -> Converter:
    def convert(cand: _Candidate, hw: tuple[int, int], dropped: list[str]) -> np.ndarray:
        assert cand.ann is not None
        ann = parse_voc(cand.ann, names)
        h, w = hw
        if ann.size is not None and not voc_size_consistent(ann, w, h):
            log.debug("%s: <size> %s disagrees with the image (%dx%d); using the image",
                      cand.ann, ann.size, w, h)
        rows, bad = voc_to_yolo(ann, w, h)
        for k in bad:
            msg = f"{cand.ann}: object {k} has no area inside the {w}x{h} image"
            if strict:
                raise DataError(msg)
            log.warning("dropping a box: %s", msg)
            dropped.append(msg)
        return rows

    return convert


def _voc_size_hint(names: list[str]) -> Callable[[_Candidate], tuple[int, int] | None]:
    """For image formats without a cheap header: the XML <size> when it holds the boxes."""

    def hint(cand: _Candidate) -> tuple[int, int] | None:
        if cand.ann is None or cand.ir is None:
            return None
        if cand.ir.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"):
            return None  # the header is cheaper and authoritative
        ann = parse_voc(cand.ann, names)
        if ann.size is not None and voc_size_consistent(ann):
            return ann.size[1], ann.size[0]
        return None

    return hint


def _common(
    src: str | Path, out: str | Path, split: Any, align: str
) -> tuple[Path, Path, tuple[float, float, float]]:
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise DataError(f"source folder {src} does not exist")
    _check_out(src, out)
    if align not in ("error", "resize"):
        raise DataError(f"align must be 'error' or 'resize', found {align!r}")
    fractions = parse_fractions(split)
    return src, out, fractions


def _check_out_free(out: Path, overwrite: bool) -> None:
    """Fail before any work when the output exists (staged_dir checks again at the end)."""
    if out.exists() and not out.is_dir():
        raise DataError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DataError(f"output folder {out} exists and is not empty (pass --overwrite)")


# ----------------------------------------------------------------------------------------
# Importers
# ----------------------------------------------------------------------------------------


@IMPORTERS.register("m3fd")
def import_m3fd(
    src: str | Path, out: str | Path, *, seed: int = 0,
    split: str | Sequence[float] = (0.7, 0.15, 0.15), copy: bool = False,
    overwrite: bool = False, strict: bool = True, align: str = "error", progress: bool = False,
    verify: bool = False,
) -> ImportResult:
    """M3FD: ``Ir/``, ``Vis/``, ``Annotation/<stem>.xml``; six classes mapped by name."""
    src, out, fractions = _common(src, out, split, align)
    _check_out_free(out, overwrite)
    ir_dir = find_dir(src, ["Ir", "infrared"], "infrared image")
    vi_dir = find_dir(src, ["Vis", "Vi", "visible"], "visible image")
    ann_dir = find_dir(src, ["Annotation", "Annotations"], "VOC annotation")
    assert ir_dir and vi_dir and ann_dir
    cands = _pair_candidates(ir_dir, vi_dir)
    for c in cands:
        xml = ann_dir / f"{c.stem}.xml"
        c.ann = xml if xml.is_file() else None
    good, skipped, dropped = _collect(
        cands, _voc_converter(M3FD_NAMES, strict), strict=strict, align=align,
        progress=progress, verify=verify, ann_kind=f"annotation file {ann_dir}/{{stem}}.xml",
        size_hint=_voc_size_hint(M3FD_NAMES),
    )
    counts = {g.stem: class_counts(g.rows, len(M3FD_NAMES)) for g in good}
    parts = stratified_split(counts, fractions, seed)
    return _finish("m3fd", src, out, M3FD_NAMES, True, good, parts, skipped, dropped,
                   seed=seed, fractions=fractions, copy=copy, overwrite=overwrite,
                   extra={"align": align} if align != "error" else None)


@IMPORTERS.register("llvip")
def import_llvip(
    src: str | Path, out: str | Path, *, seed: int = 0,
    split: str | Sequence[float] = (0.7, 0.15, 0.15), copy: bool = False,
    overwrite: bool = False, strict: bool = True, align: str = "error", progress: bool = False,
    verify: bool = False,
) -> ImportResult:
    """LLVIP: ``infrared/{train,test}/``, ``visible/{train,test}/``, ``Annotations/<stem>.xml``.

    The release's train/test are kept and val is carved from train with the ratio
    ``val / (train + val)`` of ``split``; without a test folder, test is carved from train too.
    """
    src, out, fractions = _common(src, out, split, align)
    _check_out_free(out, overwrite)
    ir_root = find_dir(src, ["infrared"], "infrared image")
    vi_root = find_dir(src, ["visible"], "visible image")
    ann_dir = find_dir(src, ["Annotations", "Annotation"], "VOC annotation")
    assert ir_root and vi_root and ann_dir
    cands: list[_Candidate] = []
    for part in ("train", "test"):
        ir_dir = find_dir(ir_root, [part], f"infrared {part}", required=False)
        vi_dir = find_dir(vi_root, [part], f"visible {part}", required=False)
        if ir_dir is None and vi_dir is None:
            if part == "test":
                log.warning("%s has no test folder; the test part is carved from train", src)
            continue
        cands += _pair_candidates(
            ir_dir or ir_root / part, vi_dir or vi_root / part, part
        )
    if not cands:
        raise DataError(f"{src}: no train or test images in {ir_root} and {vi_root}")
    for c in cands:
        xml = ann_dir / f"{c.stem}.xml"
        c.ann = xml if xml.is_file() else None
    good, skipped, dropped = _collect(
        cands, _voc_converter(LLVIP_NAMES, strict), strict=strict, align=align,
        progress=progress, verify=verify, ann_kind=f"annotation file {ann_dir}/{{stem}}.xml",
        size_hint=_voc_size_hint(LLVIP_NAMES),
    )
    parts, carved = _split_with_own_parts(good, len(LLVIP_NAMES), fractions, seed)
    extra: dict[str, Any] = {"test_from_train": carved}
    if align != "error":
        extra["align"] = align
    return _finish("llvip", src, out, LLVIP_NAMES, True, good, parts, skipped, dropped,
                   seed=seed, fractions=fractions, copy=copy, overwrite=overwrite, extra=extra)


@IMPORTERS.register("msrs")
def import_msrs(
    src: str | Path, out: str | Path, *, seed: int = 0,
    split: str | Sequence[float] = (0.7, 0.15, 0.15), copy: bool = False,
    overwrite: bool = False, strict: bool = True, align: str = "error", progress: bool = False,
    verify: bool = False,
    labels: str = "labels-fusion",
) -> ImportResult:
    """MSRS: ``ir/``, ``vi/``, YOLO labels in ``<labels>/`` and ``classes.txt``.

    ``labels`` picks the label folder (``labels-fusion``, ``labels-infrared``,
    ``labels-visible``, or any path). A source with ``train/`` and ``test/`` sub-folders of
    that shape keeps them as parts and carves val from train. An image without a label file
    has no objects.
    """
    src, out, fractions = _common(src, out, split, align)
    _check_out_free(out, overwrite)
    if find_dir(src, ["ir"], "infrared", required=False) is not None:
        roots: list[tuple[Path, str | None]] = [(src, None)]
    else:
        roots = [(d, p) for p in ("train", "test")
                 if (d := find_dir(src, [p], p, required=False)) is not None]
        if not roots:
            find_dir(src, ["ir"], "infrared image")  # raises, listing what is there
    class_file = next((r / "classes.txt" for r, _ in [(src, None)] + roots
                       if (r / "classes.txt").is_file()), src / "classes.txt")
    names = read_class_list(class_file)
    cands: list[_Candidate] = []
    label_dirs: list[Path] = []
    for root, part in roots:
        ir_dir = find_dir(root, ["ir"], "infrared image")
        vi_dir = find_dir(root, ["vi", "vis"], "visible image")
        assert ir_dir and vi_dir
        label_dir = Path(labels) if Path(labels).is_absolute() else root / labels
        if not label_dir.is_dir():
            options = sorted(p.name for p in root.iterdir()
                             if p.is_dir() and "label" in p.name.lower())
            raise DataError(
                f"label folder {label_dir} does not exist; label folders in {root}: "
                f"{', '.join(options) or '(none)'}"
            )
        label_dirs.append(label_dir)
        for c in _pair_candidates(ir_dir, vi_dir, part):
            txt = label_dir / f"{c.stem}.txt"
            c.ann = txt if txt.is_file() else None
            cands.append(c)

    unlabelled: list[str] = []

    def convert(cand: _Candidate, hw: tuple[int, int], dropped: list[str]) -> np.ndarray:
        if cand.ann is None:
            unlabelled.append(cand.stem)
            return np.zeros((0, 5))
        return read_yolo(cand.ann, len(names))

    good, skipped, dropped = _collect(cands, convert, strict=strict, align=align,
                                      progress=progress, verify=verify)
    if unlabelled:
        log.warning("%d image(s) have no label file and are taken to hold no objects (e.g. %s)",
                    len(unlabelled), unlabelled[0])
    if roots[0][1] is None:
        counts = {g.stem: class_counts(g.rows, len(names)) for g in good}
        parts, carved = stratified_split(counts, fractions, seed), False
    else:
        parts, carved = _split_with_own_parts(good, len(names), fractions, seed)
    extra: dict[str, Any] = {"labels_folder": ", ".join(str(d) for d in label_dirs)}
    if roots[0][1] is not None:
        extra["test_from_train"] = carved
    if align != "error":
        extra["align"] = align
    return _finish("msrs", src, out, names, True, good, parts, skipped, dropped,
                   seed=seed, fractions=fractions, copy=copy, overwrite=overwrite, extra=extra)


@IMPORTERS.register("pairs")
def import_pairs(
    src: str | Path, out: str | Path, *, seed: int = 0,
    split: str | Sequence[float] = (0.7, 0.15, 0.15), copy: bool = False,
    overwrite: bool = False, strict: bool = True, align: str = "error", progress: bool = False,
    verify: bool = False,
) -> ImportResult:
    """Unlabelled pairs: ``ir/`` (or ``infrared/``) and ``vi/`` (or ``vis/``, ``visible/``)."""
    src, out, fractions = _common(src, out, split, align)
    _check_out_free(out, overwrite)
    ir_dir = find_dir(src, ["ir", "infrared"], "infrared image")
    vi_dir = find_dir(src, ["vi", "vis", "visible"], "visible image")
    assert ir_dir and vi_dir
    good, skipped, dropped = _collect(
        _pair_candidates(ir_dir, vi_dir), None, strict=strict, align=align, progress=progress,
        verify=verify,
    )
    parts = stratified_split({g.stem: np.zeros(0) for g in good}, fractions, seed)
    return _finish("pairs", src, out, [], False, good, parts, skipped, dropped,
                   seed=seed, fractions=fractions, copy=copy, overwrite=overwrite,
                   extra={"align": align} if align != "error" else None)


def import_dataset(kind: str, src: str | Path, out: str | Path, **options: Any) -> ImportResult:
    """Run the importer registered as ``kind`` (an unknown kind lists the valid ones)."""
    return IMPORTERS.get(kind)(src, out, **options)
