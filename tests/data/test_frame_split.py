"""Splits of video frames by runs, their statistics, and published split files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tardal.data.split import (
    PublishedSplit,
    apply_published_split,
    chunked_split,
    frame_key,
    frame_neighbours,
    frame_runs,
    neighbour_leak,
    part_of_file,
    read_split_files,
    split_statistics,
    stratified_split,
)
from tardal.errors import ConfigError, DataError

FRACTIONS = (0.7, 0.15, 0.15)


def video(n: int = 300, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Boxes of three classes per frame and a scene per frame, drifting slowly along the
    frames like a video: scene blocks of 40-80 frames, class mix set per scene."""
    rng = np.random.default_rng(seed)
    counts, scene = {}, {}
    s, left = 0, 0
    mixes = [np.array([0.6, 0.35, 0.05]), np.array([0.3, 0.6, 0.1]), np.array([0.5, 0.3, 0.2])]
    for i in range(n):
        if left == 0:
            s, left = int(rng.integers(3)), int(rng.integers(40, 81))
        left -= 1
        cls = rng.choice(3, size=int(rng.integers(1, 8)), p=mixes[s])
        stem = f"{i:05d}"
        counts[stem] = np.bincount(cls, minlength=3)
        scene[stem] = s
    return counts, scene


# ----------------------------------------------------------------------------------------
# Frames and runs
# ----------------------------------------------------------------------------------------


def test_frame_key() -> None:
    assert frame_key("00390") == ("", 390)
    assert frame_key("seq2_0041") == ("seq2_", 41)
    assert frame_key("night") is None


def test_frame_runs_cut_at_gaps_prefixes_groups_and_length() -> None:
    stems = ["a07", "00003", "00001", "00002", "00005", "00006", "a08", "x", "00004"]
    # 00001..00006 consecutive, a07..a08 consecutive, x alone
    assert frame_runs(stems, max_len=10) == [["00001", "00002", "00003", "00004", "00005",
                                              "00006"], ["a07", "a08"], ["x"]]
    assert frame_runs(stems, max_len=4) == [["00001", "00002", "00003"], ["00004", "00005",
                                            "00006"], ["a07", "a08"], ["x"]]
    # 7 frames, max 3: three pieces of 3, 2, 2 (the longer first)
    seven = [f"{i:03d}" for i in range(7)]
    assert [len(r) for r in frame_runs(seven, max_len=3)] == [3, 2, 2]
    # a group change (the scenario, the image size) cuts a run
    groups = {s: ("day" if int(s) < 4 else "night") for s in seven}
    assert frame_runs(seven, cut_by=groups, max_len=99) == [seven[:4], seven[4:]]
    # a gap cuts too
    assert frame_runs(["001", "002", "004"], max_len=99) == [["001", "002"], ["004"]]
    with pytest.raises(ConfigError, match="max_len must be a positive integer"):
        frame_runs(seven, max_len=0)
    with pytest.raises(DataError, match="stem '001' is given twice"):
        frame_runs(["001", "001"])


def test_frame_neighbours_and_leak_by_hand() -> None:
    pairs = set(frame_neighbours(["010", "011", "013", "016", "a011"], radius=2))
    assert pairs == {("010", "011"), ("011", "010"), ("011", "013"), ("013", "011")}
    split = {"train": ["010", "011", "020"], "val": [], "test": ["012", "014", "030", "031"]}
    # 012 is next to 010/011, 014 is 3 away from 011 (not within 2); 030, 031 have no train frame
    assert neighbour_leak(split, "test", "train", radius=2) == pytest.approx(1 / 4)
    assert neighbour_leak(split, "test", "train", radius=3) == pytest.approx(2 / 4)
    assert neighbour_leak(split, "val") == 0.0  # empty part


# ----------------------------------------------------------------------------------------
# chunked_split
# ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frames() -> tuple[dict[str, np.ndarray], dict[str, int], list[list[str]], dict]:
    counts, scene = video()
    runs = frame_runs(sorted(counts), cut_by=scene, max_len=10)
    split = chunked_split(runs, counts, FRACTIONS, seed=0, strata=scene, iterations=20_000)
    return counts, scene, runs, split


def test_chunked_split_keeps_runs_whole_and_every_stem_once(frames) -> None:
    counts, _, runs, split = frames
    everything = sorted(s for part in split.values() for s in part)
    assert everything == sorted(counts)
    owner = {s: p for p, stems in split.items() for s in stems}
    for run in runs:
        assert len({owner[s] for s in run}) == 1, run


def test_chunked_split_balances_classes_and_keeps_test_away_from_train(frames) -> None:
    counts, scene, _, split = frames
    stats = split_statistics(split, counts, ["a", "b", "c"], strata=scene)
    for part, f in zip(("train", "val", "test"), FRACTIONS):
        entry = stats["parts"][part]
        assert entry["max_class_dev_points"] < 3.0, (part, entry)
        for name, frac in entry["class_fraction"].items():
            assert abs(frac - f) < 0.05, (part, name, frac)
        assert abs(entry["image_share"] - f) < 0.05
    # A per-image split of the same frames puts a train neighbour next to nearly every test
    # frame; runs leave only the frames at the ends of the held-out stretches (45 test frames
    # here: a stretch bordered by train on both sides alone makes 4 of them, 9 %).
    per_image = stratified_split(counts, FRACTIONS, seed=0)
    assert neighbour_leak(per_image) > 0.9
    assert stats["parts"]["test"]["train_neighbour"] < 0.2
    assert stats["parts"]["val"]["train_neighbour"] < 0.2
    assert stats["parts"]["test"]["train_neighbour"] == pytest.approx(neighbour_leak(split), abs=1e-6)


def test_chunked_split_is_seeded(frames) -> None:
    counts, scene, runs, _ = frames

    def split(chunks, seed):
        return chunked_split(chunks, counts, FRACTIONS, seed=seed, strata=scene, iterations=4000)

    base = split(runs, 0)
    assert split(list(reversed(runs)), 0) == base  # the runs' order does not matter
    assert split(runs, 1) != base
    assert sorted(sum(base.values(), [])) == sorted(counts)


def test_chunked_split_zero_fraction_and_bad_input() -> None:
    counts, _ = video(60)
    runs = frame_runs(sorted(counts), max_len=5)
    split = chunked_split(runs, counts, (0.8, 0.2, 0.0), seed=0, iterations=2000)
    assert split["test"] == [] and len(split["train"]) + len(split["val"]) == 60
    with pytest.raises(ConfigError, match="must be >= 0 and sum to 1"):
        chunked_split(runs, counts, (0.5, 0.2, 0.2), seed=0)
    with pytest.raises(DataError, match="the chunks and the counts hold different stems"):
        chunked_split(runs[1:], counts, FRACTIONS, seed=0)
    with pytest.raises(DataError, match="stem '00000' is in more than one chunk"):
        chunked_split(runs + [["00000"]], counts, FRACTIONS, seed=0)


def test_split_statistics_by_hand() -> None:
    counts = {"001": [2, 0], "002": [1, 1], "003": [0, 4], "010": [1, 0]}
    scene = {"001": "day", "002": "day", "003": "night", "010": "night"}
    split = {"train": ["001", "002"], "val": [], "test": ["003", "010"]}
    stats = split_statistics(split, counts, ["car", "person"], strata=scene)
    assert stats["images"] == 4 and stats["boxes"] == 9
    assert stats["class_share"] == {"car": pytest.approx(4 / 9), "person": pytest.approx(5 / 9)}
    test = stats["parts"]["test"]
    assert test["boxes"] == 5 and test["boxes_per_class"] == {"car": 1, "person": 4}
    assert test["class_share"]["car"] == pytest.approx(0.2)
    assert test["max_class_dev_points"] == pytest.approx(round((4 / 9 - 0.2) * 100, 3))
    assert test["class_fraction"] == {"car": 0.25, "person": 0.8}
    assert test["strata_share"] == {"day": 0.0, "night": 1.0}
    assert test["strata_fraction"] == {"day": 0.0, "night": 1.0}
    assert test["train_neighbour"] == 0.5  # 003 is next to 002 and 001; 010 is alone
    assert "train_neighbour" not in stats["parts"]["train"]
    assert stats["parts"]["val"]["images"] == 0


# ----------------------------------------------------------------------------------------
# Published split files
# ----------------------------------------------------------------------------------------


def test_part_of_file() -> None:
    assert part_of_file("train.txt") == "train"
    assert part_of_file("/x/m3fd-test.json") == "test"
    assert part_of_file("val_list.txt") == "val"
    assert part_of_file("validation.txt") == "val"
    with pytest.raises(DataError, match="cannot tell which part .*found none"):
        part_of_file("interval.txt")
    with pytest.raises(DataError, match=r"found \['test', 'train'\]"):
        part_of_file("train_test.txt")


def test_read_split_folder_and_files(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("# comment\n00001\n\n 00002 \nimages/00003.png\n")
    (tmp_path / "test.txt").write_text("00004\r\nC:\\data\\Ir\\00005.jpg\n")
    split = read_split_files([tmp_path])
    assert split.parts == {"train": ["00001", "00002", "00003"], "test": ["00004", "00005"],
                           "val": []}
    assert split.files["train"] == [tmp_path / "train.txt"] and split.files["val"] == []
    assert read_split_files([tmp_path / "test.txt"]).parts["test"] == ["00004", "00005"]


def coco(path: Path, ids: list[str], names: bool = True) -> Path:
    images = [{"id": i, "file_name": f"{i}.png"} if names else {"id": i} for i in ids]
    path.write_text(json.dumps({"images": images, "annotations": [], "categories": []}))
    return path


def test_read_split_coco_files(tmp_path: Path) -> None:
    a = coco(tmp_path / "m3fd-train.json", ["00001", "00002"])
    b = coco(tmp_path / "m3fd-val.json", ["00003"], names=False)  # ids only
    split = read_split_files([a, b])
    assert split.parts == {"train": ["00001", "00002"], "val": ["00003"], "test": []}
    # a folder without txt files: its JSON files
    assert read_split_files([tmp_path]).parts["val"] == ["00003"]


def test_read_split_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="split file .*nowhere.txt does not exist"):
        read_split_files([tmp_path / "nowhere.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds neither train.txt"):
        read_split_files([tmp_path / "empty"])
    (tmp_path / "train.txt").write_text("a\nb\n")
    (tmp_path / "test.txt").write_text("c\nb\n")
    with pytest.raises(DataError, match=r"test\.txt:2: stem 'b' is already listed in .*train\.txt"):
        read_split_files([tmp_path / "train.txt", tmp_path / "test.txt"])
    (tmp_path / "val.txt").write_text("ok\n../../etc/passwd\n")
    with pytest.raises(DataError, match=r"val\.txt:2: stem '\.\./\.\./etc/passwd' is refused"):
        read_split_files([tmp_path / "val.txt"])
    (tmp_path / "bad-train.json").write_text("{not json")
    with pytest.raises(DataError, match="bad-train.json is not valid JSON"):
        read_split_files([tmp_path / "bad-train.json"])
    (tmp_path / "x-test.json").write_text(json.dumps({"annotations": []}))
    with pytest.raises(DataError, match="x-test.json: expected a COCO file with an 'images' list"):
        read_split_files([tmp_path / "x-test.json"])


def test_apply_published_split(tmp_path: Path, caplog) -> None:
    split = PublishedSplit(parts={"train": ["a", "b", "x"], "val": [], "test": ["c", "y"]},
                           files={"train": [tmp_path / "train.txt"], "val": [],
                                  "test": [tmp_path / "test.txt"]},
                           origin={"a": tmp_path / "train.txt", "b": tmp_path / "train.txt",
                                   "x": tmp_path / "train.txt", "c": tmp_path / "test.txt",
                                   "y": tmp_path / "test.txt"})
    parts, unlisted = apply_published_split(split, ["a", "b", "c", "x", "y"])
    assert parts == {"train": ["a", "b", "x"], "val": [], "test": ["c", "y"]} and unlisted == []
    with pytest.raises(DataError, match=r"1 stem\(s\) of split file .*train\.txt are not in the "
                                        r"source: x; 1 pair\(s\) of the source are in no split "
                                        r"file .*: z"):
        apply_published_split(split, ["a", "b", "c", "y", "z"])
    # a pair already left out as unusable may be listed without complaint
    parts, _ = apply_published_split(split, ["a", "b", "c", "y"], left_out=["x"])
    assert parts["train"] == ["a", "b"]
    parts, unlisted = apply_published_split(split, ["a", "b", "c", "z"], strict=False)
    assert parts == {"train": ["a", "b"], "val": [], "test": ["c"]}
    assert [s for s, _ in unlisted] == ["z"] and "not listed in the split files" in unlisted[0][1]
    assert "train.txt are not in the source: x" in caplog.text
