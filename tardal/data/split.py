"""Deterministic, seeded, class-stratified splits of a labelled image set.

Detection sets are split by image, but what should be balanced is the boxes: each part should
hold about its fraction of every class's boxes, rare classes included, and about its fraction
of the images. :func:`stratified_split` does this greedily:

1. the images are shuffled with the seed (so the seed decides ties and the order of equals);
2. they are then ordered by the rarity of the rarest class they contain (images with a rare
   class are placed first, while every part still wants that class), images without boxes last;
3. each image goes to the part that still wants the most boxes of the image's rarest class
   (want = fraction x class total - boxes already placed), ties to the part that wants more
   images; images without boxes go to the part that wants the most images. Every class's boxes
   of every image count against the wants, so common classes even out over the many images
   decided by them.

The same counts, fractions and seed always give the same split; the stems' order in the input
does not matter.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from tardal.data.layout import SPLITS


def class_counts(rows: np.ndarray, num_classes: int) -> np.ndarray:
    """Boxes per class of one image: (N, 5) YOLO rows -> (num_classes,) int64."""
    rows = np.asarray(rows).reshape(-1, 5)
    return np.bincount(rows[:, 0].astype(np.int64), minlength=num_classes)[:num_classes]


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
    """
    if len(fractions) != len(parts):
        raise ValueError(f"{len(parts)} parts need {len(parts)} fractions, got {len(fractions)}")
    frac = np.asarray(fractions, np.float64)
    if (frac < 0).any() or not np.isclose(frac.sum(), 1.0):
        raise ValueError(f"fractions must be >= 0 and sum to 1, got {list(fractions)}")
    stems = sorted(counts)
    n = len(stems)
    out: dict[str, list[str]] = {p: [] for p in parts}
    if n == 0:
        return out
    width = max((len(np.atleast_1d(counts[s])) for s in stems), default=0)
    V = np.zeros((n, width), np.float64)
    for i, s in enumerate(stems):
        c = np.asarray(counts[s], np.float64).reshape(-1)
        if len(c) != width:
            raise ValueError(f"image {s!r} has {len(c)} class counts, others have {width}")
        V[i] = c
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
