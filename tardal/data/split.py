"""Deterministic, seeded splits of a labelled image set, and published splits read from files.

Three ways to split, all deterministic for the same inputs and seed (the stems' order in the
input never matters):

* :func:`stratified_split` splits image by image, class-stratified. Detection sets are split by
  image, but what should be balanced is the boxes: each part should hold about its fraction of
  every class's boxes, rare classes included, and about its fraction of the images. It works
  greedily:

  1. the images are shuffled with the seed (so the seed decides ties and the order of equals);
  2. they are then ordered by the rarity of the rarest class they contain (images with a rare
     class are placed first, while every part still wants that class), images without boxes
     last;
  3. each image goes to the part that still wants the most boxes of the image's rarest class
     (want = fraction x class total - boxes already placed), ties to the part that wants more
     images; images without boxes go to the part that wants the most images. Every class's
     boxes of every image count against the wants, so common classes even out over the many
     images decided by them.

* :func:`chunked_split` splits video frames by runs. When the images are frames of videos
  (M3FD), neighbouring frames are near copies, and a per-image split puts the neighbours of
  most test frames into train. :func:`frame_runs` cuts the frame sequence into runs of
  consecutive frames (at gaps in the numbering and wherever ``cut_by`` changes, e.g. the
  scenario or the image size), each at most ``max_len`` frames long; :func:`chunked_split` then
  gives whole runs to the parts by a seeded simulated annealing over run -> part assignments
  that minimises

  ``sum over parts of [sum over classes (class share - fraction)^2
  + strata_weight * sum over strata (stratum share - fraction)^2 + (image share - fraction)^2]``
  (shares in percentage points, of boxes for classes and strata, of images for the last term)
  ``+ leak_weight * (held-out images with a training frame within +-radius, in percent of the
  held-out images)``.

  Long runs are cut into pieces so the shares can be balanced; the leak term makes the search
  keep the pieces given to val and test together, so that few of their frames border a
  training frame. :func:`neighbour_leak` measures that fraction for any split.

* :func:`read_split_files` reads a published split (``train.txt``/``val.txt``/``test.txt`` stem
  lists, or COCO JSON files whose images form the parts) and :func:`apply_published_split`
  matches it against the pairs a source holds, reporting stems on either side that the other
  lacks.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Hashable, Mapping, Sequence

import numpy as np

from tardal.data.layout import SPLITS, check_stem, read_stem_lines
from tardal.errors import ConfigError, DataError
from tardal.io import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

_FRAME = re.compile(r"^(.*?)(\d+)$")


def class_counts(rows: np.ndarray, num_classes: int) -> np.ndarray:
    """Boxes per class of one image: (N, 5) YOLO rows -> (num_classes,) int64."""
    rows = np.asarray(rows).reshape(-1, 5)
    return np.bincount(rows[:, 0].astype(np.int64), minlength=num_classes)[:num_classes]


def _check_fractions(fractions: Sequence[float], parts: Sequence[str]) -> np.ndarray:
    if len(fractions) != len(parts):
        raise ConfigError(f"split fractions: {len(parts)} parts ({', '.join(parts)}) need "
                          f"{len(parts)} fractions, found {len(fractions)}: {list(fractions)}")
    frac = np.asarray(fractions, np.float64)
    if not np.isfinite(frac).all() or (frac < 0).any() or not np.isclose(frac.sum(), 1.0):
        raise ConfigError(
            f"split fractions must be >= 0 and sum to 1, found {list(fractions)}")
    return frac


def _count_matrix(counts: Mapping[str, Sequence[int] | np.ndarray], stems: Sequence[str]
                  ) -> np.ndarray:
    """(n, C) float64 boxes per class of ``stems``; DataError when the lengths differ."""
    width = max((len(np.atleast_1d(counts[s])) for s in stems), default=0)
    V = np.zeros((len(stems), width), np.float64)
    for i, s in enumerate(stems):
        c = np.asarray(counts[s], np.float64).reshape(-1)
        if len(c) != width:
            raise DataError(f"image {s!r} has {len(c)} class counts, others have {width}")
        V[i] = c
    return V


def stratified_split(
    counts: Mapping[str, Sequence[int] | np.ndarray],
    fractions: Sequence[float],
    seed: int,
    parts: Sequence[str] = SPLITS,
) -> dict[str, list[str]]:
    """Split images into ``parts`` keeping every class's share of boxes close to ``fractions``.

    Args:
        counts: stem -> (C,) boxes per class for that image (all the same length C; C may be
            0 for unlabelled sets, which are then split by image count alone).
        fractions: one non-negative fraction per part, summing to 1. A part with fraction 0
            receives nothing.
        seed: random seed; the same inputs and seed give the same split.
        parts: part names.

    Returns:
        part name -> sorted list of stems; every stem lands in exactly one part.

    Raises:
        ConfigError: bad fractions. DataError: images with different numbers of class counts.
    """
    frac = _check_fractions(fractions, parts)
    stems = sorted(counts)
    n = len(stems)
    out: dict[str, list[str]] = {p: [] for p in parts}
    if n == 0:
        return out
    V = _count_matrix(counts, stems)
    width = V.shape[1]
    totals = V.sum(axis=0)

    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    safe_totals = np.where(totals > 0, totals, np.inf)
    # the total of the rarest class in each image (inf for images without boxes)
    rarity = np.full(n, np.inf)
    if width:
        rarity = np.where(V > 0, safe_totals[None, :], np.inf).min(axis=1)
    order = order[np.argsort(rarity[order], kind="stable")]

    want = frac[:, None] * totals[None, :]  # (P, C) boxes each part still wants
    want_images = frac * n  # (P,) images each part still wants
    closed = frac <= 0
    for i in order:
        v = V[i]
        present = np.flatnonzero(v > 0)
        if len(present):
            key = present[np.argmin(totals[present])]  # the image's rarest class decides
            first = want[:, key].copy()
        else:
            first = want_images.copy()
        first[closed] = -np.inf
        # Most wanted first; ties go to the part wanting more images, then to the earlier part.
        best = int(np.lexsort((np.arange(len(parts)), -want_images, -first))[0])
        want[best] -= v
        want_images[best] -= 1
        out[parts[best]].append(stems[i])
    return {p: sorted(v) for p, v in out.items()}


def split_shares(
    counts: Mapping[str, Sequence[int] | np.ndarray], split: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, np.ndarray | float]]:
    """Per part: its share of each class's boxes (``boxes``, (C,)) and of the images."""
    stems = list(counts)
    total = np.sum([np.asarray(counts[s], np.float64) for s in stems], axis=0)
    out: dict[str, dict[str, np.ndarray | float]] = {}
    for part, members in split.items():
        if members:
            c = np.sum([np.asarray(counts[s], np.float64) for s in members], axis=0)
        else:
            c = np.zeros_like(total)
        out[part] = {
            "boxes": np.divide(c, total, out=np.zeros_like(total), where=total > 0),
            "images": len(members) / max(len(stems), 1),
        }
    return out


# ----------------------------------------------------------------------------------------
# Frames of video: runs, neighbours, leakage
# ----------------------------------------------------------------------------------------


def frame_key(stem: str) -> tuple[str, int] | None:
    """``(prefix, number)`` of a stem ending in digits (``"00390"`` -> ``("", 390)``,
    ``"seq2_0041"`` -> ``("seq2_", 41)``), or None for a stem without a trailing number.

    Frames with the same prefix and consecutive numbers are consecutive frames.
    """
    m = _FRAME.match(stem)
    return (m.group(1), int(m.group(2))) if m else None


def _frame_order(stems: Sequence[str]) -> list[str]:
    """Numbered stems by (prefix, number), then the others by name."""
    numbered = sorted((k, s) for s in stems if (k := frame_key(s)) is not None)
    return [s for _, s in numbered] + sorted(s for s in stems if frame_key(s) is None)


def frame_runs(
    stems: Sequence[str],
    *,
    cut_by: Mapping[str, Hashable] | None = None,
    max_len: int = 20,
) -> list[list[str]]:
    """Cut frames into runs of consecutive frames, each at most ``max_len`` long.

    A run ends where the numbering has a gap or the prefix changes (see :func:`frame_key`), and
    where ``cut_by[stem]`` changes (the scenario, the image size: whatever says that the next
    frame comes from another recording). A run longer than ``max_len`` is cut into
    ``ceil(len / max_len)`` pieces of (nearly) equal length, the longer pieces first. A stem
    without a trailing number is a run of its own.

    Returns:
        the runs in frame order, each in frame order; together they hold every stem once.
    """
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise ConfigError(f"max_len must be a positive integer, found {max_len!r}")
    if len(set(stems)) != len(stems):
        dup = next(s for s in stems if list(stems).count(s) > 1)
        raise DataError(f"frame_runs: stem {dup!r} is given twice")
    runs: list[list[str]] = []
    prev: str | None = None
    for stem in _frame_order(stems):
        key = frame_key(stem)
        cont = False
        if prev is not None and key is not None:
            pk = frame_key(prev)
            cont = (pk is not None and pk[0] == key[0] and key[1] == pk[1] + 1
                    and (cut_by is None or cut_by[stem] == cut_by[prev]))
        if cont:
            runs[-1].append(stem)
        else:
            runs.append([stem])
        prev = stem
    out: list[list[str]] = []
    for run in runs:
        k = -(-len(run) // max_len)
        size, extra = divmod(len(run), k)
        start = 0
        for i in range(k):
            stop = start + size + (1 if i < extra else 0)
            out.append(run[start:stop])
            start = stop
    return out


def frame_neighbours(stems: Sequence[str], radius: int = 2) -> list[tuple[str, str]]:
    """Ordered pairs ``(a, b)`` of frames within ``radius`` of each other (same prefix,
    numbers differing by 1..radius), both orders listed."""
    where = {k: s for s in stems if (k := frame_key(s)) is not None}
    pairs = []
    for (prefix, num), s in where.items():
        for d in range(-radius, radius + 1):
            other = where.get((prefix, num + d))
            if d and other is not None:
                pairs.append((s, other))
    return pairs


def neighbour_leak(split: Mapping[str, Sequence[str]], held: str = "test",
                   train: str = "train", radius: int = 2) -> float:
    """Fraction of the ``held`` part's images that have a frame within ``+-radius`` (same
    prefix, see :func:`frame_key`) in the ``train`` part; 0.0 for an empty ``held`` part."""
    held_set = set(split.get(held, ()))
    if not held_set:
        return 0.0
    train_set = set(split.get(train, ()))
    stems = list(held_set | train_set)
    leaking = {a for a, b in frame_neighbours(stems, radius) if a in held_set and b in train_set}
    return len(leaking) / len(held_set)


class _Assignment:
    """Chunk -> part assignment with its share sums and its leak count kept up to date.

    ``F`` (chunks, D): each chunk's contribution to the D shares; ``target`` (P, D): what each
    part should hold; ``chunk_of`` (n,): the chunk of each frame; ``pairs`` (M, 2): frames
    within the radius of each other in different chunks (both orders). A frame leaks when it
    is held out (not in part ``train``) and one of its neighbours is in ``train``.
    """

    def __init__(self, F: np.ndarray, target: np.ndarray, chunk_of: np.ndarray,
                 pairs: np.ndarray, assign: np.ndarray, train: int) -> None:
        self.F, self.target, self.train, self.chunk_of = F, target, train, chunk_of
        self.assign = assign.copy()
        self.G = np.stack([F[self.assign == p].sum(0) for p in range(target.shape[0])])
        nch = F.shape[0]
        owner = chunk_of[pairs[:, 0]]
        # per chunk: its neighbours outside it (one entry per pair) and every frame whose
        # leaking can change when it moves (its border frames and those neighbours)
        self.outer = [pairs[owner == j, 1] for j in range(nch)]
        self.affected = [np.unique(pairs[owner == j].reshape(-1)) for j in range(nch)]
        in_train = self.assign[chunk_of[pairs[:, 1]]] == train
        self.train_nbrs = np.bincount(pairs[in_train, 0], minlength=len(chunk_of))
        self.leak = self._leaking(np.unique(pairs[:, 0]))

    def _leaking(self, frames: np.ndarray) -> int:
        held = self.assign[self.chunk_of[frames]] != self.train
        return int((held & (self.train_nbrs[frames] > 0)).sum())

    def move(self, j: int, q: int) -> None:
        """Give chunk ``j`` to part ``q``."""
        p = int(self.assign[j])
        if p == q:
            return
        self.G[p] -= self.F[j]
        self.G[q] += self.F[j]
        if p != self.train and q != self.train:  # held out before and after: no change
            self.assign[j] = q
            return
        frames = self.affected[j]
        before = self._leaking(frames)
        self.assign[j] = q
        np.add.at(self.train_nbrs, self.outer[j], 1 if q == self.train else -1)
        self.leak += self._leaking(frames) - before

    def share_cost(self) -> float:
        """Squared deviations of the shares from their targets, in percentage points."""
        return float(((self.G - self.target) ** 2).sum() * 1e4)


def chunked_split(
    chunks: Sequence[Sequence[str]],
    counts: Mapping[str, Sequence[int] | np.ndarray],
    fractions: Sequence[float],
    seed: int,
    *,
    strata: Mapping[str, Hashable] | None = None,
    parts: Sequence[str] = SPLITS,
    radius: int = 2,
    leak_weight: float = 1000.0,
    strata_weight: float = 1.0,
    iterations: int = 300_000,
) -> dict[str, list[str]]:
    """Give whole chunks (runs of frames) to ``parts``, balancing class and stratum shares of
    boxes and image shares against ``fractions`` while keeping held-out frames away from
    training frames (see the module doc for the cost).

    Args:
        chunks: the runs, e.g. from :func:`frame_runs`; every stem of ``counts`` exactly once.
        counts: stem -> (C,) boxes per class.
        fractions: one per part, summing to 1; ``parts[0]`` is the training part. A part with
            fraction 0 receives nothing.
        seed: the search's seed; the same inputs give the same split.
        strata: stem -> stratum (the scenario) whose share of boxes is balanced too.
        radius: frames within this distance of a training frame count as leaking.
        leak_weight: cost of one percentage point of leaking held-out images, against one
            squared percentage point of share deviation.
        strata_weight: weight of the strata's squared deviations against the classes'.
        iterations: annealing steps (a step moves one chunk or swaps two).

    Returns:
        part name -> sorted stems.

    Raises:
        ConfigError: bad fractions or weights. DataError: chunks that do not hold every stem of
        ``counts`` exactly once.
    """
    frac = _check_fractions(fractions, parts)
    if iterations < 0 or leak_weight < 0 or strata_weight < 0 or radius < 0:
        raise ConfigError("iterations, leak_weight, strata_weight and radius must be >= 0")
    chunks = [list(c) for c in chunks if len(c)]
    flat = [s for c in chunks for s in c]
    if len(set(flat)) != len(flat):
        dup = next(s for s in flat if flat.count(s) > 1)
        raise DataError(f"chunked_split: stem {dup!r} is in more than one chunk")
    if set(flat) != set(counts):
        missing = sorted(set(counts) - set(flat))[:5]
        extra = sorted(set(flat) - set(counts))[:5]
        raise DataError(f"chunked_split: the chunks and the counts hold different stems "
                        f"(only counted: {missing}; only chunked: {extra})")
    out: dict[str, list[str]] = {p: [] for p in parts}
    if not flat:
        return out
    # Chunks in frame order, whatever order they came in: the result depends on the seed only.
    rank = {s: i for i, s in enumerate(_frame_order(flat))}
    chunks = sorted((sorted(c, key=rank.__getitem__) for c in chunks),
                    key=lambda c: rank[c[0]])
    flat = [s for c in chunks for s in c]
    V = _count_matrix(counts, flat)
    n, nch = len(flat), len(chunks)
    index = {s: i for i, s in enumerate(flat)}
    chunk_of = np.zeros(n, np.int64)
    for j, c in enumerate(chunks):
        chunk_of[[index[s] for s in c]] = j

    # Per-chunk contributions to the shares: classes, strata (boxes), images.
    boxes = np.stack([V[[index[s] for s in c]].sum(0) for c in chunks]) if V.shape[1] else \
        np.zeros((nch, 0))
    columns = [boxes[:, boxes.sum(0) > 0]]
    if strata is not None and V.shape[1]:
        keys = sorted({strata[s] for s in flat}, key=repr)
        per_image = V.sum(1)
        S = np.zeros((nch, len(keys)))
        for i, s in enumerate(flat):
            S[chunk_of[i], keys.index(strata[s])] += per_image[i]
        columns.append(S[:, S.sum(0) > 0] * math.sqrt(strata_weight))
    columns.append(np.asarray([[len(c)] for c in chunks], np.float64))
    F = np.hstack([c / c.sum(0) for c in columns if c.shape[1]])  # no column sums to 0
    target = frac[:, None] * F.sum(0)[None, :]

    pairs = np.asarray([(index[a], index[b]) for a, b in frame_neighbours(flat, radius)
                        if chunk_of[index[a]] != chunk_of[index[b]]], np.int64).reshape(-1, 2)
    held_expected = n * (1.0 - frac[0])
    leak_scale = leak_weight * 100.0 / held_expected if held_expected > 0 else 0.0

    open_parts = np.flatnonzero(frac > 0)
    rng = np.random.default_rng(seed)
    start = rng.choice(len(parts), size=nch, p=frac)
    state = _Assignment(F, target, chunk_of, pairs, start, train=0)

    def cost() -> float:
        return state.share_cost() + leak_scale * state.leak

    current = cost()
    best, best_assign = current, state.assign.copy()
    t0, t1 = 20.0, 0.01
    if len(open_parts) > 1 and nch > 1:
        for it in range(iterations):
            temp = t0 * (t1 / t0) ** (it / max(iterations, 1))
            j = int(rng.integers(nch))
            p = int(state.assign[j])
            if rng.random() < 0.5:
                q = int(open_parts[rng.integers(len(open_parts))])
                if q == p:
                    continue
                moves = [(j, q)]
            else:
                k = int(rng.integers(nch))
                q = int(state.assign[k])
                if q == p:
                    continue
                moves = [(j, q), (k, p)]
            for c, part in moves:
                state.move(c, part)
            new = cost()
            if new <= current or rng.random() < math.exp((current - new) / temp):
                current = new
                if new < best:
                    best, best_assign = new, state.assign.copy()
            else:
                for c, _ in reversed(moves):
                    state.move(c, p if c == j else q)
    for j, c in enumerate(chunks):
        out[parts[int(best_assign[j])]].extend(c)
    log.debug("chunked_split: %d chunks, cost %.2f", nch, best)
    return {p: sorted(v) for p, v in out.items()}


def split_statistics(
    split: Mapping[str, Sequence[str]],
    counts: Mapping[str, Sequence[int] | np.ndarray],
    names: Sequence[str],
    *,
    strata: Mapping[str, Hashable] | None = None,
    radius: int = 2,
    train: str = "train",
) -> dict[str, Any]:
    """Statistics of a split, as plain JSON types (shares are fractions in [0, 1]).

    Returns ``{"images", "boxes", "class_share", "strata_share", "parts": {part: entry}}``:
    the whole set's image and box counts and its composition (each class's, and each stratum's,
    share of all boxes), and per part:

    * ``images``, ``boxes``, ``image_share`` (of all images), ``boxes_per_class``;
    * ``class_share``: each class's share of the part's boxes, and ``max_class_dev_points``: the
      largest difference to the whole set's ``class_share``, in percentage points;
    * ``class_fraction``: the part's fraction of each class's boxes (ideally its own fraction);
    * with ``strata``: ``strata_share``, ``max_strata_dev_points``, ``strata_fraction`` likewise;
    * parts other than ``train``: ``train_neighbour``, the fraction of the part's images with a
      frame within ``+-radius`` in ``train`` (:func:`neighbour_leak`).
    """
    stems = [s for members in split.values() for s in members]
    V = _count_matrix(counts, stems)
    row = {s: i for i, s in enumerate(stems)}
    keys = sorted({strata[s] for s in stems}, key=repr) if strata is not None else []
    per_image = V.sum(1)

    def tally(members: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        rows = [row[s] for s in members]
        c = V[rows].sum(0) if rows else np.zeros(V.shape[1])
        st = np.zeros(len(keys))
        for s in members:
            st[keys.index(strata[s])] += per_image[row[s]]  # type: ignore[index]
        return c, st

    def share(x: np.ndarray) -> np.ndarray:
        return x / x.sum() if x.sum() > 0 else np.zeros_like(x)

    def frac(x: np.ndarray, whole: np.ndarray) -> np.ndarray:
        return np.divide(x, whole, out=np.zeros_like(x), where=whole > 0)

    def named(labels: Sequence[Any], values: np.ndarray) -> dict[str, float]:
        return {str(k): round(float(v), 6) for k, v in zip(labels, values)}

    total, strata_total = tally(stems)
    result: dict[str, Any] = {
        "images": len(stems), "boxes": int(total.sum()),
        "class_share": named(names, share(total)), "parts": {},
    }
    if keys:
        result["strata_share"] = named(keys, share(strata_total))
    for part, members in split.items():
        c, st = tally(members)
        entry: dict[str, Any] = {
            "images": len(members),
            "boxes": int(c.sum()),
            "image_share": round(len(members) / max(len(stems), 1), 6),
            "boxes_per_class": {str(n): int(v) for n, v in zip(names, c)},
            "class_share": named(names, share(c)),
            "max_class_dev_points": round(float(np.abs(share(c) - share(total)).max(initial=0)
                                                * 100), 3),
            "class_fraction": named(names, frac(c, total)),
        }
        if keys:
            entry["strata_share"] = named(keys, share(st))
            entry["max_strata_dev_points"] = round(
                float(np.abs(share(st) - share(strata_total)).max(initial=0) * 100), 3)
            entry["strata_fraction"] = named(keys, frac(st, strata_total))
        if part != train:
            entry["train_neighbour"] = round(neighbour_leak(split, part, train, radius), 6)
        result["parts"][part] = entry
    return result


# ----------------------------------------------------------------------------------------
# Published splits
# ----------------------------------------------------------------------------------------


_PART_WORDS = {"train": "train", "training": "train", "val": "val", "valid": "val",
               "validation": "val", "test": "test", "testing": "test"}


def part_of_file(path: str | Path) -> str:
    """The part a split file holds, from its name: ``train.txt``, ``m3fd-train.json``,
    ``val_list.txt`` -> train, val, ...; DataError unless exactly one of train, val, test (or
    training, valid, validation, testing) is a word of the name."""
    words = re.split(r"[^a-z]+", PurePath(path).stem.lower())
    found = {_PART_WORDS[w] for w in words if w in _PART_WORDS}
    if len(found) != 1:
        raise DataError(
            f"split file {path}: cannot tell which part it holds; its name must contain "
            f"exactly one of train, val, test (found {sorted(found) or 'none'})"
        )
    return found.pop()


@dataclass
class PublishedSplit:
    """A split read from files: part -> stems, and part -> the files they came from."""

    parts: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, list[Path]] = field(default_factory=dict)
    origin: dict[str, Path] = field(default_factory=dict)  # stem -> its file

    def describe(self) -> str:
        return ", ".join(str(f) for fs in self.files.values() for f in fs)


def _stems_from_text(path: Path) -> list[tuple[str, str]]:
    """(stem, where) per line: a plain stem, or an image file name / path whose stem is taken."""
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        where = f"{path}:{lineno}"
        if PurePath(text.replace("\\", "/")).suffix.lower() in IMAGE_SUFFIXES:
            text = PurePath(text.replace("\\", "/")).stem
        out.append((check_stem(text, where), where))
    return out


def _stems_from_coco(path: Path) -> list[tuple[str, str]]:
    """(stem, where) per image of a COCO JSON file: the stem of ``file_name`` (or the ``id``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise DataError(f"split file {path} is not valid JSON: {exc}") from None
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise DataError(f"split file {path}: expected a COCO file with an 'images' list, found "
                        f"{'keys ' + str(sorted(data)) if isinstance(data, dict) else type(data).__name__}")
    out = []
    for k, img in enumerate(images):
        where = f"{path}: images[{k}]"
        if not isinstance(img, dict) or ("file_name" not in img and "id" not in img):
            raise DataError(f"{where}: expected an object with 'file_name' or 'id', found {img!r}")
        name = img.get("file_name")
        stem = PurePath(str(name).replace("\\", "/")).stem if name else str(img["id"])
        out.append((check_stem(stem, where), where))
    return out


def read_split_files(paths: Sequence[str | Path]) -> PublishedSplit:
    """Read a published split.

    ``paths`` is one folder or any number of files. A folder holds ``train.txt``, ``val.txt``,
    ``test.txt`` (any of them), or else COCO ``*.json`` files named after their part. Files are
    stem lists (one stem, image file name or image path per line; blank and ``#`` lines
    ignored) or COCO JSON files (``.json``: the stems of their images' ``file_name``, or their
    ``id``); the part comes from the file name (:func:`part_of_file`).

    Raises:
        DataError: a missing file or folder, a folder without split files, a file whose name
            names no part, a stem listed twice (in one part or in two), or a stem with a path
            separator or ``..``; the message names the file (and line).
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataError("no split file given")
    if len(paths) == 1 and paths[0].is_dir():
        folder = paths[0]
        files = [folder / f"{p}.txt" for p in SPLITS if (folder / f"{p}.txt").is_file()]
        if not files:
            files = sorted(folder.glob("*.json"))
        if not files:
            raise DataError(f"split folder {folder} holds neither train.txt, val.txt, test.txt "
                            "nor COCO *.json files named after their part")
        paths = files
    split = PublishedSplit()
    for path in paths:
        if path.is_dir():
            raise DataError(f"split file {path} is a folder; give one folder alone, or files")
        if not path.is_file():
            raise DataError(f"split file {path} does not exist")
        part = part_of_file(path)
        entries = _stems_from_coco(path) if path.suffix.lower() == ".json" else _stems_from_text(path)
        split.files.setdefault(part, []).append(path)
        members = split.parts.setdefault(part, [])
        for stem, where in entries:
            if stem in split.origin:
                raise DataError(f"{where}: stem {stem!r} is already listed in "
                                f"{split.origin[stem]}")
            split.origin[stem] = path
            members.append(stem)
    for part in SPLITS:
        split.parts.setdefault(part, [])
        split.files.setdefault(part, [])
    log.debug("read split %s: %s", split.describe(),
              {p: len(v) for p, v in split.parts.items()})
    return split


def _first(stems: Sequence[str], k: int = 5) -> str:
    shown = ", ".join(stems[:k])
    return f"{shown}, ... ({len(stems)} in all)" if len(stems) > k else shown


def apply_published_split(
    split: PublishedSplit, available: Sequence[str], *, strict: bool = True,
    left_out: Sequence[str] = (),
) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """Match a published split against the stems a source holds.

    Args:
        split: from :func:`read_split_files`.
        available: the stems of the usable pairs.
        strict: raise on a mismatch (the default); otherwise warn and go on without the stems
            concerned.
        left_out: stems already left out for another reason (an unusable pair); the split may
            list them without complaint.

    Returns:
        (part -> sorted stems, [(stem, reason)] of the available stems no part lists).

    Raises:
        DataError (``strict``): split stems the source lacks, or source stems the split lacks;
            the message names the split files and the first few stems of each kind.
    """
    have = set(available)
    known = set(split.origin)
    absent = sorted(known - have - set(left_out))
    unlisted = sorted(have - known)
    problems = []
    if absent:
        by_file: dict[Path, list[str]] = {}
        for s in absent:
            by_file.setdefault(split.origin[s], []).append(s)
        for f, stems in by_file.items():
            problems.append(f"{len(stems)} stem(s) of split file {f} are not in the source: "
                            f"{_first(stems)}")
    if unlisted:
        problems.append(f"{len(unlisted)} pair(s) of the source are in no split file "
                        f"({split.describe()}): {_first(unlisted)}")
    if problems and strict:
        raise DataError("the split does not match the source: " + "; ".join(problems)
                        + " (pass --skip-bad to import the pairs both hold)")
    for msg in problems:
        log.warning("%s", msg)
    parts = {p: sorted(s for s in stems if s in have) for p, stems in split.parts.items()}
    reasons = [(s, f"not listed in the split files ({split.describe()})") for s in unlisted]
    return parts, reasons
