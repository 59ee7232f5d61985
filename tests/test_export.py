"""`tardal export` (ONNX, checked against PyTorch with onnxruntime) and `tardal export-data`
(the Ultralytics layout, checked by training Ultralytics' own YOLO on it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tardal.cli import main

TINY = [
    "data.img_size=64", "data.batch_size=8", "data.workers=0", "fusion.dim=4", "fusion.depth=2",
    "disc.dim=4", "train.device=cpu", "train.preview=0", "train.epochs=1",
    "train.warmup_epochs=0", "train.d_warm=0", "train.bridge_warm=0",
]


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Tiny runs: one thread."""


@pytest.fixture(scope="module")
def synth(synth64: Path) -> Path:
    return synth64


@pytest.fixture(scope="module")
def ct_weights(synth: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tardal.config import load_config
    from tardal.engine import train

    torch.set_num_threads(1)
    cfg = load_config(None, [*TINY, f"data.root={synth}",
                             f"project={tmp_path_factory.mktemp('runs')}", "train.mode=ct",
                             "name=ct"])
    return train(cfg, progress=False).best


@pytest.fixture(scope="module")
def exported(ct_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "g.onnx"
    assert main(["export", str(ct_weights), "--format", "onnx", "--out", str(out)]) == 0
    return out


def test_fusion_graph_matches_pytorch_at_any_size(ct_weights: Path, exported: Path) -> None:
    import onnx
    import onnxruntime as ort

    from tardal.fusion import load_fusion

    model = onnx.load(str(exported))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["ir", "vis_y"]
    assert [o.name for o in model.graph.output] == ["fused"]
    net, _ = load_fusion(ct_weights)
    # the canvas layout: the output's crop (2 slices) and one in the padding's shape arithmetic,
    # none per dense layer (the valid layout adds 2 per layer)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Slice") <= 3 and ops.count("Conv") == net.depth + 5
    sess = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    for b, h, w in ((1, 64, 64), (2, 48, 80), (1, 37, 53)):
        ir, vis_y = torch.rand(b, 1, h, w, generator=gen), torch.rand(b, 1, h, w, generator=gen)
        with torch.no_grad():
            ref = net(ir, vis_y).numpy()
        got = sess.run(["fused"], {"ir": ir.numpy(), "vis_y": vis_y.numpy()})[0]
        assert got.shape == (b, 1, h, w)
        assert np.abs(got - ref).max() < 1e-4
        assert 0 <= got.min() and got.max() <= 1


def test_detection_graph_matches_pytorch_and_gives_the_same_boxes(
        ct_weights: Path, exported: Path, synth: Path) -> None:
    import onnxruntime as ort
    from ultralytics.utils.nms import non_max_suppression

    from tardal.engine.evaluate import load_run, split_dataset
    from tardal.data.dataset import collate_pairs
    from tardal.export import detection_path

    det = detection_path(exported)
    assert det.name == "g-det.onnx" and det.is_file()
    run = load_run(ct_weights, ["detector.conf=0.001"], device="cpu")
    ds = split_dataset(run.cfg, "val", run.names)
    batch = collate_pairs([ds[0], ds[1]])
    sess = ort.InferenceSession(str(det), providers=["CPUExecutionProvider"])
    raw = sess.run(["preds"], {"ir": batch["ir"].numpy(), "vis": batch["vis"].numpy()})[0]
    nc = len(run.names)
    assert raw.shape == (2, 4 + nc, 8 * 8 + 4 * 4 + 2 * 2)  # strides 8, 16, 32 at 64 px
    images, _, preds = run.predict(batch)
    with torch.no_grad():
        ref = run.detector.model(images)[0].numpy()
    assert np.abs(raw - ref).max() < 1e-3
    assert 0 <= raw[:, 4:].min() and raw[:, 4:].max() <= 1  # class scores after the sigmoid
    dets = non_max_suppression(torch.from_numpy(raw), conf_thres=0.001,
                               iou_thres=run.cfg.detector.iou, multi_label=True,
                               max_det=run.cfg.detector.max_det)
    assert sum(len(p["scores"]) for p in preds) > 0
    for d, p in zip(dets, preds):
        d = d[d[:, 4].argsort(descending=True)]
        assert len(d) == len(p["scores"])
        np.testing.assert_allclose(d[:, 4].numpy(), p["scores"].numpy(), atol=1e-3)
        boxes = d[:, :4].clone()
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, 64)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, 64)
        np.testing.assert_allclose(boxes.numpy(), p["boxes_xyxy"].numpy(), atol=1e-2)
        np.testing.assert_array_equal(d[:, 5].long().numpy(), p["labels"].numpy())


def test_export_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path / "none.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "x.pt").write_bytes(b"x")
    assert main(["export", str(tmp_path / "x.pt"), "--format", "tflite"]) == 2
    assert "expected onnx, found 'tflite'" in capsys.readouterr().err
    assert main(["export-data", "--method", "mean", "--weights", "x.pt", "--data", "d",
                 "--out", "o"]) == 2
    assert "exactly one of --method NAME and --weights CKPT" in capsys.readouterr().err


def test_export_data_layout_and_coco(synth: Path, tmp_path: Path) -> None:
    import cv2
    import yaml

    out = tmp_path / "fused"
    assert main(["export-data", "--method", "mean", "--data", str(synth), "--out", str(out),
                 "--splits", "train,val", "--no-progress"]) == 0
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["path"] == str(out.resolve()) and data["train"] == "images/train"
    assert data["val"] == "images/val" and data["names"][1] == "Car" and len(data["names"]) == 6
    for split, n in (("train", 8), ("val", 2)):
        images = sorted((out / "images" / split).glob("*.png"))
        assert len(images) == n
        coco = json.loads((out / "annotations" / f"{split}.json").read_text())
        assert len(coco["images"]) == n
        lines = 0
        for img in images:
            label = out / "labels" / split / f"{img.stem}.txt"
            assert label.read_text() == (synth / "labels" / f"{img.stem}.txt").read_text()
            lines += len(label.read_text().split("\n")) - 1 if label.read_text() else 0
        assert len(coco["annotations"]) == lines
    # the fused pixels are the mean of the infrared and the visible luma, recoloured
    stem = sorted((out / "images" / "val").glob("*.png"))[0].stem
    fused = cv2.imread(str(out / "images" / "val" / f"{stem}.png"))[..., ::-1] / 255.0
    ir = cv2.imread(str(synth / "ir" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE) / 255.0
    vis = cv2.imread(str(synth / "vi" / f"{stem}.png"))[..., ::-1] / 255.0
    y = lambda rgb: rgb @ np.array([0.299, 0.587, 0.114])  # noqa: E731
    assert np.abs(y(fused) - (ir + y(vis)) / 2).mean() < 0.01
    # a second export into the same, now full, folder is refused
    assert main(["export-data", "--method", "mean", "--data", str(synth), "--out",
                 str(out)]) == 2


@pytest.mark.slow
def test_ultralytics_trains_on_the_exported_set(synth: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "cfg"))
    out = tmp_path / "fused"
    assert main(["export-data", "--method", "mean", "--data", str(synth), "--out", str(out),
                 "--no-progress"]) == 0
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml")
    model.train(data=str(out / "data.yaml"), epochs=1, imgsz=64, batch=4, workers=0,
                device="cpu", plots=False, amp=False, val=True, project=str(tmp_path / "yolo"),
                name="fused", exist_ok=True, verbose=False)
    run = tmp_path / "yolo" / "fused"
    assert (run / "weights" / "last.pt").is_file()
    rows = (run / "results.csv").read_text().splitlines()
    assert len(rows) == 2  # header + one epoch
    header = [h.strip() for h in rows[0].split(",")]
    values = dict(zip(header, (float(v) for v in rows[1].split(","))))
    assert values["train/box_loss"] > 0 and np.isfinite(values["train/cls_loss"])
    assert "metrics/mAP50(B)" in values  # validated on the exported val split


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["dt", "ir", "early"])
def test_runs_without_a_detector_or_without_g(mode: str, synth: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A fusion-only run exports G alone; runs without G (one modality, or early fusion's
    four-channel stack) export the detection graph alone, still with both inputs."""
    import onnxruntime as ort

    from tardal.config import load_config
    from tardal.engine import train
    from tardal.export import detection_path

    cfg = load_config(None, [*TINY, f"data.root={synth}", f"project={tmp_path / 'runs'}",
                             f"train.mode={mode}", f"name={mode}"])
    weights = train(cfg, progress=False).best
    out = tmp_path / "m.onnx"
    assert main(["export", str(weights), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    det = detection_path(out)
    if mode == "dt":
        assert out.is_file() and not det.exists() and "detection graph" not in printed
        return
    assert det.is_file() and not out.exists() and "fusion graph" not in printed
    from tardal.engine.evaluate import load_run

    run = load_run(weights, device="cpu")
    ir, vis = torch.rand(1, 1, 64, 64), torch.rand(1, 3, 64, 64)
    got = ort.InferenceSession(str(det), providers=["CPUExecutionProvider"]).run(
        None, {"ir": ir.numpy(), "vis": vis.numpy()})[0]
    with torch.no_grad():
        ref = run.detector.model(run.mode.view(run.ctx, ir, vis)[0])[0].numpy()
    assert np.abs(got - ref).max() < 1e-3
