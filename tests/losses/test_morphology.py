"""Erosion of valid-pixel maps (tardal.ops.morphology) against the max-pooling definition."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tardal.errors import ConfigError
from tardal.ops.morphology import erode


def _maps() -> list[torch.Tensor]:
    box = torch.zeros(2, 1, 23, 30)
    box[0, :, 4:19, :] = 1  # a letterbox band touching the left and right borders
    box[1, :, :, 3:27] = 1
    noise = (torch.rand(3, 2, 19, 21, generator=torch.Generator().manual_seed(0)) > 0.1).float()
    grey = torch.rand(1, 1, 17, 16, generator=torch.Generator().manual_seed(1))
    return [box, noise, grey]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11])
def test_erode_equals_min_pooling(size):
    for v in _maps():
        want = 1.0 - F.max_pool2d(1.0 - v, size, stride=1)
        assert torch.equal(erode(v, size), want)


@pytest.mark.parametrize("size", [3, 5, 11])
def test_erode_same_size_counts_the_outside_as_valid(size):
    for v in _maps():
        want = 1.0 - F.max_pool2d(1.0 - v, size, stride=1, padding=size // 2)
        got = erode(v, size, same=True)
        assert got.shape == v.shape and torch.equal(got, want)
    band = _maps()[0]
    got = erode(band, 3, same=True)[0, 0]
    assert got[4].sum() == 0 and got[5].sum() == band.shape[-1]  # one row eaten, borders kept


def test_erode_rejects_bad_sizes():
    with pytest.raises(ConfigError, match="size"):
        erode(torch.ones(1, 1, 4, 4), 0)
    with pytest.raises(ConfigError, match="odd"):
        erode(torch.ones(1, 1, 4, 4), 4, same=True)
