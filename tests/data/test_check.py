"""`check_dataset`: statistics of a good set; every problem of a bad one, collected."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tardal.data.check import check_dataset, format_report
from tardal.errors import DataError
from tests.data.helpers import write_png


def test_statistics(make_set) -> None:
    root = make_set(6, 48, 64, splits={"train": ["s0", "s1", "s2", "s3"], "val": ["s4"], "test": []})
    r = check_dataset(root)
    assert r["ok"] and r["num_problems"] == 0 and r["problems"] == []
    assert r["pairs"] == 6 and r["splits"] == {"train": 4, "val": 1, "test": 0}
    assert r["unassigned"] == 1  # s5 is in no split
    assert r["image_sizes"] == {"64x48": 6}
    # boxes: s0 a, s1 b, s3 b, s4 a; s2 and s5 have none
    assert r["boxes"]["total"] == 4 and r["boxes"]["per_class"] == {"a": 2, "b": 2}
    assert r["boxes"]["per_split"]["train"] == {"a": 1, "b": 2}
    assert r["boxes"]["per_split"]["val"] == {"a": 1, "b": 0}
    assert r["empty_images"] == 2
    # every box is 16x24 px: sqrt = 19.6 -> the 16-32 bin, COCO small
    edges = r["box_size_hist"]["edges_px"]
    assert r["box_size_hist"]["counts"][edges.index(16)] == 4 and sum(r["box_size_hist"]["counts"]) == 4
    assert r["box_size_coco"] == {"small": 4, "medium": 0, "large": 0}
    json.dumps(r)  # JSON-ready
    text = format_report(r)
    assert "pairs: 6 (train 4, val 1, test 0, in no split 1)" in text
    assert "64x48 x6" in text and "no problems found" in text
    assert any(line.split()[:3] == ["a", "2", "1"] for line in text.splitlines())


def test_problems_are_collected(make_set) -> None:
    root = make_set(6, 48, 64, splits={"train": ["s0", "s1", "s2", "s3", "ghost"], "val": ["s3", "s4"]})
    png = root / "vi" / "s1.png"
    png.write_bytes(png.read_bytes()[:-20])
    write_png(root / "vi" / "s2.png", np.zeros((10, 10, 3), np.uint8))
    (root / "labels" / "s4.txt").write_text("1 0.5 0.5 0.2\n")
    r = check_dataset(root, decode=False)
    assert not r["ok"] and r["num_problems"] == 5
    joined = "\n".join(r["problems"])
    assert "stem 's3' is in both train.txt and val.txt" in joined
    assert "stem 'ghost' has no image" in joined
    assert "vi/s1.png is truncated" in joined
    assert "infrared" in joined and "ir/s2.png is 64x48 but visible" in joined and "vi/s2.png is 10x10" in joined
    assert "labels/s4.txt:1: expected 5 fields" in joined
    assert "PROBLEMS: 5" in format_report(r)
    assert check_dataset(root, align="resize", decode=False)["num_problems"] == 4


def test_decoding_finds_what_headers_miss(make_set) -> None:
    root = make_set(2)
    png = root / "ir" / "s0.png"
    data = bytearray(png.read_bytes())
    data[60:90] = b"\x00" * 30
    png.write_bytes(bytes(data))
    assert check_dataset(root, decode=False)["ok"]
    r = check_dataset(root, decode=True)
    assert r["problems"] == [f"image {png} is corrupt or not a supported image format"]


def test_missing_data_yaml_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data.yaml does not exist"):
        check_dataset(tmp_path)
