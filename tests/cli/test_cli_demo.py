"""`tardal demo --quick` end to end, and the demo's settings against the shipped CPU config."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from tardal.cli import main

REPO = Path(__file__).parents[2]


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Tiny tensors: one thread (tests/conftest.py)."""


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    # two runs at a time in worker processes (the default on two or more cores)
    assert main(["demo", "--quick", "--out", str(out), "--panels", "3", "--no-progress",
                 "--jobs", "2"]) == 0
    printed = capsys.readouterr().out
    for run in ("ct", "ir", "vis"):
        assert f"| {run} " in printed
        folder = out / "train" / run
        for name in ("results.csv", "results.png", "config.yaml", "weights/best.pt"):
            assert (folder / name).is_file(), (run, name)
    table = (out / "comparison.md").read_text()
    assert "AP50" in table and "| ct " in table and "| vis " in table
    data = json.loads((out / "comparison.json").read_text())
    assert set(data["results"]) == {"ct", "ir", "vis"} and data["split"] == "test"
    for r in data["results"].values():
        assert 0.0 <= r["AP50"] <= 1.0 and r["images"] == 3  # 20 scenes: 3 in test
    assert data["seconds"]["total"] > 0
    panels = sorted((out / "panels").glob("*.png"))
    assert len(panels) == 3
    conditions = {p.stem.split("_", 1)[1] for p in panels}
    assert conditions <= {"day", "night", "fog", "crossover"}
    img = cv2.imread(str(panels[0]))
    assert img.shape[0] == 64 + 18  # the scene's own height plus the title bar
    assert img.shape[1] == 4 * 64 + 3 * 4  # infrared | visible | fused | ground truth
    # the data set is reused by a second demo in the same folder
    assert (out / "data" / "data.yaml").is_file()
    report = (out / "report.html").read_text()
    assert "<h2>Comparison</h2>" in report and "<h3>vis</h3>" in report
    # PR curves, three training curves, three panels
    assert report.count('src="data:image/png;base64,') == 1 + 3 + 3
    assert "http" not in report


@pytest.mark.slow
def test_demo_on_a_given_data_set_with_chosen_modes(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from tardal.config import DataConfig, SynthConfig
    from tardal.engine.data import ensure_dataset

    data = tmp_path / "set"
    ensure_dataset(DataConfig(root=str(data), synth=SynthConfig(num=12, width=64, height=64,
                                                                seed=1)))
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--data", str(data), "--modes", "frontend,early,ir", "--out",
                 str(out), "--panels", "2", "--no-progress", "--jobs", "1", "--precision",
                 "bf16"]) == 0
    assert not (out / "data").exists()  # nothing generated: the given set is used
    data_ = json.loads((out / "comparison.json").read_text())
    assert data_["cpu_amp"] is True  # --precision bf16 reached the runs
    assert "cpu_amp: true" in (out / "train" / "early" / "config.yaml").read_text()
    assert set(data_["results"]) == {"frontend", "early", "ir"} and data_["data"] == str(data)
    assert all(r["images"] == 2 for r in data_["results"].values())  # 12 scenes: 2 in test
    header = (out / "comparison.md").read_text().splitlines()[0]
    assert str(data) in header and "frontend = the detector on the fixed 'mean' fusion" in header
    panels = sorted((out / "panels").glob("*.png"))
    assert len(panels) == 2
    img = cv2.imread(str(panels[0]))
    # infrared (ir boxes) | visible | fused (frontend) | visible (early) | truth
    assert img.shape[1] == 5 * 64 + 4 * 4
    report = (out / "report.html").read_text()
    assert "<h3>frontend</h3>" in report and "<h3>early</h3>" in report
    assert report.count('src="data:image/png;base64,') == 1 + 3 + 2


def test_demo_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--epochs", "0"]) == 2
    assert "--epochs must be at least 1" in capsys.readouterr().err
    assert main(["demo", "--jobs", "-1"]) == 2
    assert "--jobs must be at least 0" in capsys.readouterr().err
    assert main(["demo", "--modes", "ct,irr", "--out", str(tmp_path / "o")]) == 2
    assert "unknown mode 'irr' (did you mean ir" in capsys.readouterr().err
    assert main(["demo", "--modes", "ct,ct", "--out", str(tmp_path / "o")]) == 2
    assert "each mode once" in capsys.readouterr().err
    assert main(["demo", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no data.yaml in it" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "o"), "project=elsewhere"]) == 2
    assert "the demo sets project for each run (use --out)" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "o"), "data.img_sise=192"]) == 2
    assert "img_sise" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "o"), "data.img_size=-1"]) == 2
    assert "img_size" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_demo_overrides_reach_every_run_after_the_shipped_settings() -> None:
    from tardal.demo import demo_config

    for mode in ("ct", "ir"):
        cfg = demo_config(Path("runs/demo"), mode, epochs=3,
                          overrides=("data.img_size=192", "train.epochs=7", "loss.beta=1.5"))
        assert cfg.data.img_size == 192 and cfg.loss.beta == 1.5
        assert cfg.train.epochs == 7  # the override comes after --epochs
        assert cfg.train.mode == mode and cfg.name == mode


def test_demo_settings_are_the_shipped_cpu_config() -> None:
    """The demo trains with configs/synth-ct.yaml's settings (only paths, names, epochs and the
    mode differ), so `make demo` shows what the benchmark measures."""
    from tardal.config import load_config, to_dict
    from tardal.demo import demo_config

    shipped = to_dict(load_config(REPO / "configs" / "synth-ct.yaml"))
    demo = to_dict(demo_config(Path("runs/demo"), "ct"))
    for section in ("data", "fusion", "disc", "loss", "mask", "detector", "train"):
        for key, value in shipped[section].items():
            if (section, key) in {("data", "root"), ("train", "epochs"), ("train", "device"),
                                  ("train", "preview")}:
                continue
            assert demo[section][key] == value, f"{section}.{key}"
    assert demo["data"]["synth"] == shipped["data"]["synth"]
    assert demo["train"]["mode"] == "ct" and demo["train"]["epochs"] == shipped["train"]["epochs"]


def test_demo_precision_sets_the_autocast_options() -> None:
    from tardal.config import load_config
    from tardal.demo import demo_config
    from tardal.errors import ConfigError

    shipped = load_config(REPO / "configs" / "synth-ct.yaml").train
    for precision, amp, cpu_amp in (("config", shipped.amp, shipped.cpu_amp),
                                    ("fp32", False, False), ("bf16", True, True)):
        train = demo_config(Path("runs/demo"), "ir", precision=precision).train
        assert (train.amp, train.cpu_amp) == (amp, cpu_amp), precision
    assert shipped.cpu_amp is False  # fp32 on the CPU: the same numbers on every CPU
    with pytest.raises(ConfigError, match="--precision"):
        demo_config(Path("runs/demo"), "ct", precision="fp16")
