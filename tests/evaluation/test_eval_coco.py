"""The COCO evaluator against pycocotools run directly, on hand-made cases with known answers."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest
import torch

from tardal.errors import DataError
from tardal.evaluation import (
    DetectionAccumulator,
    best_f1,
    category_ids,
    coco_predictions,
    evaluate_detections,
    read_categories,
    to_coco_ground_truth,
    to_coco_results,
)

NAMES = ["person", "car", "lamp"]


def gt(image_id, boxes, labels, size=(200, 300)):
    return {"image_id": image_id, "boxes_xyxy": boxes, "labels": labels, "size": size}


def pred(image_id, boxes, labels, scores):
    return {"image_id": image_id, "boxes_xyxy": boxes, "labels": labels, "scores": scores}


def pycocotools_stats(images, annotations, results, n_cats=3):
    """COCOeval bbox stats (12 numbers) on hand-written COCO dicts."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {"images": images, "annotations": annotations,
                           "categories": [{"id": i + 1, "name": str(i)} for i in range(n_cats)]}
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


# Two images: a person 100x100 and a car 50x70 in image "a"; a person in "b"; "c" is empty.
GT = [
    gt("a", [[0, 0, 100, 100], [150, 20, 200, 90]], [0, 1]),
    gt("b", [[40, 40, 140, 190]], [0]),
    gt("c", [], []),
]


def perfect():
    return [pred(g["image_id"], g["boxes_xyxy"], g["labels"], [0.9 - 0.1 * i for i in range(len(g["labels"]))])
            for g in GT]


def test_perfect_predictions_score_one():
    r = evaluate_detections(perfect(), GT, NAMES)
    for key in ("AP", "AP50", "AP75", "precision", "recall", "f1"):
        assert r[key] == pytest.approx(1.0), key
    assert r["images"] == 3 and r["instances"] == 3
    assert r["per_class"]["person"]["instances"] == 2 and r["per_class"]["car"]["instances"] == 1
    assert math.isnan(r["per_class"]["lamp"]["AP"])  # no lamp in the ground truth
    assert math.isnan(r["APs"])  # no small object
    assert r["APm"] == pytest.approx(1.0) and r["APl"] == pytest.approx(1.0)


def test_shifted_box_matches_pycocotools_and_hand_value():
    # The car prediction moves 10 px right: IoU = 40*70 / (60*70) = 2/3, so it matches at
    # thresholds 0.50, 0.55, 0.60, 0.65 (4 of 10): car AP = 0.4, AP50 = 1, AP75 = 0.
    preds = perfect()
    preds[0] = pred("a", [[0, 0, 100, 100], [160, 20, 210, 90]], [0, 1], [0.9, 0.8])
    r = evaluate_detections(preds, GT, NAMES)
    assert r["per_class"]["car"]["AP"] == pytest.approx(0.4)
    assert r["per_class"]["car"]["AP50"] == pytest.approx(1.0)
    assert r["per_class"]["person"]["AP"] == pytest.approx(1.0)
    assert r["AP"] == pytest.approx((1.0 + 0.4) / 2)  # lamp has no ground truth: excluded
    assert r["AP50"] == pytest.approx(1.0)
    assert r["AP75"] == pytest.approx(0.5)

    images = [{"id": 1}, {"id": 2}, {"id": 3}]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "area": 10000, "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [150, 20, 50, 70], "area": 3500, "iscrowd": 0},
        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [40, 40, 100, 150], "area": 15000, "iscrowd": 0},
    ]
    results = [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "score": 0.9},
        {"image_id": 1, "category_id": 2, "bbox": [160, 20, 50, 70], "score": 0.8},
        {"image_id": 2, "category_id": 1, "bbox": [40, 40, 100, 150], "score": 0.9},
    ]
    stats = pycocotools_stats(images, anns, results)
    assert r["AP"] == pytest.approx(stats[0], abs=1e-12)
    assert r["AP50"] == pytest.approx(stats[1], abs=1e-12)
    assert r["AP75"] == pytest.approx(stats[2], abs=1e-12)
    assert r["APm"] == pytest.approx(stats[4], abs=1e-12)
    assert r["APl"] == pytest.approx(stats[5], abs=1e-12)


def test_false_positive_below_every_true_positive():
    """A lowest-scored false positive changes neither AP nor precision/recall at the best F1
    (the best threshold lies above it); the precision over all detections would be 2/3."""
    preds = perfect()
    preds[2] = pred("c", [[10, 10, 60, 60]], [0], [0.05])  # a person where there is none
    r = evaluate_detections(preds, GT, NAMES)
    assert r["AP"] == pytest.approx(1.0) and r["AP50"] == pytest.approx(1.0)
    person = r["per_class"]["person"]
    assert person["precision"] == pytest.approx(1.0) and person["recall"] == pytest.approx(1.0)
    assert person["conf"] == pytest.approx(0.9)  # both persons are scored 0.9
    assert person["detections"] == 3


def test_false_positive_between_true_positives():
    """Scores TP 0.9, FP 0.8, TP 0.7 for two persons: interpolated precision is 1 up to recall
    0.5 (51 of COCO's 101 recall points) and 2/3 after (50 points): AP = (51 + 50*2/3) / 101.
    The best F1 (0.8) is at the last threshold: precision 2/3, recall 1."""
    preds = [
        pred("a", [[0, 0, 100, 100], [150, 20, 200, 90]], [0, 1], [0.9, 0.9]),
        pred("b", [[40, 40, 140, 190]], [0], [0.7]),
        pred("c", [[10, 10, 60, 60]], [0], [0.8]),
    ]
    r = evaluate_detections(preds, GT, NAMES)
    expected = (51 + 50 * 2 / 3) / 101
    assert r["per_class"]["person"]["AP"] == pytest.approx(expected)
    assert r["per_class"]["person"]["AP50"] == pytest.approx(expected)
    person = r["per_class"]["person"]
    assert person["precision"] == pytest.approx(2 / 3)
    assert person["recall"] == pytest.approx(1.0)
    assert person["f1"] == pytest.approx(0.8)
    assert person["conf"] == pytest.approx(0.7)
    assert r["precision"] == pytest.approx((2 / 3 + 1) / 2)  # mean over person and car
    assert r["f1"] == pytest.approx((0.8 + 1) / 2)
    assert r["AP"] == pytest.approx((expected + 1) / 2)


def test_missing_class_and_class_without_detections():
    # lamp detections (no lamp in the ground truth) are ignored; a car never detected scores 0
    preds = [
        pred("a", [[0, 0, 100, 100], [0, 0, 50, 50]], [0, 2], [0.9, 0.95]),
        pred("b", [[40, 40, 140, 190]], [0], [0.9]),
    ]
    r = evaluate_detections(preds, GT, NAMES)
    assert math.isnan(r["per_class"]["lamp"]["AP"]) and math.isnan(r["per_class"]["lamp"]["precision"])
    assert r["per_class"]["car"]["AP"] == 0.0 and r["per_class"]["car"]["recall"] == 0.0
    assert r["AP"] == pytest.approx(0.5) and r["AP50"] == pytest.approx(0.5)
    assert r["recall"] == pytest.approx(0.5) and r["precision"] == pytest.approx(0.5)


def test_empty_predictions_score_zero():
    r = evaluate_detections([], GT, NAMES)
    for key in ("AP", "AP50", "AP75", "precision", "recall", "f1"):
        assert r[key] == 0.0, key
    r = evaluate_detections([pred("a", torch.zeros(0, 4), torch.zeros(0), torch.zeros(0))], GT, NAMES)
    assert r["AP"] == 0.0


def test_no_ground_truth_at_all_is_nan_not_a_crash():
    r = evaluate_detections([pred("c", [[0, 0, 5, 5]], [1], [0.5])], [gt("c", [], [])], NAMES)
    assert math.isnan(r["AP"]) and math.isnan(r["precision"]) and r["instances"] == 0


def test_inputs_may_be_tensors_arrays_or_lists_and_ids_any_hashable():
    preds = [pred(7, torch.tensor([[0.0, 0, 100, 100]]), torch.tensor([0]), torch.tensor([0.5])),
             pred((1, "x"), np.array([[40.0, 40, 140, 190]]), np.array([0]), np.array([0.5]))]
    gts = [gt(7, torch.tensor([[0.0, 0, 100, 100]]), torch.tensor([0])),
           gt((1, "x"), [[40, 40, 140, 190]], [0])]
    assert evaluate_detections(preds, gts, NAMES)["AP"] == pytest.approx(1.0)


def test_bad_records_raise():
    with pytest.raises(DataError, match="no ground-truth record"):
        evaluate_detections([pred("zzz", [[0, 0, 1, 1]], [0], [0.5])], GT, NAMES)
    with pytest.raises(DataError, match=r"labels must lie in \[0, 3\)"):
        evaluate_detections([pred("a", [[0, 0, 1, 1]], [3], [0.5])], GT, NAMES)
    with pytest.raises(DataError, match="2 boxes but 1 labels"):
        evaluate_detections([], [gt("a", [[0, 0, 1, 1], [0, 0, 2, 2]], [0])], NAMES)
    with pytest.raises(DataError, match="appears twice"):
        evaluate_detections([], [gt("a", [], []), gt("a", [], [])], NAMES)
    with pytest.raises(DataError, match=r"expected shape \(N,4\)"):
        evaluate_detections([], [gt("a", [[0, 0, 1]], [0])], NAMES)


def test_coco_json_export():
    res = to_coco_results([pred("a", [[10, 20, 40, 60]], [2], [0.75])], {"a": 5})
    assert res == [{"image_id": 5, "category_id": 3, "bbox": [10.0, 20.0, 30.0, 40.0], "score": 0.75}]
    assert to_coco_results([pred("a", [[10, 20, 40, 60]], [0], [0.5])])[0]["image_id"] == "a"
    d = to_coco_ground_truth(GT, NAMES, {"a": 1, "b": 2, "c": 3})
    json.dumps(d)  # plain JSON types only
    assert [c["id"] for c in d["categories"]] == [1, 2, 3]
    assert [a["id"] for a in d["annotations"]] == [1, 2, 3]
    assert d["annotations"][1] == {"id": 2, "image_id": 1, "category_id": 2, "bbox": [150.0, 20.0, 50.0, 70.0],
                                   "area": 3500.0, "iscrowd": 0}
    assert d["images"][2] == {"id": 3, "file_name": "c", "height": 200, "width": 300}


def test_best_f1_treats_tied_scores_as_one_threshold():
    # TP and FP tied at 0.9: only "both kept" is a threshold (P 1/2, R 1/2), then a TP at 0.5
    p, r, f1, conf = best_f1(np.array([0.9, 0.9, 0.5]), np.array([True, False, True]), 2)
    assert (p, r, conf) == (pytest.approx(2 / 3), pytest.approx(1.0), 0.5)
    assert f1 == pytest.approx(0.8)
    assert best_f1(np.zeros(0), np.zeros(0, bool), 3)[:3] == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        best_f1(np.zeros(1), np.ones(1, bool), 0)


def test_accumulator_maps_boxes_back_through_the_letterbox():
    # original 100x200 (h x w) letterboxed to 64: ratio 0.32, pad (0, 16)
    lb = (0.32, 0.0, 16.0)
    orig = torch.tensor([[10.0, 20.0, 150.0, 90.0]])
    boxed = orig.clone()
    boxed[:, 0::2] = boxed[:, 0::2] * 0.32
    boxed[:, 1::2] = boxed[:, 1::2] * 0.32 + 16
    batch = {"name": ["p"], "boxes_xyxy": [boxed], "labels": [torch.tensor([1])],
             "letterbox": [lb], "orig_size": [(100, 200)]}
    acc = DetectionAccumulator(NAMES)
    acc.add([{"boxes_xyxy": boxed + 0.1, "scores": torch.tensor([0.6]), "labels": torch.tensor([1])}], batch)
    assert np.allclose(acc.ground_truths[0]["boxes_xyxy"], orig.numpy(), atol=1e-4)
    assert acc.ground_truths[0]["size"] == (100, 200)
    r = acc.compute()
    assert r["AP50"] == pytest.approx(1.0) and r["images"] == 1
    with pytest.raises(DataError, match="missing letterbox"):
        acc.add([], {k: v for k, v in batch.items() if k != "letterbox"})


@pytest.mark.parametrize("dx, expected", [(0, 1.0), (10, 0.7), (20, 0.4), (25, 0.3), (50, 0.0)])
def test_single_shifted_box_by_hand(dx, expected):
    """A 100x100 box shifted by dx: IoU = (100-dx)/(100+dx), counted at every threshold t <= IoU
    (IoU 0.6 exactly counts at 0.6); AP = (number of such thresholds) / 10."""
    g = [gt(1, [[0, 0, 100, 100]], [0])]
    p = [pred(1, [[dx, 0, 100 + dx, 100]], [0], [0.9])]
    assert evaluate_detections(p, g, NAMES)["AP"] == pytest.approx(expected)
    stats = pycocotools_stats(
        [{"id": 1}], [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100],
                       "area": 10000, "iscrowd": 0}],
        [{"image_id": 1, "category_id": 1, "bbox": [dx, 0, 100, 100], "score": 0.9}])
    assert stats[0] == pytest.approx(expected)


# ----------------------------------------------------------------------------------------
# Self-describing COCO files and category ids by name
# ----------------------------------------------------------------------------------------

M3FD_OURS = ["People", "Car", "Bus", "Motorcycle", "Lamp", "Truck"]


def images_of(gts):
    return [{"image_id": g["image_id"], "size": g["size"], "file_name": f"{g['image_id']}.png"}
            for g in gts]


def test_coco_predictions_file_loads_in_pycocotools():
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    preds = perfect()
    d = coco_predictions(preds, NAMES, images_of(GT), info={"split": "test"})
    json.dumps(d)
    assert set(d) == {"info", "categories", "images", "annotations"}
    assert d["info"]["split"] == "test" and "tardal" in d["info"]["generator"]
    assert d["categories"] == [{"id": 1, "name": "person"}, {"id": 2, "name": "car"},
                               {"id": 3, "name": "lamp"}]
    assert d["images"][0] == {"id": "a", "file_name": "a.png", "width": 300, "height": 200}
    assert len(d["images"]) == 3  # "c" has no detections but is listed
    assert d["annotations"][1] == {"id": 2, "image_id": "a", "category_id": 2,
                                   "bbox": [150.0, 20.0, 50.0, 70.0], "score": pytest.approx(0.8),
                                   "area": 3500.0}
    # The annotations go straight into loadRes against a ground truth with the same ids.
    gt_dict = to_coco_ground_truth(GT, NAMES)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt_dict
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(d["annotations"])
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def test_category_ids_by_name():
    theirs = [{"id": 1, "name": "People"}, {"id": 2, "name": "car"}, {"id": 3, "name": "Motorcycle"},
              {"id": 4, "name": "BUS"}, {"id": 5, "name": "Truck"}, {"id": 6, "name": " Lamp "}]
    assert category_ids(M3FD_OURS, theirs) == [1, 2, 4, 3, 6, 5]
    assert category_ids(M3FD_OURS) == [1, 2, 3, 4, 5, 6]
    with pytest.raises(DataError, match=r"m3fd\.json: no category named 'Lamp'.*our classes: "
                                        r"People, Car, Bus, Motorcycle, Lamp, Truck; its "
                                        r"categories: People, car, Motorcycle, BUS, Truck"):
        category_ids(M3FD_OURS, theirs[:5], "m3fd.json")
    d = coco_predictions([pred("a", [[0, 0, 5, 5], [1, 1, 4, 4]], [2, 3], [0.9, 0.8])],
                         M3FD_OURS, [{"image_id": "a", "size": (10, 10)}], categories=theirs)
    assert [a["category_id"] for a in d["annotations"]] == [4, 3]  # Bus 4, Motorcycle 3
    assert d["categories"][2:4] == [{"id": 3, "name": "Motorcycle"}, {"id": 4, "name": "Bus"}]
    assert d["images"][0]["file_name"] == "a"


def test_coco_predictions_bad_input():
    with pytest.raises(DataError, match="prediction for image 'z', which is not among the images"):
        coco_predictions([pred("z", [[0, 0, 1, 1]], [0], [0.5])], NAMES, images_of(GT))
    with pytest.raises(DataError, match=r"labels must lie in \[0, 3\)"):
        coco_predictions([pred("a", [[0, 0, 1, 1]], [3], [0.5])], NAMES, images_of(GT))
    with pytest.raises(DataError, match="image 'a' is listed twice"):
        coco_predictions([], NAMES, images_of(GT) + images_of(GT[:1]))


def test_read_categories(tmp_path):
    good = tmp_path / "gt.json"
    good.write_text(json.dumps({"images": [], "categories": [{"id": 7, "name": "car",
                                                              "supercategory": "x"}]}))
    assert read_categories(good) == [{"id": 7, "name": "car"}]
    cases = [
        ("missing.json", None, "does not exist"),
        ("junk.json", "{", "not a readable JSON file"),
        ("nocats.json", {"images": []}, r"expected a COCO file with a non-empty 'categories'"),
        ("noid.json", {"categories": [{"name": "car"}]}, r"categories\[0\]: expected"),
        ("dupid.json", {"categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]},
         r"categories\[1\]: id 1 is also the id of categories\[0\]"),
        ("dupname.json", {"categories": [{"id": 1, "name": "Car"}, {"id": 2, "name": "car"}]},
         r"categories\[1\]: name 'car' is also the name of categories\[0\]"),
    ]
    for name, content, match in cases:
        path = tmp_path / name
        if content is not None:
            path.write_text(content if isinstance(content, str) else json.dumps(content))
        with pytest.raises(DataError, match=match):
            read_categories(path)


def test_m3fd_categories_by_name_against_the_shared_annotations(shared_data):
    """Predictions equal to M3FD's own test boxes, in our class order, score AP 1 against
    m3fd-test.json when the ids come from its categories by name, and not with index + 1."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    path = shared_data / "m3fd-labels" / "m3fd-test.json"
    cats = read_categories(path)
    ids = category_ids(M3FD_OURS, cats, str(path))
    assert ids[M3FD_OURS.index("Motorcycle")] == 3 and ids[M3FD_OURS.index("Bus")] == 4
    data = json.loads(path.read_text())
    theirs = {c["id"]: M3FD_OURS.index(c["name"]) for c in data["categories"]}
    rare = {a["image_id"] for a in data["annotations"]
            if theirs[a["category_id"]] in (M3FD_OURS.index("Bus"), M3FD_OURS.index("Motorcycle"))}
    chosen = [img for k, img in enumerate(data["images"]) if k < 40 or img["id"] in rare]
    keep = {img["id"] for img in chosen}
    preds: dict[str, dict] = {i: {"image_id": i, "boxes_xyxy": [], "labels": [], "scores": []}
                              for i in keep}
    for ann in data["annotations"]:
        if ann["image_id"] in keep:
            x, y, w, h = ann["bbox"]
            p = preds[ann["image_id"]]
            p["boxes_xyxy"].append([x, y, x + w, y + h])
            p["labels"].append(theirs[ann["category_id"]])
            p["scores"].append(0.9)
    images = [{"image_id": img["id"], "size": (img["height"], img["width"]),
               "file_name": img["file_name"]} for img in chosen]

    def ap(categories):
        d = coco_predictions(list(preds.values()), M3FD_OURS, images, categories=categories)
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(str(path))
            dt = gt.loadRes(d["annotations"])
            ev = COCOeval(gt, dt, "bbox")
            ev.params.imgIds = sorted(keep)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        per_class = {c["name"]: ev.eval["precision"][0, :, k, 0, -1].mean()
                     for k, c in enumerate(data["categories"])}
        return ev.stats[1], per_class

    ap50, per_class = ap(cats)
    assert ap50 == pytest.approx(1.0)
    swapped, per_swapped = ap(None)  # ids = our index + 1: Bus and Motorcycle swap, and more
    assert swapped < 0.8
    assert per_class["Car"] == pytest.approx(1.0) and per_swapped["Car"] == pytest.approx(1.0)
    for name in ("Bus", "Motorcycle"):  # both present in the chosen images
        assert per_class[name] == pytest.approx(1.0) and per_swapped[name] < 0.1, name
