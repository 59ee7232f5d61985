"""Importers on tiny generated source trees, and on the real sample sets (``shared_data``)."""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from tardal.data.check import check_dataset
from tardal.data.dataset import PairedDataset
from tardal.data.importers import (
    IMPORTERS,
    M3FD_NAMES,
    ImportOptions,
    ImportResult,
    import_dataset,
)
from tardal.data.labels import read_yolo
from tardal.data.layout import read_index, read_split
from tardal.errors import ConfigError, DataError, UnknownNameError
from tests.conftest import REPO
from tests.data.helpers import scene, voc_xml, write_png

H, W = 32, 40


def make_m3fd(root: Path, n: int = 10) -> dict[str, list[tuple[str, tuple[int, int, int, int]]]]:
    """M3FD-like source: Ir/, Vis/, Annotation/; class names in mixed case. Returns objects."""
    names = ["People", "car", "LAMP", "Truck", "people", "Bus"]
    objects = {}
    for i in range(n):
        stem = f"{i:05d}"
        objs = [(names[(i + k) % len(names)], (2 + 3 * k, 2 + k, 12 + 3 * k, 20 + k)) for k in range(1 + i % 3)]
        ir, vis = scene(H, W, [b for _, b in objs], seed=i)
        write_png(root / "Ir" / f"{stem}.png", np.stack([ir] * 3, axis=2))
        write_png(root / "Vis" / f"{stem}.png", vis)
        (root / "Annotation").mkdir(parents=True, exist_ok=True)
        (root / "Annotation" / f"{stem}.xml").write_text(voc_xml(f"{stem}.png", (W, H), objs))
        objects[stem] = objs
    return objects


def m3fd_random(src: Path, out: Path, **options) -> ImportResult:
    """M3FD import with the seeded per-image split (tiny sources are not the shipped split)."""
    return import_dataset("m3fd", src, out, random_split=True, **options)


def read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def no_leftovers(parent: Path) -> bool:
    return not any(p.name.endswith(".partial") for p in parent.iterdir())


def test_registry_lists_importers() -> None:
    assert IMPORTERS.names() == ["llvip", "m3fd", "msrs", "pairs"]
    with pytest.raises(UnknownNameError, match="Did you mean 'm3fd'"):
        import_dataset("m3dd", "x", "y")


def test_m3fd_maps_classes_by_name(tmp_path: Path) -> None:
    objects = make_m3fd(tmp_path / "src")
    out = tmp_path / "out"
    result = m3fd_random(tmp_path / "src", out, seed=0)
    info = read_yaml(out / "data.yaml")
    assert info["names"] == M3FD_NAMES and info["labels"] is True and info["source"] == "m3fd"
    assert info["seed"] == 0 and info["split"] == [0.7, 0.15, 0.15]
    lookup = {n.lower(): i for i, n in enumerate(M3FD_NAMES)}
    expected = np.zeros(6, int)
    for stem, objs in objects.items():
        rows = read_yolo(out / "labels" / f"{stem}.txt", 6)
        assert rows[:, 0].astype(int).tolist() == [lookup[n.lower()] for n, _ in objs]
        x1, y1, x2, y2 = objs[0][1]
        np.testing.assert_allclose(rows[0, 1:], [(x1 + x2) / 2 / W, (y1 + y2) / 2 / H,
                                                 (x2 - x1) / W, (y2 - y1) / H], atol=1e-6)
        for n, _ in objs:
            expected[lookup[n.lower()]] += 1
    assert result.boxes == {n: int(c) for n, c in zip(M3FD_NAMES, expected)}
    assert sum(result.splits.values()) == 10 and result.skipped == []
    parts = [read_split(out, p) for p in ("train", "val", "test")]
    assert sorted(sum(parts, [])) == sorted(objects)
    index = read_index(out)
    assert index is not None and set(index) == set(objects)
    ir, vi = index["00003"]
    assert ir.is_absolute() and ir.samefile(tmp_path / "src" / "Ir" / "00003.png")
    assert not (out / "ir").exists()  # images stay in place
    assert check_dataset(out)["ok"]


def test_split_is_seeded(tmp_path: Path) -> None:
    make_m3fd(tmp_path / "src", n=30)
    a = m3fd_random(tmp_path / "src", tmp_path / "a", seed=1)
    b = m3fd_random(tmp_path / "src", tmp_path / "b", seed=1)
    c = m3fd_random(tmp_path / "src", tmp_path / "c", seed=2)
    for part in ("train", "val", "test"):
        assert read_split(tmp_path / "a", part) == read_split(tmp_path / "b", part)
    assert any(read_split(tmp_path / "a", p) != read_split(tmp_path / "c", p) for p in ("train", "val"))
    assert a.splits == b.splits and a.splits["train"] in (20, 21, 22)
    assert c.pairs == 30


def test_unknown_class_fails_and_leaves_nothing(tmp_path: Path) -> None:
    make_m3fd(tmp_path / "src")
    (tmp_path / "src" / "Annotation" / "00004.xml").write_text(
        voc_xml("00004.png", (W, H), [("Car", (1, 1, 9, 9)), ("Tricycle", (1, 1, 9, 9))]))
    with pytest.raises(DataError, match=r"00004\.xml: object 2 has unknown class 'Tricycle'; "
                                        r"known classes: People, Car, Bus, Motorcycle, Lamp, Truck"):
        m3fd_random(tmp_path / "src", tmp_path / "out")
    assert not (tmp_path / "out").exists() and no_leftovers(tmp_path)


def test_pair_missing_partner_skipped_or_strict(tmp_path: Path, caplog) -> None:
    make_m3fd(tmp_path / "src")
    (tmp_path / "src" / "Vis" / "00002.png").unlink()
    with pytest.raises(DataError, match=r"pair '00002': .*Ir/00002\.png has no visible partner"):
        m3fd_random(tmp_path / "src", tmp_path / "strict", strict=True)
    assert not (tmp_path / "strict").exists() and no_leftovers(tmp_path)
    with caplog.at_level(logging.WARNING):
        result = m3fd_random(tmp_path / "src", tmp_path / "out", strict=False)
    assert "00002" in caplog.text and "no visible partner" in caplog.text
    assert result.pairs == 9 and [s for s, _ in result.skipped] == ["00002"]
    skipped = (tmp_path / "out" / "meta" / "skipped.tsv").read_text()
    assert skipped.startswith("00002\t") and "Ir/00002.png" in skipped
    assert read_yaml(tmp_path / "out" / "data.yaml")["skipped"] == 1


def test_missing_annotation_and_truncated_image(tmp_path: Path) -> None:
    make_m3fd(tmp_path / "src")
    (tmp_path / "src" / "Annotation" / "00001.xml").unlink()
    png = tmp_path / "src" / "Vis" / "00005.png"
    png.write_bytes(png.read_bytes()[:-16])
    result = m3fd_random(tmp_path / "src", tmp_path / "out", strict=False)
    reasons = dict(result.skipped)
    assert set(reasons) == {"00001", "00005"}
    assert "Ir/00001.png has no annotation file" in reasons["00001"]
    assert "Annotation/00001.xml" in reasons["00001"]
    assert "Vis/00005.png is truncated" in reasons["00005"]
    with pytest.raises(DataError, match=r"pair '00001': .*has no annotation file .*Annotation/00001\.xml"):
        m3fd_random(tmp_path / "src", tmp_path / "strict", strict=True)
    (tmp_path / "src" / "Annotation" / "00001.xml").write_text(voc_xml("00001.png", (W, H), []))
    with pytest.raises(DataError, match=r"pair '00005': image .*Vis/00005\.png is truncated"):
        m3fd_random(tmp_path / "src", tmp_path / "strict", strict=True)


def test_verify_finds_damage_inside_the_file(tmp_path: Path) -> None:
    make_m3fd(tmp_path / "src", n=4)
    png = tmp_path / "src" / "Ir" / "00002.png"
    data = bytearray(png.read_bytes())
    data[60:80] = b"\xff" * 20  # inside the compressed data; header and IEND intact
    png.write_bytes(bytes(data))
    assert m3fd_random(tmp_path / "src", tmp_path / "fast").pairs == 4
    with pytest.raises(DataError, match=r"Ir/00002\.png is corrupt"):
        m3fd_random(tmp_path / "src", tmp_path / "slow", verify=True)
    result = m3fd_random(tmp_path / "src", tmp_path / "slow", verify=True, strict=False)
    assert result.pairs == 3 and "Ir/00002.png is corrupt" in dict(result.skipped)["00002"]
    report = check_dataset(tmp_path / "fast")
    assert not report["ok"] and any("Ir/00002.png is corrupt" in p for p in report["problems"])


def test_size_mismatch(tmp_path: Path) -> None:
    make_m3fd(tmp_path / "src", n=4)
    write_png(tmp_path / "src" / "Vis" / "00001.png", np.zeros((2 * H, 2 * W, 3), np.uint8))
    with pytest.raises(DataError, match=rf"infrared .*Ir/00001\.png is {W}x{H} but visible "
                                        rf".*Vis/00001\.png is {2 * W}x{2 * H}"):
        m3fd_random(tmp_path / "src", tmp_path / "strict", strict=True)
    assert m3fd_random(tmp_path / "src", tmp_path / "skip", strict=False).pairs == 3
    kept = m3fd_random(tmp_path / "src", tmp_path / "keep", align="resize")
    assert kept.pairs == 4 and read_yaml(tmp_path / "keep" / "data.yaml")["align"] == "resize"
    assert check_dataset(tmp_path / "keep")["ok"]  # check takes align from data.yaml
    item = PairedDataset(tmp_path / "keep", "all", align="resize")[1]
    assert item["vis"].shape == (3, H, W)


def test_xml_size_disagreeing_with_the_image_is_ignored(tmp_path: Path) -> None:
    make_m3fd(tmp_path / "src", n=2)
    (tmp_path / "src" / "Annotation" / "00000.xml").write_text(
        voc_xml("00000.png", (4 * W, 4 * H), [("Car", (0, 0, W // 2, H))]))
    m3fd_random(tmp_path / "src", tmp_path / "out")
    rows = read_yolo(tmp_path / "out" / "labels" / "00000.txt", 6)
    np.testing.assert_allclose(rows, [[1, 0.25, 0.5, 0.5, 1.0]])


def test_copy_and_overwrite(tmp_path: Path) -> None:
    make_m3fd(tmp_path / "src", n=3)
    out = tmp_path / "out"
    m3fd_random(tmp_path / "src", out, copy=True)
    assert not (out / "meta" / "index.tsv").exists()
    assert (out / "ir" / "00001.png").read_bytes() == (tmp_path / "src" / "Ir" / "00001.png").read_bytes()
    assert (out / "vi" / "00001.png").read_bytes() == (tmp_path / "src" / "Vis" / "00001.png").read_bytes()
    assert len(PairedDataset(out, "all")) == 3
    with pytest.raises(DataError, match="exists and is not empty.*--overwrite"):
        m3fd_random(tmp_path / "src", out)
    m3fd_random(tmp_path / "src", out, overwrite=True)
    assert (out / "meta" / "index.tsv").exists() and not (out / "ir").exists()
    with pytest.raises(DataError, match="must not be the source folder"):
        m3fd_random(tmp_path / "src", tmp_path, overwrite=True)
    assert (tmp_path / "src" / "Ir").is_dir()


def test_missing_source_folders(tmp_path: Path) -> None:
    (tmp_path / "src" / "Ir").mkdir(parents=True)
    (tmp_path / "src" / "junk").mkdir()
    with pytest.raises(DataError, match=r"expected a visible image folder named Vis or Vi or visible; found: Ir, junk"):
        m3fd_random(tmp_path / "src", tmp_path / "out")
    with pytest.raises(DataError, match="source folder .*nowhere does not exist"):
        import_dataset("pairs", tmp_path / "nowhere", tmp_path / "out")


def make_llvip(root: Path, train: int, test: int) -> int:
    """LLVIP-like source (JPEG); returns the number of person boxes written."""
    boxes = 0
    for part, n, base in (("train", train, 10000), ("test", test, 19000)):
        for i in range(n):
            stem = str(base + i)
            objs = [("person", (3 + k * 8, 4, 9 + k * 8, 28)) for k in range(1 + i % 3)]
            ir, vis = scene(H, W, [b for _, b in objs], seed=i)
            for kind, img in (("infrared", np.stack([ir] * 3, axis=2)), ("visible", vis)):
                p = root / kind / part / f"{stem}.jpg"
                p.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(p), img)
            (root / "Annotations").mkdir(exist_ok=True)
            (root / "Annotations" / f"{stem}.xml").write_text(voc_xml(f"{stem}.jpg", (W, H), objs))
            boxes += len(objs)
    return boxes


def test_llvip_keeps_its_test_and_carves_val(tmp_path: Path) -> None:
    boxes = make_llvip(tmp_path / "src", train=17, test=5)
    result = import_dataset("llvip", tmp_path / "src", tmp_path / "out", split="0.7,0.15,0.15")
    test = read_split(tmp_path / "out", "test")
    assert test == [str(19000 + i) for i in range(5)]
    train, val = read_split(tmp_path / "out", "train"), read_split(tmp_path / "out", "val")
    assert len(train) + len(val) == 17 and len(val) == 3  # 0.15 / 0.85 of 17 = 3
    assert all(s.startswith("1000") or s.startswith("1001") for s in train + val)
    assert result.boxes == {"person": boxes}
    assert read_yaml(tmp_path / "out" / "data.yaml")["test_from_train"] is False


def test_llvip_without_test_folder(tmp_path: Path, caplog) -> None:
    make_llvip(tmp_path / "src", train=20, test=0)
    with caplog.at_level(logging.WARNING):
        result = import_dataset("llvip", tmp_path / "src", tmp_path / "out")
    assert "no test folder" in caplog.text
    assert result.splits == {"train": 14, "val": 3, "test": 3}
    assert read_yaml(tmp_path / "out" / "data.yaml")["test_from_train"] is True


def make_msrs(root: Path) -> None:
    for i, stem in enumerate(["00001D", "00002N", "00003N"]):
        ir, vis = scene(H, W, [], seed=i)
        write_png(root / "ir" / f"{stem}.png", ir)
        write_png(root / "vi" / f"{stem}.png", vis)
    (root / "classes.txt").write_text("0 person\n1 bicycle\n2 car\n")
    fusion = root / "labels-fusion"
    fusion.mkdir()
    (fusion / "00001D.txt").write_text("0  0.5  0.5  0.25  0.5  \n2  0.25  0.25  0.1  0.1  ")
    (fusion / "00002N.txt").write_text("")
    # 00003N has no label file: an image without objects
    (root / "labels-infrared").mkdir()
    (root / "labels-infrared" / "00001D.txt").write_text("1 0.5 0.5 0.2 0.2\n")


def test_msrs_messy_labels_and_label_folder(tmp_path: Path, caplog) -> None:
    make_msrs(tmp_path / "src")
    with caplog.at_level(logging.WARNING):
        result = import_dataset("msrs", tmp_path / "src", tmp_path / "out")
    assert "no label file" in caplog.text
    info = read_yaml(tmp_path / "out" / "data.yaml")
    assert info["names"] == ["person", "bicycle", "car"] and info["source"] == "msrs"
    assert result.boxes == {"person": 1, "bicycle": 0, "car": 1}
    assert (tmp_path / "out" / "labels" / "00001D.txt").read_text() == (
        "0 0.500000 0.500000 0.250000 0.500000\n2 0.250000 0.250000 0.100000 0.100000\n")
    assert (tmp_path / "out" / "labels" / "00003N.txt").read_text() == ""
    ir_labels = import_dataset("msrs", tmp_path / "src", tmp_path / "ir", labels="labels-infrared")
    assert ir_labels.boxes == {"person": 0, "bicycle": 1, "car": 0}
    with pytest.raises(DataError, match="label folder .*labels-visible does not exist; label folders "
                                        "in .*: labels-fusion, labels-infrared"):
        import_dataset("msrs", tmp_path / "src", tmp_path / "x", labels="labels-visible")


def test_msrs_bad_label_line_stops_the_import(tmp_path: Path) -> None:
    make_msrs(tmp_path / "src")
    (tmp_path / "src" / "labels-fusion" / "00002N.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.5 1.2 0.2 0.2\n")
    with pytest.raises(DataError, match=r"labels-fusion/00002N\.txt:2: cy=1\.2 is outside \[0, 1\]"):
        import_dataset("msrs", tmp_path / "src", tmp_path / "out")
    assert not (tmp_path / "out").exists() and no_leftovers(tmp_path)


def test_pairs_unlabelled(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(7):
        ir, vis = scene(20 + i, 30, [], seed=i)  # sizes differ between pairs, not within
        write_png(src / "IR" / f"{i:02d}.png", ir)
        cv2.imwrite(str((src / "VI").mkdir(parents=True, exist_ok=True) or src / "VI" / f"{i:02d}.jpg"), vis)
    result = import_dataset("pairs", src, tmp_path / "out", split="0,0,1")
    info = read_yaml(tmp_path / "out" / "data.yaml")
    assert info["names"] == [] and info["labels"] is False and info["source"] == "pairs"
    assert result.splits == {"train": 0, "val": 0, "test": 7} and result.boxes == {}
    assert not (tmp_path / "out" / "labels").exists()
    ds = PairedDataset(tmp_path / "out", "test")
    item = ds[3]
    assert item["ir"].shape == (1, 23, 30) and item["boxes_xyxy"].shape == (0, 4)
    report = check_dataset(tmp_path / "out")
    assert report["ok"] and report["pairs"] == 7 and len(report["image_sizes"]) == 7


# ----------------------------------------------------------------------------------------
# The real sample sets
# ----------------------------------------------------------------------------------------


def count_voc_objects(folder: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for xml in folder.glob("*.xml"):
        for obj in ET.parse(xml).getroot().iter("object"):
            name = obj.findtext("name").strip()
            counts[name] = counts.get(name, 0) + 1
    return counts


def test_real_m3fd_sample(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "m3fd-sample"
    source_counts = count_voc_objects(src / "Annotation")
    assert sum(source_counts.values()) == 13 and set(source_counts) == {"People", "Car", "Lamp"}
    # The default split is the shipped one, which lists 4,199 stems this sample lacks.
    with pytest.raises(DataError, match=r"stem\(s\) of split file .*data/m3fd/train\.txt are "
                                        r"not in the source: 00000, 00001"):
        import_dataset("m3fd", src, tmp_path / "m3fd")
    result = import_dataset("m3fd", src, tmp_path / "m3fd", strict=False)
    shipped = {p: (REPO / "data" / "m3fd" / f"{p}.txt").read_text().split()
               for p in ("train", "val", "test")}
    part = next(p for p, stems in shipped.items() if "00390" in stems)
    assert read_split(tmp_path / "m3fd", part) == ["00390"]
    assert result.splits[part] == 1 and "data/m3fd" in result.split_from
    assert result.pairs == 1 and sum(result.boxes.values()) == 13
    assert {k: v for k, v in result.boxes.items() if v} == source_counts
    item = PairedDataset(tmp_path / "m3fd", "all", img_size=256)[0]
    assert len(item["boxes_xyxy"]) == 13 and item["orig_size"] == (768, 1024)
    assert item["ir"].shape == (1, 256, 256)


def test_real_llvip_mini(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "llvip-mini"
    source_counts = count_voc_objects(src / "Annotations")
    result = import_dataset("llvip", src, tmp_path / "llvip")
    assert result.pairs == 30 and result.skipped == []
    assert result.boxes == {"person": source_counts["person"]}
    assert result.splits["test"] > 0  # no test/ in the sample: carved from train
    report = check_dataset(tmp_path / "llvip", decode=False)
    assert report["ok"] and report["boxes"]["total"] == source_counts["person"]
    assert report["image_sizes"] == {"1280x1024": 30}


def test_real_msrs_mini(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "msrs-mini"
    # One file in the sample is not an image at all: by default that stops the import.
    with pytest.raises(DataError, match=r"00890N"):
        import_dataset("msrs", src, tmp_path / "msrs")
    assert not (tmp_path / "msrs").exists()
    result = import_dataset("msrs", src, tmp_path / "msrs", strict=False)
    stems = sorted(p.stem for p in (src / "ir").iterdir())
    imported = sorted(read_split(tmp_path / "msrs", "train") + read_split(tmp_path / "msrs", "val")
                      + read_split(tmp_path / "msrs", "test"))
    assert result.pairs == 9 and len(imported) == 9
    # With strict=False it is left out, with the reason.
    assert sorted(imported + [s for s, _ in result.skipped]) == stems
    assert [s for s, _ in result.skipped] == ["00890N"]
    lines = sum(1 for s in imported
                for line in (src / "labels-fusion" / f"{s}.txt").read_text().splitlines() if line.strip())
    assert sum(result.boxes.values()) == lines
    for s in imported:
        ours = read_yolo(tmp_path / "msrs" / "labels" / f"{s}.txt", 3)
        theirs = read_yolo(src / "labels-fusion" / f"{s}.txt", 3)
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("name, pairs", [("tno", 25), ("roadscene", 50)])
def test_real_unlabelled_pairs(shared_data: Path, tmp_path: Path, name: str, pairs: int) -> None:
    result = import_dataset("pairs", shared_data / name, tmp_path / name)
    assert result.pairs == pairs and result.skipped == []
    assert sum(result.splits.values()) == pairs
    report = check_dataset(tmp_path / name, decode=False)
    assert report["ok"] and report["pairs"] == pairs


# ----------------------------------------------------------------------------------------
# Splits: shipped, published, random; options
# ----------------------------------------------------------------------------------------


def write_lists(folder: Path, parts: dict[str, list[str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for part, stems in parts.items():
        (folder / f"{part}.txt").write_text("".join(f"{s}\n" for s in stems))
    return folder


PUBLISHED = {"train": ["00000", "00001", "00002", "00003", "00004", "00005"],
             "val": ["00006", "00007"], "test": ["00008", "00009"]}


@pytest.mark.parametrize("form", ["folder", "files", "coco"])
def test_m3fd_published_split(tmp_path: Path, form: str) -> None:
    make_m3fd(tmp_path / "src")
    if form == "coco":
        files = []
        for part, stems in PUBLISHED.items():
            path = tmp_path / "coco" / f"m3fd-{part}.json"
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps({"images": [{"id": s, "file_name": f"{s}.png"}
                                                   for s in stems], "categories": []}))
            files.append(path)
    else:
        folder = write_lists(tmp_path / "lists", PUBLISHED)
        files = [folder] if form == "folder" else [folder / f"{p}.txt" for p in PUBLISHED]
    result = import_dataset("m3fd", tmp_path / "src", tmp_path / "out", split_files=files)
    for part, stems in PUBLISHED.items():
        assert read_split(tmp_path / "out", part) == stems
    assert result.splits == {"train": 6, "val": 2, "test": 2}
    info = read_yaml(tmp_path / "out" / "data.yaml")
    assert info["split"] == [0.6, 0.2, 0.2] and "published split" in info["split_from"]


def test_published_split_mismatch(tmp_path: Path) -> None:
    make_m3fd(tmp_path / "src")
    lists = write_lists(tmp_path / "lists", {"train": PUBLISHED["train"] + ["00042"],
                                             "val": PUBLISHED["val"], "test": ["00008"]})
    with pytest.raises(DataError, match=r"1 stem\(s\) of split file .*lists/train\.txt are not in "
                                        r"the source: 00042; 1 pair\(s\) of the source are in no "
                                        r"split file .*: 00009"):
        import_dataset("m3fd", tmp_path / "src", tmp_path / "out", split_files=[lists])
    assert not (tmp_path / "out").exists() and no_leftovers(tmp_path)
    result = import_dataset("m3fd", tmp_path / "src", tmp_path / "out", split_files=[lists],
                            strict=False)
    assert result.splits == {"train": 6, "val": 2, "test": 1}
    assert result.skipped == [("00009", f"not listed in the split files ({lists}/train.txt, "
                                        f"{lists}/val.txt, {lists}/test.txt)")]
    assert (tmp_path / "out" / "meta" / "skipped.tsv").read_text().startswith("00009\t")


def test_llvip_takes_a_published_split_too(tmp_path: Path) -> None:
    make_llvip(tmp_path / "src", train=4, test=2)
    lists = write_lists(tmp_path / "lists", {"train": ["10000", "10001", "19001"],
                                             "val": ["10002"], "test": ["10003", "19000"]})
    result = import_dataset("llvip", tmp_path / "src", tmp_path / "out", split_files=[lists])
    assert read_split(tmp_path / "out", "train") == ["10000", "10001", "19001"]
    assert result.splits == {"train": 3, "val": 1, "test": 2}


def test_m3fd_default_is_the_shipped_split(tmp_path: Path, monkeypatch) -> None:
    import tardal.data.importers as importers

    make_m3fd(tmp_path / "src")
    shipped = write_lists(tmp_path / "data" / "m3fd", PUBLISHED)
    monkeypatch.setattr(importers, "shipped_split_dir", lambda name: tmp_path / "data" / name)
    result = import_dataset("m3fd", tmp_path / "src", tmp_path / "out")
    assert read_split(tmp_path / "out", "val") == ["00006", "00007"]
    assert result.split_from == f"the split shipped in {shipped}"
    # --split/--seed belong to the random split
    with pytest.raises(ConfigError, match="M3FD uses the shipped split .* unless --random-split"):
        import_dataset("m3fd", tmp_path / "src", tmp_path / "o2", split="0.8,0.1,0.1")
    # no shipped split (an installed package): say what to pass
    monkeypatch.setattr(importers, "shipped_split_dir", lambda name: tmp_path / "nowhere")
    with pytest.raises(DataError, match="shipped with the project is not at .*nowhere.*pass "
                                        "--split-file DIR .* or --random-split"):
        import_dataset("m3fd", tmp_path / "src", tmp_path / "o3")
    assert m3fd_random(tmp_path / "src", tmp_path / "o4").pairs == 10


def test_import_options(tmp_path: Path) -> None:
    make_m3fd(tmp_path / "src", n=4)
    opts = ImportOptions(random_split=True, seed=2, split="0.5,0.25,0.25")
    assert opts.fractions == (0.5, 0.25, 0.25) and opts.split_seed == 2
    a = import_dataset("m3fd", tmp_path / "src", tmp_path / "a", opts)
    b = import_dataset("m3fd", tmp_path / "src", tmp_path / "b", opts, copy=True)  # keyword wins
    assert a.splits == b.splits and (tmp_path / "b" / "ir").is_dir()
    assert not (tmp_path / "a" / "ir").exists()
    with pytest.raises(ConfigError, match="unknown option.*labels"):
        import_dataset("m3fd", tmp_path / "src", tmp_path / "c", labels="x")
    with pytest.raises(ConfigError, match="align must be one of error, resize"):
        ImportOptions(align="stretch")
    with pytest.raises(ConfigError, match="either a published split .* or --random-split"):
        ImportOptions(split_files=(tmp_path,), random_split=True)
    with pytest.raises(ConfigError, match="cannot be combined with a published split"):
        ImportOptions(split_files=(tmp_path,), seed=1)
    with pytest.raises(ConfigError, match="--split: fractions must be >= 0 and sum to 1"):
        ImportOptions(split="0.5,0.6")
