"""The canonical on-disk layout: ``data.yaml``, split files, ``index.tsv`` and pair resolution.

::

    ROOT/ir/<stem>.<ext>   ROOT/vi/<stem>.<ext>   ROOT/labels/<stem>.txt
    ROOT/meta/train.txt, val.txt, test.txt     one stem per line (missing or empty: no images)
    ROOT/meta/index.tsv                        optional: stem<TAB>ir_path<TAB>vi_path
    ROOT/meta/conditions.tsv                   optional: stem<TAB>condition (synthetic set)
    ROOT/data.yaml                             names, labels, source, seed, split, ...

When ``meta/index.tsv`` exists it says where every pair's images are (paths relative to ROOT or
absolute) and ``ROOT/ir``, ``ROOT/vi`` are not looked at. Labels always live in
``ROOT/labels``. Nothing here decodes an image.

This module owns the layout: every writer (the importers, the synthetic generator) builds its
paths with :func:`image_path` and :func:`label_path` and writes the meta files through the
``write_*`` functions here. A stem is a plain file name without extension: stems holding a path
separator or ``..``, or absolute ones, are refused wherever they are read or written
(:func:`check_stem`), so no path built from a stem can leave the data set folder.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

import yaml

from tardal.errors import ConfigError, DataError
from tardal.io import IMAGE_SUFFIXES, atomic_write_text, list_images

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
ALL = "all"  # pseudo split: every pair of the set
DATA_YAML = "data.yaml"
INDEX = "meta/index.tsv"
SKIPPED = "meta/skipped.tsv"
CONDITIONS = "meta/conditions.tsv"
MODALITIES = ("ir", "vi")  # image folders: infrared, visible
LABELS = "labels"
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


class Pair(NamedTuple):
    """One registered pair: its stem and the paths of its files (``label`` None if unlabelled)."""

    stem: str
    ir: Path
    vi: Path
    label: Path | None


@dataclass
class DataInfo:
    """The contents of ``data.yaml``.

    ``names``: class names in id order (empty for unlabelled sets); ``labels``: whether
    ``ROOT/labels`` holds a file per pair; ``source``: synth, m3fd, llvip, msrs, pairs, ...;
    ``seed`` and ``split``: how the split files were made; ``extra``: any further keys, kept.
    """

    names: list[str] = field(default_factory=list)
    labels: bool = False
    source: str = "unknown"
    seed: int = 0
    split: tuple[float, float, float] = DEFAULT_FRACTIONS
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "names": list(self.names),
            "labels": bool(self.labels),
            "source": self.source,
            "seed": int(self.seed),
            "split": [float(f) for f in self.split],
        }
        out.update(self.extra)
        return out


# ----------------------------------------------------------------------------------------
# data.yaml
# ----------------------------------------------------------------------------------------


def read_data_yaml(root: str | Path) -> DataInfo:
    """Read ``ROOT/data.yaml``; raises DataError naming the file and key when it is malformed."""
    path = Path(root) / DATA_YAML
    if not path.is_file():
        raise DataError(
            f"{path} does not exist: {Path(root)} is not a data set in the canonical layout "
            "(create one with 'tardal data import' or 'tardal data synth')"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise DataError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a mapping at the top level, found {type(data).__name__}")
    data = dict(data)
    names = data.pop("names", [])
    if isinstance(names, dict):  # Ultralytics also writes {0: name, 1: name}
        try:
            names = [names[i] for i in range(len(names))]
        except KeyError:
            raise DataError(f"{path}: key 'names' as a mapping must have keys 0..n-1") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DataError(f"{path}: key 'names' must be a list of class names, found {names!r}")
    labels = data.pop("labels", bool(names))
    if not isinstance(labels, bool):
        raise DataError(f"{path}: key 'labels' must be true or false, found {labels!r}")
    source = str(data.pop("source", "unknown"))
    seed = data.pop("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DataError(f"{path}: key 'seed' must be an integer, found {seed!r}")
    split = data.pop("split", list(DEFAULT_FRACTIONS))
    try:
        split_t = parse_fractions(split, what=f"{path}: key 'split'")
    except ConfigError as exc:  # a bad file, not a bad option
        raise DataError(str(exc)) from None
    return DataInfo(names=names, labels=labels, source=source, seed=seed, split=split_t, extra=data)


def write_data_yaml(root: str | Path, info: DataInfo) -> None:
    """Write ``ROOT/data.yaml`` (atomically)."""
    text = yaml.safe_dump(info.to_dict(), sort_keys=False, default_flow_style=None)
    atomic_write_text(Path(root) / DATA_YAML, text)


def parse_fractions(value: str | Sequence[float], what: str = "--split") -> tuple[float, float, float]:
    """``"0.7,0.15,0.15"`` or a list -> (train, val, test) fractions summing to 1.

    Two values mean (train, val) with no test part. ``what`` names the option or key in error
    messages. Raises :class:`~tardal.errors.ConfigError` for anything else (wrong count, not a
    number, NaN or infinite, negative, a sum other than 1).
    """
    if isinstance(value, str):
        parts: list[Any] = [p for p in value.replace(" ", "").split(",") if p]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise ConfigError(f"{what}: expected fractions like 0.7,0.15,0.15, found {value!r}")
    try:
        nums = [float(p) for p in parts]
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: expected numbers like 0.7,0.15,0.15, found {value!r}") from None
    if len(nums) == 2:
        nums.append(0.0)
    if len(nums) != 3:
        raise ConfigError(
            f"{what}: expected 3 fractions train,val,test, found {len(nums)} in {value!r}")
    if not all(math.isfinite(n) and n >= 0 for n in nums) or abs(sum(nums) - 1.0) > 1e-6:
        raise ConfigError(
            f"{what}: fractions must be >= 0 and sum to 1, found {value!r} (sum {sum(nums):g})")
    return (nums[0], nums[1], nums[2])


# ----------------------------------------------------------------------------------------
# Stems and paths
# ----------------------------------------------------------------------------------------


def check_stem(stem: str, where: str) -> str:
    """Return ``stem`` when it is a plain file stem; DataError naming ``where`` otherwise.

    Refused: an empty stem, a path separator (``/`` or ``\\``), ``..`` anywhere, an absolute
    path or a drive (``C:``), a tab or line break. Such a stem would build a path outside the
    folder it is joined to (``ROOT/labels/<stem>.txt``, an output folder of fused images, ...).
    ``where`` is the file and line (``meta/train.txt:3``) or what was being written.
    """
    bad = ""
    if not stem:
        bad = "it is empty"
    elif "/" in stem or "\\" in stem:
        bad = "it holds a path separator"
    elif ".." in stem:
        bad = "it holds '..'"
    elif os.path.isabs(stem) or (len(stem) >= 2 and stem[1] == ":"):
        bad = "it is an absolute path"
    elif any(c in stem for c in "\t\r\n"):
        bad = "it holds a tab or line break"
    if bad:
        raise DataError(f"{where}: stem {stem!r} is refused: {bad} (a stem is a file name "
                        "without folder or extension, e.g. 00390)")
    return stem


def image_path(root: str | Path, modality: str, stem: str, suffix: str) -> Path:
    """``ROOT/<modality>/<stem><suffix>``; ``modality`` is ``ir`` or ``vi``, ``suffix`` e.g.
    ``.png``."""
    assert modality in MODALITIES, modality
    return Path(root) / modality / f"{check_stem(stem, f'image path in {root}')}{suffix}"


def label_path(root: str | Path, stem: str) -> Path:
    """``ROOT/labels/<stem>.txt``."""
    return Path(root) / LABELS / f"{check_stem(stem, f'label path in {root}')}.txt"


def images_by_stem(folder: str | Path, role: str = "image", required: bool = False
                   ) -> dict[str, Path]:
    """Image files directly in ``folder`` keyed by stem, in name order.

    Files without an image suffix and hidden files are ignored. A missing folder gives ``{}``,
    or with ``required`` a DataError; two files with one stem (``a.png``, ``a.jpg``) raise
    DataError naming both. ``role`` names the folder in messages (``infrared``, ``visible``,
    ``fused``, ...). This is the one place where image files are matched by stem.
    """
    folder = Path(folder)
    if not folder.is_dir():
        if required:
            raise DataError(f"{role} folder {folder} does not exist")
        return {}
    out: dict[str, Path] = {}
    for p in list_images(folder):
        if p.name.startswith("."):
            continue
        if p.stem in out:
            raise DataError(
                f"{role} folder {folder} holds two images with stem {p.stem!r}: "
                f"{out[p.stem].name}, {p.name}"
            )
        out[p.stem] = p
    return out


def size_mismatch(stem: str, ir: Path, ir_hw: tuple[int, int], vi: Path,
                  vi_hw: tuple[int, int]) -> str | None:
    """The message for a pair whose infrared and visible sizes differ, or None when equal.

    Sizes are (height, width); the message gives them as width x height and names both files.
    This is the one place where pair sizes are compared; callers add how to proceed.
    """
    if tuple(ir_hw) == tuple(vi_hw):
        return None
    return (f"pair {stem!r}: infrared {ir} is {ir_hw[1]}x{ir_hw[0]} but visible {vi} is "
            f"{vi_hw[1]}x{vi_hw[0]} (width x height)")


def check_pair_size(stem: str, ir: Path, ir_hw: tuple[int, int], vi: Path,
                    vi_hw: tuple[int, int], hint: str = "") -> None:
    """Raise DataError (:func:`size_mismatch`'s message, then ``hint``) when the sizes differ."""
    msg = size_mismatch(stem, ir, ir_hw, vi, vi_hw)
    if msg is not None:
        raise DataError(f"{msg}; {hint}" if hint else msg)


# ----------------------------------------------------------------------------------------
# Split files, index and conditions
# ----------------------------------------------------------------------------------------


def split_path(root: str | Path, split: str) -> Path:
    return Path(root) / "meta" / f"{split}.txt"


def read_stem_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stem) of a one-stem-per-line file, in file order.

    Blank lines, surrounding spaces and ``#`` comment lines are ignored; a stem listed twice or
    refused by :func:`check_stem` raises DataError naming the file and line(s).
    """
    out: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        stem = line.strip()
        if not stem or stem.startswith("#"):
            continue
        check_stem(stem, f"{path}:{lineno}")
        if stem in seen:
            raise DataError(f"{path}:{lineno}: stem {stem!r} already listed on line {seen[stem]}")
        seen[stem] = lineno
        out.append((lineno, stem))
    return out


def read_split(root: str | Path, split: str) -> list[str]:
    """Stems listed in ``ROOT/meta/<split>.txt`` in file order; a missing file gives [].

    Blank lines, surrounding spaces and ``#`` comment lines are ignored; a stem listed twice,
    or one with a path separator, ``..`` or an absolute path, raises DataError naming the file
    and line.
    """
    path = split_path(root, split)
    if not path.is_file():
        log.debug("%s does not exist: split %r is empty", path, split)
        return []
    return [stem for _, stem in read_stem_lines(path)]


def write_split(root: str | Path, split: str, stems: Iterable[str]) -> None:
    """Write ``ROOT/meta/<split>.txt`` (one stem per line; an empty file for no stems)."""
    path = split_path(root, split)
    text = "".join(f"{check_stem(s, f'writing {path}')}\n" for s in stems)
    atomic_write_text(path, text)


def read_index(root: str | Path) -> dict[str, tuple[Path, Path]] | None:
    """``ROOT/meta/index.tsv`` as stem -> (ir_path, vi_path), or None when there is no index.

    Relative paths are taken relative to ROOT. Raises DataError with file and line for a line
    without exactly three tab-separated fields, a stem listed twice, or a stem refused by
    :func:`check_stem`.
    """
    root = Path(root)
    path = root / INDEX
    if not path.is_file():
        return None
    out: dict[str, tuple[Path, Path]] = {}
    lines: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.rstrip("\r\n").split("\t")
        if len(fields) != 3 or not all(f.strip() for f in fields):
            raise DataError(
                f"{path}:{lineno}: expected 'stem<TAB>ir_path<TAB>vi_path', "
                f"found {len(fields)} tab-separated field(s): {line!r}"
            )
        stem, ir, vi = (f.strip() for f in fields)
        check_stem(stem, f"{path}:{lineno}")
        if stem in out:
            raise DataError(f"{path}:{lineno}: stem {stem!r} already listed on line {lines[stem]}")
        lines[stem] = lineno
        out[stem] = (root / ir, root / vi)  # an absolute path stays absolute
    return out


def write_index(root: str | Path, rows: Iterable[tuple[str, str | Path, str | Path]]) -> None:
    """Write ``ROOT/meta/index.tsv`` from (stem, ir_path, vi_path) rows."""
    lines = []
    for stem, ir, vi in rows:
        check_stem(stem, f"writing {INDEX}")
        for p in (str(ir), str(vi)):
            if "\t" in p or "\n" in p:
                raise DataError(f"cannot write {p!r} into {INDEX}: it holds a tab or newline")
        lines.append(f"{stem}\t{ir}\t{vi}\n")
    atomic_write_text(Path(root) / INDEX, "".join(lines))


def write_conditions(root: str | Path, rows: Iterable[tuple[str, str]]) -> None:
    """Write ``ROOT/meta/conditions.tsv`` from (stem, condition) rows (the synthetic set)."""
    lines = []
    for stem, cond in rows:
        check_stem(stem, f"writing {CONDITIONS}")
        if not cond or any(c in cond for c in "\t\r\n"):
            raise DataError(f"cannot write condition {cond!r} of {stem!r} into {CONDITIONS}")
        lines.append(f"{stem}\t{cond}\n")
    atomic_write_text(Path(root) / CONDITIONS, "".join(lines))


def read_conditions(root: str | Path) -> dict[str, str] | None:
    """``ROOT/meta/conditions.tsv`` as stem -> condition, or None when the file is absent.

    A line without two tab-separated fields, a stem listed twice or a refused stem raises
    DataError naming the file and line.
    """
    path = Path(root) / CONDITIONS
    if not path.is_file():
        return None
    out: dict[str, str] = {}
    lines: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) != 2 or not all(fields):
            raise DataError(f"{path}:{lineno}: expected 'stem<TAB>condition', found {line!r}")
        stem, cond = fields
        check_stem(stem, f"{path}:{lineno}")
        if stem in out:
            raise DataError(f"{path}:{lineno}: stem {stem!r} already listed on line {lines[stem]}")
        lines[stem] = lineno
        out[stem] = cond
    return out


# ----------------------------------------------------------------------------------------
# Resolving pairs
# ----------------------------------------------------------------------------------------


def _missing_partner(stem: str, have: Path, missing_kind: str, where: Path) -> str:
    return f"{have} has no {missing_kind} partner (looked for {where}/{stem}.*)"


def _summarise(problems: list[str], what: str) -> str:
    shown = "; ".join(problems[:5])
    more = f"; ... and {len(problems) - 5} more" if len(problems) > 5 else ""
    return f"{len(problems)} {what}: {shown}{more}"


def all_stems(root: str | Path) -> list[str]:
    """Every stem of the set (from the index if there is one, else ir/ and vi/), sorted."""
    root = Path(root)
    index = read_index(root)
    if index is not None:
        return sorted(index)
    return sorted(set(images_by_stem(root / "ir", "infrared"))
                  | set(images_by_stem(root / "vi", "visible")))


def split_stems(root: str | Path, split: str) -> list[str]:
    """Stems of ``split`` (train, val, test, another meta/<name>.txt, or ``all``)."""
    return all_stems(root) if split == ALL else read_split(root, split)


def resolve_pairs(
    root: str | Path,
    stems: Sequence[str] | None = None,
    *,
    labels: bool = True,
    check_files: bool = True,
) -> list[Pair]:
    """Map stems to their files.

    Args:
        root: data set root.
        stems: the stems to resolve, in order; None resolves every pair of the set.
        labels: attach ``ROOT/labels/<stem>.txt`` to each pair (and require it).
        check_files: with an index, require every listed file to exist.

    Raises:
        DataError: a stem has no infrared or no visible image (the message names the file that
            has no partner, or the stem and where it was looked for), a label file is missing,
            or a stem is not in the index. Up to five problems are listed, then a count.
    """
    pairs, problems = find_pairs(root, stems, labels=labels, check_files=check_files)
    if problems:
        raise DataError(f"{root}: " + _summarise(problems, "pair problem(s)"))
    return pairs


def find_pairs(
    root: str | Path,
    stems: Sequence[str] | None = None,
    *,
    labels: bool = True,
    check_files: bool = True,
) -> tuple[list[Pair], list[str]]:
    """Like :func:`resolve_pairs`, but returns the problems (one message each) with the pairs
    that resolved instead of raising. A missing image folder or a malformed index still raises.
    """
    root = Path(root)
    index = read_index(root)
    problems: list[str] = []
    found: dict[str, tuple[Path, Path]] = {}
    if index is not None:
        wanted = sorted(index) if stems is None else list(stems)
        for stem in wanted:
            entry = index.get(stem)
            if entry is None:
                problems.append(f"stem {stem!r} is not listed in {root / INDEX}")
                continue
            ir, vi = entry
            if check_files:
                ir_ok, vi_ok = ir.is_file(), vi.is_file()
                if not ir_ok and not vi_ok:
                    problems.append(f"pair {stem!r}: neither {ir} nor {vi} exists")
                    continue
                if not ir_ok:
                    problems.append(f"pair {stem!r}: infrared image {ir} does not exist "
                                    f"(its partner {vi} does)")
                    continue
                if not vi_ok:
                    problems.append(f"pair {stem!r}: visible image {vi} does not exist "
                                    f"(its partner {ir} does)")
                    continue
            found[stem] = (ir, vi)
    else:
        ir_dir, vi_dir = root / "ir", root / "vi"
        if not ir_dir.is_dir() or not vi_dir.is_dir():
            raise DataError(
                f"{root} has neither {INDEX} nor both image folders ir/ and vi/ "
                f"(ir/ {'found' if ir_dir.is_dir() else 'missing'}, "
                f"vi/ {'found' if vi_dir.is_dir() else 'missing'})"
            )
        irs, vis = images_by_stem(ir_dir, "infrared"), images_by_stem(vi_dir, "visible")
        wanted = sorted(set(irs) | set(vis)) if stems is None else list(stems)
        for stem in wanted:
            ir, vi = irs.get(stem), vis.get(stem)
            if ir is None and vi is None:
                problems.append(f"stem {stem!r} has no image in {ir_dir} or {vi_dir}")
            elif ir is None:
                problems.append(_missing_partner(stem, vi, "infrared", ir_dir))  # type: ignore
            elif vi is None:
                problems.append(_missing_partner(stem, ir, "visible", vi_dir))
            else:
                found[stem] = (ir, vi)
    label_dir = root / LABELS
    label_names = {p.name for p in label_dir.iterdir()} if labels and label_dir.is_dir() else set()
    pairs = []
    for stem in wanted:
        if stem not in found:
            continue
        label = None
        if labels:
            label = label_path(root, stem)
            if label.name not in label_names:
                problems.append(f"label file {label} for pair {stem!r} does not exist "
                                "(an image without objects needs an empty file)")
                continue
        pairs.append(Pair(stem, found[stem][0], found[stem][1], label))
    return pairs, problems
