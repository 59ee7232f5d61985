"""The canonical M3FD split shipped in ``data/m3fd/``, checked against the full M3FD box list."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tardal.data.importers import M3FD_NAMES, shipped_split_dir
from tardal.data.layout import read_stem_lines
from tardal.data.split import neighbour_leak, split_statistics
from tests.conftest import REPO

SHIPPED = REPO / "data" / "m3fd"
PARTS = ("train", "val", "test")


def shipped() -> dict[str, list[str]]:
    return {p: [s for _, s in read_stem_lines(SHIPPED / f"{p}.txt")] for p in PARTS}


@pytest.fixture(scope="module")
def m3fd(shared_data: Path) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Boxes per class (our order, matched by name) and scenario of every M3FD image."""
    counts: dict[str, np.ndarray] = {}
    scene: dict[str, int] = {}
    for part in PARTS:
        data = json.loads((shared_data / "m3fd-labels" / f"m3fd-{part}.json").read_text())
        ours = {c["id"]: M3FD_NAMES.index(c["name"]) for c in data["categories"]}
        for img in data["images"]:
            counts[img["id"]] = np.zeros(len(M3FD_NAMES), np.int64)
            scene[img["id"]] = img["scene"]
        for ann in data["annotations"]:
            counts[ann["image_id"]][ours[ann["category_id"]]] += 1
    assert len(counts) == 4200 and sum(int(c.sum()) for c in counts.values()) == 34407
    return counts, scene


def test_the_package_finds_the_shipped_split() -> None:
    assert shipped_split_dir("m3fd") == SHIPPED
    assert all((SHIPPED / f"{p}.txt").is_file() for p in PARTS)


def test_every_stem_exactly_once(m3fd) -> None:
    counts, _ = m3fd
    split = shipped()
    listed = [s for p in PARTS for s in split[p]]
    assert len(listed) == len(set(listed)) == 4200
    assert set(listed) == set(counts)


def test_targets(m3fd) -> None:
    counts, scene = m3fd
    split = shipped()
    # under 5 % of test images have a frame within +-2 in train
    assert neighbour_leak(split, "test", "train", radius=2) < 0.05
    stats = split_statistics(split, counts, M3FD_NAMES, strata=scene)
    whole = stats["class_share"]
    for part in PARTS:
        entry = stats["parts"][part]
        for name in M3FD_NAMES:  # each class's share of boxes within 3 points of the whole
            assert abs(entry["class_share"][name] - whole[name]) < 0.03, (part, name)
    # and each part holds close to its fraction of every class's boxes, rare ones included
    for part, f in zip(PARTS, (0.7, 0.15, 0.15)):
        for name, frac in stats["parts"][part]["class_fraction"].items():
            assert abs(frac - f) < 0.02, (part, name, frac)


def test_stats_file_matches_the_lists(m3fd) -> None:
    """``data/m3fd/stats.json`` (and so the README's numbers) describe the shipped lists."""
    counts, scene = m3fd
    recorded = json.loads((SHIPPED / "stats.json").read_text())
    measured = split_statistics(shipped(), counts, M3FD_NAMES, strata=scene)
    for key in ("images", "boxes", "class_share", "strata_share"):
        assert recorded[key] == measured[key], key
    assert recorded["parts"] == measured["parts"]


@pytest.mark.slow
def test_the_tool_remakes_the_shipped_files(shared_data: Path, tmp_path: Path) -> None:
    """One command, seeded: the same labels give the same files (about 10 s)."""
    out = tmp_path / "m3fd"
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "make_m3fd_split.py"),
         "--labels", str(shared_data / "m3fd-labels"), "--out", str(out)],
        capture_output=True, text=True, check=True)
    assert "| test |" in proc.stdout
    for name in ("train.txt", "val.txt", "test.txt", "stats.json"):
        assert (out / name).read_text() == (SHIPPED / name).read_text(), name
