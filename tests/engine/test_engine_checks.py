"""What ``tardal train`` checks before any work: unusable pairs, the validation split, the
image size; and where a run folder cannot be made."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from tardal.config import Config
from tardal.engine import train
from tardal.errors import ConfigError, DataError

MakeCfg = Callable[..., Config]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def broken(synth64: Path, tmp_path: Path) -> tuple[Path, str]:
    """A copy of the tiny set whose first training label file has a six-field line 2."""
    root = tmp_path / "broken"
    shutil.copytree(synth64, root)
    stem = (root / "meta" / "train.txt").read_text().split()[0]
    label = root / "labels" / f"{stem}.txt"
    lines = label.read_text().splitlines() or ["0 0.5 0.5 0.2 0.2"]
    lines.insert(1, "0 0.5 0.5 0.2 0.2 0.9")
    label.write_text("\n".join(lines) + "\n")
    return root, stem


def test_a_bad_label_line_stops_training_before_work(make_cfg: MakeCfg, broken: tuple[Path, str]
                                                     ) -> None:
    root, stem = broken
    cfg = make_cfg(f"data.root={root}", "name=bad")
    with pytest.raises(DataError, match=rf"{stem}\.txt:2: .*6"):
        train(cfg, progress=False)
    assert not (Path(cfg.project) / "bad").exists()  # no run folder


def test_skip_bad_leaves_the_pair_out_and_records_it(make_cfg: MakeCfg, broken: tuple[Path, str]
                                                     ) -> None:
    root, stem = broken
    result = train(make_cfg(f"data.root={root}", "data.skip_bad=true", "train.epochs=1",
                            "name=skip"), progress=False)
    skipped = (result.run_dir / "skipped.tsv").read_text().splitlines()
    assert skipped[0] == "split\tstem\treason"
    assert len(skipped) == 2 and skipped[1].startswith(f"train\t{stem}\t") and ":2:" in skipped[1]
    assert result.state.step == 1  # 7 of the 8 training pairs: still one batch of 8


def test_an_empty_validation_split_is_refused(make_cfg: MakeCfg, synth64: Path, tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "noval"
    shutil.copytree(synth64, root)
    (root / "meta" / "val.txt").write_text("")
    with caplog.at_level(logging.WARNING):
        with pytest.raises(DataError,
                           match=r"validation split 'val' .* is empty.*data.val_split=train"):
            train(make_cfg(f"data.root={root}"), progress=False)
    # the error alone, without a warning about an unnamed empty split before it
    assert not [r for r in caplog.records if "is empty" in r.getMessage()]


def test_image_size_is_rounded_up_to_the_stride(make_cfg: MakeCfg,
                                                caplog: pytest.LogCaptureFixture) -> None:
    cfg = make_cfg("train.mode=ir", "data.img_size=40", "train.epochs=1", "name=round")
    with caplog.at_level(logging.WARNING, logger="tardal.engine.loop"):
        result = train(cfg, progress=False)
    assert cfg.data.img_size == 64
    assert "data.img_size=40 is not a multiple of the detector's stride 32; using 64" in caplog.text
    assert "img_size: 64" in (result.run_dir / "config.yaml").read_text()


def test_cli_refuses_the_bad_label_in_one_line(broken: tuple[Path, str], tmp_path: Path) -> None:
    root, stem = broken
    env = {"YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(tmp_path / "yolo"), "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "tardal", "train", str(REPO / "configs" / "synth-dt.yaml"),
         f"data.root={root}", f"project={tmp_path / 'runs'}", "data.img_size=64",
         "train.device=cpu"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tardal train: error: ")
    assert f"{stem}.txt:2:" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_run_folder_that_cannot_be_made(make_cfg: MakeCfg, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="project: cannot create the run folder"):
        train(make_cfg(f"project={blocker}", "train.epochs=1"), progress=False)


def test_masks_from_the_workers_equal_the_providers_on_real_pairs(shared_data: Path,
                                                                   tmp_path: Path) -> None:
    """The masks the data pipeline hands the step are the provider's masks of the very pixels
    the step trains on (augmented, letterboxed; none on the padding), on the shared LLVIP
    pairs: boxes masks, and lc masks for the same images without labels."""
    import torch

    from tardal.config import load_config
    from tardal.data.importers import import_llvip
    from tardal.engine.data import build_loaders
    from tardal.masks import build_mask_provider

    root = tmp_path / "llvip"
    import_llvip(shared_data / "llvip-mini", root)
    for provider in ("boxes", "lc"):
        cfg = load_config(None, [f"data.root={root}", "data.img_size=128", "data.batch_size=4",
                                 f"mask.provider={provider}", "train.mode=dt"])
        loaders = build_loaders(cfg, masks=True)
        loaders.set_epoch(1)  # an epoch with augmentation draws
        batch = next(iter(loaders.train))
        reference = build_mask_provider(cfg.mask, has_labels=True)(batch)
        assert batch["mask"].shape == batch["ir"].shape
        # the provider's mask of the trained pixels, none on the letterbox padding
        assert torch.equal(batch["mask"], reference * batch["valid"]), provider
        assert 0.0 < float(batch["mask"].mean()) < 0.5


def test_ram_cache_feeds_the_workers_the_same_batches(make_cfg: MakeCfg) -> None:
    import torch

    from tardal.engine.data import build_loaders

    with pytest.raises(ConfigError, match="data.cache"):
        make_cfg("data.cache=disk")
    batches = {}
    for cache in ("none", "ram"):
        loaders = build_loaders(make_cfg(f"data.cache={cache}", "data.workers=1"), masks=True)
        for loader in (loaders.train, loaders.val):
            images = loader.dataset.pairs.images
            assert (images is not None) == (cache == "ram")
            assert images is None or len(images) == len(loader.dataset)
        loaders.set_epoch(1)  # augmentation draws of the second epoch
        batches[cache] = next(iter(loaders.train))
    for key in ("ir", "vis", "mask", "valid"):
        assert torch.equal(batches["none"][key], batches["ram"][key]), key
