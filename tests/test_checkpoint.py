from __future__ import annotations

import pytest
import torch

from tardal import __version__
from tardal.checkpoint import load_checkpoint, load_state, save_checkpoint
from tardal.errors import CheckpointError


def test_round_trip_and_version(tmp_path):
    net = torch.nn.Linear(3, 2)
    path = save_checkpoint(tmp_path / "w" / "last.pt", {"model": net.state_dict(), "config": {"a": 1}})
    state = load_checkpoint(path)
    assert state["version"] == __version__ and state["config"] == {"a": 1}
    other = torch.nn.Linear(3, 2)
    load_state(other, state["model"], str(path))
    assert torch.equal(other.weight, net.weight)
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary left behind


def test_bad_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pt is corrupt"):
        load_checkpoint(junk)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match=r"plain.pt is not a tardal checkpoint"):
        load_checkpoint(plain)
    path = save_checkpoint(tmp_path / "ok.pt", {"model": torch.nn.Linear(3, 2).state_dict(), "config": {}})
    with pytest.raises(CheckpointError, match="ok.pt does not match the model"):
        load_state(torch.nn.Linear(4, 2), load_checkpoint(path)["model"], str(path))


class _Custom:
    """A class a checkpoint must not be able to smuggle in."""


@pytest.mark.parametrize("payload, first", [
    (_Custom(), "tests.test_checkpoint._Custom"),
    (__import__("numpy").zeros(3), "numpy"),
])
def test_pickled_objects_are_refused_with_our_message(tmp_path, payload, first):
    path = tmp_path / "pickled.pt"
    torch.save({"config": {}, "version": "0", "extra": payload}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert msg.startswith(f"checkpoint {path} contains pickled Python objects (the first is {first}")
    assert "can run arbitrary code" in msg and "Re-save" in msg and "detector.weights" in msg
    assert "weights_only" not in msg  # never PyTorch's hint to turn the protection off


def test_damaged_pickle_is_corrupt_not_refused(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(junk)
    assert "is corrupt or not a tardal checkpoint" in str(info.value)
    assert "weights_only" not in str(info.value)
    truncated = tmp_path / "cut.pt"
    good = save_checkpoint(tmp_path / "good.pt", {"config": {}, "w": torch.zeros(1000)})
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="cut.pt is corrupt"):
        load_checkpoint(truncated)


def test_save_without_config_is_a_bug_not_a_user_error(tmp_path):
    with pytest.raises(AssertionError, match="must carry its config"):
        save_checkpoint(tmp_path / "x.pt", {"model": {}})


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import errno
    import os

    from tardal import io as tio

    path = save_checkpoint(tmp_path / "weights" / "last.pt", {"config": {"epoch": 1},
                                                              "w": torch.ones(4)})
    before = path.read_bytes()

    def enospc(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tio.os, "replace", enospc)
    with pytest.raises(CheckpointError, match=f"cannot write {path}: No space left on device"):
        save_checkpoint(path, {"config": {"epoch": 2}, "w": torch.full((4,), 2.0)})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path)["config"] == {"epoch": 1}
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def _save_forever(path: str, first_step: int, report_fd: int) -> None:
    """Child process: save ever newer checkpoints of 4 MB to ``path``, reporting each step."""
    import os

    import numpy as np

    step = first_step
    while True:
        w = torch.from_numpy(np.full(1 << 20, step, np.float32))  # no thread pool in the child
        save_checkpoint(path, {"config": {}, "step": step, "w": w})
        os.write(report_fd, f"{step}\n".encode())
        step += 1


@pytest.mark.slow
def test_sigkill_during_saves_leaves_the_old_or_the_new_checkpoint(tmp_path):
    import multiprocessing
    import os
    import random
    import time

    ctx = multiprocessing.get_context("fork")  # the child inherits the imported torch
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"config": {}, "step": 0, "w": torch.zeros(1 << 20)})
    rng = random.Random(1234)
    step = 1
    for _ in range(10):
        read_fd, write_fd = os.pipe()
        child = ctx.Process(target=_save_forever, args=(str(path), step, write_fd), daemon=True)
        child.start()
        os.close(write_fd)
        with os.fdopen(read_fd, "rb", buffering=0) as reports:
            first = reports.read(1)  # blocks until the first save is done
            assert first, "the saving process died"
            time.sleep(rng.uniform(0.0, 0.4))
            child.kill()  # SIGKILL
            child.join()
            done = [int(s) for s in (first + reports.read()).decode().split()]
        last = max(done)
        state = load_checkpoint(path)  # whole: loads, and its tensor matches its step
        assert state["step"] in (last, last + 1)
        assert bool((state["w"] == float(state["step"])).all()) and state["w"].numel() == 1 << 20
        step = state["step"] + 1
    assert step > 10  # every round saved at least once
    # A kill inside a write leaves its hidden temporary (.last.pt.<random>.tmp) beside the
    # checkpoint (here: most rounds); it never replaces last.pt.
    assert {p.name for p in tmp_path.iterdir() if not p.name.endswith(".tmp")} == {"last.pt"}
