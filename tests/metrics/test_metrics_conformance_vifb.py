"""Conformance of the ``vifb`` convention with VIFB's MATLAB values (3 scenes x 25 methods).

Oracle: ../shared/data/vifb-conformance/metrics/SCENE.json, keys ``METHOD_Metric``, printed to
5 significant digits (so agreement can be at best about 5e-5 relative). All 13 VIFB metrics are
compared.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from tardal.metrics import evaluate
from tardal.metrics.folders import read_image
from tardal.metrics.vifb import VIFB_METRICS

SCENES = ("walking", "fight", "carLight")  # smallest first
METHODS = (
    "ADF", "CBF", "CNN", "DLF", "FPDE", "GFCE", "GFF", "GTF", "HMSD_GF", "Hybrid_MSD", "IFCNN",
    "IFEVIP", "LP_SR", "LatLRR", "MGFF", "MSVD", "NSCT_SR", "RP_SR", "ResNet", "SeAFusion",
    "SwinFusion", "TIF", "U2Fusion", "VSMWLS", "YDTR",
)
# Relative tolerance: the oracle's 5 printed significant digits (worst case 5e-5), doubled.
TOLERANCE = 1e-4

# SwinFusion and YDTR: the shared fused JPEGs are not the files VIFB scored (VIFB's values for
# them predate or postdate a re-encoding; even SD, the standard deviation of F alone with no
# convention to get wrong, is off by 2.4e-4). They are still checked, strictly, against a
# per-metric relative tolerance: 1.5 x the largest deviation measured for that metric over
# the 3 scenes x 2 methods (rounded up, floor 1e-4), so a regression in any metric fails.
REENCODED = ("SwinFusion", "YDTR")
REENCODED_TOLERANCE = {
    "EN": 8.6e-4,  # max observed 5.71e-4 (carLight YDTR)
    "SD": 3.7e-4,  # 2.44e-4
    "SF": 2.4e-3,  # 1.55e-3
    "AG": 1.4e-3,  # 8.98e-4
    "MI": 4.0e-3,  # 2.65e-3
    "PSNR": 1.0e-4,  # 3.83e-5 (floor)
    "RMSE": 6.6e-4,  # 4.38e-4
    "SSIM": 4.0e-4,  # 2.61e-4
    "Qabf": 1.7e-3,  # 1.09e-3
    "CE": 1.1e-2,  # 6.85e-3
    "EI": 1.3e-3,  # 8.05e-4
    "Qcb": 9.2e-3,  # 6.12e-3
    "Qcv": 5.5e-3,  # 3.61e-3
}


@functools.lru_cache(maxsize=None)
def _ours(root: Path, scene: str, method: str) -> dict[str, float]:
    fused = read_image(root / "fused" / f"{scene}_{method}.jpg")
    ir = read_image(root / "ir" / f"{scene}.jpg")
    vis = read_image(root / "vi" / f"{scene}.jpg")
    return evaluate(fused, ir, vis, convention="vifb")


@functools.lru_cache(maxsize=None)
def _oracle(root: Path, scene: str) -> dict[str, float]:
    return json.loads((root / "metrics" / f"{scene}.json").read_text())


@pytest.fixture(scope="module")
def vifb_root(shared_data: Path) -> Path:
    root = shared_data / "vifb-conformance"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    return root


def _cases():
    for scene in SCENES:
        for method in METHODS:
            marks = [pytest.mark.slow] if scene != "walking" else []
            yield pytest.param(scene, method, marks=marks, id=f"{scene}-{method}")


@pytest.mark.parametrize("metric", list(VIFB_METRICS))
@pytest.mark.parametrize(("scene", "method"), list(_cases()))
def test_matches_vifb(vifb_root: Path, scene: str, method: str, metric: str) -> None:
    expected = _oracle(vifb_root, scene)[f"{method}_{VIFB_METRICS[metric][1]}"]
    got = _ours(vifb_root, scene, method)[metric]
    tol = REENCODED_TOLERANCE[metric] if method in REENCODED else TOLERANCE
    assert got == pytest.approx(expected, rel=tol), f"{metric} of {scene}_{method}"


def test_reencoded_tolerances_cover_every_metric() -> None:
    assert set(REENCODED_TOLERANCE) == set(VIFB_METRICS)
    assert all(1e-4 <= t < 2e-2 for t in REENCODED_TOLERANCE.values())


def test_oracle_covers_the_parametrised_cases(vifb_root: Path) -> None:
    fused = sorted(p.stem for p in (vifb_root / "fused").glob("*.jpg"))
    assert fused == sorted(f"{s}_{m}" for s in SCENES for m in METHODS)
    for scene in SCENES:
        oracle = _oracle(vifb_root, scene)
        for method in METHODS:
            for _, vifb_name in VIFB_METRICS.values():
                assert f"{method}_{vifb_name}" in oracle
