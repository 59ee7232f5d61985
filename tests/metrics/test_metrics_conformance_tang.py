"""Conformance with Tang's MATLAB suite: its own values for 4 TNO pairs x 9 published methods.

Oracle: ../shared/data/tang-conformance/metrics/NN.json (EN, MI, VIF, AG, CC, SCD, Qabf, PSNR,
MSE as the suite computed them). Tolerances are the spec's; the achieved agreement (about 1e-9
relative or better) is recorded in docs/metrics.md.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from tardal.metrics import evaluate
from tardal.metrics.folders import read_image

IMAGES = ("01", "02", "03", "04")
METHODS = (
    "DenseFuse", "FusionGAN", "IFCNN", "PIAFusion", "PMGI", "RFN-Nest", "SDNet", "SeAFusion", "U2Fusion",
)
TOLERANCE = {
    "EN": 1e-3, "MI": 1e-3, "CC": 1e-3, "SCD": 1e-3, "AG": 1e-3, "PSNR": 1e-3, "MSE": 1e-3,
    "Qabf": 1e-2, "VIF": 1e-2,
}


@functools.lru_cache(maxsize=None)
def _ours(root: Path, image: str, method: str) -> dict[str, float]:
    fused = read_image(root / "fused" / method / f"{image}.png")
    ir = read_image(root / "ir" / f"{image}.png")
    vis = read_image(root / "vi" / f"{image}.png")
    return evaluate(fused, ir, vis, metrics=list(TOLERANCE))


@functools.lru_cache(maxsize=None)
def _oracle(root: Path, image: str) -> dict[str, dict[str, float]]:
    return json.loads((root / "metrics" / f"{image}.json").read_text())


@pytest.fixture(scope="module")
def tang_root(shared_data: Path) -> Path:
    root = shared_data / "tang-conformance"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    return root


@pytest.mark.parametrize("metric", list(TOLERANCE))
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("image", IMAGES)
def test_matches_tang_suite(tang_root: Path, image: str, method: str, metric: str) -> None:
    expected = _oracle(tang_root, image)[method][metric]
    got = _ours(tang_root, image, method)[metric]
    assert got == pytest.approx(expected, rel=TOLERANCE[metric]), f"{metric} of {method}/{image}"


def test_oracle_covers_the_parametrised_cases(tang_root: Path) -> None:
    """The hard-coded parameter lists match the oracle files (nothing silently untested)."""
    assert sorted(p.stem for p in (tang_root / "metrics").glob("*.json")) == list(IMAGES)
    for image in IMAGES:
        oracle = _oracle(tang_root, image)
        assert sorted(oracle) == sorted(METHODS)
        for method in METHODS:
            assert sorted(oracle[method]) == sorted(TOLERANCE)
