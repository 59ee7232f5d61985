"""data.yaml, split files, index.tsv and pair resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from tardal.data.layout import (
    DataInfo,
    all_stems,
    find_pairs,
    parse_fractions,
    read_data_yaml,
    read_index,
    read_split,
    resolve_pairs,
    split_stems,
    write_data_yaml,
    write_index,
    write_split,
)
from tardal.errors import ConfigError, DataError


def test_data_yaml_round_trip_keeps_extra_keys(tmp_path: Path) -> None:
    info = DataInfo(names=["People", "Car"], labels=True, source="m3fd", seed=3,
                    split=(0.8, 0.1, 0.1), extra={"description": "x"})
    write_data_yaml(tmp_path, info)
    back = read_data_yaml(tmp_path)
    assert back.names == ["People", "Car"] and back.labels and back.source == "m3fd"
    assert back.seed == 3 and back.split == (0.8, 0.1, 0.1) and back.extra == {"description": "x"}


def test_data_yaml_accepts_ultralytics_names_mapping(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("names: {0: a, 1: b}\n")
    info = read_data_yaml(tmp_path)
    assert info.names == ["a", "b"] and info.labels  # labels default: true when names exist


@pytest.mark.parametrize(
    "text, match",
    [
        ("names: [a\n", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping"),
        ("names: 3\n", "key 'names' must be a list"),
        ("names: [a]\nlabels: maybe\n", "key 'labels' must be true or false"),
        ("names: [a]\nseed: x\n", "key 'seed' must be an integer"),
        ("names: [a]\nsplit: [0.5, 0.1, 0.1]\n", "key 'split': fractions must be >= 0 and sum to 1"),
    ],
)
def test_bad_data_yaml(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "data.yaml").write_text(text)
    with pytest.raises(DataError, match=match):
        read_data_yaml(tmp_path)


def test_missing_data_yaml(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data.yaml does not exist.*tardal data import"):
        read_data_yaml(tmp_path)


def test_parse_fractions() -> None:
    assert parse_fractions("0.7,0.15,0.15") == (0.7, 0.15, 0.15)
    assert parse_fractions("0.8, 0.2") == (0.8, 0.2, 0.0)
    assert parse_fractions([0, 0, 1]) == (0.0, 0.0, 1.0)
    # a bad option is a ConfigError naming the option
    with pytest.raises(ConfigError, match="--split: fractions must be >= 0 and sum to 1"):
        parse_fractions("0.5,0.2,0.2")
    with pytest.raises(ConfigError, match="--split: expected numbers"):
        parse_fractions("a,b,c")
    with pytest.raises(ConfigError, match="--split: expected 3 fractions"):
        parse_fractions("0.25,0.25,0.25,0.25")
    with pytest.raises(ConfigError, match="--fractions: fractions must be >= 0"):
        parse_fractions("nan,0.5,0.5", what="--fractions")  # NaN compares false: caught anyway
    with pytest.raises(ConfigError, match="fractions must be >= 0"):
        parse_fractions([float("inf"), 0, 0])


def test_split_files(tmp_path: Path) -> None:
    write_split(tmp_path, "train", ["b", "a"])
    assert read_split(tmp_path, "train") == ["b", "a"]
    assert read_split(tmp_path, "val") == []  # missing file: empty part
    write_split(tmp_path, "test", [])
    assert read_split(tmp_path, "test") == []
    (tmp_path / "meta" / "val.txt").write_text("# comment\n a \n\nc\na\n")
    with pytest.raises(DataError, match=r"val\.txt:5: stem 'a' already listed on line 2"):
        read_split(tmp_path, "val")


def test_index_relative_and_absolute_paths(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "x_ir.png"
    write_index(tmp_path / "root", [("x", other, other.with_name("x_vi.png")), ("y", "imgs/y.png", "imgs/y2.png")])
    index = read_index(tmp_path / "root")
    assert index is not None
    assert index["x"] == (other, other.with_name("x_vi.png"))
    assert index["y"] == (tmp_path / "root" / "imgs/y.png", tmp_path / "root" / "imgs/y2.png")
    (tmp_path / "root" / "meta" / "index.tsv").write_text("x\ta.png\tb.png\ny a.png b.png\n")
    with pytest.raises(DataError, match=r"index\.tsv:2: expected 'stem<TAB>ir_path<TAB>vi_path'"):
        read_index(tmp_path / "root")


def test_resolve_folder_layout(make_set) -> None:
    root = make_set(4)
    pairs = resolve_pairs(root, ["s1", "s0"])
    assert [p.stem for p in pairs] == ["s1", "s0"]
    assert pairs[0].ir == root / "ir" / "s1.png" and pairs[0].vi == root / "vi" / "s1.png"
    assert pairs[0].label == root / "labels" / "s1.txt"
    assert all_stems(root) == ["s0", "s1", "s2", "s3"]
    assert split_stems(root, "all") == ["s0", "s1", "s2", "s3"]
    assert split_stems(root, "train") == ["s0", "s1", "s2", "s3"]


def test_pair_missing_its_partner_names_the_file(make_set) -> None:
    root = make_set(3)
    (root / "vi" / "s1.png").unlink()
    with pytest.raises(DataError, match=r"ir/s1\.png has no visible partner \(looked for .*vi/s1\.\*\)"):
        resolve_pairs(root)
    (root / "ir" / "s2.png").unlink()
    with pytest.raises(DataError, match=r"2 pair problem\(s\).*vi/s2\.png has no infrared partner"):
        resolve_pairs(root, ["s0", "s1", "s2"])
    pairs, problems = find_pairs(root)
    assert [p.stem for p in pairs] == ["s0"] and len(problems) == 2


def test_missing_label_file_is_an_error(make_set) -> None:
    root = make_set(2)
    (root / "labels" / "s1.txt").unlink()
    with pytest.raises(DataError, match=r"label file .*s1\.txt for pair 's1' does not exist"):
        resolve_pairs(root)
    assert len(resolve_pairs(root, labels=False)) == 2


def test_two_images_with_one_stem(make_set) -> None:
    root = make_set(2)
    (root / "ir" / "s0.jpg").write_bytes((root / "ir" / "s0.png").read_bytes())
    with pytest.raises(DataError, match="two images with stem 's0'"):
        resolve_pairs(root)


def test_index_is_used_instead_of_folders(make_set, tmp_path: Path) -> None:
    root = make_set(2)
    moved = tmp_path / "moved"
    moved.mkdir()
    for kind in ("ir", "vi"):
        (root / kind / "s0.png").rename(moved / f"s0_{kind}.png")
    write_index(root, [("s0", moved / "s0_ir.png", moved / "s0_vi.png")])
    pairs = resolve_pairs(root)
    assert [p.stem for p in pairs] == ["s0"] and pairs[0].ir == moved / "s0_ir.png"
    with pytest.raises(DataError, match="stem 's1' is not listed in .*index.tsv"):
        resolve_pairs(root, ["s1"])
    (moved / "s0_vi.png").unlink()
    with pytest.raises(DataError, match=r"visible image .*s0_vi\.png does not exist \(its partner .*s0_ir\.png does\)"):
        resolve_pairs(root)


def test_no_image_folders(tmp_path: Path) -> None:
    (tmp_path / "ir").mkdir()
    with pytest.raises(DataError, match="neither meta/index.tsv nor both image folders.*vi/ missing"):
        resolve_pairs(tmp_path)
