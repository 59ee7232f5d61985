"""The run folder: ``config.yaml``, ``results.csv``, ``results.png``, ``previews/``, ``weights/``.

::

    runs/train/ct/              (cfg.project / cfg.name; name empty -> the mode; ct2, ct3, ...)
        config.yaml             resolved config
        results.csv             one row per epoch: every loss term, validation values, LRs
        results.png             the same, plotted against the epoch
        previews/epoch3_00012.png   validation images after epoch 3: fused (recoloured), with
                                    the detector's boxes in modes that have one
        weights/last.pt         full training state, written after every epoch
        weights/best.pt         the same, for the epoch with the highest fitness
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Sequence

from tardal.io import atomic_write_text


def increment_dir(project: str | Path, name: str) -> Path:
    """``project/name``, or ``name2``, ``name3``, ... when that folder already exists."""
    base = Path(project) / name
    if not base.exists():
        return base
    i = 2
    while (Path(project) / f"{name}{i}").exists():
        i += 1
    return Path(project) / f"{name}{i}"


def read_results(path: Path) -> list[dict[str, str]]:
    """Rows of an existing ``results.csv`` (empty list if it does not exist)."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_results(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write all rows atomically; columns: union of keys in first-seen order."""
    columns: list[str] = []
    for row in rows:
        for k in row:
            if k not in columns:
                columns.append(k)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k, "")) for k in columns})
    atomic_write_text(path, buf.getvalue())


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return v
