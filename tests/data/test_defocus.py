"""Synthetic defocus pairs: shapes, where each source is sharp, seeded reproducibility."""

from __future__ import annotations

import pytest
import torch

from tardal.data.defocus import (
    blob_mask,
    defocus_pair,
    disk_blur,
    disk_kernel,
    gaussian_blur,
)
from tardal.errors import ConfigError


def _image(b: int = 2, c: int = 3, h: int = 40, w: int = 56, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("blur", ["gaussian", "disk"])
def test_a_is_sharp_inside_the_mask_and_blurred_outside(blur: str) -> None:
    img = _image()
    a, b, m = defocus_pair(img, torch.Generator().manual_seed(1), blur=blur, strength=2.0)
    assert a.shape == b.shape == img.shape and m.shape == (2, 1, 40, 56)
    assert set(m.unique().tolist()) == {0.0, 1.0}
    soft = gaussian_blur(img, 2.0) if blur == "gaussian" else disk_blur(img, 2.0)
    inside, outside = m.expand_as(img) == 1, m.expand_as(img) == 0
    assert torch.equal(a[inside], img[inside])
    assert torch.allclose(a[outside], soft[outside])
    assert (a[outside] - img[outside]).abs().mean() > 0.05
    # b is the opposite: blurred deep inside the mask, sharp far outside it
    soft_m = gaussian_blur(m, 2.0) if blur == "gaussian" else disk_blur(m, 2.0)
    deep_in, far_out = (soft_m > 1 - 1e-6).expand_as(img), (soft_m < 1e-6).expand_as(img)
    assert deep_in.any() and far_out.any()
    assert torch.allclose(b[deep_in], soft[deep_in], atol=1e-5)
    assert torch.allclose(b[far_out], img[far_out], atol=1e-5)
    assert (b[deep_in] - img[deep_in]).abs().mean() > 0.05
    assert a.min() >= 0 and a.max() <= 1 and b.min() >= 0 and b.max() <= 1


def test_seeded_reproducibility() -> None:
    img = _image()
    p1 = defocus_pair(img, torch.Generator().manual_seed(7))
    p2 = defocus_pair(img, torch.Generator().manual_seed(7))
    p3 = defocus_pair(img, torch.Generator().manual_seed(8))
    assert all(torch.equal(x, y) for x, y in zip(p1, p2))
    assert not torch.equal(p1.mask, p3.mask)


def test_given_mask_is_used() -> None:
    img = _image(b=1, c=1)
    mask = torch.zeros(1, 1, 40, 56)
    mask[..., :, 28:] = 1.0
    pair = defocus_pair(img, mask=mask, blur="disk", strength=1.5)
    assert torch.equal(pair.mask, mask)
    assert torch.equal(pair.a[..., 28:], img[..., 28:])


def test_blob_mask_covers_the_drawn_fraction() -> None:
    m = blob_mask(8, 64, 48, torch.Generator().manual_seed(0), fraction=(0.3, 0.7))
    cover = m.mean(dim=(1, 2, 3))
    assert cover.min() > 0.28 and cover.max() < 0.72 and cover.std() > 0.02


def test_blur_kernels() -> None:
    k = disk_kernel(2.0)
    assert k.shape == (5, 5) and k.sum().item() == pytest.approx(1.0)
    assert torch.allclose(k, k.t()) and torch.allclose(k, k.flip(0))
    assert k[2, 2] == k.max() and k[0, 0] == 0.0  # the corner is outside the disk
    flat = torch.full((1, 2, 9, 11), 0.3)
    assert torch.allclose(disk_blur(flat, 2.5), flat)
    assert torch.allclose(gaussian_blur(flat, 1.2), flat)
    x = _image(b=1, c=1)
    assert gaussian_blur(x, 3.0).std() < gaussian_blur(x, 1.0).std() < x.std()


def test_bad_arguments_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="expected 'gaussian' or 'disk', found 'box'"):
        defocus_pair(_image(), blur="box")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="sigma must be > 0"):
        gaussian_blur(_image(), 0.0)
    with pytest.raises(ConfigError, match=r"expected \(B,C,H,W\)"):
        defocus_pair(torch.rand(3, 8, 8))
