"""results.png and boxes drawn on images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tardal.evaluation.plots import PALETTE, _panels, draw_detections, hstack, plot_results, titled


def test_results_plot_groups_per_class_columns(tmp_path: Path) -> None:
    rows = [{"epoch": e, "step": 3 * e, "lr/G": 1e-3 / e, "lr/det": 2e-3 / e,
             "train/det": 9.0 / e, "val/AP50": 0.1 * e,
             "val/AP50/Car": 0.2 * e, "val/AP50/Bus": 0.05 * e,
             "train/bridge": "" if e < 2 else 1.0,
             "time_s": 4.0} for e in (1, 2, 3)]
    panels = dict(_panels(list(rows[0])))
    assert set(panels) == {"learning rates", "train/det", "val/AP50", "val/AP50 per class",
                           "train/bridge"}
    assert panels["val/AP50 per class"] == ["val/AP50/Car", "val/AP50/Bus"]
    assert panels["learning rates"] == ["lr/G", "lr/det"]
    path = plot_results(rows, tmp_path / "results.png")
    img = cv2.imread(str(path))
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 4 * 200
    assert plot_results([], tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()


def test_boxes_and_labels_are_drawn_in_the_class_colour() -> None:
    image = np.zeros((64, 96, 3), np.float32)
    out = draw_detections(image, np.array([[20.0, 30.0, 60.0, 60.0]]), np.array([1]),
                          ["People", "Car"], scores=np.array([0.9]))
    assert out.dtype == np.uint8 and out.shape == (64, 96, 3)
    assert tuple(out[45, 20]) == PALETTE[1]  # left edge of the box
    assert out[45, 40].sum() == 0  # inside stays untouched
    assert (out[:30] != 0).any()  # label bar above the box
    skipped = draw_detections(image, np.array([[20.0, 30.0, 60.0, 60.0]]), np.array([1]),
                              ["People", "Car"], scores=np.array([0.1]), min_score=0.25)
    assert skipped.sum() == 0


def test_panels_stack_with_titles() -> None:
    a = np.ones((40, 30, 3), np.float32)
    b = np.zeros((40, 50), np.uint8)
    out = hstack([titled(a, "ir"), titled(b, "vis")], gap=4)
    assert out.shape == (40 + 18, 30 + 4 + 50, 3)
    assert (out[18:, 30:34] == 255).all()  # white gap
    with pytest.raises(ValueError, match="image"):
        hstack([np.zeros((2, 2, 2))])
