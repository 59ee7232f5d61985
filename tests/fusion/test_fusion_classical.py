"""Classical fusion rules: mean, max, Laplacian pyramid."""

from __future__ import annotations

import torch

from tardal.fusion.classical import (
    LaplacianFusion,
    laplacian_fusion,
    laplacian_pyramid,
    max_fusion,
    mean_fusion,
    pyramid_levels,
    reconstruct,
)


def test_mean_and_max_values() -> None:
    a = torch.tensor([[[[0.0, 0.2], [1.0, 0.5]]]])
    b = torch.tensor([[[[1.0, 0.4], [0.0, 0.5]]]])
    assert torch.allclose(mean_fusion(a, b), torch.tensor([[[[0.5, 0.3], [0.5, 0.5]]]]))
    assert torch.equal(max_fusion(a, b), torch.tensor([[[[1.0, 0.4], [1.0, 0.5]]]]))


def test_pyramid_reconstructs_exactly_at_odd_sizes() -> None:
    x = torch.rand(2, 1, 37, 53)
    pyr = laplacian_pyramid(x, 4)
    assert [tuple(p.shape[-2:]) for p in pyr] == [(37, 53), (19, 27), (10, 14), (5, 7)]
    assert torch.allclose(reconstruct(pyr), x, atol=1e-6)


def test_levels_are_capped_on_small_images() -> None:
    assert pyramid_levels(480, 640, 4) == 4
    assert pyramid_levels(8, 8, 6) == 2
    assert pyramid_levels(3, 100, 4) == 1
    out = laplacian_fusion(torch.rand(1, 1, 3, 5), torch.rand(1, 1, 3, 5), levels=6)
    assert out.shape == (1, 1, 3, 5)


def test_laplacian_keeps_the_stronger_detail_and_averages_the_base() -> None:
    # ir: a sharp bright square on grey; vis: flat grey. Details come from ir, the base is the mean.
    ir = torch.full((1, 1, 64, 64), 0.5)
    ir[..., 28:36, 28:36] = 0.9
    vis = torch.full((1, 1, 64, 64), 0.5)
    fused = LaplacianFusion(levels=4)(ir, vis)
    edge_ir = (ir[..., 32, 36] - ir[..., 32, 35]).abs()
    edge_f = (fused[..., 32, 36] - fused[..., 32, 35]).abs()
    assert float(edge_f) > 0.5 * float(edge_ir)  # the step survives (mean would halve it)
    assert abs(float(fused[..., 2, 2]) - 0.5) < 1e-3  # far from the square: grey is kept
