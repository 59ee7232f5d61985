"""JSON and Markdown writers of evaluation results."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from tardal.evaluation import (
    evaluate_detections,
    flatten_metrics,
    markdown_comparison,
    markdown_table,
    write_json,
)

NAMES = ["person", "car"]


def _results():
    gts = [{"image_id": 1, "boxes_xyxy": [[0, 0, 100, 100]], "labels": [0]}]
    preds = [{"image_id": 1, "boxes_xyxy": [[20, 0, 120, 100]], "labels": [0], "scores": [0.9]}]
    return evaluate_detections(preds, gts, NAMES)  # person AP 0.4, car absent (NaN)


def test_write_json_is_strict_json(tmp_path):
    r = _results()
    path = write_json(tmp_path / "sub" / "metrics.json",
                      {**r, "t": torch.tensor([1.5]), "a": np.float32(2.0), "n": np.int64(3)})
    data = json.loads(path.read_text())  # strict: no NaN tokens
    assert "NaN" not in path.read_text()
    assert data["AP"] == r["AP"] and data["per_class"]["car"]["AP"] is None
    assert data["t"] == [1.5] and data["a"] == 2.0 and data["n"] == 3


def test_markdown_table():
    text = markdown_table(_results(), NAMES)
    lines = text.strip().splitlines()
    assert len(lines) == 2 + 1 + 2  # header, rule, all, two classes
    assert lines[0].split("|")[1].strip() == "class"
    cells = [c.strip() for c in lines[2].split("|")[1:-1]]
    assert cells == ["all", "1", "1.000", "1.000", "1.000", "0.400"]
    car = [c.strip() for c in lines[4].split("|")[1:-1]]
    assert car == ["car", "0", "n/a", "n/a", "n/a", "n/a"]
    assert len({len(line) for line in lines}) == 1  # aligned columns


def test_comparison_and_flat_row():
    r = _results()
    text = markdown_comparison({"ct": r, "ir": {**r, "AP50": 0.25}}, NAMES)
    rows = text.strip().splitlines()
    assert rows[0].split("|")[1].strip() == "run" and "AP50 person" in rows[0]
    assert [c.strip() for c in rows[3].split("|")[1:3]] == ["ir", "0.250"]
    row = flatten_metrics(r, prefix="val/")
    assert row["val/AP"] == r["AP"] and row["val/AP/person"] == pytest.approx(0.4)
    assert math.isnan(row["val/AP50/car"])
    assert set(row) >= {"val/AP50", "val/AP75", "val/precision", "val/recall", "val/f1"}
