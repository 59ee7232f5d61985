"""Running a fusion network on whole images: one pass, or tiles with overlap.

Tiling cuts the image into ``tile x tile`` windows that overlap by ``overlap`` pixels, fuses
each, and keeps from every window only its core (the window minus ``overlap // 2`` pixels on
each side that touches another window). For a convolutional network whose receptive-field
radius r satisfies ``overlap // 2 >= r`` (G: r = depth + 5, so 8 pixels for depth 3) the tiled
result equals the one-pass result up to float rounding, because eval-mode BatchNorm is a
per-pixel affine map. Methods with unbounded support (the Laplacian pyramid) only approximate.
"""

from __future__ import annotations

import torch
from torch import nn

from tardal.errors import ConfigError


def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)
    return starts


def fuse_tiled(net: nn.Module, ir: torch.Tensor, vis_y: torch.Tensor, tile: int,
               overlap: int = 32) -> torch.Tensor:
    """Fuse (B,1,H,W) inputs window by window; returns (B,1,H,W) like ``net(ir, vis_y)``.
    G's whole-image tone step (``fusion.equalize``) is applied once, to the assembled image."""
    from tardal.fusion.generator import equalize_blend, split_tone

    if tile <= 0:
        raise ConfigError(f"--tile must be positive, found {tile}")
    if overlap < 0 or overlap >= tile:
        raise ConfigError(f"--overlap must be in [0, tile), found {overlap} with tile {tile}")
    net, tone = split_tone(net)
    if tone > 0:
        return equalize_blend(fuse_tiled(net, ir, vis_y, tile, overlap), tone)
    h, w = ir.shape[-2:]
    th, tw = min(tile, h), min(tile, w)
    margin = overlap // 2
    out = torch.empty_like(ir)
    ys, xs = _starts(h, th, tile - overlap), _starts(w, tw, tile - overlap)
    for iy, y0 in enumerate(ys):
        for ix, x0 in enumerate(xs):
            part = net(ir[..., y0:y0 + th, x0:x0 + tw], vis_y[..., y0:y0 + th, x0:x0 + tw])
            # Core of this window: it starts where the previous window's core ends (``margin``
            # before that window's edge) and ends ``margin`` before its own edge; the last
            # window, shifted to fit the image, keeps everything up to the border.
            top = 0 if iy == 0 else ys[iy - 1] + th - margin - y0
            left = 0 if ix == 0 else xs[ix - 1] + tw - margin - x0
            bottom = th if iy == len(ys) - 1 else th - margin
            right = tw if ix == len(xs) - 1 else tw - margin
            out[..., y0 + top:y0 + bottom, x0 + left:x0 + right] = part[..., top:bottom, left:right]
    return out


def fuse_image(net: nn.Module, ir: torch.Tensor, vis_y: torch.Tensor, *, tile: int = 0,
               overlap: int = 32) -> torch.Tensor:
    """``net(ir, vis_y)`` in one pass (``tile == 0``) or tiled; no gradients are recorded."""
    with torch.inference_mode():
        if tile and (ir.shape[-2] > tile or ir.shape[-1] > tile):
            return fuse_tiled(net, ir, vis_y, tile, overlap)
        return net(ir, vis_y)


def has_colour_path(net: nn.Module) -> bool:
    """Whether ``net`` fuses colour images itself (the multi-focus decision-map methods)."""
    return callable(getattr(net, "fuse_rgb", None))


def fuse_colour(net: nn.Module, a_rgb: torch.Tensor, b_rgb: torch.Tensor, *, tile: int = 0,
                overlap: int = 32) -> torch.Tensor:
    """Fuse two colour sources of one scene (multi-focus): (B,3,H,W) [0,1] -> (B,3,H,W).

    Decision-map methods (:func:`has_colour_path`) fuse the colour images directly with one map
    computed on the luma (a map needs the whole image: ``tile`` is refused); any other method
    fuses each channel as a grey pair, whole or in tiles.
    """
    with torch.inference_mode():
        if has_colour_path(net):
            if tile:
                raise ConfigError(f"--tile: {type(net).__name__} fuses by a decision map over "
                                  "the whole image; tiles are not supported")
            return net.fuse_rgb(a_rgb, b_rgb).clamp(0.0, 1.0)
        return torch.cat([fuse_image(net, a_rgb[:, c:c + 1], b_rgb[:, c:c + 1], tile=tile,
                                     overlap=overlap) for c in range(a_rgb.shape[1])], dim=1)
