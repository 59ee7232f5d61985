"""`tardal train`: config printing, a run from the command line, resume, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tardal.cli import main

CONFIG = str(Path(__file__).parents[2] / "configs" / "synth-dt.yaml")
TINY = ["data.synth.num=12", "data.synth.width=64", "data.synth.height=64", "data.img_size=64",
        "data.batch_size=8", "fusion.dim=4", "fusion.depth=2", "disc.dim=4", "train.epochs=2",
        "train.device=cpu", "train.preview=1"]


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Tiny tensors: one thread (tests/conftest.py)."""


@pytest.mark.parametrize("name", ["synth-dt", "tno-dt", "m3fd-dt"])
def test_shipped_dt_configs_resolve(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).parents[2] / "configs" / f"{name}.yaml"
    assert main(["train", str(path), "--print-config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["train"]["mode"] == "dt"


def test_print_config_applies_overrides_and_exits(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["train", CONFIG, "train.epochs=7", "fusion.dim=8", f"project={tmp_path}",
               "--print-config"])
    assert rc == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["train"]["epochs"] == 7 and cfg["fusion"]["dim"] == 8
    assert cfg["train"]["mode"] == "dt" and cfg["mask"]["provider"] == "auto"
    assert not any(tmp_path.iterdir())  # nothing was trained


def test_train_generates_data_then_resumes(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    args = ["train", CONFIG, *TINY, f"data.root={data}", f"project={tmp_path / 'runs'}",
            "name=cli", "--no-progress"]
    assert main([*args, "--max-epochs", "1"]) == 0
    assert (data / "data.yaml").is_file()  # data.generate made the synthetic set
    run = tmp_path / "runs" / "cli"
    assert len((run / "results.csv").read_text().splitlines()) == 2  # header + epoch 1
    assert main(["train", "--resume", str(run / "weights" / "last.pt"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"{run}: 2 epochs" in out
    assert len((run / "results.csv").read_text().splitlines()) == 3
    # a second run with the same name gets its own folder
    assert main([*args, "train.epochs=1"]) == 0
    assert (tmp_path / "runs" / "cli2" / "weights" / "best.pt").is_file()


def test_errors_exit_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train"]) == 2
    assert "needs a CONFIG" in capsys.readouterr().err
    assert main(["train", CONFIG, "train.epoch=3", "--print-config"]) == 2
    assert "Did you mean 'train.epochs'" in capsys.readouterr().err
    assert main(["train", CONFIG, "--resume", str(tmp_path)]) == 2
    assert "pass overrides only" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "last.pt does not exist" in capsys.readouterr().err
    assert main(["train", CONFIG, f"data.root={tmp_path / 'none'}", "data.generate=false"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_skip_bad_flag_sets_the_config_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", CONFIG, "--skip-bad", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["data"]["skip_bad"] is True
    assert main(["train", CONFIG, "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["data"]["skip_bad"] is False


@pytest.mark.parametrize("args, message", [
    (["data.batch_size=0"], "config key 'data.batch_size': expected an integer >= 1, found 0"),
    (["train.epochs=0"], "config key 'train.epochs': expected an integer >= 1, found 0"),
    (["fusion.name=tardl"], "unknown fusion method 'tardl'. Did you mean 'tardal'?"),
    (["fusion.weights=missing.pt"], "config key 'fusion.weights': file missing.pt does not exist"),
    (["--max-epochs", "0"], "--max-epochs must be at least 1, found 0"),
])
def test_bad_values_fail_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         args: list[str], message: str) -> None:
    data = tmp_path / "data"
    assert main(["train", CONFIG, f"data.root={data}", f"project={tmp_path / 'runs'}",
                 *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tardal train: error: {message}") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # no data generated, no run folder


def test_verbose_after_the_subcommand_adds_the_traceback(capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    assert main(["train", CONFIG, "train.lr_g=-1", "-v"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith(
        "tardal train: error: config key 'train.lr_g': expected a number > 0, found -1.0\n")
    assert main(["train", CONFIG, "train.lr_g=-1"]) == 2
    assert "Traceback" not in capsys.readouterr().err
