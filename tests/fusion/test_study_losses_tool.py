"""tools/study_losses.py: published outputs in both layouts, and a tiny study ranked against
them end to end (one training epoch on generated pairs)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tardal.io import read_ir, write_image

TOOLS = Path(__file__).parents[2] / "tools"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("study_losses", TOOLS / "study_losses.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Tiny tensors: one thread (tests/conftest.py)."""


def _img(path: Path, seed: int, size: int = 40, level: float | None = None) -> None:
    rng = np.random.default_rng(seed)
    img = rng.random((size, size)) if level is None else np.full((size, size), level)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, img.astype(np.float32))


TINY = ["train.epochs=1", "data.img_size=32", "data.batch_size=4", "train.preview=0",
        "train.device=cpu", "data.augment.patch=0",  # one epoch on tiny crops
        "fusion.detail=0"]  # G's own map: the split's picked noise would outdo any method's AG


def _training_pairs(src: Path) -> Path:
    """Ten generated pairs in the RoadScene layout (ir/, vi/)."""
    for i in range(10):
        _img(src / "ir" / f"{i:02d}.png", i)
        _img(src / "vi" / f"{i:02d}.png", 100 + i)
    return src


def test_published_folders_both_layouts(study, tmp_path: Path) -> None:
    nested, flat = tmp_path / "nested", tmp_path / "flat"
    for stem in ("a", "b"):
        _img(nested / "M1" / f"{stem}.png", 0)
        _img(flat / f"{stem}_M2.jpg", 1)
        _img(flat / f"{stem}_M_3.jpg", 2)  # the method name may hold "_"
        _img(flat / f"x_{stem}_M2.jpg", 3)  # a stem may hold "_" too
    _img(nested / "M4" / "a.png", 3)  # b missing: left out
    got = study.published_folders(nested, {"a", "b"}, tmp_path / "dest")
    assert got == {"M1": nested / "M1"}
    got = study.published_folders(flat, {"a", "b"}, tmp_path / "dest")
    assert sorted(got) == ["M2", "M_3"]  # x_a_M2 belongs to no pair here
    both = study.published_folders(flat, {"a", "b", "x_a", "x_b"}, tmp_path / "d5")
    assert sorted(both) == ["M2"]  # M_3 lacks x_a and x_b
    assert (both["M2"] / "x_a.jpg").resolve() == (flat / "x_a_M2.jpg").resolve()
    assert sorted(p.name for p in got["M_3"].iterdir()) == ["a.jpg", "b.jpg"]
    assert (got["M2"] / "b.jpg").resolve() == (flat / "b_M2.jpg").resolve()
    assert list(study.published_folders(flat, {"a", "b"}, tmp_path / "d2", ["M2"])) == ["M2"]
    with pytest.raises(SystemExit, match="M9"):
        study.published_folders(flat, {"a", "b"}, tmp_path / "d3", ["M9"])
    with pytest.raises(SystemExit, match="no method"):
        study.published_folders(nested, {"a", "c"}, tmp_path / "d4")


def test_study_ranks_against_published(study, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultra"))
    src = _training_pairs(tmp_path / "roadscene")
    ev = tmp_path / "eval"
    for i in range(2):
        _img(ev / "ir" / f"s{i}.png", 200 + i)
        _img(ev / "vi" / f"s{i}.png", 300 + i)
        _img(ev / "fused" / f"s{i}_flat.png", 0, level=0.5)  # a flat grey image: worst on AG
        _img(ev / "fused" / f"s{i}_noise.png", 400 + i)  # noise: best on AG
    out = tmp_path / "out"
    argv = ["--src", str(src), "--data", str(tmp_path / "data"), "--project",
            str(tmp_path / "proj"), "--out", str(out), "--threads", "1",
            "--variants", "v=", "--eval", str(ev), "--published", str(ev / "fused"),
            *TINY]
    assert study.main(argv) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["published"] == ["flat", "noise"]
    vs = report["ranks_vs_published"]["v"]["per_metric"]
    ag = {m: report["means"][m]["AG"] for m in ("v", "flat (published)", "noise (published)")}
    # G's image has edges (above the flat one) but not the sharpness of pure noise
    assert ag["flat (published)"] < ag["v"] < ag["noise (published)"], ag
    assert vs["AG"] == 2 and report["ranks"]["v"]["per_metric"]["AG"] == 1
    assert "vs published" in out.with_suffix(".md").read_text()
    with pytest.raises(SystemExit, match="--eval"):
        study.main(argv[:argv.index("--eval")] + ["--published", str(ev / "fused")])


def test_seeds_parse_and_expand(study) -> None:
    assert study.parse_seeds("0, 2,5") == [0, 2, 5]
    assert study.parse_seeds("") == []
    with pytest.raises(SystemExit, match="integers"):
        study.parse_seeds("0,x")
    with pytest.raises(SystemExit, match="twice"):
        study.parse_seeds("1,1")
    rows, of = study.expand_seeds({"a": [], "b": ["loss.pixel=1"]}, [3, 4])
    assert rows == {"a-s3": ["train.seed=3"], "a-s4": ["train.seed=4"],
                    "b-s3": ["loss.pixel=1", "train.seed=3"],
                    "b-s4": ["loss.pixel=1", "train.seed=4"]}
    assert of == {"a-s3": "a", "a-s4": "a", "b-s3": "b", "b-s4": "b"}
    assert study.expand_seeds({"a": ["x=1"]}, []) == ({"a": ["x=1"]}, {"a": "a"})
    with pytest.raises(SystemExit, match="'c' sets train.seed"):
        study.expand_seeds({"c": ["train.seed=7"]}, [0])
    got = study.over_seeds({"a-s3": 2.0, "a-s4": 5.0, "b-s3": 3.0, "b-s4": 3.5}, of)
    assert got["a"] == {"runs": 2, "mean": 3.5, "min": 2.0, "max": 5.0}
    assert got["b"]["mean"] == pytest.approx(3.25)


def test_study_over_seeds_end_to_end(study, tmp_path: Path, monkeypatch) -> None:
    """Each seed is its own run with its own seed, and the summary is the rows' average."""
    import torch

    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultra"))
    src = _training_pairs(tmp_path / "roadscene")
    out, proj = tmp_path / "out", tmp_path / "proj"
    argv = ["--src", str(src), "--data", str(tmp_path / "data"), "--project", str(proj),
            "--out", str(out), "--threads", "1", "--variants", "v=", "--seeds", "0,1",
            "--anchors", "mean", *TINY]
    assert study.main(argv) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert sorted(report["ranks"]) == ["mean", "v-s0", "v-s1"]
    saved = {s: torch.load(proj / f"v-s{s}" / "weights" / "best.pt", weights_only=True)
             for s in (0, 1)}
    assert [saved[s]["config"]["train"]["seed"] for s in (0, 1)] == [0, 1]
    fused = [read_ir(next((proj / "fused" / f"v-s{s}").iterdir())) for s in (0, 1)]
    assert np.abs(fused[0] - fused[1]).max() > 1e-3  # the seeds gave different networks
    rows = [report["ranks"][f"v-s{s}"]["mean"] for s in (0, 1)]
    summary = report["over_seeds"]["v"]
    assert summary["runs"] == 2 and summary["mean"] == pytest.approx(sum(rows) / 2)
    assert (summary["min"], summary["max"]) == (min(rows), max(rows))
    assert "mean" not in report["over_seeds"]  # anchors are not averaged
    assert "Over seeds 0, 1" in out.with_suffix(".md").read_text()
