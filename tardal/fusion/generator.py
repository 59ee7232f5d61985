"""The TarDAL generator G: a small dense fusion network.

Layout (``d = dim``, every convolution 3x3, stride 1, padding 1, so the output has the input's
size for any H, W):

* encoder: conv 2->d, BatchNorm, ReLU;
* dense block of ``depth`` layers: layer i is conv d*(i+1)->d + BN + ReLU, its output
  concatenated to its input, ending with d*(depth+1) channels;
* fusion head: conv d*(depth+1)->4d + ReLU; 4d->2d + BN + ReLU; 2d->d + BN + ReLU; d->1;
* output map onto [0,1]: ``sigmoid`` (the default) or ``tanh``, meaning (tanh(x)+1)/2. Both
  reach [0,1] without a clamp.

Padding (``fusion.padding``):

* ``input`` (the default): the input pair is reflect-padded ONCE by G's receptive radius
  ``r = depth + 5`` and every convolution is "valid" (no padding; each shrinks the map by one
  pixel per side, the dense block crops its running concatenation to match), so the output has
  the input's size. Border pixels see a mirrored neighbourhood, as with per-layer reflect
  padding, but without a padded copy of every feature map per layer (forward and backward),
  which dominated G's cost. Output pixel (i, j) depends only on inputs within ``r`` pixels, so
  tiled inference (``tardal fuse --tile``) stays exact.

  For inference the same network has a second, equivalent layout
  (:meth:`TarDALGenerator.canvas`): every convolution zero-pads by one pixel on the padded
  canvas, so all maps keep the canvas size and the dense block concatenates without cropping,
  and the output is cropped by ``r`` at the end. A pixel ``k`` convolutions deep is touched by
  the zero padding only within ``k`` pixels of the canvas border and the longest chain is ``r``
  convolutions, so the cropped output is the valid layout's exactly (same sums). Under
  onnxruntime's blocked (NCHWc) convolutions it avoids a slice and two layout reorders per dense
  layer (G at d = 32, 640x512: ``tools/bench_fuse.py``).
* ``reflect``: every convolution reflect-pads its input (the earlier layout; slower).
* ``zeros``: every convolution zero-pads (fast, but leaves a darker frame on fused images).

Detail split (``fusion.detail = sigma > 0``, off by default), in eval mode only: the output is
``clamp(blur(f) + pick(ir - blur(ir), vis - blur(vis)), 0, 1)``, where ``f`` is the network's map
above, ``blur`` a Gaussian of that sigma (window ``2 ceil(3 sigma) + 1``, replicate padding) and
``pick`` takes, per pixel, the source detail of the larger magnitude (``fusion.detail_rule max``,
the choose-max rule of multi-scale fusion) or the sum of both (``sum``, the addition rule of
decomposition methods that fuse detail layers additively). G's intensity and contrast below that
scale are kept and its fine texture is replaced by the sources' own. Training and validation see the
network's map itself (:meth:`TarDALGenerator.own_map`): trained through the split (sigma 2 and 3,
the release config, seed 2), G's base compensated, brighter and lower in PSNR, and ranked below the
same G with the split added after training (``docs/release.md`` gives the figures). The split adds
``ceil(3 sigma)`` pixels to the receptive radius. A detector trained on G's training-mode output
would see other images at test time, so ``ct`` and ``tt`` refuse it.

Illumination (``fusion.illum = sigma > 0``, off by default), in eval mode only, after the split:
``clamp(y + w * blur(avg - y) / blur(1), 0, 1)``, where ``y`` is the output so far, ``avg`` the
sources' mean ``(ir + vis) / 2``, ``blur`` a Gaussian of that sigma with zero padding (divided by
the blurred ones, so the window is the image's own pixels: a normalised convolution) and ``w``
``fusion.illum_weight``. The fused image's illumination at that scale moves the fraction ``w`` of
the way to the sources' average, while G keeps the contrast and saliency inside it: trained
against the brighter source (``loss.sdw max``), G lights whole regions as the brighter source
does. It adds ``ceil(3 sigma)`` pixels to the receptive radius; ``ct`` and ``tt`` refuse it as
they refuse the split.

Tone (``fusion.equalize = w > 0``, off by default), in eval mode only, last: ``y + w * (eq(y) -
y)``, where ``eq`` is ``y``'s histogram equalisation (the cumulative histogram of ``y`` on 256
levels, as OpenCV's ``equalizeHist``, without its rounding to 8 bits). The image's tone curve moves
the fraction ``w`` of the way to the one that spreads its grey levels evenly; it reads the whole
image, so it is not part of :attr:`TarDALGenerator.receptive_radius`, and ``tardal fuse`` applies
it once to the assembled image (:meth:`TarDALGenerator.without_tone`), tiled or not. Why: a blend
of two sources has a narrower grey histogram than the wider source (the release's output on
RoadScene val: grey standard deviation 38.7 against the infrared's 50.5, entropy 7.08 against 7.40
bits); a step of 0.1 widens it (42.0, 7.24) at a small cost in PSNR (``docs/release.md``). Exported
graphs need ONNX opset 16 or later (a histogram is a ScatterElements with ``add``); ``ct`` and
``tt`` refuse it.

Convolutions followed by BatchNorm have no bias, so :mod:`tardal.fusion.optimize` can fold each
BatchNorm into its convolution for inference.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from tardal.config import FusionConfig
from tardal.errors import ConfigError
from tardal.fusion.registry import FUSION
from tardal.losses.ssim import gaussian_window

#: The convolutions' radius is ``1 + depth + 4`` pixels (one per 3x3 convolution); the detail
#: split adds ``ceil(3 sigma)`` (:attr:`TarDALGenerator.receptive_radius`).


#: Training-mode BatchNorm on a channels-last CPU tensor with few channels runs several times
#: slower than on a contiguous one (measured, 2 threads, 4 channels of 8x270x270: 52 ms against
#: 14 ms forward and backward); blocks with at most this many channels run BN and ReLU on a
#: contiguous copy there and hand back channels-last (G at dim 4: a training step ~15 % faster).
CPU_CONTIGUOUS_BN_CHANNELS = 8


class _Relayout(torch.autograd.Function):
    """``x`` in memory format ``to``; its gradient goes back in ``back``.

    A plain ``x.contiguous(memory_format=to)`` hands the gradient back in whatever layout it
    arrives, so the ops before it would mix layouts in their backward (a ReLU backward with a
    contiguous output and a channels-last gradient runs ~3x slower on the CPU).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, to: torch.memory_format,
                back: torch.memory_format) -> torch.Tensor:
        ctx.back = back
        return x.contiguous(memory_format=to)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return grad.contiguous(memory_format=ctx.back), None, None


class _Crop1(torch.autograd.Function):
    """``x[..., 1:-1, 1:-1]``, whose gradient is the incoming one zero-padded by a pixel in its
    own layout (a slice's backward writes into a new contiguous tensor, so the dense block's
    gradients would turn channels-last maps into contiguous ones)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x[..., 1:-1, 1:-1]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return F.pad(grad, (1, 1, 1, 1))


class ConvBlock(nn.Module):
    """conv3x3 (+ BatchNorm) (+ ReLU); ``conv``/``bn`` names let the BN folder find the pair."""

    def __init__(self, cin: int, cout: int, *, bn: bool, act: bool, padding_mode: str) -> None:
        super().__init__()
        pad = 0 if padding_mode == "input" else 1
        mode = "zeros" if padding_mode == "input" else padding_mode
        self.conv = nn.Conv2d(cin, cout, 3, 1, pad, bias=not bn, padding_mode=mode)
        self.bn: nn.Module = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.act: nn.Module = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if (self.training and y.device.type == "cpu" and isinstance(self.bn, nn.BatchNorm2d)
                and y.shape[1] <= CPU_CONTIGUOUS_BN_CHANNELS and not y.is_contiguous()):
            cl, plain = torch.channels_last, torch.contiguous_format
            out = self.act(self.bn(_Relayout.apply(y, plain, cl)))
            return _Relayout.apply(out, cl, plain)
        return self.act(self.bn(y))


def equalize_blend(y: torch.Tensor, weight: float) -> torch.Tensor:
    """``y + weight * (eq(y) - y)`` per image of a (B,1,H,W) batch in [0,1] (the tone step of
    the module doc). ``eq`` maps each of 256 grey levels through the image's cumulative
    histogram, from 0 at its darkest level to 1 at its brightest (a single-level image is left
    as it is). Computed in float32; the result has ``y``'s dtype."""
    x = y.float()
    q = (x * 255).round().clamp(0, 255).long().flatten(1)
    hist = torch.zeros(q.shape[0], 256, device=y.device).scatter_add(
        1, q, torch.ones_like(q, dtype=torch.float32))
    cdf = hist.cumsum(1)
    low = cdf.gather(1, q.amin(1, keepdim=True))  # the count at the darkest level
    span = torch.ones_like(low) * q.shape[1] - low  # pixels above it
    eq = torch.where(span > 0, (cdf.gather(1, q) - low) / span.clamp(min=1),
                     x.flatten(1)).view_as(x)
    return (x + weight * (eq - x)).to(y.dtype)


def split_tone(net: nn.Module) -> tuple[nn.Module, float]:
    """``(local, w)``: ``net`` without its whole-image tone step and that step's fraction (the
    network itself and 0 for networks without one), so tiles of ``local`` followed by
    ``equalize_blend(., w)`` of the assembled image give ``net``'s output."""
    w = float(getattr(net, "equalize", 0.0))
    return (net.without_tone(), w) if w > 0 else (net, 0.0)


@FUSION.register("tardal")
class TarDALGenerator(nn.Module):
    """G: ``fused = G(ir, vis_y)``.

    Args:
        dim: channel width d (paper: 32).
        depth: dense-block layers (paper: 3).
        output: ``"sigmoid"`` (default) or ``"tanh"`` ((tanh+1)/2); both map onto [0,1].
        padding: ``"input"`` (default), ``"reflect"`` or ``"zeros"`` (module doc).
        detail: sigma of the eval-mode detail split (module doc); 0 (default) leaves it out.
        detail_rule: the split's detail, ``"max"`` (default) or ``"sum"`` (module doc).
        illum: sigma of the eval-mode illumination step (module doc); 0 (default) leaves it out.
        illum_weight: the fraction of the way to the sources' average illumination, in [0, 1].
        equalize: the eval-mode tone step's fraction, in [0, 1] (module doc); 0 (default) off.

    Input ``ir, vis_y``: (B,1,H,W) float in [0,1]; output (B,1,H,W) float in [0,1].
    """

    def __init__(self, dim: int = 32, depth: int = 3,
                 output: Literal["sigmoid", "tanh"] = "sigmoid",
                 padding: Literal["input", "reflect", "zeros"] = "input",
                 detail: float = 0.0, detail_rule: Literal["max", "sum"] = "max",
                 illum: float = 0.0, illum_weight: float = 1.0, equalize: float = 0.0) -> None:
        super().__init__()
        if dim < 1 or depth < 1:
            raise ConfigError(f"fusion.dim and fusion.depth must be >= 1, found {dim}, {depth}")
        if output not in ("sigmoid", "tanh"):
            raise ConfigError(f"fusion.output: expected 'sigmoid' or 'tanh', found {output!r}")
        if padding not in ("input", "reflect", "zeros"):
            raise ConfigError(f"fusion.padding: expected 'input', 'reflect' or 'zeros', found "
                              f"{padding!r}")
        if not 0.0 <= detail <= 8.0:
            raise ConfigError(f"fusion.detail must be in [0, 8], found {detail}")
        if detail_rule not in ("max", "sum"):
            raise ConfigError(f"fusion.detail_rule: expected 'max' or 'sum', found {detail_rule!r}")
        if not 0.0 <= illum <= 64.0:
            raise ConfigError(f"fusion.illum must be in [0, 64], found {illum}")
        if not 0.0 <= illum_weight <= 1.0:
            raise ConfigError(f"fusion.illum_weight must be in [0, 1], found {illum_weight}")
        if not 0.0 <= equalize <= 1.0:
            raise ConfigError(f"fusion.equalize must be in [0, 1], found {equalize}")
        self.dim, self.depth, self.output, self.padding = dim, depth, output, padding
        self.detail, self.detail_rule = float(detail), detail_rule
        if detail > 0:  # the split's Gaussian for (fused, ir, vis); not in the state dict
            g = gaussian_window(2 * math.ceil(3 * detail) + 1, detail, dtype=torch.float64)
            k = torch.outer(g, g).float()
            self.register_buffer("split_kernel", k.expand(3, 1, *k.shape).clone(),
                                 persistent=False)
        self.illum, self.illum_weight = float(illum), float(illum_weight)
        if illum > 0:  # the illumination step's 1-D Gaussian; not in the state dict
            g = gaussian_window(2 * math.ceil(3 * illum) + 1, illum, dtype=torch.float64)
            self.register_buffer("illum_kernel", g.float(), persistent=False)
        self.equalize = float(equalize)
        self.on_canvas = False  # the inference layout of canvas() (not part of the state dict)
        pm = padding
        self.encoder = ConvBlock(2, dim, bn=True, act=True, padding_mode=pm)
        self.dense = nn.ModuleList(
            ConvBlock(dim * (i + 1), dim, bn=True, act=True, padding_mode=pm) for i in range(depth)
        )
        width = dim * (depth + 1)
        self.head = nn.Sequential(
            ConvBlock(width, 4 * dim, bn=False, act=True, padding_mode=pm),
            ConvBlock(4 * dim, 2 * dim, bn=True, act=True, padding_mode=pm),
            ConvBlock(2 * dim, dim, bn=True, act=True, padding_mode=pm),
            ConvBlock(dim, 1, bn=False, act=False, padding_mode=pm),
        )

    @classmethod
    def from_config(cls, cfg: FusionConfig) -> "TarDALGenerator":
        return cls(dim=cfg.dim, depth=cfg.depth, output=cfg.output, padding=cfg.padding,
                   detail=cfg.detail, detail_rule=cfg.detail_rule, illum=cfg.illum,
                   illum_weight=cfg.illum_weight, equalize=cfg.equalize)

    @property
    def conv_radius(self) -> int:
        """Pixels of context on each side of one pixel of the convolutions' map."""
        return 1 + self.depth + 4

    @property
    def receptive_radius(self) -> int:
        """Pixels of context on each side that one output pixel depends on (without the tone
        step, which reads the whole image: module doc)."""
        return (self.conv_radius + (math.ceil(3 * self.detail) if self.detail > 0 else 0)
                + (math.ceil(3 * self.illum) if self.illum > 0 else 0))

    def canvas(self) -> "TarDALGenerator":
        """An eval-mode copy in the canvas layout (module doc): same weights, same outputs, for
        inference only (training-mode BatchNorm would count the canvas margin). ``input``
        padding only."""
        if self.padding != "input":
            raise ConfigError(f"the canvas layout needs fusion.padding input, not "
                              f"{self.padding!r}")
        net = copy.deepcopy(self).eval()
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.padding = (1, 1)
        net.on_canvas = True
        return net

    def without_tone(self) -> "TarDALGenerator":
        """A shallow copy (the same modules and weights) without the eval-mode tone step
        (``fusion.equalize``), for tiled inference: its output pixels are local, and
        :func:`equalize_blend` of the assembled image gives this network's output."""
        net = copy.copy(self)
        net.equalize = 0.0
        return net

    def _crop(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` less a pixel on each side (the valid layout's dense block)."""
        return _Crop1.apply(x) if self.training else x[..., 1:-1, 1:-1]

    @property
    def has_eval_steps(self) -> bool:
        """Whether eval mode adds the detail split, the illumination or the tone step to G's
        map."""
        return self.detail > 0 or self.illum > 0 or self.equalize > 0

    def forward(self, ir: torch.Tensor, vis_y: torch.Tensor) -> torch.Tensor:
        fused = self.own_map(ir, vis_y)
        if self.training:
            return fused
        if self.detail > 0:
            fused = self._split(fused, ir, vis_y)
        if self.illum > 0:
            fused = self._illuminate(fused, ir, vis_y)
        return equalize_blend(fused, self.equalize) if self.equalize > 0 else fused

    def own_map(self, ir: torch.Tensor, vis_y: torch.Tensor) -> torch.Tensor:
        """The network's map, without the eval-mode steps (what training sees, and what
        validation scores: the epoch kept does not depend on those steps)."""
        x = torch.cat((ir, vis_y), dim=1)
        if self.encoder.conv.weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)  # match the weights' layout
        valid = self.padding == "input" and not self.on_canvas  # cropped at each layer
        r = self.conv_radius
        if self.padding == "input":
            small = min(x.shape[-2:]) <= r  # reflection needs more pixels than the pad
            x = F.pad(x, (r, r, r, r), mode="replicate" if small else "reflect")
        x = self.encoder(x)
        for layer in self.dense:
            y = layer(x)
            x = torch.cat((self._crop(x) if valid else x, y), dim=1)
        logits = self.head(x)
        if self.on_canvas:
            logits = logits[..., r:-r, r:-r]
        if self.output == "sigmoid":
            return torch.sigmoid(logits)
        return (torch.tanh(logits) + 1.0) * 0.5

    def _split(self, fused: torch.Tensor, ir: torch.Tensor, vis_y: torch.Tensor) -> torch.Tensor:
        """The detail split (module doc): ``fused``'s band below sigma, the sources' above."""
        maps = torch.cat((fused, ir.to(fused.dtype), vis_y.to(fused.dtype)), dim=1)
        r = self.split_kernel.shape[-1] // 2
        low = F.conv2d(F.pad(maps, (r, r, r, r), mode="replicate"),
                       self.split_kernel.to(maps.dtype), groups=3)
        d_ir, d_vis = (maps[:, 1:] - low[:, 1:]).split(1, dim=1)
        if self.detail_rule == "sum":
            detail = d_ir + d_vis
        else:
            detail = torch.where(d_ir.abs() >= d_vis.abs(), d_ir, d_vis)
        return (low[:, :1] + detail).clamp(0.0, 1.0)

    def _illuminate(self, y: torch.Tensor, ir: torch.Tensor, vis_y: torch.Tensor) -> torch.Tensor:
        """The illumination step (module doc): ``y`` moved towards the sources' average below
        sigma, by a normalised (zero-padded) separable Gaussian. The blurred ones are the outer
        product of the row and column profiles, so only the gap map is blurred in 2-D."""
        gap = (ir.to(y.dtype) + vis_y.to(y.dtype)) * 0.5 - y
        k = self.illum_kernel.to(y.dtype)
        r = k.numel() // 2
        rows, cols = k.view(1, 1, 1, -1), k.view(1, 1, -1, 1)
        blur = F.conv2d(F.pad(F.conv2d(F.pad(gap, (r, r, 0, 0)), rows), (0, 0, r, r)), cols)
        across = F.conv2d(F.pad(torch.ones_like(gap[:1, :, :1]), (r, r, 0, 0)), rows)
        down = F.conv2d(F.pad(torch.ones_like(gap[:1, :, :, :1]), (0, 0, r, r)), cols)
        return (y + self.illum_weight * blur / (across * down)).clamp(0.0, 1.0)
