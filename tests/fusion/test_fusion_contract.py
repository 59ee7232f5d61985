"""Every registered fusion method honours the same contract."""

from __future__ import annotations

import pytest
import torch

from tardal.config import FusionConfig
from tardal.errors import UnknownNameError
from tardal.fusion import FUSION, build_fusion

SIZES = [(1, 32, 32), (2, 33, 47), (1, 17, 64), (1, 64, 21)]


def _inputs(b: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(h * 1000 + w)
    return torch.rand(b, 1, h, w, generator=g), torch.rand(b, 1, h, w, generator=g)


def test_builtin_methods_are_registered() -> None:
    assert {"tardal", "mean", "max", "laplacian"} <= set(FUSION.names())


@pytest.mark.parametrize("name", FUSION.names())
@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
def test_contract_shape_range_determinism(name: str, size: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    net = build_fusion(FusionConfig(name=name, dim=4, depth=2)).eval()
    ir, vis = _inputs(*size)
    with torch.no_grad():
        a, b = net(ir, vis), net(ir, vis)
    assert a.shape == (size[0], 1, size[1], size[2])
    assert a.dtype == torch.float32
    assert torch.isfinite(a).all()
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["mean", "max", "laplacian"])
def test_identical_inputs_are_kept_by_classical_rules(name: str) -> None:
    x = _inputs(1, 40, 36)[0]
    assert torch.allclose(FUSION.build(name)(x, x), x, atol=1e-5)


def test_unknown_method_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'mean'.*Valid names: .*laplacian"):
        build_fusion(FusionConfig(name="meen"))
