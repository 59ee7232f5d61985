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
