"""tools/bench_fuse.py runs and reports every path with its difference from eager."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

TOOL = Path(__file__).parents[2] / "tools" / "bench_fuse.py"


def test_bench_tool_tiny(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_fuse", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "fuse.json"
    assert module.main(["--sizes", "40x24", "--dim", "4", "--repeats", "2", "--threads", "1",
                        "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    entry = report["sizes"]["40x24"]
    assert {"public", "tardal fuse", "eager", "inference_mode", "folded",
            "folded+channels_last"} <= set(entry["variants"])
    for name, v in entry["variants"].items():
        assert v["images_per_s"] > 0
        if name != "public":  # the public layout pads with zeros: its border differs
            assert v["max_abs_diff_vs_eager"] < 1e-5, name
    assert entry["variants"]["public"]["max_abs_diff_vs_eager"] > 1e-4
    assert entry["speedup_tardal_fuse_vs_public"] > 0
    assert entry["fastest"] in entry["variants"] and entry["speedup_fastest_vs_eager"] > 0
