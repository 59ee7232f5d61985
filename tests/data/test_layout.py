"""data.yaml, split files, index.tsv and pair resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from tardal.data.layout import (
    DataInfo,
    all_stems,
    check_pair_size,
    check_stem,
    find_pairs,
    image_path,
    images_by_stem,
    label_path,
    parse_fractions,
    read_conditions,
    read_data_yaml,
    read_index,
    read_split,
    resolve_pairs,
    size_mismatch,
    split_stems,
    write_conditions,
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


# ----------------------------------------------------------------------------------------
# Stems, paths, sizes, conditions
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stem, why", [
    ("a/b", "path separator"), ("..\\x", "path separator"), ("..", "'..'"),
    ("x..y", "'..'"), ("/etc/passwd", "path separator"), ("C:x", "absolute"), ("", "empty"),
])
def test_check_stem_refuses(stem: str, why: str) -> None:
    with pytest.raises(DataError, match=f"where:1: stem .* is refused: .*{why}"):
        check_stem(stem, "where:1")


def test_check_stem_accepts_plain_stems() -> None:
    for stem in ("00390", "00001D", "frame.001", "seq 2_0041", "a-b"):
        assert check_stem(stem, "x") == stem
    assert label_path("/r", "00390") == Path("/r/labels/00390.txt")
    assert image_path("/r", "vi", "a", ".jpg") == Path("/r/vi/a.jpg")
    with pytest.raises(DataError, match="is refused"):
        label_path("/r", "../../etc/x")


@pytest.mark.parametrize("line", ["../escape", "sub/s0", "/abs/s0"])
def test_index_files_refuse_stems_that_leave_the_folder(make_set, line: str) -> None:
    root = make_set(2)
    (root / "meta" / "train.txt").write_text(f"s0\n{line}\n")
    with pytest.raises(DataError, match=r"meta/train\.txt:2: stem .* is refused"):
        read_split(root, "train")
    write_index(root, [("s0", "ir/s0.png", "vi/s0.png")])
    (root / "meta" / "index.tsv").write_text(f"s0\tir/s0.png\tvi/s0.png\n{line}\tir/s1.png\tvi/s1.png\n")
    with pytest.raises(DataError, match=r"meta/index\.tsv:2: stem .* is refused"):
        read_index(root)
    with pytest.raises(DataError, match=r"is refused"):
        write_split(root, "val", ["ok", line])
    with pytest.raises(DataError, match=r"is refused"):
        write_index(root, [(line, "a.png", "b.png")])


def test_images_by_stem(tmp_path: Path) -> None:
    assert images_by_stem(tmp_path / "none") == {}
    with pytest.raises(DataError, match="fused folder .*none does not exist"):
        images_by_stem(tmp_path / "none", "fused", required=True)
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "b.JPG").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    assert images_by_stem(tmp_path) == {"a": tmp_path / "a.png", "b": tmp_path / "b.JPG"}
    (tmp_path / "a.jpg").write_bytes(b"x")
    with pytest.raises(DataError, match="visible folder .* holds two images with stem 'a': a.jpg, a.png"):
        images_by_stem(tmp_path, "visible")


def test_pair_size_check() -> None:
    ir, vi = Path("ir/p.png"), Path("vi/p.png")
    assert size_mismatch("p", ir, (48, 64), vi, (48, 64)) is None
    msg = size_mismatch("p", ir, (48, 64), vi, (96, 128))
    assert msg == "pair 'p': infrared ir/p.png is 64x48 but visible vi/p.png is 128x96 (width x height)"
    with pytest.raises(DataError, match=r"is 128x96 \(width x height\); do this"):
        check_pair_size("p", ir, (48, 64), vi, (96, 128), hint="do this")
    check_pair_size("p", ir, (48, 64), vi, (48, 64))


def test_conditions_round_trip(tmp_path: Path) -> None:
    assert read_conditions(tmp_path) is None
    write_conditions(tmp_path, [("00000", "day"), ("00001", "fog")])
    assert (tmp_path / "meta" / "conditions.tsv").read_text() == "00000\tday\n00001\tfog\n"
    assert read_conditions(tmp_path) == {"00000": "day", "00001": "fog"}
    (tmp_path / "meta" / "conditions.tsv").write_text("00000\tday\n00000\tfog\n")
    with pytest.raises(DataError, match=r"conditions\.tsv:2: stem '00000' already listed on line 1"):
        read_conditions(tmp_path)
    (tmp_path / "meta" / "conditions.tsv").write_text("00000 day\n")
    with pytest.raises(DataError, match=r"conditions\.tsv:1: expected 'stem<TAB>condition'"):
        read_conditions(tmp_path)
