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
