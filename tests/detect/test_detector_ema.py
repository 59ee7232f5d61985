"""Model EMA: Ultralytics' decay ramp, update arithmetic, state round trip."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

from tardal.detect import ModelEMA, ema_decay, ema_update_
from tardal.errors import CheckpointError


def _toy() -> nn.Module:
    m = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1))
    with torch.no_grad():
        m[0].weight.fill_(2.0)
    return m


def test_decay_ramp():
    assert ema_decay(0) == 0.0
    assert ema_decay(2000) == pytest.approx(0.9999 * (1 - math.exp(-1)))
    assert ema_decay(10**6) == pytest.approx(0.9999)
    assert ema_decay(10, decay=0.5, tau=10) == pytest.approx(0.5 * (1 - math.exp(-1)))


def test_update_arithmetic():
    model = _toy()
    ema = ModelEMA(model, decay=0.9, tau=1.0)
    assert not ema.ema.training and not any(p.requires_grad for p in ema.ema.parameters())
    with torch.no_grad():
        model[0].weight.fill_(4.0)
    model.train()
    model(torch.randn(8, 1))  # moves BatchNorm running stats and num_batches_tracked
    d1 = ema.update(model)
    assert d1 == pytest.approx(0.9 * (1 - math.exp(-1)))
    w1 = d1 * 2.0 + (1 - d1) * 4.0
    assert ema.ema[0].weight.item() == pytest.approx(w1)
    mean = model[1].running_mean.item()
    assert ema.ema[1].running_mean.item() == pytest.approx((1 - d1) * mean)  # EMA starts at 0
    assert ema.ema[1].num_batches_tracked.item() == 1  # integer buffers are copied
    with torch.no_grad():
        model[0].weight.fill_(0.0)
    d2 = ema.update(model)
    assert d2 == pytest.approx(0.9 * (1 - math.exp(-2)))
    assert ema.ema[0].weight.item() == pytest.approx(d2 * w1)
    assert ema.updates == 2
    assert model[0].weight.item() == 0.0  # the model itself is untouched


def test_functional_update_matches():
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)}
    ema_update_(a, {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(7)}, 0.25)
    assert torch.allclose(a["w"], torch.tensor([2.5, 5.0])) and a["n"].item() == 7


def test_state_round_trip_through_weights_only_load():
    model = _toy()
    ema = ModelEMA(model, tau=5.0)
    for v in (1.0, 3.0, -2.0):
        with torch.no_grad():
            model[0].weight.fill_(v)
        ema.update(model)
    buf = io.BytesIO()
    torch.save(ema.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    other = ModelEMA(_toy())
    other.load_state_dict(state)
    assert other.updates == 3 and other.tau == 5.0 and other.decay == 0.9999
    assert torch.equal(other.ema[0].weight, ema.ema[0].weight)
    # the next update continues identically
    assert other.update(model) == ema.update(model)
    assert torch.equal(other.ema[0].weight, ema.ema[0].weight)


def test_bad_state_and_arguments():
    ema = ModelEMA(_toy())
    with pytest.raises(CheckpointError, match="missing keys"):
        ema.load_state_dict({"ema": {}})
    with pytest.raises(CheckpointError, match="does not match"):
        ema.load_state_dict({"ema": nn.Linear(2, 2).state_dict(), "updates": 0, "decay": 0.9,
                             "tau": 1.0})
    with pytest.raises(ValueError, match="decay"):
        ModelEMA(_toy(), decay=1.0)
