"""Evaluation results for machines (JSON, flat rows for CSV) and for people (Markdown)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tardal.io import atomic_write_text

SUMMARY_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "precision", "recall", "f1")


def _plain(value: Any) -> Any:
    """JSON-safe copy: tensors and arrays to lists, numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if torch.is_tensor(value):
        return _plain(value.detach().cpu().tolist())
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically (NaN becomes null, tensors become lists)."""
    path = Path(path)
    atomic_write_text(path, json.dumps(_plain(obj), indent=2, allow_nan=False) + "\n")
    return path


def flatten_metrics(results: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """One flat row of an :func:`~tardal.evaluation.coco.evaluate_detections` result:
    ``{prefix+"AP": .., prefix+"AP50": .., ..., prefix+"AP50/<class>": .., prefix+"AP/<class>": ..}``
    (for ``results.csv``)."""
    row = {prefix + k: float(results[k]) for k in SUMMARY_KEYS if k in results}
    for name, entry in results.get("per_class", {}).items():
        row[f"{prefix}AP50/{name}"] = float(entry["AP50"])
        row[f"{prefix}AP/{name}"] = float(entry["AP"])
    return row


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    return f"{float(value):.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)]) + "\n"


def markdown_table(results: Mapping[str, Any], names: Sequence[str] | None = None) -> str:
    """Markdown table: one ``all`` row, then one row per class (in ``names`` order).

    Columns: instances, P, R (at the best F1), AP50, AP50:95. Classes without ground truth show
    ``n/a``.
    """
    per_class = results.get("per_class", {})
    names = list(names) if names is not None else list(per_class)
    header = ["class", "instances", "P", "R", "AP50", "AP50:95"]
    rows = [["all", _fmt(results.get("instances", "")), _fmt(results.get("precision")),
             _fmt(results.get("recall")), _fmt(results.get("AP50")), _fmt(results.get("AP"))]]
    for name in names:
        e = per_class.get(name, {})
        rows.append([name, _fmt(e.get("instances", 0)), _fmt(e.get("precision")),
                     _fmt(e.get("recall")), _fmt(e.get("AP50")), _fmt(e.get("AP"))])
    return _table(header, rows)


def markdown_comparison(runs: Mapping[str, Mapping[str, Any]],
                        names: Sequence[str] | None = None) -> str:
    """Markdown table comparing several evaluations (e.g. ``ct``, ``ir``, ``vis``) side by side:
    one row per run with AP50, AP50:95, AP75, P, R, then AP50 per class."""
    names = list(names) if names is not None else sorted(
        {n for r in runs.values() for n in r.get("per_class", {})})
    header = ["run", "AP50", "AP50:95", "AP75", "P", "R", *(f"AP50 {n}" for n in names)]
    rows = []
    for run, r in runs.items():
        pc = r.get("per_class", {})
        rows.append([run, _fmt(r.get("AP50")), _fmt(r.get("AP")), _fmt(r.get("AP75")),
                     _fmt(r.get("precision")), _fmt(r.get("recall")),
                     *(_fmt(pc.get(n, {}).get("AP50")) for n in names)])
    return _table(header, rows)
