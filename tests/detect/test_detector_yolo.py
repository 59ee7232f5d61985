"""The Ultralytics adapter: build, loss, gradients through a frozen detector, prediction, state."""

from __future__ import annotations

import types

import pytest
import torch

from tardal.checkpoint import load_checkpoint, save_checkpoint
from tardal.config import DetectorConfig
from tardal.detect import Detector, available_models, build_detector, frozen
from tardal.errors import CheckpointError, ConfigError, DataError

MODELS = ["yolov8n.yaml", "yolo11n.yaml", "yolo26n.yaml"]


@pytest.fixture(autouse=True)
def _threads():
    before = torch.get_num_threads()
    torch.set_num_threads(min(before, 2))
    yield
    torch.set_num_threads(before)


def _detector(names, model="yolov8n.yaml", seed=0, **kw) -> Detector:
    torch.manual_seed(seed)
    return Detector(names, model, **kw)


def test_shipped_models_are_listed():
    models = available_models()
    for m in MODELS:
        assert m in models
    assert not any("-seg" in m or "-cls" in m or "rtdetr" in m for m in models)


@pytest.mark.parametrize("model", MODELS)
def test_builds_and_loss_is_finite_positive_with_input_gradient(model, names, tiny_batch):
    det = _detector(names, model)
    assert det.nc == 6 and det.names == names and det.stride == 32
    assert dict(det.model.names) == dict(enumerate(names))
    images, batch = tiny_batch
    x = images.clone().requires_grad_(True)
    total, terms = det.loss(det(x), batch)
    assert total.ndim == 0 and torch.isfinite(total) and total.item() > 0
    assert tuple(terms) == det.loss_names
    assert det.loss_names[:2] == ("box", "cls")
    assert det.loss_names[2] == ("l1" if model.startswith("yolo26") else "dfl")
    assert all(not t.requires_grad and torch.isfinite(t) and t >= 0 for t in terms.values())
    assert terms["box"] > 0 and terms["cls"] > 0
    # total is the gain-weighted sum of the unweighted terms
    expected = sum(det.gains[k] * terms[k] for k in det.loss_names)
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)
    total.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in det.parameters() if p.requires_grad) or model.startswith(
        "yolo26")  # the idle one-to-one head of YOLO26 gets gradients only through its own loss


def test_default_gains_are_ultralytics(names):
    det = _detector(names)
    assert det.gains == {"box": 7.5, "cls": 0.5, "dfl": 1.5}
    det = build_detector(DetectorConfig(box=1.0, cls=2.0, dfl=3.0), names)
    assert det.gains == {"box": 1.0, "cls": 2.0, "dfl": 3.0}


def test_total_is_ultralytics_loss_divided_by_batch_size(names, tiny_batch):
    """Ultralytics' criterion (default gains) returns B * our total; documented in the module."""
    det = _detector(names)
    images, batch = tiny_batch
    preds = det(images)
    total, _ = det.loss(preds, batch)
    ref = _detector(names)
    ref.load_state_dict(det.state_dict())
    ref.model.args = types.SimpleNamespace(box=7.5, cls=0.5, dfl=1.5, epochs=1)
    ul_vec, _ = ref.model.init_criterion()(preds, batch)
    assert ul_vec.sum().item() == pytest.approx(images.shape[0] * total.item(), rel=1e-5)


def test_frozen_detector_gets_no_parameter_gradients(names, tiny_batch):
    det = _detector(names)
    det.requires_grad_(False)
    images, batch = tiny_batch
    x = images.clone().requires_grad_(True)
    total, _ = det.loss(det(x), batch)
    total.backward()
    assert x.grad.abs().sum() > 0
    assert all(p.grad is None for p in det.parameters())


def test_frozen_context_restores_state_and_keeps_batchnorm_statistics(names, tiny_batch):
    det = _detector(names)
    det.model.model[0].conv.weight.requires_grad_(False)  # a mixed state to restore
    flags = [p.requires_grad for p in det.parameters()]
    images, batch = tiny_batch
    x = images.clone().requires_grad_(True)
    buffers = {k: v.clone() for k, v in det.state_dict().items() if "running" in k}
    with frozen(det) as d:
        assert not d.training and not any(p.requires_grad for p in d.parameters())
        total, _ = d.loss(d(x), batch)
        total.backward()
    assert x.grad.abs().sum() > 0
    assert all(p.grad is None for p in det.parameters())
    assert [p.requires_grad for p in det.parameters()] == flags and det.training
    after = det.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in buffers.items())
    with frozen(det, bn_eval=False):
        assert det.training
        det(images)
    assert any(not torch.equal(v, det.state_dict()[k]) for k, v in buffers.items())


def test_overfits_one_fixed_batch(names, tiny_batch):
    det = _detector(names)
    images, batch = tiny_batch
    opt = torch.optim.AdamW(det.parameters(), lr=1e-3)
    losses = []
    for _ in range(20):
        total, _ = det.loss(det(images), batch)
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(total.item())
    assert sum(losses[-5:]) / 5 < 0.75 * losses[0], losses


def test_empty_targets_give_a_finite_classification_only_loss(names, tiny_batch):
    det = _detector(names)
    images, _ = tiny_batch
    empty = {"batch_idx": torch.zeros(0), "cls": torch.zeros(0, 1), "bboxes": torch.zeros(0, 4)}
    total, terms = det.loss(det(images), empty)
    assert torch.isfinite(total) and terms["cls"] > 0
    assert terms["box"] == 0 and terms["dfl"] == 0


def test_bad_inputs_raise(names, tiny_batch):
    det = _detector(names)
    images, batch = tiny_batch
    with pytest.raises(DataError, match="multiples of 32"):
        det(torch.rand(1, 3, 48, 64))
    with pytest.raises(DataError, match=r"\(B,3,H,W\)"):
        det(torch.rand(1, 1, 64, 64))
    preds = det(images)
    with pytest.raises(DataError, match=r"class ids must lie in \[0, 6\)"):
        det.loss(preds, {**batch, "cls": batch["cls"] + 6})
    with pytest.raises(DataError, match="batch_idx"):
        det.loss(preds, {**batch, "batch_idx": batch["batch_idx"] + 5})
    with pytest.raises(DataError, match="missing bboxes"):
        det.loss(preds, {"batch_idx": batch["batch_idx"], "cls": batch["cls"]})


def test_bad_configuration_raises(names):
    with pytest.raises(ConfigError, match="Did you mean.*yolov8n.yaml"):
        Detector(names, "yolov8q.yaml")
    with pytest.raises(ConfigError, match="unknown detection model"):
        Detector(names, "yolov8n-seg.yaml")
    with pytest.raises(ConfigError, match="name one, e.g. yolov8n.yaml"):
        Detector(names, "yolov8.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        Detector(names, "no/such/model.yaml")
    with pytest.raises(ConfigError, match="class names"):
        Detector([], "yolov8n.yaml")
    with pytest.raises(ConfigError, match="nms_free"):
        Detector(names, "yolov8n.yaml", nms_free=True)


def test_model_yaml_path(names, tmp_path):
    import yaml

    from tardal.detect import resolve_model_yaml

    cfg = resolve_model_yaml("yolov8n.yaml")
    cfg.pop("scale"), cfg.pop("yaml_file")
    path = tmp_path / "mine-yolov8n.yaml"
    path.write_text(yaml.safe_dump(cfg))
    det = _detector(names, str(path))
    ref = _detector(names, "yolov8n.yaml")
    assert [v.shape for v in det.state_dict().values()] == [v.shape for v in ref.state_dict().values()]


def test_predict_structure(names, tiny_batch):
    det = _detector(names)
    images, _ = tiny_batch
    det.train()
    out = det.predict(images, conf=0.001, iou=0.7, max_det=5)
    assert det.training  # restored
    assert len(out) == images.shape[0]
    for d in out:
        assert set(d) == {"boxes_xyxy", "scores", "labels"}
        k = d["scores"].shape[0]
        assert 0 < k <= 5
        assert d["boxes_xyxy"].shape == (k, 4) and d["boxes_xyxy"].dtype == torch.float32
        assert d["labels"].dtype == torch.int64 and d["labels"].shape == (k,)
        assert ((d["labels"] >= 0) & (d["labels"] < 6)).all()
        b = d["boxes_xyxy"]
        assert (b >= 0).all() and (b[:, [0, 2]] <= 64).all() and (b[:, [1, 3]] <= 64).all()
        assert (b[:, 2] >= b[:, 0]).all() and (b[:, 3] >= b[:, 1]).all()
        s = d["scores"]
        assert (s >= 0.001).all() and (s <= 1).all() and torch.equal(s, s.sort(descending=True)[0])
    high = det.predict(images, conf=0.99)
    assert all(d["scores"].numel() == 0 and d["boxes_xyxy"].shape == (0, 4) for d in high)


def test_predict_nms_free_head(names, tiny_batch):
    det = _detector(names, "yolo26n.yaml", nms_free=True)
    images, _ = tiny_batch
    out = det.predict(images, conf=0.0, max_det=7)
    assert [d["scores"].shape[0] for d in out] == [7, 7]


def test_end_to_end_loss_mixes_branches_by_epoch(names, tiny_batch):
    det = _detector(names, "yolo26n.yaml")
    assert det.end2end
    det.eval()  # deterministic outputs, no BatchNorm updates
    images, batch = tiny_batch
    preds = det(images)
    totals = []
    for epoch in (0, 5, 10):  # one-to-many weight 0.8, 0.45, 0.1
        det.set_epoch(epoch, 11)
        totals.append(det.loss(preds, batch)[0].item())
    assert det._criterion.o2m == pytest.approx(0.1)
    assert totals[1] == pytest.approx((totals[0] + totals[2]) / 2, rel=1e-5)
    assert totals[0] != pytest.approx(totals[2])


def test_state_dict_round_trip(names, tiny_batch, tmp_path):
    det = _detector(names, seed=0)
    images, batch = tiny_batch
    opt = torch.optim.AdamW(det.parameters(), lr=1e-3)
    for _ in range(2):
        total, _ = det.loss(det(images), batch)
        opt.zero_grad()
        total.backward()
        opt.step()
    path = save_checkpoint(tmp_path / "det.pt", {"config": {}, "detector": det.state_dict()})
    other = _detector(names, seed=1)
    other.load_state_dict(load_checkpoint(path)["detector"])
    a, b = det.predict(images), other.predict(images)
    assert all(torch.equal(x["boxes_xyxy"], y["boxes_xyxy"]) and torch.equal(x["scores"], y["scores"])
               for x, y in zip(a, b))


def _save_ultralytics_pt(det: Detector, path) -> None:
    """An Ultralytics-style checkpoint: the pickled model under 'model' (as the trainer saves)."""
    torch.save({"model": det.model, "train_args": {"imgsz": 64}}, path)


def test_local_ultralytics_weights(names, tmp_path, caplog):
    src = _detector(names, seed=3)
    pt = tmp_path / "yolov8n-mine.pt"
    _save_ultralytics_pt(src, pt)
    with caplog.at_level("WARNING"):
        det = _detector(names, seed=4, weights=str(pt))
    assert "only load checkpoints you trust" in caplog.text
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), det.state_dict().values()))
    # another class count: everything but the class-specific head layers transfers
    three = _detector(names[:3], seed=5, weights=str(pt))
    own, ref = three.state_dict(), src.state_dict()
    same = [k for k in own if own[k].shape == ref[k].shape and torch.equal(own[k], ref[k])]
    assert len(own) - 6 <= len(same) < len(own)  # 3 levels x (weight, bias) of the class conv


def test_weights_errors(names, tmp_path):
    with pytest.raises(CheckpointError, match="missing.pt does not exist"):
        Detector(names, weights=str(tmp_path / "missing.pt"))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint" * 8)
    with pytest.raises(CheckpointError, match="bad.pt is not a loadable"):
        Detector(names, weights=str(bad))
