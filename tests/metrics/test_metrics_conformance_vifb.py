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

# For these two methods even SD (the standard deviation of F alone, with no convention to get
# wrong) is off by up to 2.4e-4: the shared JPEGs are not the files VIFB scored (its values
# for them predate or postdate a re-encoding). Every other method agrees to <= 5e-5.
_WHY = "shared fused JPEG is not the file VIFB scored (SD of F alone is off by up to 2.4e-4)"
REENCODED = {"SwinFusion": _WHY, "YDTR": _WHY}


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
            marks = []
            if method in REENCODED:
                marks.append(pytest.mark.xfail(reason=REENCODED[method], strict=False))
            if scene != "walking":
                marks.append(pytest.mark.slow)
            yield pytest.param(scene, method, marks=marks, id=f"{scene}-{method}")


@pytest.mark.parametrize("metric", list(VIFB_METRICS))
@pytest.mark.parametrize(("scene", "method"), list(_cases()))
def test_matches_vifb(vifb_root: Path, scene: str, method: str, metric: str) -> None:
    expected = _oracle(vifb_root, scene)[f"{method}_{VIFB_METRICS[metric][1]}"]
    got = _ours(vifb_root, scene, method)[metric]
    assert got == pytest.approx(expected, rel=TOLERANCE), f"{metric} of {scene}_{method}"


def test_oracle_covers_the_parametrised_cases(vifb_root: Path) -> None:
    fused = sorted(p.stem for p in (vifb_root / "fused").glob("*.jpg"))
    assert fused == sorted(f"{s}_{m}" for s in SCENES for m in METHODS)
    for scene in SCENES:
        oracle = _oracle(vifb_root, scene)
        for method in METHODS:
            for _, vifb_name in VIFB_METRICS.values():
                assert f"{method}_{vifb_name}" in oracle
