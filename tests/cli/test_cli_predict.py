"""`tardal predict` on images, folders and videos, through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tardal.cli import main

REPO = Path(__file__).parents[2]
TINY = [
    "data.img_size=64", "data.batch_size=8", "data.workers=0", "fusion.dim=4", "fusion.depth=2",
    "disc.dim=4", "train.device=cpu", "train.preview=0", "train.epochs=1",
    "train.warmup_epochs=0", "train.d_warm=0", "train.bridge_warm=0", "train.lr_det=0.002",
    "detector.conf=0.001",
]


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Tiny runs: one thread."""


@pytest.fixture(scope="module")
def synth(synth64: Path) -> Path:
    return synth64


def train_run(synth: Path, project: Path, mode: str) -> Path:
    from tardal.config import load_config
    from tardal.engine import train

    extra = ["fusion.name=mean"] if mode == "frontend" else []
    torch.set_num_threads(1)
    cfg = load_config(None, [*TINY, f"data.root={synth}", f"project={project}",
                             f"train.mode={mode}", f"name={mode}", *extra])
    return train(cfg, progress=False).best


@pytest.fixture(scope="module")
def ct_weights(synth: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_run(synth, tmp_path_factory.mktemp("runs"), "ct")


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def synth_videos(synth: Path, tmp: Path, n: int = 5, size: tuple[int, int] | None = None,
                 n_vi: int | None = None) -> tuple[Path, Path]:
    """Two videos made of the synthetic set's pairs (uint8 BGR frames)."""
    stems = sorted(p.stem for p in (synth / "ir").glob("*.png"))
    irs = [cv2.imread(str(synth / "ir" / f"{s}.png")) for s in stems]
    vis = [cv2.imread(str(synth / "vi" / f"{s}.png")) for s in stems]
    if size is not None:
        vis = [cv2.resize(v, size) for v in vis]
    ir = write_video(tmp / "drive_ir.mp4", [irs[i % len(irs)] for i in range(n)])
    vi = write_video(tmp / "drive_vi.mp4", [vis[i % len(vis)] for i in range(n_vi or n)])
    return ir, vi


def test_folders_write_images_txt_and_coco_json(synth: Path, ct_weights: Path,
                                                tmp_path: Path) -> None:
    out = tmp_path / "pred"
    assert main(["predict", str(ct_weights), "--ir", str(synth / "ir"), "--vi",
                 str(synth / "vi"), "--out", str(out), "--conf", "0.001", "--save-txt",
                 "--save-json", "--no-progress", "--batch", "5"]) == 0
    stems = sorted(p.stem for p in (synth / "ir").glob("*.png"))
    assert len(stems) == 12
    for s in stems:
        img = cv2.imread(str(out / f"{s}.png"))
        assert img.shape == (64, 64, 3)
    coco = json.loads((out / "predictions.json").read_text())
    names = [c["name"] for c in coco["categories"]]
    assert [c["id"] for c in coco["categories"]] == list(range(1, len(names) + 1))
    assert "Car" in names and len(coco["images"]) == 12
    by_id = {im["id"]: im for im in coco["images"]}
    assert all(im["width"] == 64 and im["height"] == 64 for im in by_id.values())
    # A barely trained detector at conf 0.001 still returns boxes; txt and JSON agree
    assert coco["annotations"]
    for im in coco["images"]:
        anns = [a for a in coco["annotations"] if a["image_id"] == im["id"]]
        lines = (out / "labels" / (Path(im["file_name"]).stem + ".txt")).read_text().splitlines()
        assert len(lines) == len(anns)
        for line, a in zip(lines, anns):
            cls, cx, cy, w, h, conf = (float(v) for v in line.split())
            x, y, bw, bh = a["bbox"]
            assert int(cls) == a["category_id"] - 1
            assert cx == pytest.approx((x + bw / 2) / 64, abs=1e-3)
            assert cy == pytest.approx((y + bh / 2) / 64, abs=1e-3)
            assert w == pytest.approx(bw / 64, abs=1e-3) and h == pytest.approx(bh / 64, abs=1e-3)
            assert conf == pytest.approx(a["score"], abs=1e-4) and conf >= 0.001
            assert 0 <= x and x + bw <= 64 + 1e-3 and 0 <= y and y + bh <= 64 + 1e-3
    info = json.loads((out / "predict.json").read_text())
    assert info["frames"] == 12 and info["fps"] > 0 and info["mode"] == "ct"


def test_predictions_match_the_evaluation_path(synth: Path, ct_weights: Path) -> None:
    """Letterboxing in predict is the data set's: the same boxes as evaluate_run's batches."""
    from tardal.data.dataset import collate_pairs
    from tardal.detect import scale_boxes_back
    from tardal.engine.evaluate import load_run, split_dataset
    from tardal.io import read_ir, read_rgb
    from tardal.predict import Frame, predict_frames

    run = load_run(ct_weights, device="cpu")
    ds = split_dataset(run.cfg, "test", run.names)
    item = ds[0]
    pair = ds.pairs[0]
    frame = Frame(name="x.png", ir=read_ir(pair.ir), vis=read_rgb(pair.vi))
    ours = predict_frames(run, [frame])[0]
    batch = collate_pairs([item])
    _, _, preds = run.predict(batch)
    ref = scale_boxes_back(preds[0]["boxes_xyxy"], batch["letterbox"][0],
                           batch["orig_size"][0]).numpy()
    assert len(ref) > 0
    np.testing.assert_allclose(ours.boxes_xyxy, ref, atol=1e-4)
    np.testing.assert_allclose(ours.scores, preds[0]["scores"].numpy(), atol=1e-6)
    assert ours.shown.shape == (64, 64, 3) and 0 <= ours.shown.min() <= ours.shown.max() <= 1


def test_videos_through_a_subprocess(synth: Path, ct_weights: Path, tmp_path: Path) -> None:
    ir, vi = synth_videos(synth, tmp_path, n=6)
    out = tmp_path / "pred"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "tardal", "predict", str(ct_weights), "--ir", str(ir), "--vi",
         str(vi), "--out", str(out), "--device", "cpu", "--save-json", "--batch", "4",
         "--no-progress"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "predicted 6 frame(s)" in proc.stdout and "frames/s" in proc.stdout
    frames = sorted(out.glob("drive_ir_*.png"))
    assert [f.name for f in frames] == [f"drive_ir_{i:06d}.png" for i in range(6)]
    cap = cv2.VideoCapture(str(out / "drive_ir.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0, abs=0.01)
    ok, first = cap.read()
    cap.release()
    assert ok and first.shape == (64 + 18, 3 * 64 + 2 * 4, 3)  # ir | vis | fused, titled
    assert not list(out.glob(".*partial*"))
    info = json.loads((out / "predict.json").read_text())
    assert info["frames"] == 6 and info["fps"] > 0 and info["video"].endswith("drive_ir.mp4")
    assert len(json.loads((out / "predictions.json").read_text())["images"]) == 6


@pytest.mark.parametrize("case", ["length", "size"])
def test_mismatched_videos_fail_before_any_work(synth: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                case: str) -> None:
    if case == "length":
        ir, vi = synth_videos(synth, tmp_path, n=4, n_vi=3)
        expected = "has 4 frames, visible"
    else:
        ir, vi = synth_videos(synth, tmp_path, n=3, size=(96, 64))
        expected = "is 64x64, visible"
    out = tmp_path / "pred"
    fake = tmp_path / "best.pt"  # never loaded: the inputs are checked first
    fake.write_bytes(b"not a checkpoint")
    assert main(["predict", str(fake), "--ir", str(ir), "--vi", str(vi), "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err
    assert expected in err and str(ir) in err and str(vi) in err
    if case == "length":
        assert "has 3" in err
    else:
        assert "96x64" in err
    assert not out.exists()


def test_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "best.pt"
    fake.write_bytes(b"x")
    assert main(["predict", str(fake), "--ir", "a", "--vi", "b", "--out", "o",
                 "--conf", "2"]) == 2
    assert "--conf must lie in [0, 1], found 2.0" in capsys.readouterr().err
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.zeros((8, 8), np.uint8))
    vid = write_video(tmp_path / "v.mp4", [np.zeros((16, 16, 3), np.uint8)] * 2)
    assert main(["predict", str(fake), "--ir", str(img), "--vi", str(vid), "--out",
                 str(tmp_path / "o")]) == 2
    assert "expected two videos" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["tt", "frontend", "early", "ir", "vis"])
def test_every_detection_mode(synth: Path, tmp_path: Path, mode: str) -> None:
    weights = train_run(synth, tmp_path / "runs", mode)
    stem = sorted(p.stem for p in (synth / "ir").glob("*.png"))[0]
    out = tmp_path / "pred"
    assert main(["predict", str(weights), "--ir", str(synth / "ir" / f"{stem}.png"), "--vi",
                 str(synth / "vi" / f"{stem}.png"), "--out", str(out), "--conf", "0.001",
                 "--save-txt", "--no-progress"]) == 0
    drawn = cv2.imread(str(out / f"{stem}.png"))
    assert drawn.shape == (64, 64, 3)
    lines = (out / "labels" / f"{stem}.txt").read_text().splitlines()
    assert lines and all(len(line.split()) == 6 for line in lines)
    # what is shown: the modality itself for ir / vis runs, a fused image otherwise
    from tardal.engine.evaluate import load_run
    from tardal.io import read_ir, read_rgb
    from tardal.predict import Frame, predict_frames

    ir = read_ir(synth / "ir" / f"{stem}.png")
    vis = read_rgb(synth / "vi" / f"{stem}.png")
    shown = predict_frames(load_run(weights, device="cpu"), [Frame("x.png", ir, vis)])[0].shown
    luma = shown @ np.float32([0.299, 0.587, 0.114])
    vis_y = vis @ np.float32([0.299, 0.587, 0.114])
    if mode == "ir":
        np.testing.assert_allclose(shown, np.repeat(ir[..., None], 3, axis=2), atol=1e-6)
    elif mode in ("vis", "early"):  # early's detector reads the stack; visible is shown
        np.testing.assert_allclose(shown, vis, atol=1e-6)
    elif mode == "frontend":  # the mean fusion, recoloured: its luma is (ir + vis_y) / 2
        assert np.abs(luma - (ir + vis_y) / 2).mean() < 0.01
    else:
        assert np.abs(luma - vis_y).mean() > 0.01 and np.abs(luma - ir).mean() > 0.01


def test_real_pairs_keep_their_own_size(shared_data: Path, ct_weights: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """MSRS pairs (640x480) go through the 64 px run and come back at 640x480, boxes inside;
    the set's damaged file stops the run before anything is written."""
    from tardal.errors import DataError
    from tardal.io import read_ir

    msrs = shared_data / "msrs-mini"
    out = tmp_path / "pred"
    args = ["--out", str(out), "--conf", "0.001", "--save-json", "--no-progress"]
    assert main(["predict", str(ct_weights), "--ir", str(msrs / "ir"), "--vi", str(msrs / "vi"),
                 *args]) == 2
    assert "is not a valid PNG file" in capsys.readouterr().err and not out.exists()
    good = []
    for p in sorted((msrs / "ir").iterdir()):
        try:
            read_ir(p), read_ir(msrs / "vi" / p.name)
            good.append(p.name)
        except DataError:  # the set's damaged files
            continue
    assert len(good) >= 5
    for side in ("ir", "vi"):
        (tmp_path / side).mkdir()
        for name in good:
            (tmp_path / side / name).symlink_to(msrs / side / name)
    assert main(["predict", str(ct_weights), "--ir", str(tmp_path / "ir"), "--vi",
                 str(tmp_path / "vi"), *args]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == good
    assert cv2.imread(str(out / good[0])).shape == (480, 640, 3)
    coco = json.loads((out / "predictions.json").read_text())
    assert {(im["width"], im["height"]) for im in coco["images"]} == {(640, 480)}
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        assert -1e-3 <= x and x + w <= 640.001 and -1e-3 <= y and y + h <= 480.001
