"""``train.keep_memory``: glibc keeps freed memory for reuse, so a step's large tensors stop
page-faulting in again (tardal/engine/device.py)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Five times: a 64 MB tensor allocated, written and freed; prints the fewest minor page faults
# of three such windows (after two warm-up rounds), and what keep_freed_memory() returned (or
# "off").
_SCRIPT = """
import resource, sys, torch
from tardal.engine.device import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else "off"
def cycle():
    t = torch.empty(16 * 1024 * 1024)
    t.fill_(1.0)
    del t
cycle()
cycle()
def window():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        cycle()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(kept, min(window() for _ in range(3)))
"""


def _faults(how: str) -> tuple[str, int]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _SCRIPT, how], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    return out[0], int(out[1])


def test_freed_memory_is_reused_instead_of_faulted_in_again() -> None:
    kept, faults = _faults("keep")
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        _, plain = _faults("plain")
        assert kept == "True"
        # 5 x 64 MB is 81,920 pages of 4 KB: glibc's default maps and unmaps each round; kept,
        # a round faults only when the heap's layout moved the block (seen: 0 to 3 rounds of 5
        # in one window; the fewest of three windows is taken)
        assert plain > 70_000, plain
        assert faults < 40_000, faults
    else:  # nothing to set elsewhere: the call says so and changes nothing
        assert kept == "False"


def test_keep_memory_is_a_train_option() -> None:
    from tardal.config import TrainConfig, load_config

    assert TrainConfig().keep_memory is False  # off unless a config asks for it
    assert load_config(REPO / "configs" / "synth-ct.yaml").train.keep_memory is True
    assert load_config(REPO / "configs" / "synth-ct.yaml",
                       ["train.keep_memory=false"]).train.keep_memory is False
