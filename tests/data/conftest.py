"""Fixtures of the data-layer tests: tiny canonical data sets written into tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import pytest
import yaml

from tests.data.helpers import scene, write_png, yolo_line

MakeSet = Callable[..., Path]


@pytest.fixture
def make_set(tmp_path: Path) -> MakeSet:
    """Factory: a canonical data set with ``n`` pairs of ``h x w`` and known boxes.

    Pair ``s{i}`` has box ``(4+i, 6, 20+i, 30)`` of class ``i % 2``, except that every third
    pair has no objects (an empty label file). All pairs go to ``train`` unless ``splits``
    maps part -> stems.
    """

    def make(n: int = 4, h: int = 48, w: int = 64, *, name: str = "set",
             splits: dict[str, list[str]] | None = None, names: Sequence[str] = ("a", "b")) -> Path:
        root = tmp_path / name
        stems = [f"s{i}" for i in range(n)]
        for i, stem in enumerate(stems):
            boxes = [] if i % 3 == 2 else [(4 + i, 6, 20 + i, 30)]
            ir, vis = scene(h, w, boxes, seed=i)
            write_png(root / "ir" / f"{stem}.png", ir)
            write_png(root / "vi" / f"{stem}.png", vis)
            (root / "labels").mkdir(parents=True, exist_ok=True)
            (root / "labels" / f"{stem}.txt").write_text(
                "".join(yolo_line(i % 2, b, w, h) for b in boxes))
        (root / "meta").mkdir(exist_ok=True)
        parts = splits or {"train": stems}
        for part, members in parts.items():
            (root / "meta" / f"{part}.txt").write_text("".join(f"{s}\n" for s in members))
        (root / "data.yaml").write_text(yaml.safe_dump({
            "names": list(names), "labels": True, "source": "test", "seed": 0,
            "split": [0.7, 0.15, 0.15]}))
        return root

    return make
