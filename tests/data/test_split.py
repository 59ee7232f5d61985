"""The seeded class-stratified split."""

from __future__ import annotations

import numpy as np
import pytest

from tardal.data.split import class_counts, split_shares, stratified_split

FRACTIONS = (0.7, 0.15, 0.15)


def imbalanced_counts(n: int = 400, seed: int = 1) -> dict[str, np.ndarray]:
    """Per-image boxes of six classes with shares 50/30/8/6/5/1 % (a rare last class)."""
    rng = np.random.default_rng(seed)
    p = [0.5, 0.3, 0.08, 0.06, 0.05, 0.01]
    out = {}
    for i in range(n):
        cls = rng.choice(6, size=int(rng.integers(0, 12)), p=p)
        out[f"img{i:04d}"] = np.bincount(cls, minlength=6)
    return out


def max_share_error(counts, split, classes) -> float:
    shares = split_shares(counts, split)
    return max(abs(float(shares[part]["boxes"][c]) - f)
               for part, f in zip(("train", "val", "test"), FRACTIONS) for c in classes)


def test_class_shares_close_in_every_part() -> None:
    counts = imbalanced_counts()
    totals = np.sum(list(counts.values()), axis=0)
    assert totals[-1] < 40 < totals[2]  # the set really is imbalanced
    split = stratified_split(counts, FRACTIONS, seed=0)
    assert sorted(sum(split.values(), [])) == sorted(counts)  # each image exactly once
    shares = split_shares(counts, split)
    for part, f in zip(("train", "val", "test"), FRACTIONS):
        assert shares[part]["images"] == pytest.approx(f, abs=0.02)
        for c in range(6):
            # within 2 % of the fraction, or within one box for the rare class
            tol = max(0.02, 1.0 / totals[c])
            assert abs(shares[part]["boxes"][c] - f) <= tol + 1e-9, (part, c, shares[part]["boxes"])
    # A random split of the same images is far worse on the common classes.
    rng = np.random.default_rng(0)
    stems = rng.permutation(sorted(counts))
    n_tr, n_va = int(0.7 * len(stems)), int(0.15 * len(stems))
    random_split = {"train": list(stems[:n_tr]), "val": list(stems[n_tr:n_tr + n_va]),
                    "test": list(stems[n_tr + n_va:])}
    assert max_share_error(counts, split, range(5)) < 0.5 * max_share_error(counts, random_split, range(5))


def test_deterministic_and_seeded() -> None:
    counts = imbalanced_counts(200)
    a = stratified_split(counts, FRACTIONS, seed=7)
    b = stratified_split(dict(reversed(list(counts.items()))), FRACTIONS, seed=7)  # input order
    assert a == b
    c = stratified_split(counts, FRACTIONS, seed=8)
    assert a != c
    assert max_share_error(counts, c, range(5)) < 0.03


def test_unlabelled_split_by_image_count() -> None:
    counts = {f"p{i:02d}": np.zeros(0) for i in range(25)}
    split = stratified_split(counts, FRACTIONS, seed=0)
    assert [len(split[p]) for p in ("train", "val", "test")] in ([17, 4, 4], [18, 4, 3], [18, 3, 4])
    only_test = stratified_split(counts, (0.0, 0.0, 1.0), seed=0)
    assert only_test["train"] == [] and only_test["val"] == [] and len(only_test["test"]) == 25


def test_zero_fraction_part_stays_empty() -> None:
    counts = imbalanced_counts(60)
    split = stratified_split(counts, (0.8, 0.2, 0.0), seed=0)
    assert split["test"] == [] and len(split["train"]) + len(split["val"]) == 60


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split({"a": [1]}, (0.5, 0.1, 0.1), 0)
    with pytest.raises(ValueError, match="class counts"):
        stratified_split({"a": [1, 0], "b": [1]}, FRACTIONS, 0)
    assert stratified_split({}, FRACTIONS, 0) == {"train": [], "val": [], "test": []}


def test_class_counts() -> None:
    rows = np.array([[2, .5, .5, .1, .1], [0, .5, .5, .1, .1], [2, .5, .5, .1, .1]])
    assert class_counts(rows, 4).tolist() == [1, 0, 2, 0]
    assert class_counts(np.zeros((0, 5)), 3).tolist() == [0, 0, 0]
