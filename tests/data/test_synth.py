"""The synthetic benchmark: layout, labels, determinism, and that each condition hides what it should."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from tardal.data.synth import CLASSES, CONDITIONS, generate, render_scene, split_counts
from tardal.errors import ConfigError, DataError

CAR, BUS, MOTORCYCLE, LAMP, TRUCK, PEOPLE = (CLASSES.index(n) for n in
                                             ("Car", "Bus", "Motorcycle", "Lamp", "Truck", "People"))


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("synth") / "set", 6, width=96, height=64, seed=3, progress=False)


# ----------------------------------------------------------------------------------------
# Layout and labels
# ----------------------------------------------------------------------------------------


def test_layout(small_set: Path) -> None:
    stems = [f"{i:05d}" for i in range(6)]
    assert sorted(p.stem for p in (small_set / "ir").iterdir()) == stems
    assert sorted(p.stem for p in (small_set / "vi").iterdir()) == stems
    assert sorted(p.name for p in (small_set / "labels").iterdir()) == [f"{s}.txt" for s in stems]
    ir = cv2.imread(str(small_set / "ir" / "00000.png"), cv2.IMREAD_UNCHANGED)
    vi = cv2.imread(str(small_set / "vi" / "00000.png"), cv2.IMREAD_UNCHANGED)
    assert ir.shape == (64, 96) and ir.dtype == np.uint8
    assert vi.shape == (64, 96, 3) and vi.dtype == np.uint8

    parts = {p: (small_set / "meta" / f"{p}.txt").read_text().split() for p in ("train", "val", "test")}
    assert [len(v) for v in parts.values()] == [4, 1, 1]
    assert sorted(sum(parts.values(), [])) == stems  # a partition: every stem exactly once

    rows = [line.split("\t") for line in (small_set / "meta" / "conditions.tsv").read_text().splitlines()]
    assert [r[0] for r in rows] == stems and all(r[1] in CONDITIONS for r in rows)

    info = yaml.safe_load((small_set / "data.yaml").read_text())
    assert info["names"] == ["People", "Car", "Bus", "Motorcycle", "Lamp", "Truck"]
    assert info["labels"] is True and info["source"] == "synth" and info["seed"] == 3
    assert info["split"] == [0.7, 0.15, 0.15]
    syn = info["synth"]
    assert (syn["num"], syn["width"], syn["height"], syn["seed"]) == (6, 96, 64, 3)
    assert sum(syn["conditions"].values()) == 6
    assert syn["conditions"] == {c: sum(r[1] == c for r in rows) for c in CONDITIONS}
    n_lines = sum(len((small_set / "labels" / f"{s}.txt").read_text().splitlines()) for s in stems)
    assert sum(syn["boxes_per_class"].values()) == n_lines > 0
    # Built in a temporary sibling and renamed: nothing else is left beside it.
    assert [p.name for p in small_set.parent.iterdir()] == ["set"]


def test_labels_valid_and_match_render(small_set: Path) -> None:
    for i in range(6):
        text = (small_set / "labels" / f"{i:05d}.txt").read_text()
        rows = np.array([[float(v) for v in line.split()] for line in text.splitlines()])
        assert rows.ndim == 2 and rows.shape[1] == 5 and 2 <= len(rows) <= 8
        cls, cx, cy, w, h = rows.T
        assert np.all(cls == np.round(cls)) and cls.min() >= 0 and cls.max() < len(CLASSES)
        assert rows[:, 1:].min() >= 0 and rows[:, 1:].max() <= 1
        assert np.all(cx - w / 2 >= -1e-6) and np.all(cx + w / 2 <= 1 + 1e-6)
        assert np.all(cy - h / 2 >= -1e-6) and np.all(cy + h / 2 <= 1 + 1e-6)
        assert np.all(w > 0) and np.all(h > 0)
        # The file holds exactly the boxes of the scene drawn from (seed, index).
        _, _, boxes, _ = render_scene(np.random.default_rng([3, i]), 96, 64)
        want = np.array([[c, (x1 + x2) / 192, (y1 + y2) / 128, (x2 - x1) / 96, (y2 - y1) / 64]
                         for c, x1, y1, x2, y2 in boxes])
        np.testing.assert_allclose(rows, want, atol=1e-6)


def test_render_scene_contract() -> None:
    for i in range(20):
        ir, vis, boxes, cond = render_scene(np.random.default_rng([0, i]), 120, 80)
        assert ir.shape == (80, 120) and ir.dtype == np.uint8
        assert vis.shape == (80, 120, 3) and vis.dtype == np.uint8
        assert cond in CONDITIONS and 2 <= len(boxes) <= 8
        for c, x1, y1, x2, y2 in boxes:
            assert 0 <= c < len(CLASSES)
            assert 0 <= x1 < x2 <= 120 and 0 <= y1 < y2 <= 80


def test_min_box_size_at_default_size() -> None:
    sides = [min(x2 - x1, y2 - y1) for i in range(40)
             for _, x1, y1, x2, y2 in render_scene(np.random.default_rng([1, i]), 320, 256)[2]]
    assert min(sides) >= 8


# ----------------------------------------------------------------------------------------
# Determinism and arguments
# ----------------------------------------------------------------------------------------


def test_byte_identical_and_seed_dependent(tmp_path: Path, small_set: Path) -> None:
    again = generate(tmp_path / "again", 6, width=96, height=64, seed=3, progress=False)
    assert _hashes(again) == _hashes(small_set)
    other = _hashes(generate(tmp_path / "other", 6, width=96, height=64, seed=4, progress=False))
    same = _hashes(small_set)
    images = [k for k in same if k.startswith(("ir", "vi"))]
    assert all(other[k] != same[k] for k in images)


def test_scenes_do_not_depend_on_num(tmp_path: Path, small_set: Path) -> None:
    fewer = _hashes(generate(tmp_path / "fewer", 3, width=96, height=64, seed=3, progress=False))
    full = _hashes(small_set)
    for k, v in fewer.items():
        if k.startswith(("ir/", "vi/", "labels/")):
            assert full[k] == v


def test_existing_output_and_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "set"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(DataError, match="not empty"):
        generate(out, 2, width=64, height=48, progress=False)
    assert (out / "keep.txt").exists()
    generate(out, 2, width=64, height=48, overwrite=True, progress=False)
    assert not (out / "keep.txt").exists() and len(list((out / "ir").iterdir())) == 2


@pytest.mark.parametrize("kwargs, match", [
    ({"num": 0}, "num must be a positive integer"),
    ({"width": 8}, "width must be an integer in"),
    ({"height": 64.5}, "height must be an integer in"),
    ({"seed": -1}, "seed must be a non-negative"),
    ({"split": (0.5, 0.2, 0.2)}, "summing to 1"),
    ({"split": (0.5, 0.5)}, "3 fractions"),
])
def test_bad_arguments(tmp_path: Path, kwargs: dict, match: str) -> None:
    args = {"num": 2, "width": 64, "height": 48} | kwargs
    with pytest.raises(ConfigError, match=match):
        generate(tmp_path / "bad", progress=False, **args)
    assert not (tmp_path / "bad").exists()


def test_split_counts() -> None:
    assert split_counts(6, (0.7, 0.15, 0.15)) == (4, 1, 1)
    assert split_counts(1000, (0.7, 0.15, 0.15)) == (700, 150, 150)
    assert split_counts(3, (0.8, 0.2, 0.0)) == (2, 1, 0)
    assert split_counts(1, (0.7, 0.15, 0.15)) == (1, 0, 0)


# ----------------------------------------------------------------------------------------
# The conditions hide what they are designed to hide (measured on rendered scenes)
# ----------------------------------------------------------------------------------------

W, H = 160, 128


def _contrast(ir: np.ndarray, vis: np.ndarray, box: tuple[float, ...], pad: int = 4) -> tuple[float, float]:
    """(infrared, visible) contrast of a box against a ring of ``pad`` pixels around it.

    Infrared: mean inside minus mean of the ring, in [0,1] units (positive = warmer). Visible:
    mean RGB distance of the box pixels to the ring's mean colour.
    """
    x1, y1, x2, y2 = (int(v) for v in box)
    ring = np.zeros(ir.shape, bool)
    ring[max(0, y1 - pad):y2 + pad, max(0, x1 - pad):x2 + pad] = True
    ring[y1:y2, x1:x2] = False
    irf, vf = ir.astype(np.float32) / 255, vis.astype(np.float32) / 255
    ic = float(irf[y1:y2, x1:x2].mean() - irf[ring].mean())
    vc = float(np.linalg.norm(vf[y1:y2, x1:x2] - vf[ring].mean(0), axis=-1).mean())
    return ic, vc


@pytest.fixture(scope="module")
def measured() -> dict:
    """Per condition: visible luma mean/std per scene, and per object (cls, ir contrast,
    visible contrast, mean chroma in the box)."""
    out: dict = {"luma": defaultdict(list), "std": defaultdict(list), "obj": defaultdict(list),
                 "scenes": defaultdict(list)}
    for i in range(200):
        ir, vis, boxes, cond = render_scene(np.random.default_rng([11, i]), W, H)
        y = vis.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255
        out["luma"][cond].append(float(y.mean()))
        out["std"][cond].append(float(y.std()))
        per = []
        for c, x1, y1, x2, y2 in boxes:
            ic, vc = _contrast(ir, vis, (x1, y1, x2, y2))
            crop = vis[int(y1):int(y2), int(x1):int(x2)].astype(np.float32) / 255
            chroma = float((crop.max(-1) - crop.min(-1)).mean())
            per.append((c, ic, vc, chroma))
        out["obj"][cond].extend(per)
        out["scenes"][cond].append(per)
    return out


def test_conditions_evenly_mixed(measured: dict) -> None:
    counts = {c: len(measured["luma"][c]) for c in CONDITIONS}
    assert all(30 <= n <= 70 for n in counts.values()), counts  # 200 scenes, 50 expected each


def test_night_is_dark_and_fog_is_flat(measured: dict) -> None:
    day_luma = np.mean(measured["luma"]["day"])
    assert np.mean(measured["luma"]["night"]) < 0.35 * day_luma
    assert max(measured["luma"]["night"]) < min(measured["luma"]["day"])
    assert np.mean(measured["std"]["fog"]) < 0.7 * np.mean(measured["std"]["day"])


def _by(measured: dict, cond: str, classes: set[int] | None = None) -> np.ndarray:
    return np.array([o[1:] for o in measured["obj"][cond] if classes is None or o[0] in classes])


WARM = {PEOPLE, CAR, BUS, MOTORCYCLE, TRUCK}  # lamps are thin: their box is mostly background


def test_night_and_fog_objects_stand_out_in_infrared_not_in_visible(measured: dict) -> None:
    day, night, fog = (_by(measured, c, WARM) for c in ("day", "night", "fog"))
    for arr in (night, fog):
        assert arr[:, 0].mean() > 0.07  # infrared contrast clearly positive
        assert (arr[:, 0] > 0.02).mean() > 0.95
        assert arr[:, 1].mean() < 0.55 * day[:, 1].mean()  # washed out / dark in visible
    people_night = _by(measured, "night", {PEOPLE})
    people_day = _by(measured, "day", {PEOPLE})
    assert people_night[:, 1].mean() < 0.4 * people_day[:, 1].mean()


def test_crossover_hides_objects_in_infrared_only(measured: dict) -> None:
    scenes = measured["scenes"]["crossover"]
    hidden = [any(abs(ic) < 0.03 and vc > 0.1 for _, ic, vc, _ in per) for per in scenes]
    assert np.mean(hidden) > 0.9
    cross, day = _by(measured, "crossover", WARM), _by(measured, "day", WARM)
    assert abs(cross[:, 0].mean()) < 0.35 * day[:, 0].mean()
    assert cross[:, 1].mean() > 0.7 * day[:, 1].mean()  # visible stays good


def test_vehicle_classes_differ_in_visible_not_in_infrared(measured: dict) -> None:
    good = [o for c in ("day", "night", "fog") for o in measured["obj"][c]]
    ir_mean = {k: np.mean([o[1] for o in good if o[0] == k]) for k in (CAR, BUS, TRUCK)}
    assert max(ir_mean.values()) < 1.4 * min(ir_mean.values()), ir_mean
    day = measured["obj"]["day"] + measured["obj"]["crossover"]
    chroma = {k: np.mean([o[3] for o in day if o[0] == k]) for k in (CAR, BUS)}
    assert chroma[BUS] > chroma[CAR] + 0.08, chroma


def test_people_and_motorcycles_are_alike_in_infrared() -> None:
    """A rider is as warm as a walker: the hottest part of both boxes reads about the same."""
    peaks: dict[int, list[float]] = defaultdict(list)
    for i in range(120):
        ir, _, boxes, cond = render_scene(np.random.default_rng([12, i]), W, H)
        if cond not in ("day", "night"):
            continue
        for c, x1, y1, x2, y2 in boxes:
            if c in (PEOPLE, MOTORCYCLE):
                crop = ir[int(y1):int(y2), int(x1):int(x2)].astype(np.float32) / 255
                peaks[c].append(float(np.percentile(crop, 90)))
    a, b = np.mean(peaks[PEOPLE]), np.mean(peaks[MOTORCYCLE])
    assert abs(a - b) < 0.1, (a, b)


def test_every_class_is_common() -> None:
    counts = np.zeros(len(CLASSES), int)
    for i in range(150):
        for c, *_ in render_scene(np.random.default_rng([13, i]), 96, 64)[2]:
            counts[c] += 1
    shares = counts / counts.sum()
    assert shares.min() > 0.1 and shares.max() < 0.3, dict(zip(CLASSES, shares.round(3)))
