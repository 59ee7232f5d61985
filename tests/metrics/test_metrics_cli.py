"""`tardal metrics` end to end on tiny generated folders."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tardal.cli import main
from tardal.metrics import evaluate
from tardal.metrics.folders import read_image

H, W = 40, 48  # VIF needs >= 33 px


def _write(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), img)


@pytest.fixture()
def folders(tmp_path: Path) -> Path:
    """ir/ (grey PNG), vi/ (colour PNG), fused methods ``avg`` (PNG) and ``max`` (JPEG names)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:H, 0:W]
    for i, stem in enumerate(["a01", "a02", "b03"]):
        ir = 90 + 70 * np.sin((x + 3 * i) / 5.0) + rng.normal(0, 6, (H, W))
        vis = 110 + 60 * np.cos((y + i) / 4.0)[..., None] + rng.normal(0, 6, (H, W, 3))
        ir = np.clip(ir, 0, 255).astype(np.uint8)
        vis = np.clip(vis, 0, 255).astype(np.uint8)
        grey_vis = vis.mean(axis=2)
        _write(tmp_path / "ir" / f"{stem}.png", ir)
        _write(tmp_path / "vi" / f"{stem}.png", vis)
        _write(tmp_path / "avg" / f"{stem}.png", ((ir + grey_vis) / 2).astype(np.uint8))
        _write(tmp_path / "max" / f"{stem}.bmp", np.maximum(ir, grey_vis).astype(np.uint8))
    return tmp_path


def _args(root: Path, *extra: str, methods: tuple[str, ...] = ("avg",)) -> list[str]:
    out = ["metrics"]
    for m in methods:
        out += ["--fused", str(root / m)]
    return out + ["--ir", str(root / "ir"), "--vi", str(root / "vi"), *extra]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_single_folder_writes_csv_markdown_json(folders: Path, capsys: pytest.CaptureFixture) -> None:
    out = folders / "res"
    assert main(_args(folders, "--out", str(out))) == 0
    rows = _rows(out / "metrics.csv")
    assert [r["image"] for r in rows] == ["a01", "a02", "b03"]
    assert list(rows[0])[:3] == ["method", "image", "EN"] and rows[0]["method"] == "avg"
    # per-image values are the library's, at full precision
    want = evaluate(*(read_image(folders / d / "a02.png") for d in ("avg", "ir", "vi")))
    assert {k: float(rows[1][k]) for k in want} == want
    summary = json.loads((out / "metrics.json").read_text())
    en = [float(r["EN"]) for r in rows]
    assert summary["methods"]["avg"]["EN"]["mean"] == pytest.approx(np.mean(en))
    assert summary["methods"]["avg"]["EN"]["std"] == pytest.approx(np.std(en))
    table = (out / "metrics.md").read_text()
    assert "| method | EN ↑ |" in table and "MSE ↓" in table and "Nabf ↓" in table
    assert f"| avg | {np.mean(en):.4f} ± {np.std(en):.4f} |" in table
    assert table in capsys.readouterr().out


def test_several_folders_give_one_comparison_table(folders: Path) -> None:
    out = folders / "cmp.csv"
    assert main(_args(folders, "--out", str(out), "--metrics", "en,Qabf,MSE", methods=("avg", "max"))) == 0
    rows = _rows(out)
    assert [(r["method"], r["image"]) for r in rows] == [
        ("avg", "a01"), ("avg", "a02"), ("avg", "b03"), ("max", "a01"), ("max", "a02"), ("max", "b03")
    ]
    assert list(rows[0]) == ["method", "image", "EN", "Qabf", "MSE"]
    table = (folders / "cmp.md").read_text().splitlines()
    body = [line for line in table if line.startswith("| avg") or line.startswith("| max")]
    assert len(body) == 2
    # the better mean of each column is bold (higher EN/Qabf, lower MSE)
    mse = {r["method"]: [] for r in rows}
    for r in rows:
        mse[r["method"]].append(float(r["MSE"]))
    best = min(mse, key=lambda m: np.mean(mse[m]))
    assert f"**{np.mean(mse[best]):.4f}" in next(line for line in body if line.startswith(f"| {best}"))


def test_workers_give_identical_results(folders: Path) -> None:
    assert main(_args(folders, "--out", str(folders / "w1"), methods=("avg", "max"))) == 0
    assert main(_args(folders, "--out", str(folders / "w2"), "--workers", "2", methods=("avg", "max"))) == 0
    assert (folders / "w1" / "metrics.csv").read_text() == (folders / "w2" / "metrics.csv").read_text()


def test_vifb_convention_on_colour_results(folders: Path) -> None:
    rgb = cv2.imread(str(folders / "vi" / "a01.png"))
    for stem in ("a01", "a02", "b03"):
        _write(folders / "colour" / f"{stem}.jpg", cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB))
    out = folders / "v"
    assert main(_args(folders, "--out", str(out), "--convention", "vifb", methods=("colour",))) == 0
    rows = _rows(out / "metrics.csv")
    assert list(rows[0])[2:] == "EN SD SF AG MI PSNR RMSE SSIM Qabf CE EI Qcb Qcv".split()
    # a01's fused image is its visible image: VIFB's SSIM(vis, F) = 1 for it, summed with SSIM(ir, F)
    assert 1.0 < float(rows[0]["SSIM"]) < 2.0


def test_missing_partner_names_the_file(folders: Path, capsys: pytest.CaptureFixture) -> None:
    (folders / "vi" / "a02.png").unlink()
    assert main(_args(folders, "--out", str(folders / "x"))) == 2
    err = capsys.readouterr().err
    assert "no visible partner for fused image" in err and str(folders / "avg" / "a02.png") in err


def test_size_mismatch_names_both_sizes(folders: Path, capsys: pytest.CaptureFixture) -> None:
    _write(folders / "avg" / "b03.png", np.zeros((H, W - 8), np.uint8))
    assert main(_args(folders, "--out", str(folders / "x"))) == 2
    err = capsys.readouterr().err
    assert f"fused {folders / 'avg' / 'b03.png'} is {H}x{W - 8} (HxW)" in err and f"are {H}x{W}" in err


def test_methods_must_cover_the_same_images(folders: Path, capsys: pytest.CaptureFixture) -> None:
    (folders / "max" / "b03.bmp").unlink()
    assert main(_args(folders, "--out", str(folders / "x"), methods=("avg", "max"))) == 2
    err = capsys.readouterr().err
    assert f"fused folder {folders / 'max'} lacks 1 of the 3 image(s) that" in err
    assert err.rstrip().endswith("have: b03 (pass --allow-missing to score every method on the "
                                 "images all of them have)")
    assert not (folders / "x").exists()


def test_one_missing_fused_image_is_refused(folders: Path, capsys: pytest.CaptureFixture) -> None:
    (folders / "avg" / "a02.png").unlink()
    assert main(_args(folders, "--out", str(folders / "x"))) == 2
    err = capsys.readouterr().err
    assert f"fused folder {folders / 'avg'} lacks 1 of the 3 image(s)" in err and "a02" in err
    assert not (folders / "x").exists()


def test_allow_missing_scores_every_method_on_the_common_images(
        folders: Path, capsys: pytest.CaptureFixture) -> None:
    (folders / "max" / "b03.bmp").unlink()
    out = folders / "res"
    assert main(_args(folders, "--out", str(out), "--allow-missing", "--metrics", "EN,SD",
                      methods=("avg", "max"))) == 0
    printed = capsys.readouterr().out
    note = "1 image(s) left out for every method because a fused folder lacks them (max lacks b03)"
    assert note in printed and note in (out / "metrics.md").read_text()
    assert "over 2 image(s)" in printed
    rows = _rows(out / "metrics.csv")
    assert [(r["method"], r["image"], r["EN"] == "") for r in rows] == [
        ("avg", "a01", False), ("avg", "a02", False), ("avg", "b03", True),
        ("max", "a01", False), ("max", "a02", False), ("max", "b03", True),
    ]
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["images"] == ["a01", "a02"]
    assert summary["left_out"] == {"count": 1, "images": ["b03"], "missing": {"max": ["b03"]}}
    # avg has b03, but it is left out of avg's mean too: both means cover a01 and a02 only
    want = [evaluate(*(read_image(folders / d / f"{s}.png") for d in ("avg", "ir", "vi")),
                     metrics=["EN"])["EN"] for s in ("a01", "a02")]
    assert summary["methods"]["avg"]["EN"]["mean"] == pytest.approx(np.mean(want))
    assert summary["methods"]["avg"]["EN"]["n"] == summary["methods"]["max"]["EN"]["n"] == 2


def test_allow_missing_with_nothing_in_common(folders: Path, capsys: pytest.CaptureFixture) -> None:
    for stem in ("a01", "a02"):
        (folders / "max" / f"{stem}.bmp").unlink()
    (folders / "avg" / "b03.png").unlink()
    assert main(_args(folders, "--out", str(folders / "x"), "--allow-missing",
                      methods=("avg", "max"))) == 2
    assert "no image is in every fused folder" in capsys.readouterr().err


def test_bad_metric_name_and_empty_folder(folders: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(_args(folders, "--metrics", "EN,Qab")) == 2
    assert "Did you mean 'Qabf'" in capsys.readouterr().err
    (folders / "empty").mkdir()
    assert main(_args(folders, "--out", str(folders / "x"), methods=("empty",))) == 2
    assert "holds no images" in capsys.readouterr().err
