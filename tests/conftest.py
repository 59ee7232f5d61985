"""Shared test fixtures.

Real data sets live in ``../shared/data`` beside the checkout (present in CI). Tests that need
them take the ``shared_data`` fixture, which skips with a clear reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TARDAL_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_configure(config: pytest.Config) -> None:
    # Keep Ultralytics offline and its settings file out of the user's home during tests.
    os.environ["YOLO_OFFLINE"] = "1"
    settings = REPO / ".pytest_cache" / "ultralytics"
    settings.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(settings)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; skips the test when it is not beside the checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATA} (a fresh clone has no ../shared)")
    return SHARED_DATA


@pytest.fixture
def one_thread() -> None:
    """Tiny tensors: one thread is faster and keeps timings steady on shared machines."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def synth64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 synthetic 64x64 scenes (8 train, 2 val, 2 test), generated through the loop's helper."""
    from tardal.config import DataConfig, SynthConfig
    from tardal.engine.data import ensure_dataset

    root = tmp_path_factory.mktemp("synth") / "data"
    cfg = DataConfig(root=str(root), synth=SynthConfig(num=12, width=64, height=64, seed=0))
    assert ensure_dataset(cfg) == root
    return root
