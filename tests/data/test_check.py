"""`check_dataset`: statistics of a good set; every problem of a bad one, collected."""

from __future__ import annotations

import json
import os
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


# ----------------------------------------------------------------------------------------
# validate_splits: the cheap check before training


def test_validate_splits_good_set_and_cache(make_set, monkeypatch: pytest.MonkeyPatch) -> None:
    from tardal import io as tio
    from tardal.data.check import CACHE_FILE, validate_splits

    root = make_set(5, splits={"train": ["s0", "s1", "s2"], "val": ["s3"], "test": ["s4"]})

    def no_decoding(*args, **kwargs):
        raise AssertionError("validate_splits decoded an image")

    monkeypatch.setattr(tio.cv2, "imdecode", no_decoding)
    check = validate_splits(root, ["train", "val"])
    assert check.ok and check.bad == {} and check.rows() == []
    assert check.stems == {"train": ["s0", "s1", "s2"], "val": ["s3"]}
    assert check.good("train") == ["s0", "s1", "s2"]
    assert (check.checked, check.cached) == (12, 0)  # 4 pairs x (ir, vi, label)
    assert (root / CACHE_FILE).is_file()
    again = validate_splits(root, ["train", "val"])
    assert again.ok and (again.checked, again.cached) == (0, 12)
    fresh = validate_splits(root, ["train", "val"], cache=False)
    assert (fresh.checked, fresh.cached) == (12, 0)


def _break(root: Path) -> None:
    """s1: truncated visible PNG; s2: visible of another size; s3: two bad label lines;
    s5: no visible image; 'ghost': listed, no files; s0 listed in train and val."""
    png = root / "vi" / "s1.png"
    png.write_bytes(png.read_bytes()[:-20])
    write_png(root / "vi" / "s2.png", np.zeros((10, 12, 3), np.uint8))
    (root / "labels" / "s3.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2\n"
                                            "0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.1 0.1\n")
    (root / "vi" / "s5.png").unlink()


def test_validate_splits_raises_listing_every_bad_file(make_set) -> None:
    from tardal.data.check import validate_splits

    root = make_set(7, splits={"train": ["s0", "s1", "s2", "s3", "s5", "ghost"],
                               "val": ["s0", "s6"], "test": ["s4"]})
    _break(root)
    with pytest.raises(DataError) as info:
        validate_splits(root, ["train", "val"])
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"6 unusable pair(s) in split(s) train, val of {root}: ")
    assert "s0: stem 's0' is in both split 'train' and split 'val'" in msg
    assert f"s1: image {root / 'vi' / 's1.png'} is truncated (PNG IEND chunk missing)" in msg
    assert (f"s2: infrared {root / 'ir' / 's2.png'} is 64x48 but visible "
            f"{root / 'vi' / 's2.png'} is 12x10 (width x height)") in msg
    assert f"s3: {root / 'labels' / 's3.txt'}:2: expected 5 fields" in msg
    assert f"s3: {root / 'labels' / 's3.txt'}:4: class id 7 out of range" in msg
    assert f"{root / 'labels' / 's3.txt'}:1:" not in msg and ":3:" not in msg
    assert f"s5: {root / 'ir' / 's5.png'} has no visible partner" in msg
    assert "ghost: stem 'ghost' has no image" in msg
    assert "tardal data check" in msg and "--skip-bad" in msg
    assert validate_splits(root, ["test"]).ok  # s4 is fine; other splits are not read


def test_validate_splits_skip_bad_returns_the_bad_stems(make_set) -> None:
    from tardal.data.check import validate_splits

    root = make_set(7, splits={"train": ["s0", "s1", "s2", "s3", "s5", "ghost"],
                               "val": ["s0", "s6"]})
    _break(root)
    check = validate_splits(root, ["train", "val"], skip_bad=True)
    assert list(check.bad) == ["s0", "s1", "s2", "s3", "s5", "ghost"]
    assert len(check.bad["s3"]) == 2 and all("s3.txt:" in r for r in check.bad["s3"])
    assert check.good("train") == [] and check.good("val") == ["s6"]
    rows = check.rows()
    assert ("val", "s0", "stem 's0' is in both split 'train' and split 'val'") in rows
    assert sum(1 for split, stem, _ in rows if stem == "s3") == 2
    # align "resize" accepts the size mismatch of s2
    resized = validate_splits(root, ["train"], skip_bad=True, align="resize")
    assert "s2" not in resized.bad and "s1" in resized.bad


def test_cache_never_hides_a_changed_file(make_set) -> None:
    from tardal.data.check import validate_splits

    root = make_set(3)
    assert validate_splits(root, ["train"]).ok
    label = root / "labels" / "s0.txt"
    st = label.stat()
    text = label.read_text()
    label.write_text(text.replace("0 ", "5 ", 1))  # same size, now an unknown class
    os.utime(label, ns=(st.st_atime_ns, st.st_mtime_ns))  # modification time set back
    assert label.stat().st_size == st.st_size and label.stat().st_mtime_ns == st.st_mtime_ns
    check = validate_splits(root, ["train"], skip_bad=True)
    assert list(check.bad) == ["s0"] and "class id 5 out of range" in check.bad["s0"][0]
    assert check.checked == 1 and check.cached == 8
    png = root / "ir" / "s1.png"
    png.write_bytes(png.read_bytes()[:-20])  # replaced image
    check = validate_splits(root, ["train"], skip_bad=True)
    assert list(check.bad) == ["s0", "s1"] and "truncated" in check.bad["s1"][0]


def test_cache_depends_on_the_class_list(make_set) -> None:
    import yaml

    from tardal.data.check import validate_splits

    root = make_set(2)
    assert validate_splits(root, ["train"]).ok  # s1 holds class 1
    data = yaml.safe_load((root / "data.yaml").read_text())
    data["names"] = ["a"]
    (root / "data.yaml").write_text(yaml.safe_dump(data))
    check = validate_splits(root, ["train"], skip_bad=True)
    assert list(check.bad) == ["s1"] and "class id 1 out of range (valid ids: 0..0)" in \
        check.bad["s1"][0]


def test_unwritable_cache_and_pixel_limit(make_set, monkeypatch: pytest.MonkeyPatch) -> None:
    from tardal.data import check as check_module
    from tardal.data.check import CACHE_FILE, validate_splits

    root = make_set(3)

    def refuse(path, text, **kwargs):
        raise DataError(f"cannot write {path}: Read-only file system")

    monkeypatch.setattr(check_module, "atomic_write_text", refuse)
    assert validate_splits(root, ["train"]).ok
    assert not (root / CACHE_FILE).exists()
    check = validate_splits(root, ["train"], skip_bad=True, pixel_limit=1000)
    assert list(check.bad) == ["s0", "s1", "s2"]
    assert check.bad["s0"][0] == (f"image {root / 'ir' / 's0.png'} is 64x48 = 3,072 pixels, "
                                  "more than the limit of 1,000")


def test_many_problems_are_counted(make_set) -> None:
    from tardal.data.check import MAX_REPORTED, validate_splits

    root = make_set(25)
    for i in range(25):
        (root / "labels" / f"s{i}.txt").write_text("x\n")
    with pytest.raises(DataError) as info:
        validate_splits(root, ["train"])
    msg = str(info.value)
    assert msg.startswith("25 unusable pair(s)") and msg.count("expected 5 fields") == MAX_REPORTED
    assert "... and 5 more problem(s)" in msg
