"""Importers: public infrared/visible releases -> the canonical layout.

``IMPORTERS`` maps a short name to an importer function
``f(src, out, options: ImportOptions | None = None, **extra) -> ImportResult``;
:func:`import_dataset` runs one by name and also takes the options as keywords:

* ``m3fd``: ``Ir/``, ``Vis/``, ``Annotation/*.xml`` (Pascal VOC); classes matched by name
  (ignoring case) to People, Car, Bus, Motorcycle, Lamp, Truck. The split is the canonical one
  shipped in ``data/m3fd/`` (runs of consecutive frames kept in one part, see
  ``tools/make_m3fd_split.py``), or a published one (``split_files``), or with
  ``random_split`` a seeded class-stratified split image by image.
* ``llvip``: ``infrared/{train,test}/``, ``visible/{train,test}/``, ``Annotations/*.xml``,
  class person; its own train/test kept, val carved from train (seeded, stratified). Without a
  ``test/`` folder the test part is carved from train as well.
* ``msrs``: ``ir/``, ``vi/``, a YOLO label folder (``labels=``, default ``labels-fusion``) and
  ``classes.txt``; ``train/`` and ``test/`` sub-folders of that shape are kept as parts.
* ``pairs``: ``ir/`` + ``vi/`` without labels (TNO, RoadScene, a user's own pairs).

Every importer takes a published split instead of making one (``split_files``: a folder with
``train.txt``/``val.txt``/``test.txt``, those files, or COCO JSON files named after their part;
see :func:`tardal.data.split.read_split_files`). Stems the split lists but the source lacks, and
source pairs the split does not list, stop the import (``strict=False``: a warning; unlisted
pairs are left out and listed in ``meta/skipped.tsv``).

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

import dataclasses
import inspect
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

import tardal
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
    DEFAULT_FRACTIONS,
    INDEX,
    LABELS,
    SKIPPED,
    SPLITS,
    DataInfo,
    check_pair_size,
    image_path,
    images_by_stem,
    label_path,
    parse_fractions,
    write_data_yaml,
    write_index,
    write_split,
)
from tardal.data.split import (
    apply_published_split,
    class_counts,
    read_split_files,
    stratified_split,
)
from tardal.errors import ConfigError, DataError
from tardal.io import atomic_write_text, read_raw, staged_dir
from tardal.registry import Registry

log = logging.getLogger(__name__)

IMPORTERS = Registry("data importer")

M3FD_NAMES = ["People", "Car", "Bus", "Motorcycle", "Lamp", "Truck"]
LLVIP_NAMES = ["person"]
ALIGN_MODES = ("error", "resize")


def shipped_split_dir(name: str) -> Path:
    """Where the split shipped with the project for data set ``name`` lives:
    ``<checkout>/data/<name>/`` (beside the package; an installed wheel has none)."""
    return Path(tardal.__file__).resolve().parents[1] / "data" / name


@dataclass(frozen=True)
class ImportOptions:
    """How an import runs (the same for every importer).

    Attributes:
        seed: seed of a split the importer makes (not used with a shipped or published split).
        split: (train, val, test) fractions of a split the importer makes, or a string like
            ``"0.7,0.15,0.15"``; None means the default 0.7, 0.15, 0.15. M3FD refuses it unless
            ``random_split`` (its default split is the shipped one).
        copy: copy the images into ``ROOT/ir``, ``ROOT/vi`` instead of indexing them in place.
        overwrite: replace a non-empty output folder.
        strict: stop at the first unusable pair or split mismatch (else leave out and warn).
        align: ``"error"`` or ``"resize"`` for pairs whose images differ in size.
        progress: show a progress bar.
        verify: decode every image instead of reading headers.
        split_files: a published split (a folder, or files; see
            :func:`tardal.data.split.read_split_files`) used instead of making one.
        random_split: M3FD only: make a seeded class-stratified split image by image instead of
            using the shipped split (neighbouring frames then land in different parts).
    """

    seed: int | None = None
    split: str | Sequence[float] | None = None
    copy: bool = False
    overwrite: bool = False
    strict: bool = True
    align: str = "error"
    progress: bool = False
    verify: bool = False
    split_files: tuple[Path, ...] | None = None
    random_split: bool = False

    def __post_init__(self) -> None:
        if self.align not in ALIGN_MODES:
            raise ConfigError(f"align must be one of {', '.join(ALIGN_MODES)}, found "
                              f"{self.align!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ConfigError(f"seed must be an integer, found {self.seed!r}")
        if self.split is not None:
            object.__setattr__(self, "split", parse_fractions(self.split))
        if self.split_files is not None:
            files = (self.split_files,) if isinstance(self.split_files, (str, Path)) \
                else self.split_files
            object.__setattr__(self, "split_files", tuple(Path(f) for f in files))
            if not self.split_files:
                raise ConfigError("split_files is empty: give a folder or split files")
            if self.random_split:
                raise ConfigError("give either a published split (--split-file) or "
                                  "--random-split, not both")
            if self.split is not None or self.seed is not None:
                raise ConfigError("--split and --seed make a split; they cannot be combined "
                                  "with a published split (--split-file)")

    @property
    def fractions(self) -> tuple[float, float, float]:
        return self.split if self.split is not None else DEFAULT_FRACTIONS  # type: ignore[return-value]

    @property
    def split_seed(self) -> int:
        return 0 if self.seed is None else int(self.seed)


_OPTION_NAMES = tuple(f.name for f in dataclasses.fields(ImportOptions))


@dataclass
class ImportResult:
    """What an import produced: counts per part and class, and the pairs left out."""

    out: Path
    source: str
    splits: dict[str, int]
    boxes: dict[str, int]  # class name -> boxes
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (stem, reason)
    dropped_boxes: list[str] = field(default_factory=list)  # "file: object k" with no area
    split_from: str = ""  # how the split was made

    @property
    def pairs(self) -> int:
        return sum(self.splits.values())

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in self.splits.items())
        lines = [f"imported {self.pairs} pairs ({self.source}) into {self.out}: {parts}"]
        if self.split_from:
            lines.append(f"split: {self.split_from}")
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


@dataclass
class _Collected:
    """What :func:`_collect` found: usable pairs, pairs left out (stem, reason), dropped boxes."""

    good: list[_Good]
    skipped: list[tuple[str, str]]
    dropped: list[str]

    def counts(self, nc: int, exclude_part: str | None = None) -> dict[str, np.ndarray]:
        return {g.stem: class_counts(g.rows, nc) for g in self.good
                if exclude_part is None or g.part != exclude_part}


@dataclass
class _Job:
    """One import: what is read, where it goes, and how."""

    source: str  # importer name
    src: Path
    out: Path
    names: list[str]
    labelled: bool
    opts: ImportOptions


# A converter turns a candidate and its infrared (height, width) into YOLO rows, raising
# DataError for content errors; it may append "file: object k" strings for dropped boxes.
Converter = Callable[[_Candidate, tuple[int, int], list[str]], np.ndarray]


# ----------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------


def find_dir(parent: Path, choices: Sequence[str], what: str) -> Path:
    """The sub-folder of ``parent`` named like one of ``choices`` (ignoring case); DataError
    naming the folders that are there when none is."""
    found = find_optional_dir(parent, choices)
    if found is None:
        subdirs = sorted(p.name for p in parent.iterdir() if p.is_dir())
        raise DataError(f"{parent}: expected a {what} folder named {' or '.join(choices)}; "
                        f"found: {', '.join(subdirs) or '(no folders)'}")
    return found


def find_optional_dir(parent: Path, choices: Sequence[str]) -> Path | None:
    """Like :func:`find_dir`, but None when there is no such folder."""
    if not parent.is_dir():
        raise DataError(f"source folder {parent} does not exist")
    subdirs = {p.name.lower(): p for p in sorted(parent.iterdir()) if p.is_dir()}
    for name in choices:
        if name.lower() in subdirs:
            return subdirs[name.lower()]
    return None


def _check_out(src: Path, out: Path) -> None:
    s, o = src.resolve(), out.resolve()
    if s == o or o in s.parents:
        raise DataError(f"output folder {out} must not be the source folder {src} or contain it")


def _pair_candidates(
    ir_dir: Path, vi_dir: Path, part: str | None = None
) -> list[_Candidate]:
    irs, vis = images_by_stem(ir_dir, "infrared"), images_by_stem(vi_dir, "visible")
    return [_Candidate(s, irs.get(s), vis.get(s), None, part) for s in sorted(set(irs) | set(vis))]


def _image_size(path: Path, verify: bool, fallback: tuple[int, int] | None) -> tuple[int, int]:
    """(height, width) of an image: decoded (``verify``), from its header, or, for formats
    without a cheap header, ``fallback`` when given and a full decode otherwise."""
    if verify:
        img = read_raw(path)
        return int(img.shape[0]), int(img.shape[1])
    size = probe_size(path, decode=fallback is None)
    return size if size is not None else fallback  # type: ignore[return-value]


def _probe_pair(
    stem: str, ir: Path, vi: Path, align: str, fallback: tuple[int, int] | None = None,
    verify: bool = False,
) -> tuple[int, int]:
    """Infrared (height, width) from the headers (or, with ``verify``, by decoding both
    images); DataError when the pair cannot be used."""
    ir_hw = _image_size(ir, verify, fallback)
    vi_hw = _image_size(vi, verify, fallback)
    if align != "resize":
        check_pair_size(stem, ir, ir_hw, vi, vi_hw,
                        hint="pass --align resize to keep such pairs (the visible image is "
                        "then resized to the infrared size when read)")
    return ir_hw


def _collect(
    candidates: list[_Candidate],
    convert: Converter | None,
    opts: ImportOptions,
    *,
    ann_kind: str = "",  # e.g. "annotation file DIR/{stem}.xml"; required when given
    size_hint: Callable[[_Candidate], tuple[int, int] | None] | None = None,
) -> _Collected:
    """Check every candidate; convert its labels."""
    from tqdm import tqdm

    found = _Collected([], [], [])
    stems_seen: dict[str, _Candidate] = {}

    def bad(stem: str, reason: str) -> None:
        if opts.strict:
            raise DataError(f"pair {stem!r}: {reason} (pass --skip-bad to leave such pairs out)")
        log.warning("leaving out pair %r: %s", stem, reason)
        found.skipped.append((stem, reason))

    for cand in tqdm(candidates, desc="import", unit="pair", disable=not opts.progress,
                     leave=False):
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
            hw = _probe_pair(cand.stem, cand.ir, cand.vi, opts.align, hint, opts.verify)
        except DataError as exc:
            bad(cand.stem, str(exc))
            continue
        rows = convert(cand, hw, found.dropped) if convert is not None else np.zeros((0, 5))
        found.good.append(_Good(cand.stem, cand.ir, cand.vi, rows, cand.part))
    return found


def _write(job: _Job, info: DataInfo, good: list[_Good], parts: dict[str, list[str]],
           skipped: list[tuple[str, str]]) -> None:
    """Write the canonical layout for ``good`` pairs into ``job.out`` (staged, all or nothing).
    Every path comes from :mod:`tardal.data.layout`."""
    opts = job.opts
    with staged_dir(job.out, overwrite=opts.overwrite) as tmp:
        (tmp / "meta").mkdir()
        if info.labels:
            (tmp / LABELS).mkdir()
            for g in good:
                label_path(tmp, g.stem).write_text(format_yolo(g.rows), encoding="utf-8")
        if opts.copy:
            (tmp / "ir").mkdir()
            (tmp / "vi").mkdir()
            for g in good:
                shutil.copyfile(g.ir, image_path(tmp, "ir", g.stem, g.ir.suffix))
                shutil.copyfile(g.vi, image_path(tmp, "vi", g.stem, g.vi.suffix))
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
            "src": os.path.abspath(job.src),
            "images": "copied" if opts.copy else f"in place (see {INDEX})",
            "pairs": len(good),
            "skipped": len(skipped),
            "imported_by": f"tardal {__version__}",
        })
        write_data_yaml(tmp, info)


def _split_with_own_parts(
    found: _Collected, nc: int, fractions: tuple[float, float, float], seed: int,
) -> tuple[dict[str, list[str]], bool]:
    """Keep the source's own train/test; carve val from train. Returns parts and whether the
    test part had to be carved from train too (the source has no test pairs)."""
    counts_train = found.counts(nc, exclude_part="test")
    test = sorted(g.stem for g in found.good if g.part == "test")
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


def _finish(job: _Job, found: _Collected, make_parts: Callable[[], dict[str, list[str]]],
            extra: dict[str, Any] | None = None, shipped: Path | None = None) -> ImportResult:
    """Choose the split, write the set, and report.

    The split is the published one (``opts.split_files``), else the shipped one (``shipped``,
    unless ``opts.random_split``), else what ``make_parts`` makes from the found pairs.
    """
    opts = job.opts
    if not found.good:
        raise DataError(f"no usable pairs found in {job.src} ({len(found.skipped)} left out)")
    extra = extra if extra is not None else {}  # make_parts may still add to it
    if opts.align != "error":
        extra["align"] = opts.align
    skipped = list(found.skipped)
    files = opts.split_files
    if files is None and shipped is not None and not opts.random_split:
        if not shipped.is_dir():
            raise DataError(
                f"the {job.source} split shipped with the project is not at {shipped} (an "
                "installed package carries no data/ folder): pass --split-file DIR with "
                "train.txt, val.txt, test.txt, or --random-split for a seeded split image by "
                "image")
        files = (shipped,)
    if files is not None:
        published = read_split_files(files)
        parts, unlisted = apply_published_split(
            published, [g.stem for g in found.good], strict=opts.strict,
            left_out=[s for s, _ in found.skipped])
        skipped += unlisted
        good = [g for g in found.good if g.stem not in {s for s, _ in unlisted}]
        total = sum(len(v) for v in parts.values())
        fractions = tuple(len(parts.get(p, [])) / total for p in SPLITS) if total else \
            DEFAULT_FRACTIONS
        split_from = f"published split {published.describe()}"
        if files == (shipped,):
            split_from = f"the split shipped in {shipped}"
        extra["split_from"] = split_from
        seed = 0
    else:
        good = found.good
        parts = make_parts()
        fractions = opts.fractions
        seed = opts.split_seed
        split_from = f"seeded split (seed {seed}, fractions {', '.join(f'{f:g}' for f in fractions)})"
    if not good:
        raise DataError(f"no pairs of {job.src} are listed in the split ({split_from})")
    info = DataInfo(names=list(job.names), labels=job.labelled, source=job.source, seed=seed,
                    split=fractions, extra=extra)  # type: ignore[arg-type]
    _write(job, info, good, parts, skipped)
    result = ImportResult(
        out=job.out, source=job.source, splits={p: len(parts.get(p, [])) for p in SPLITS},
        boxes=_boxes_per_class(good, job.names) if job.labelled else {}, skipped=skipped,
        dropped_boxes=found.dropped, split_from=split_from,
    )
    log.debug("%s", result.summary())
    return result


def _voc_converter(names: list[str], strict: bool) -> Converter:
    def convert(cand: _Candidate, hw: tuple[int, int], dropped: list[str]) -> np.ndarray:
        assert cand.ann is not None  # _collect skips candidates without an annotation
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


def _job(source: str, src: str | Path, out: str | Path, names: list[str], labelled: bool,
         options: ImportOptions | None) -> _Job:
    """Check the source and output folders (before any work) and bundle the import."""
    opts = options if options is not None else ImportOptions()
    if not isinstance(opts, ImportOptions):
        raise ConfigError(f"options must be an ImportOptions, found {type(opts).__name__}")
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise DataError(f"source folder {src} does not exist")
    _check_out(src, out)
    if out.exists() and not out.is_dir():
        raise DataError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not opts.overwrite:
        raise DataError(f"output folder {out} exists and is not empty (pass --overwrite)")
    return _Job(source, src, out, list(names), labelled, opts)


def _attach_annotations(cands: list[_Candidate], folder: Path, suffix: str) -> None:
    for c in cands:
        path = folder / f"{c.stem}{suffix}"
        c.ann = path if path.is_file() else None


# ----------------------------------------------------------------------------------------
# Importers
# ----------------------------------------------------------------------------------------


@IMPORTERS.register("m3fd")
def import_m3fd(src: str | Path, out: str | Path,
                options: ImportOptions | None = None) -> ImportResult:
    """M3FD: ``Ir/``, ``Vis/``, ``Annotation/<stem>.xml``; six classes mapped by name.

    The split is the one shipped in ``data/m3fd/`` unless ``options`` gives ``split_files``
    or ``random_split`` (then ``split`` and ``seed`` apply).
    """
    job = _job("m3fd", src, out, M3FD_NAMES, True, options)
    opts = job.opts
    if (opts.split is not None or opts.seed is not None) and not opts.random_split \
            and opts.split_files is None:
        raise ConfigError(
            "--split and --seed make a random split; M3FD uses the shipped split of runs of "
            f"frames ({shipped_split_dir('m3fd')}) unless --random-split is given (neighbouring "
            "frames then land in different parts) or --split-file names another")
    ir_dir = find_dir(job.src, ["Ir", "infrared"], "infrared image")
    vi_dir = find_dir(job.src, ["Vis", "Vi", "visible"], "visible image")
    ann_dir = find_dir(job.src, ["Annotation", "Annotations"], "VOC annotation")
    cands = _pair_candidates(ir_dir, vi_dir)
    _attach_annotations(cands, ann_dir, ".xml")
    found = _collect(cands, _voc_converter(M3FD_NAMES, opts.strict), opts,
                     ann_kind=f"annotation file {ann_dir}/{{stem}}.xml",
                     size_hint=_voc_size_hint(M3FD_NAMES))
    return _finish(
        job, found,
        lambda: stratified_split(found.counts(len(M3FD_NAMES)), opts.fractions, opts.split_seed),
        shipped=shipped_split_dir("m3fd"))


@IMPORTERS.register("llvip")
def import_llvip(src: str | Path, out: str | Path,
                 options: ImportOptions | None = None) -> ImportResult:
    """LLVIP: ``infrared/{train,test}/``, ``visible/{train,test}/``, ``Annotations/<stem>.xml``.

    The release's train/test are kept and val is carved from train with the ratio
    ``val / (train + val)`` of ``split``; without a test folder, test is carved from train too.
    """
    job = _job("llvip", src, out, LLVIP_NAMES, True, options)
    opts = job.opts
    ir_root = find_dir(job.src, ["infrared"], "infrared image")
    vi_root = find_dir(job.src, ["visible"], "visible image")
    ann_dir = find_dir(job.src, ["Annotations", "Annotation"], "VOC annotation")
    cands: list[_Candidate] = []
    for part in ("train", "test"):
        ir_dir = find_optional_dir(ir_root, [part])
        vi_dir = find_optional_dir(vi_root, [part])
        if ir_dir is None and vi_dir is None:
            if part == "test":
                log.warning("%s has no test folder; the test part is carved from train", job.src)
            continue
        cands += _pair_candidates(ir_dir or ir_root / part, vi_dir or vi_root / part, part)
    if not cands:
        raise DataError(f"{job.src}: no train or test images in {ir_root} and {vi_root}")
    _attach_annotations(cands, ann_dir, ".xml")
    found = _collect(cands, _voc_converter(LLVIP_NAMES, opts.strict), opts,
                     ann_kind=f"annotation file {ann_dir}/{{stem}}.xml",
                     size_hint=_voc_size_hint(LLVIP_NAMES))
    extra: dict[str, Any] = {}

    def make_parts() -> dict[str, list[str]]:
        parts, extra["test_from_train"] = _split_with_own_parts(
            found, len(LLVIP_NAMES), opts.fractions, opts.split_seed)
        return parts

    return _finish(job, found, make_parts, extra)


@IMPORTERS.register("msrs")
def import_msrs(src: str | Path, out: str | Path, options: ImportOptions | None = None,
                *, labels: str = "labels-fusion") -> ImportResult:
    """MSRS: ``ir/``, ``vi/``, YOLO labels in ``<labels>/`` and ``classes.txt``.

    ``labels`` picks the label folder (``labels-fusion``, ``labels-infrared``,
    ``labels-visible``, or any path). A source with ``train/`` and ``test/`` sub-folders of
    that shape keeps them as parts and carves val from train. An image without a label file
    has no objects.
    """
    src = Path(src)
    if src.is_dir() and find_optional_dir(src, ["ir"]) is not None:
        roots: list[tuple[Path, str | None]] = [(src, None)]
    elif src.is_dir():
        roots = [(d, p) for p in ("train", "test")
                 if (d := find_optional_dir(src, [p])) is not None]
        if not roots:
            find_dir(src, ["ir"], "infrared image")  # raises, listing what is there
    else:
        roots = []
    class_file = next((r / "classes.txt" for r, _ in [(src, None)] + roots
                       if (r / "classes.txt").is_file()), src / "classes.txt")
    names = read_class_list(class_file) if src.is_dir() else []
    job = _job("msrs", src, out, names, True, options)
    opts = job.opts
    cands: list[_Candidate] = []
    label_dirs: list[Path] = []
    for root, part in roots:
        ir_dir = find_dir(root, ["ir"], "infrared image")
        vi_dir = find_dir(root, ["vi", "vis"], "visible image")
        label_dir = Path(labels) if Path(labels).is_absolute() else root / labels
        if not label_dir.is_dir():
            options_found = sorted(p.name for p in root.iterdir()
                                   if p.is_dir() and "label" in p.name.lower())
            raise DataError(
                f"label folder {label_dir} does not exist; label folders in {root}: "
                f"{', '.join(options_found) or '(none)'}"
            )
        label_dirs.append(label_dir)
        part_cands = _pair_candidates(ir_dir, vi_dir, part)
        _attach_annotations(part_cands, label_dir, ".txt")
        cands += part_cands

    unlabelled: list[str] = []

    def convert(cand: _Candidate, hw: tuple[int, int], dropped: list[str]) -> np.ndarray:
        if cand.ann is None:
            unlabelled.append(cand.stem)
            return np.zeros((0, 5))
        return read_yolo(cand.ann, len(names))

    found = _collect(cands, convert, opts)
    if unlabelled:
        log.warning("%d image(s) have no label file and are taken to hold no objects (e.g. %s)",
                    len(unlabelled), unlabelled[0])
    own_parts = roots[0][1] is not None
    extra: dict[str, Any] = {"labels_folder": ", ".join(str(d) for d in label_dirs)}

    def make_parts() -> dict[str, list[str]]:
        if not own_parts:
            return stratified_split(found.counts(len(names)), opts.fractions, opts.split_seed)
        parts, extra["test_from_train"] = _split_with_own_parts(
            found, len(names), opts.fractions, opts.split_seed)
        return parts

    return _finish(job, found, make_parts, extra)


@IMPORTERS.register("pairs")
def import_pairs(src: str | Path, out: str | Path,
                 options: ImportOptions | None = None) -> ImportResult:
    """Unlabelled pairs: ``ir/`` (or ``infrared/``) and ``vi/`` (or ``vis/``, ``visible/``)."""
    job = _job("pairs", src, out, [], False, options)
    opts = job.opts
    ir_dir = find_dir(job.src, ["ir", "infrared"], "infrared image")
    vi_dir = find_dir(job.src, ["vi", "vis", "visible"], "visible image")
    found = _collect(_pair_candidates(ir_dir, vi_dir), None, opts)
    return _finish(job, found, lambda: stratified_split(
        {g.stem: np.zeros(0) for g in found.good}, opts.fractions, opts.split_seed))


def import_dataset(kind: str, src: str | Path, out: str | Path,
                   options: ImportOptions | None = None, **keywords: Any) -> ImportResult:
    """Run the importer registered as ``kind`` (an unknown kind lists the valid ones).

    ``options`` and keyword arguments combine: keywords named like :class:`ImportOptions`
    fields (``seed``, ``split``, ``strict``, ...) override ``options``; any other keyword goes
    to the importer (``labels`` for msrs). An unknown keyword raises ConfigError.
    """
    importer = IMPORTERS.get(kind)
    fields = {k: v for k, v in keywords.items() if k in _OPTION_NAMES}
    extra = {k: v for k, v in keywords.items() if k not in _OPTION_NAMES}
    opts = dataclasses.replace(options or ImportOptions(), **fields)
    accepted = [n for n, p in inspect.signature(importer).parameters.items()
                if p.kind == p.KEYWORD_ONLY]
    unknown = sorted(set(extra) - set(accepted))
    if unknown:
        raise ConfigError(f"importer {kind!r}: unknown option(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(list(_OPTION_NAMES) + accepted)}")
    return importer(src, out, opts, **extra)
