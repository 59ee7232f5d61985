"""tools/bench_loader.py times the training loader with and without data.cache and reports both."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

TOOL = Path(__file__).parents[2] / "tools" / "bench_loader.py"


def test_bench_loader_tiny(synth64: Path, tmp_path: Path, one_thread: None) -> None:
    spec = importlib.util.spec_from_file_location("bench_loader", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "loader.json"
    assert module.main(["--epochs", "1", "--repeat", "2", "--out", str(out),
                        f"data.root={synth64}", "data.img_size=64"]) == 0
    report = json.loads(out.read_text())
    assert report["train_pairs"] == 8 and report["mode"] == "ct" and report["img_size"] == 64
    none, ram = report["settings"]["none"], report["settings"]["ram"]
    assert none["cached_bytes"] == 0
    assert ram["cached_bytes"] == 8 * 64 * 64 * 4  # 8-bit infrared plane + RGB per pair
    for s in (none, ram):
        assert len(s["epoch_s"]) == 2 and s["pairs_per_s"] > 0
    assert ram["speedup"] > 0
