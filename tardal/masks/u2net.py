"""``u2net``: salient-object masks from a U2-Net-small network with user-supplied local weights.

The architecture is the small U2-Net (Qin et al., Pattern Recognition 2020): six encoder
stages of residual U-blocks (RSU-7, -6, -5, -4 with 16 middle and 64 output channels, then two
dilated RSU-4F), five decoder stages, a 3x3 side output per stage and a 1x1 fusion of the six
side outputs, sigmoid. Parameter names follow the usual layout of that network's released
weights (``stage1.rebnconvin.conv_s1.weight``, ..., ``side1``, ``outconv``), so such a file
loads as is.

Weights come only from ``mask.u2net_weights``, a local file loaded with
``torch.load(weights_only=True)``; nothing is ever downloaded. The number of input channels is
read from the file (the first convolution's weight): a three-channel network (the released
RGB weights) gets the infrared image repeated on three channels, normalised with the ImageNet
mean and standard deviation; a one-channel network (the U2-Net-P the TarDAL authors distribute
for infrared saliency) gets the infrared image itself, normalised with the single pair
(0.485, 0.229). The image is resized to ``mask.u2net_size`` squared; the output is resized back, stretched
to [0,1] (min-max per image, as usual for this network's inference), and either kept soft or
binarised at 0.5 and cleaned with ``mask.morph``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tardal.checkpoint import load_state
from tardal.config import MaskConfig
from tardal.errors import CheckpointError, ConfigError
from tardal.masks.base import MaskProvider
from tardal.masks.registry import MASKS
from tardal.masks.threshold import clean_binary

log = logging.getLogger(__name__)

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
_FIRST_CONV = "stage1.rebnconvin.conv_s1.weight"  # (64, in_channels, 3, 3)


def normalisation(channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(mean, std)`` per input channel: ImageNet's for 3 channels, (0.485,), (0.229,) for 1."""
    return (_MEAN, _STD) if channels == 3 else (_MEAN[:1], _STD[:1])


def _up_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


class REBNCONV(nn.Module):
    """conv3x3 (dilation ``dirate``) + BatchNorm + ReLU, same size out."""

    def __init__(self, cin: int, cout: int, dirate: int = 1) -> None:
        super().__init__()
        self.conv_s1 = nn.Conv2d(cin, cout, 3, padding=dirate, dilation=dirate)
        self.bn_s1 = nn.BatchNorm2d(cout)
        self.relu_s1 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu_s1(self.bn_s1(self.conv_s1(x)))


class RSU(nn.Module):
    """Residual U-block of height ``height`` (4..7): a small U-Net added to its input conv.

    Encoder: ``rebnconv1 .. rebnconv{height-1}`` with 2x2 max-pooling between them, then a
    dilation-2 ``rebnconv{height}``; decoder ``rebnconv{height-1}d .. rebnconv1d`` on the
    concatenation of the upsampled deeper output and the skip.
    """

    def __init__(self, height: int, cin: int, mid: int, cout: int) -> None:
        super().__init__()
        self.height = height
        self.rebnconvin = REBNCONV(cin, cout)
        self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        for i in range(1, height):
            setattr(self, f"rebnconv{i}", REBNCONV(cout if i == 1 else mid, mid))
        setattr(self, f"rebnconv{height}", REBNCONV(mid, mid, dirate=2))
        for i in range(height - 1, 0, -1):
            setattr(self, f"rebnconv{i}d", REBNCONV(2 * mid, cout if i == 1 else mid))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hin = self.rebnconvin(x)
        skips = []
        h = hin
        for i in range(1, self.height):
            h = getattr(self, f"rebnconv{i}")(h if i == 1 else self.pool(h))
            skips.append(h)
        d = getattr(self, f"rebnconv{self.height}")(h)
        for i in range(self.height - 1, 0, -1):
            skip = skips[i - 1]
            d = getattr(self, f"rebnconv{i}d")(torch.cat((_up_to(d, skip), skip), dim=1))
        return d + hin


class RSU4F(nn.Module):
    """RSU-4 with dilations 1, 2, 4, 8 instead of pooling (resolution kept)."""

    def __init__(self, cin: int, mid: int, cout: int) -> None:
        super().__init__()
        self.rebnconvin = REBNCONV(cin, cout)
        self.rebnconv1 = REBNCONV(cout, mid, 1)
        self.rebnconv2 = REBNCONV(mid, mid, 2)
        self.rebnconv3 = REBNCONV(mid, mid, 4)
        self.rebnconv4 = REBNCONV(mid, mid, 8)
        self.rebnconv3d = REBNCONV(2 * mid, mid, 4)
        self.rebnconv2d = REBNCONV(2 * mid, mid, 2)
        self.rebnconv1d = REBNCONV(2 * mid, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hin = self.rebnconvin(x)
        h1 = self.rebnconv1(hin)
        h2 = self.rebnconv2(h1)
        h3 = self.rebnconv3(h2)
        h4 = self.rebnconv4(h3)
        d3 = self.rebnconv3d(torch.cat((h4, h3), 1))
        d2 = self.rebnconv2d(torch.cat((d3, h2), 1))
        return self.rebnconv1d(torch.cat((d2, h1), 1)) + hin


class U2NetSmall(nn.Module):
    """U2-Net-small: (B,3,H,W) normalised image -> (B,1,H,W) saliency in [0,1] (sigmoid)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 1) -> None:
        super().__init__()
        self.stage1 = RSU(7, in_channels, 16, 64)
        self.stage2 = RSU(6, 64, 16, 64)
        self.stage3 = RSU(5, 64, 16, 64)
        self.stage4 = RSU(4, 64, 16, 64)
        self.stage5 = RSU4F(64, 16, 64)
        self.stage6 = RSU4F(64, 16, 64)
        self.stage5d = RSU4F(128, 16, 64)
        self.stage4d = RSU(4, 128, 16, 64)
        self.stage3d = RSU(5, 128, 16, 64)
        self.stage2d = RSU(6, 128, 16, 64)
        self.stage1d = RSU(7, 128, 16, 64)
        for i in range(1, 7):
            setattr(self, f"side{i}", nn.Conv2d(64, out_channels, 3, padding=1))
        self.outconv = nn.Conv2d(6 * out_channels, out_channels, 1)
        self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.stage1(x)
        e2 = self.stage2(self.pool(e1))
        e3 = self.stage3(self.pool(e2))
        e4 = self.stage4(self.pool(e3))
        e5 = self.stage5(self.pool(e4))
        e6 = self.stage6(self.pool(e5))
        d5 = self.stage5d(torch.cat((_up_to(e6, e5), e5), 1))
        d4 = self.stage4d(torch.cat((_up_to(d5, e4), e4), 1))
        d3 = self.stage3d(torch.cat((_up_to(d4, e3), e3), 1))
        d2 = self.stage2d(torch.cat((_up_to(d3, e2), e2), 1))
        d1 = self.stage1d(torch.cat((_up_to(d2, e1), e1), 1))
        sides = [self.side1(d1)]
        for i, feat in enumerate((d2, d3, d4, d5, e6), start=2):
            sides.append(_up_to(getattr(self, f"side{i}")(feat), sides[0]))
        return torch.sigmoid(self.outconv(torch.cat(sides, 1)))


def _state_dict_from(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "net"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"u2net weights {path}: expected a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_u2net(path: str | Path) -> U2NetSmall:
    """U2-Net-small with weights from a local file (``weights_only=True``), in eval mode."""
    if not str(path):
        raise ConfigError(
            "mask.u2net_weights is empty: the u2net mask provider needs a local weights file "
            "(it never downloads); set mask.u2net_weights=PATH or use mask.provider=lc"
        )
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"u2net weights {path} do not exist (mask.u2net_weights)")
    from tardal.checkpoint import refusal_message

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        refused = refusal_message(path, exc)
        if refused:
            raise CheckpointError(f"u2net weights: {refused}") from None
        first = next((ln for ln in str(exc).splitlines() if ln.strip()
                      and "weights_only" not in ln), type(exc).__name__)
        raise CheckpointError(f"u2net weights {path} cannot be read: {first}") from None
    state = _state_dict_from(obj, path)
    first_conv = state.get(_FIRST_CONV)
    channels = int(first_conv.shape[1]) if first_conv is not None and first_conv.ndim == 4 else 3
    if channels not in (1, 3):
        raise CheckpointError(f"u2net weights {path}: the network takes {channels} input "
                              "channels; expected 1 (infrared) or 3 (RGB)")
    net = U2NetSmall(in_channels=channels)
    load_state(net, state, f"u2net weights {path}")
    return net.eval()


@MASKS.register("u2net")
class U2NetMask(MaskProvider):
    """Salient-object mask of the infrared image from U2-Net-small (module doc)."""

    def __init__(self, cfg: MaskConfig | None = None) -> None:
        super().__init__(cfg)
        self.binary = not self.cfg.soft
        self.net = load_u2net(self.cfg.u2net_weights)
        self.device = torch.device("cpu")

    def to(self, device: torch.device | str) -> "U2NetMask":
        self.device = torch.device(device)
        self.net.to(self.device)
        return self

    def compute(self, ir: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        h, w = ir.shape
        size = self.cfg.u2net_size
        c = self.net.stage1.rebnconvin.conv_s1.in_channels
        x = torch.from_numpy(np.ascontiguousarray(ir, np.float32)).to(self.device)
        x = x[None, None].expand(1, c, h, w)
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        m, sd = normalisation(c)
        mean = torch.tensor(m, device=self.device).view(1, c, 1, 1)
        std = torch.tensor(sd, device=self.device).view(1, c, 1, 1)
        with torch.inference_mode():
            sal = self.net((x - mean) / std)
            sal = F.interpolate(sal, size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        sal = sal.float().cpu().numpy()
        lo, hi = float(sal.min()), float(sal.max())
        sal = (sal - lo) / (hi - lo) if hi - lo > 1e-12 else np.zeros_like(sal)
        if not self.binary:
            return sal.astype(np.float32)
        return clean_binary(sal >= 0.5, self.cfg.morph).astype(np.float32)
