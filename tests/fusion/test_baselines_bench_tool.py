"""tools/bench_baselines.py: ranks on a hand case, and the fusion and multi-focus parts end to
end on tiny generated data (one training epoch)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tardal.data.defocus import gaussian_blur
from tardal.io import write_image

TOOL = Path(__file__).parents[2] / "tools" / "bench_baselines.py"
TINY = ["train.epochs=1", "data.img_size=32", "data.batch_size=4", "train.preview=0",
        "train.device=cpu"]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_baselines", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Tiny tensors: one thread (tests/conftest.py)."""


def _texture(shape: tuple[int, ...], seed: int) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    return gaussian_blur(torch.rand(1, shape[-1] if len(shape) == 3 else 1, *shape[:2],
                                    generator=g), 1.0)[0].permute(1, 2, 0).squeeze(-1).numpy()


def _pairs(root: Path, n: int, size: int = 40) -> Path:
    for side, offset in (("ir", 0), ("vi", 100)):
        (root / side).mkdir(parents=True)
        for i in range(n):
            write_image(root / side / f"{i:02d}.png", _texture((size, size), i + offset))
    return root


def test_ranks_count_the_better_published_methods(bench) -> None:
    means = {"ours": {"EN": 7.0, "MSE": 0.03},
             "A": {"EN": 7.5, "MSE": 0.02}, "B": {"EN": 6.0, "MSE": 0.04},
             "C": {"EN": 7.1, "MSE": 0.01}}
    r = bench.ranks(means, "ours", ["A", "B", "C"], ("EN", "MSE"))
    assert r == {"EN": 3, "MSE": 3}  # EN: A and C higher; MSE (lower is better): A and C lower
    means["ours"] = {"EN": 8.0, "MSE": 0.05}
    assert bench.ranks(means, "ours", ["A", "B", "C"], ("EN", "MSE")) == {"EN": 1, "MSE": 4}


def test_fusion_part_end_to_end(bench, tmp_path: Path) -> None:
    src = _pairs(tmp_path / "roadscene", 10)
    tang = _pairs(tmp_path / "tang", 2)
    for name in ("DenseFuse", "PMGI"):  # stand-ins for the published outputs
        (tang / "fused" / name).mkdir(parents=True)
        for i in range(2):
            write_image(tang / "fused" / name / f"{i:02d}.png",
                        _texture((40, 40), 50 + i + len(name)))
    out = tmp_path / "out"
    assert bench.main(["fusion", "--methods", "densefuse", *TINY, "--roadscene-src", str(src),
                       "--roadscene", str(tmp_path / "canon"), "--tang", str(tang),
                       "--project", str(tmp_path / "p"), "--out-dir", str(out),
                       "--release", str(tmp_path / "none.pt"), "--threads", "1"]) == 0
    data = json.loads((out / "baselines_fusion.json").read_text())
    assert set(data["means"]) == {"densefuse", "mean", "max", "laplacian",
                                  "DenseFuse (published)", "PMGI (published)"}
    assert set(data["means"]["densefuse"]) == set(bench.FUSION_METRICS)
    assert data["training"]["densefuse"]["train_s"] > 0
    assert data["training"]["densefuse"]["steps"] >= 1
    for ranks in data["ranks"].values():
        assert all(1 <= r <= 3 for r in ranks["per_metric"].values())  # 2 published + itself
    versus = data["against_published"]["densefuse"]
    assert versus["published"] == "DenseFuse" and 0 <= versus["within"] <= 9
    en = data["means"]["densefuse"]["EN"], data["means"]["DenseFuse (published)"]["EN"]
    assert versus["relative"]["EN"] == pytest.approx((en[0] - en[1]) / en[1])
    md = (out / "baselines_fusion.md").read_text()
    assert "| densefuse |" in md and "DenseFuse (published)" in md
    # --reuse keeps the trained weights and their recorded time
    assert bench.main(["fusion", "--methods", "densefuse", *TINY, "--roadscene-src", str(src),
                       "--roadscene", str(tmp_path / "canon"), "--tang", str(tang),
                       "--project", str(tmp_path / "p"), "--out-dir", str(out),
                       "--release", str(tmp_path / "none.pt"), "--threads", "1",
                       "--reuse"]) == 0
    again = json.loads((out / "baselines_fusion.json").read_text())
    assert again["training"] == data["training"]
    assert again["means"]["densefuse"] == data["means"]["densefuse"]
    # --methods none: nothing trained, the classical and published rows only
    assert bench.main(["fusion", "--methods", "none", "--roadscene-src", str(src),
                       "--roadscene", str(tmp_path / "canon"), "--tang", str(tang),
                       "--project", str(tmp_path / "p2"), "--out-dir", str(tmp_path / "o2"),
                       "--release", str(tmp_path / "none.pt"), "--threads", "1"]) == 0
    bare = json.loads((tmp_path / "o2" / "baselines_fusion.json").read_text())
    assert bare["training"] == {} and set(bare["means"]) == set(data["means"]) - {"densefuse"}
    assert bare["means"]["laplacian"] == data["means"]["laplacian"]


def test_multifocus_part_end_to_end(bench, tmp_path: Path) -> None:
    src = _pairs(tmp_path / "roadscene", 10)
    lytro = tmp_path / "lytro"
    lytro.mkdir()
    for i in range(2):
        sharp = torch.from_numpy(_texture((40, 48, 3), 200 + i)).permute(2, 0, 1)[None]
        soft = gaussian_blur(sharp, 2.0)
        a, b = sharp.clone(), sharp.clone()
        a[..., :24], b[..., 24:] = soft[..., :24], soft[..., 24:]
        write_image(lytro / f"lytro_{i:02d}_A.png", a[0].permute(1, 2, 0).numpy())
        write_image(lytro / f"lytro_{i:02d}_B.png", b[0].permute(1, 2, 0).numpy())
    out = tmp_path / "out"
    assert bench.main(["multifocus", "--methods", "mffgan", *TINY, "--roadscene-src", str(src),
                       "--roadscene", str(tmp_path / "canon"), "--lytro", str(lytro),
                       "--project", str(tmp_path / "p"), "--out-dir", str(out),
                       "--threads", "1"]) == 0
    data = json.loads((out / "baselines_multifocus.json").read_text())
    assert data["pairs"] == 2
    assert set(data["means"]) == {"mffgan", "mean", "max", "laplacian"}
    m = data["means"]
    # the decision map keeps the sharp halves: more detail than the blurred-by-half mean
    assert m["mffgan"]["AG"] > m["mean"]["AG"] and m["mffgan"]["SF"] > m["mean"]["SF"]
    fused = sorted((tmp_path / "p" / "fused-lytro" / "mffgan").iterdir())
    assert [f.name for f in fused] == ["lytro_00.png", "lytro_01.png"]
