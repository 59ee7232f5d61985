"""`tardal eval`: a trained tiny run scored from its checkpoint alone; outputs and errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from tardal.cli import main

NAMES = ["People", "Car", "Bus", "Motorcycle", "Lamp", "Truck"]
TINY = ["data.img_size=64", "data.batch_size=8", "fusion.dim=4", "fusion.depth=2", "disc.dim=4",
        "train.epochs=1", "train.device=cpu", "train.preview=0", "train.bridge_warm=0",
        "train.d_warm=0", "train.ema_tau=10"]
SUMMARY = ("AP", "AP50", "AP75", "APs", "APm", "APl", "precision", "recall", "f1")
PER_CLASS = {"AP", "AP50", "precision", "recall", "f1", "conf", "instances", "detections"}


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Tiny tensors: one thread (tests/conftest.py)."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny ct, ir and dt runs (one step each) on a generated 64x64 synthetic set."""
    from tardal.config import load_config
    from tardal.engine import train

    tmp = tmp_path_factory.mktemp("eval")
    data = tmp / "data"
    common = [*TINY, f"data.root={data}", "data.synth.num=12", "data.synth.width=64",
              "data.synth.height=64", f"project={tmp / 'runs'}"]
    out = {}
    for mode in ("ct", "ir", "dt"):
        torch.set_num_threads(1)
        result = train(load_config(None, [*common, f"train.mode={mode}", f"name={mode}"]),
                       progress=False)
        out[mode] = result.best
    out["data"] = data
    return out


def _in_unit(value: object) -> bool:
    return value is None or (isinstance(value, float) and 0.0 <= value <= 1.0)


@pytest.mark.parametrize("mode", ["ct", "ir"])
def test_eval_writes_json_markdown_and_predictions(runs: dict[str, Path], tmp_path: Path,
                                                   mode: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "eval"
    rc = main(["eval", str(runs[mode]), "--split", "test", "--out", str(out), "--save-json",
               "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    for key in SUMMARY:
        assert key in metrics and _in_unit(metrics[key]), key
    assert metrics["mode"] == mode and metrics["split"] == "test" and metrics["epoch"] == 1
    assert metrics["names"] == NAMES and list(metrics["per_class"]) == NAMES
    assert metrics["images"] == 2 and metrics["instances"] > 0  # the 2 test scenes
    for name, entry in metrics["per_class"].items():
        assert set(entry) == PER_CLASS, name
        for k in ("AP", "AP50", "precision", "recall", "f1"):
            assert _in_unit(entry[k]), (name, k)
        assert (entry["AP50"] is None) == (entry["instances"] == 0)
    assert sum(e["instances"] for e in metrics["per_class"].values()) == metrics["instances"]
    md = (out / "metrics.md").read_text()
    assert "| run " in md and "AP50:95" in md and "| all " in md and md.strip() in printed
    coco = json.loads((out / "predictions.json").read_text())
    assert set(coco) == {"info", "categories", "images", "annotations"}
    assert coco["categories"] == [{"id": i + 1, "name": n} for i, n in enumerate(NAMES)]
    assert coco["info"]["split"] == "test" and coco["info"]["mode"] == mode
    test_stems = (runs["data"] / "meta" / "test.txt").read_text().split()
    assert coco["images"] == [{"id": s, "file_name": f"{s}.png", "width": 64, "height": 64}
                              for s in test_stems]
    preds = coco["annotations"]
    assert preds  # conf 0.001: an untrained detector still boxes
    total = sum(e["detections"] for e in metrics["per_class"].values())
    assert len(preds) >= total
    assert [p["id"] for p in preds] == list(range(1, len(preds) + 1))
    for p in preds[:50]:
        assert set(p) == {"id", "image_id", "category_id", "bbox", "score", "area"}
        assert 1 <= p["category_id"] <= len(NAMES) and 0 <= p["score"] <= 1
        assert p["image_id"] in test_stems
        x, y, w, h = p["bbox"]
        assert w >= 0 and h >= 0 and x >= 0 and y >= 0 and x + w <= 64.01 and y + h <= 64.01
        assert p["area"] == pytest.approx(w * h)


def test_eval_default_output_folder_and_overrides(runs: dict[str, Path]) -> None:
    assert main(["eval", str(runs["ct"]), "--split", "val", "--no-progress", "--html",
                 f"data.root={runs['data']}", "detector.conf=0.5"]) == 0
    out = runs["ct"].parent.parent / "eval" / "val"
    metrics = json.loads((out / "metrics.json").read_text())
    page = (out / "report.html").read_text()  # --html: the self-contained report
    assert "<table" in page and "AP50" in page and "http://" not in page
    assert metrics["split"] == "val" and metrics["images"] == 2
    assert not (out / "predictions.json").exists()
    # conf 0.5 on a one-step detector: nothing survives, so every AP is 0
    assert metrics["AP50"] == 0.0 and all(
        e["detections"] == 0 for e in metrics["per_class"].values())


def test_eval_errors(runs: dict[str, Path], tmp_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path / "missing.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["eval", str(runs["dt"])]) == 2
    assert "'dt' run, which has no detector" in capsys.readouterr().err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert main(["eval", str(junk)]) == 2
    assert "junk.pt" in capsys.readouterr().err
    assert main(["eval", str(runs["ct"]), f"data.root={tmp_path / 'nowhere'}",
                 "data.generate=false"]) == 2
    assert "nowhere does not exist" in capsys.readouterr().err
    assert main(["eval", str(runs["ct"]), "--split", "nosuch"]) == 2
    assert "split 'nosuch'" in capsys.readouterr().err
    assert main(["eval", str(runs["ct"]), "detector.nope=1"]) == 2
    assert "unknown config key 'detector.nope'" in capsys.readouterr().err


def test_eval_matches_the_validation_of_the_run(runs: dict[str, Path]) -> None:
    """The checkpoint rebuilt on its own scores the val split exactly as training did."""
    from tardal.checkpoint import load_checkpoint
    from tardal.engine.evaluate import evaluate_run, load_run

    ckpt = load_checkpoint(runs["ct"])
    report = evaluate_run(load_run(runs["ct"]), "val")
    for key in ("AP", "AP50"):
        saved = ckpt["metrics"][f"val/{key}"]
        assert math.isclose(report.results[key], saved, abs_tol=1e-9), key


def test_eval_categories_by_name(runs: dict[str, Path], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """--categories FILE takes the category ids of a reference COCO file by name."""
    ref = tmp_path / "ref.json"
    order = ["truck", "LAMP", "motorcycle", "bus", "car", "people", "dog"]  # another order
    ref.write_text(json.dumps({"categories": [{"id": 10 + k, "name": n}
                                              for k, n in enumerate(order)]}))
    out = tmp_path / "eval"
    plain = tmp_path / "plain"
    assert main(["eval", str(runs["ct"]), "--out", str(plain), "--save-json",
                 "--no-progress"]) == 0
    assert main(["eval", str(runs["ct"]), "--out", str(out), "--categories", str(ref),
                 "--no-progress"]) == 0  # implies --save-json
    coco = json.loads((out / "predictions.json").read_text())
    want = {n: 10 + [o.lower() for o in order].index(n.lower()) for n in NAMES}
    assert {c["name"]: c["id"] for c in coco["categories"]} == want
    base = json.loads((plain / "predictions.json").read_text())["annotations"]
    # the same detections; only the ids differ, class by class
    assert len(coco["annotations"]) == len(base) > 0
    for ours, theirs in zip(base, coco["annotations"]):
        assert theirs["category_id"] == want[NAMES[ours["category_id"] - 1]]
        assert theirs["bbox"] == ours["bbox"] and theirs["score"] == ours["score"]
    capsys.readouterr()
    ref.write_text(json.dumps({"categories": [{"id": 1, "name": "People"},
                                              {"id": 2, "name": "Car"}]}))
    assert main(["eval", str(runs["ct"]), "--out", str(tmp_path / "bad"), "--categories",
                 str(ref), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no category named 'Bus', 'Motorcycle', 'Lamp', 'Truck'" in err
    assert "our classes: People, Car, Bus" in err and "its categories: People, Car" in err
    assert not (tmp_path / "bad").exists()  # stopped before evaluating


def test_eval_categories_of_the_m3fd_annotations(runs: dict[str, Path], tmp_path: Path,
                                                 shared_data: Path) -> None:
    """Against the shared M3FD test file, Motorcycle gets id 3 and Bus id 4."""
    ref = shared_data / "m3fd-labels" / "m3fd-test.json"
    assert main(["eval", str(runs["ir"]), "--out", str(tmp_path), "--categories", str(ref),
                 "--no-progress"]) == 0
    coco = json.loads((tmp_path / "predictions.json").read_text())
    ids = {c["name"]: c["id"] for c in coco["categories"]}
    assert ids == {"People": 1, "Car": 2, "Motorcycle": 3, "Bus": 4, "Truck": 5, "Lamp": 6}
    assert coco["info"]["categories_from"] == str(ref)


def test_eval_checks_the_split_before_work(runs: dict, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    assert main(["eval", str(runs["ct"]), "--split", "../../elsewhere"]) == 2
    assert "--split: expected a split name" in capsys.readouterr().err
    # a bad label line in the scored split stops the evaluation, naming file and line ...
    root = tmp_path / "data"
    shutil.copytree(runs["data"], root)
    stem = (root / "meta" / "test.txt").read_text().split()[0]
    (root / "labels" / f"{stem}.txt").write_text("0 0.5 0.5 0.2\n")
    out = tmp_path / "eval"
    assert main(["eval", str(runs["ct"]), f"data.root={root}", "--out", str(out),
                 "--no-progress"]) == 2
    assert f"{stem}.txt:1:" in capsys.readouterr().err and not out.exists()
    # ... unless --skip-bad leaves it out
    assert main(["eval", str(runs["ct"]), f"data.root={root}", "--out", str(out),
                 "--no-progress", "--skip-bad"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == len((root / "meta" / "test.txt").read_text().split()) - 1
