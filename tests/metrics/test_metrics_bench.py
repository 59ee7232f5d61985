"""tools/bench_metrics.py runs and writes the JSON it documents (tiny sizes, one repeat)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _load_tool(monkeypatch):
    # The tool pins numeric libraries to one thread through the environment when loaded;
    # register the variables so they are restored after the test.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")
    spec = importlib.util.spec_from_file_location("bench_metrics", REPO / "tools" / "bench_metrics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_writes_per_metric_medians(tmp_path: Path, capsys, monkeypatch) -> None:
    tool = _load_tool(monkeypatch)
    out = tmp_path / "bench.json"
    assert tool.main(["--sizes", "64x48,40x36", "--repeats", "1", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["convention"] == "tang" and doc["repeats"] == 1
    assert list(doc["results"]) == ["64x48", "40x36"]
    per = doc["results"]["64x48"]["per_metric_s"]
    assert list(per) == "EN SD SF AG MI CC SCD PSNR MSE SSIM Qabf Nabf VIF".split()
    assert all(v > 0 for v in per.values()) and doc["results"]["64x48"]["all_metrics_s"] > 0
    assert "| **all (one call)** |" in capsys.readouterr().out


def test_synthetic_triple_is_seeded_and_image_like(monkeypatch) -> None:
    tool = _load_tool(monkeypatch)
    f1, a1, b1 = tool.synthetic_triple(80, 60)
    f2, a2, b2 = tool.synthetic_triple(80, 60)
    assert (f1 == f2).all() and (a1 == a2).all() and (b1 == b2).all()
    assert f1.shape == (60, 80) and b1.shape == (60, 80, 3) and f1.dtype == b1.dtype
    assert a1.std() > 10 and b1.std() > 10  # not flat
