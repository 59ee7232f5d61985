"""YOLO text and Pascal VOC parsing: forgiving about layout, strict about content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tardal.data.labels import (
    format_yolo,
    parse_voc,
    parse_yolo_text,
    read_class_list,
    read_yolo,
    voc_size_consistent,
    voc_to_yolo,
    write_yolo,
    xyxy_to_yolo,
    yolo_to_xyxy,
)
from tardal.errors import DataError
from tests.data.helpers import voc_xml


def test_messy_yolo_layout_parses() -> None:
    # Runs of spaces, a tab, trailing spaces, a blank line, CRLF and no final newline (MSRS-like).
    text = "0  0.5  0.5  0.2  0.4  \r\n\n2\t0.25 0.75 0.1 0.1 \r\n1 0.1 0.1 0.2 0.2"
    rows = parse_yolo_text(text, 3)
    assert rows.shape == (3, 5)
    np.testing.assert_allclose(rows[:, 0], [0, 2, 1])
    np.testing.assert_allclose(rows[0, 1:], [0.5, 0.5, 0.2, 0.4])
    np.testing.assert_allclose(rows[1, 1:], [0.25, 0.75, 0.1, 0.1])


def test_empty_file_is_an_image_without_objects(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text("")
    assert read_yolo(p, 6).shape == (0, 5)
    p.write_text("\n  \n")
    assert read_yolo(p, 6).shape == (0, 5)


@pytest.mark.parametrize(
    "line, match",
    [
        ("0 0.5 0.5 0.2", r"bad\.txt:2: expected 5 fields .* found 4"),
        ("0 0.5 0.5 0.2 0.2 0.9", r"bad\.txt:2: expected 5 fields .* found 6"),
        ("0 0.5 abc 0.2 0.2", r"bad\.txt:2: 'abc' is not a number"),
        ("3 0.5 0.5 0.2 0.2", r"bad\.txt:2: class id 3 out of range \(valid ids: 0\.\.2\)"),
        ("-1 0.5 0.5 0.2 0.2", r"bad\.txt:2: class id -1 out of range"),
        ("1.5 0.5 0.5 0.2 0.2", r"bad\.txt:2: class id must be an integer"),
        ("0 1.5 0.5 0.2 0.2", r"bad\.txt:2: cx=1\.5 is outside \[0, 1\]"),
        ("0 0.5 0.5 0.2 -0.1", r"bad\.txt:2: h=-0\.1 is outside \[0, 1\]"),
        ("0 0.5 0.5 0 0.2", r"bad\.txt:2: box has no area"),
        ("0 0.05 0.5 0.3 0.2", r"bad\.txt:2: box edges .* outside the image"),
        ("0 0.5 0.5 nan 0.2", r"bad\.txt:2: non-finite"),
    ],
)
def test_bad_yolo_lines_name_file_and_line(tmp_path: Path, line: str, match: str) -> None:
    p = tmp_path / "bad.txt"
    p.write_text("0 0.5 0.5 0.2 0.2\n" + line + "\n")
    with pytest.raises(DataError, match=match):
        read_yolo(p, 3)


def test_edges_within_tolerance_are_clipped() -> None:
    rows = parse_yolo_text("0 0.052 0.5 0.11 0.2\n", 1)  # x1 = -0.003
    x1 = rows[0, 1] - rows[0, 3] / 2
    assert x1 == pytest.approx(0.0, abs=1e-12)
    assert rows[0, 1] + rows[0, 3] / 2 == pytest.approx(0.107)


def test_missing_label_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="label file .*nope.txt does not exist"):
        read_yolo(tmp_path / "nope.txt", 1)


def test_yolo_round_trip_and_pixel_conversion(tmp_path: Path) -> None:
    boxes = np.array([[10, 20, 30, 40], [0, 0, 64, 48]], np.float64)
    rows = xyxy_to_yolo(boxes, np.array([1, 0]), 64, 48)
    np.testing.assert_allclose(rows[0], [1, 20 / 64, 30 / 48, 20 / 64, 20 / 48])
    write_yolo(tmp_path / "x.txt", rows)
    back = read_yolo(tmp_path / "x.txt", 2)
    np.testing.assert_allclose(yolo_to_xyxy(back, 64, 48), boxes, atol=1e-3)
    assert format_yolo(np.zeros((0, 5))) == ""
    assert (tmp_path / "x.txt").read_text().endswith("\n")


def test_voc_parse_maps_names_ignoring_case(tmp_path: Path) -> None:
    p = tmp_path / "a.xml"
    p.write_text(voc_xml("a.png", (100, 50), [("people", (1, 2, 11, 22)), ("LAMP", (5, 5, 9, 9)),
                                               ("Car", (0, 0, 100, 50))]))
    ann = parse_voc(p, ["People", "Car", "Bus", "Motorcycle", "Lamp", "Truck"])
    assert ann.size == (100, 50)
    assert ann.classes.tolist() == [0, 4, 1]
    np.testing.assert_allclose(ann.boxes_xyxy[0], [1, 2, 11, 22])
    rows, dropped = voc_to_yolo(ann, 100, 50)
    assert dropped == []
    np.testing.assert_allclose(rows[0], [0, 6 / 100, 12 / 50, 10 / 100, 20 / 50])
    np.testing.assert_allclose(rows[2], [1, 0.5, 0.5, 1.0, 1.0])


def test_voc_unknown_class_lists_known_ones(tmp_path: Path) -> None:
    p = tmp_path / "odd.xml"
    p.write_text(voc_xml("odd.png", (10, 10), [("people", (1, 1, 5, 5)), ("dog", (1, 1, 5, 5))]))
    with pytest.raises(DataError, match=r"odd\.xml: object 2 has unknown class 'dog'; "
                                        r"known classes: People, Car, Lamp"):
        parse_voc(p, ["People", "Car", "Lamp"])


@pytest.mark.parametrize(
    "text, match",
    [
        ("<annotation><object><name>Car", "is not valid XML"),
        ("<annotation><object><bndbox/></object></annotation>", "object 1 has no <name>"),
        ("<annotation><object><name>Car</name></object></annotation>", "object 1 \\(Car\\) has no <bndbox>"),
        ("<annotation><object><name>Car</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>4</xmax>"
         "</bndbox></object></annotation>", "has no <ymax>"),
        ("<annotation><object><name>Car</name><bndbox><xmin>a</xmin><ymin>1</ymin><xmax>4</xmax>"
         "<ymax>4</ymax></bndbox></object></annotation>", "<xmin> is not a number: 'a'"),
    ],
)
def test_bad_voc_files(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "b.xml"
    p.write_text(text)
    with pytest.raises(DataError, match=match):
        parse_voc(p, ["Car"])


def test_voc_boxes_are_clipped_and_empty_ones_reported(tmp_path: Path) -> None:
    p = tmp_path / "c.xml"
    p.write_text(voc_xml("c.png", None, [("Car", (-5, 10, 40, 60)), ("Car", (50, 10, 70, 20))]))
    ann = parse_voc(p, ["Car"])
    assert ann.size is None and not voc_size_consistent(ann)
    rows, dropped = voc_to_yolo(ann, 40, 50)  # the second box lies right of the image
    assert dropped == [2]
    np.testing.assert_allclose(rows[0], [0, 0.5, 0.6, 1.0, 0.8])  # clipped to (0,10,40,50)


def test_voc_size_consistency(tmp_path: Path) -> None:
    p = tmp_path / "d.xml"
    p.write_text(voc_xml("d.png", (20, 10), [("Car", (1, 1, 21, 10))]))
    ann = parse_voc(p, ["Car"])
    assert voc_size_consistent(ann) and voc_size_consistent(ann, 20, 10)
    assert not voc_size_consistent(ann, 40, 10)
    p.write_text(voc_xml("d.png", (20, 10), [("Car", (1, 1, 35, 10))]))
    assert not voc_size_consistent(parse_voc(p, ["Car"]))


def test_class_lists(tmp_path: Path) -> None:
    p = tmp_path / "classes.txt"
    p.write_text("2 car\n0 person \n1  bicycle")
    assert read_class_list(p) == ["person", "bicycle", "car"]
    p.write_text("People\nCar\n\n")
    assert read_class_list(p) == ["People", "Car"]
    p.write_text("0 a\n2 b\n")
    with pytest.raises(DataError, match="ids must be 0..1"):
        read_class_list(p)
    p.write_text("")
    with pytest.raises(DataError, match="is empty"):
        read_class_list(p)


def test_names_files_match_the_importers() -> None:
    from tardal.data.importers import LLVIP_NAMES, M3FD_NAMES

    data = Path(__file__).resolve().parents[2] / "data"
    assert read_class_list(data / "m3fd.names") == M3FD_NAMES
    assert read_class_list(data / "llvip.names") == LLVIP_NAMES
    assert read_class_list(data / "msrs.names") == ["person", "bicycle", "car"]
