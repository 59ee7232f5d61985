"""The built-in synthetic benchmark: registered infrared/visible street scenes with boxes.

Every scene is an M3FD-like street view (sky, a skyline of buildings, a road in perspective with
lane markings, sidewalks, verges, trees and signs) holding 2-8 labelled objects of the six M3FD
classes, in M3FD's order: People, Car, Bus, Motorcycle, Lamp, Truck. The visible image carries
colour, texture and shape; the infrared image is a smooth temperature field with class-specific
heat patterns, a sensor blur and sensor noise, and no visible texture at all. Both are drawn
from one geometry, so they are pixel-registered and share one set of boxes.

Each scene has a *condition* that hides information in one modality:

* ``day``: the visible image is good; in infrared, solar loading leaves half of the objects
  (on average) sun-soaked, at 0-20 % of their usual heat above the sunlit surroundings, while
  the others read as usual.
* ``night``: the visible image is dark and noisy; only street-lamp heads, vehicle lights, lit
  windows and the pools of light under the lamps show. Infrared is at its best.
* ``fog``: the visible image is washed out by fog or smoke (exponential in distance: far objects
  vanish, near ones lose contrast); long-wave infrared sees through it.
* ``crossover``: thermal crossover at dusk or dawn: most objects (85 %) sit at the temperature
  of what is behind them and vanish from the infrared image, while the visible image is fine.

So infrared carries the night and fog scenes and visible the day and crossover scenes: neither
alone solves the set (generator version 2; version 1 had no solar loading and hid 65 % of the
objects at crossover, which left infrared alone good on three conditions out of four).

Car, Bus and Truck share one heat pattern (warm underbody, hot tyres, engine and exhaust, roof and
cargo near ambient), so in infrared alone they differ mainly by size and aspect; their colours,
windows and bodywork differ in the visible image. A rider on a motorcycle is as warm as a walker.
The design table is in ``docs/synth.md``.

Determinism: scene ``i`` of seed ``s`` is drawn from ``numpy.random.default_rng([s, i])`` only,
so it does not depend on how many scenes are generated, and the same arguments give
byte-identical files (PNG written with fixed parameters, no time stamps anywhere).

Public API: :func:`generate` writes a data set in the canonical layout; :func:`render_scene`
draws one scene in memory.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from tardal.data.labels import write_yolo, xyxy_to_yolo
from tardal.data.layout import (
    DataInfo,
    image_path,
    label_path,
    write_conditions,
    write_data_yaml,
    write_split,
)
from tardal.errors import ConfigError
from tardal.io import atomic_write_bytes, staged_dir

log = logging.getLogger(__name__)

CLASSES: tuple[str, ...] = ("People", "Car", "Bus", "Motorcycle", "Lamp", "Truck")
PEOPLE, CAR, BUS, MOTORCYCLE, LAMP, TRUCK = range(6)
CONDITIONS: tuple[str, ...] = ("day", "night", "fog", "crossover")
GENERATOR_VERSION = 2  # 2: solar loading in day scenes, more objects hidden at crossover

# Chance of each class per drawn object. Buses, trucks and lamps fail to find room more often
# than people, so the shares of boxes in the output come out near People 19 %, Car 20 %,
# Bus 14 %, Motorcycle 14 %, Lamp 18 %, Truck 15 %.
_CLASS_WEIGHTS = np.array([0.20, 0.19, 0.15, 0.14, 0.17, 0.15])
# Box height at the bottom of the image as a fraction of the image height, and width / height.
_SIZE = {
    (PEOPLE, "front"): (0.27, (0.32, 0.42)),
    (MOTORCYCLE, "side"): (0.26, (0.85, 1.05)),
    (MOTORCYCLE, "rear"): (0.26, (0.42, 0.52)),
    (CAR, "side"): (0.17, (2.1, 2.6)),
    (CAR, "rear"): (0.18, (1.15, 1.35)),
    (BUS, "side"): (0.25, (2.6, 3.3)),
    (BUS, "rear"): (0.27, (0.82, 0.95)),
    (TRUCK, "side"): (0.25, (2.1, 2.8)),
    (TRUCK, "rear"): (0.26, (0.80, 0.95)),
    (LAMP, "side"): (0.55, (0.22, 0.32)),
}
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
_MAX_TRIES = 10
# Infrared hiding: the chance that a labelled object sits at background temperature in a
# crossover scene, and that it is sun-soaked (heat x 0-0.2) in a day scene.
_CROSSOVER_HIDDEN = 0.85
_DAY_SOAKED = 0.5
_DISTRACTOR = 255  # id-map value of unlabelled objects (trees, signs)


# ----------------------------------------------------------------------------------------
# Noise textures: generated once per image size from a fixed seed and sliced at random offsets
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Textures:
    white: np.ndarray  # (2H+16, 2W+16) float32, zero mean, unit std, white
    fine: np.ndarray  # same, blurred at ~0.8 px (asphalt grain, cloth)
    medium: np.ndarray  # ~3 px (stains, facade weathering, foliage)
    large: np.ndarray  # ~6 % of the height (clouds, temperature field, smoke density)


def _normalise(a: np.ndarray) -> np.ndarray:
    a = a - a.mean()
    return (a / max(float(a.std()), 1e-6)).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _texture_bank(height: int, width: int) -> _Textures:
    # A fixed seed: the bank belongs to the generator, scenes pick random windows of it.
    rng = np.random.default_rng(0x7A2DA1)
    shape = (2 * height + 16, 2 * width + 16)
    white = rng.standard_normal(shape, dtype=np.float32)
    blur = lambda s: _normalise(cv2.GaussianBlur(white, (0, 0), s))  # noqa: E731
    return _Textures(white=white, fine=blur(0.8), medium=blur(3.0),
                     large=blur(max(2.0, 0.06 * height)))


def _frac(x: np.ndarray) -> np.ndarray:
    """Fractional part (faster than ``np.mod(x, 1.0)``)."""
    return x - np.floor(x)


def _take(bank: np.ndarray, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random (h, w) window of a texture bank (a view; do not write to it)."""
    oy = int(rng.integers(0, bank.shape[0] - h + 1))
    ox = int(rng.integers(0, bank.shape[1] - w + 1))
    return bank[oy:oy + h, ox:ox + w]


# ----------------------------------------------------------------------------------------
# Sprites: one object drawn as a map of part ids in its own box
# ----------------------------------------------------------------------------------------


@dataclass
class _Light:
    fx: float  # position in the sprite box, fractions of width and height
    fy: float
    radius: float  # glow radius in pixels
    rgb: tuple[float, float, float]
    gain: float
    pool: float = 0.0  # strength of the pool of light it throws on the ground (lamps)


class _Sprite:
    """Part-id raster of one object; every part has a colour, a heat and a texture amplitude.

    Coordinates are fractions of the sprite box: (0, 0) the top-left pixel centre, (1, 1) the
    bottom-right one. ``heat`` is the temperature above the local background in [0, 1] units
    (scaled per object by the condition).
    """

    def __init__(self, w: int, h: int):
        self.w, self.h = w, h
        self.map = np.zeros((h, w), np.uint8)
        self.rgb: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)]
        self.heat: list[float] = [0.0]
        self.amp: list[float] = [0.0]
        self.lights: list[_Light] = []
        self.shade = 0.25  # top-lit body: brightness falls by this much from top to bottom
        self._sx = (w - 1) * 8.0
        self._sy = (h - 1) * 8.0

    def part(self, rgb: Sequence[float], heat: float, amp: float = 0.04) -> int:
        self.rgb.append((float(rgb[0]), float(rgb[1]), float(rgb[2])))
        self.heat.append(float(heat))
        self.amp.append(float(amp))
        return len(self.rgb) - 1

    def poly(self, pid: int, pts: Sequence[tuple[float, float]]) -> None:
        p = np.array([[round(x * self._sx), round(y * self._sy)] for x, y in pts], np.int32)
        cv2.fillPoly(self.map, [p], int(pid), cv2.LINE_8, 3)

    def rect(self, pid: int, x0: float, y0: float, x1: float, y1: float) -> None:
        self.poly(pid, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])

    def ellipse(self, pid: int, cx: float, cy: float, rx: float, ry: float) -> None:
        cv2.ellipse(self.map, (round(cx * self._sx), round(cy * self._sy)),
                    (max(1, round(rx * self._sx)), max(1, round(ry * self._sy))),
                    0, 0, 360, int(pid), -1, cv2.LINE_8, 3)

    def disc(self, pid: int, cx: float, cy: float, r: float) -> None:
        """A round disc of radius ``r`` in units of the box height."""
        self.ellipse(pid, cx, cy, r * self.h / max(self.w, 1), r)

    def bar(self, pid: int, x0: float, y0: float, x1: float, y1: float, width_px: float) -> None:
        """A straight limb of ``width_px`` pixels from (x0, y0) to (x1, y1)."""
        dx, dy = (x1 - x0) * self.w, (y1 - y0) * self.h
        n = max(math.hypot(dx, dy), 1e-6)
        ox, oy = -dy / n * width_px / 2 / self.w, dx / n * width_px / 2 / self.h
        self.poly(pid, [(x0 + ox, y0 + oy), (x1 + ox, y1 + oy), (x1 - ox, y1 - oy), (x0 - ox, y0 - oy)])

    def light(self, fx: float, fy: float, radius: float, rgb: Sequence[float], gain: float,
              pool: float = 0.0) -> None:
        self.lights.append(_Light(fx, fy, radius, (rgb[0], rgb[1], rgb[2]), gain, pool))

    def mirror(self) -> None:
        self.map = np.ascontiguousarray(self.map[:, ::-1])
        for lt in self.lights:
            lt.fx = 1.0 - lt.fx


def _pick(rng: np.random.Generator, options: Sequence, p: Sequence[float] | None = None):
    return options[int(rng.choice(len(options), p=p))]


def _jitter(rng: np.random.Generator, rgb: Sequence[float], amount: float = 0.06) -> tuple[float, ...]:
    f = 1.0 + rng.uniform(-amount, amount)
    return tuple(float(np.clip(c * f + rng.uniform(-amount, amount) * 0.3, 0.0, 1.0)) for c in rgb)


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


_CAR_COLOURS = [(0.86, 0.86, 0.85), (0.66, 0.67, 0.69), (0.40, 0.40, 0.42), (0.09, 0.09, 0.10),
                (0.10, 0.16, 0.36), (0.62, 0.08, 0.07), (0.70, 0.64, 0.54), (0.12, 0.26, 0.16)]
_CAR_P = [0.22, 0.2, 0.14, 0.18, 0.08, 0.08, 0.05, 0.05]
_BUS_COLOURS = [(0.92, 0.74, 0.08), (0.78, 0.12, 0.09), (0.14, 0.56, 0.24), (0.12, 0.32, 0.74),
                (0.93, 0.46, 0.09), (0.55, 0.78, 0.20)]
_CAB_COLOURS = [(0.80, 0.10, 0.08), (0.12, 0.28, 0.70), (0.92, 0.92, 0.90), (0.93, 0.50, 0.08),
                (0.16, 0.50, 0.22), (0.92, 0.78, 0.10)]
_CARGO_COLOURS = [(0.90, 0.90, 0.88), (0.72, 0.73, 0.74), (0.72, 0.44, 0.18), (0.16, 0.22, 0.42),
                  (0.32, 0.42, 0.24), (0.80, 0.70, 0.50)]
_SKIN = [(0.86, 0.66, 0.52), (0.70, 0.50, 0.37), (0.45, 0.30, 0.20)]
_PANTS = [(0.10, 0.13, 0.28), (0.08, 0.08, 0.09), (0.35, 0.35, 0.37), (0.60, 0.52, 0.38),
          (0.25, 0.30, 0.45)]
_GLASS = (0.16, 0.20, 0.26)
_TYRE = (0.06, 0.06, 0.06)
_RIM = (0.60, 0.61, 0.63)
_HEADLIGHT = (1.0, 0.95, 0.80)
_TAILLIGHT = (1.0, 0.12, 0.08)


def _draw_people(sp: _Sprite, rng: np.random.Generator) -> None:
    skin = _jitter(rng, _pick(rng, _SKIN))
    shirt = _hsv(rng.random(), rng.uniform(0.15, 0.85), rng.uniform(0.25, 0.92))
    pants = _jitter(rng, _pick(rng, _PANTS))
    hair = _jitter(rng, _pick(rng, [(0.07, 0.05, 0.04), (0.25, 0.16, 0.08), (0.55, 0.45, 0.30)]))
    p_leg = sp.part(pants, 0.20, 0.08)
    p_shoe = sp.part((0.06, 0.06, 0.06), 0.08, 0.05)
    p_shirt = sp.part(shirt, 0.26, 0.10)
    p_arm = sp.part(skin if rng.random() < 0.4 else shirt, 0.28, 0.06)
    p_hand = sp.part(skin, 0.30, 0.04)
    p_skin = sp.part(skin, 0.40, 0.04)
    p_hair = sp.part(hair, 0.26, 0.06)
    stride = rng.uniform(0.0, 0.22)  # walking pose: legs apart at the feet
    lw = 0.17 * sp.w
    sp.bar(p_leg, 0.40, 0.55, 0.5 - stride - 0.08, 0.96, lw)
    sp.bar(p_leg, 0.60, 0.55, 0.5 + stride + 0.08, 0.96, lw)
    sp.rect(p_shoe, 0.5 - stride - 0.20, 0.95, 0.5 - stride + 0.02, 1.0)
    sp.rect(p_shoe, 0.5 + stride - 0.02, 0.95, 0.5 + stride + 0.20, 1.0)
    sp.poly(p_shirt, [(0.17, 0.19), (0.83, 0.19), (0.76, 0.58), (0.24, 0.58)])
    swing = rng.uniform(-0.06, 0.06)
    aw = 0.14 * sp.w
    sp.bar(p_arm, 0.15, 0.21, 0.08 + swing, 0.52, aw)
    sp.bar(p_arm, 0.85, 0.21, 0.92 - swing, 0.52, aw)
    sp.disc(p_hand, 0.08 + swing, 0.54, 0.022)
    sp.disc(p_hand, 0.92 - swing, 0.54, 0.022)
    sp.rect(p_skin, 0.42, 0.14, 0.58, 0.2)  # neck
    sp.ellipse(p_hair, 0.5, 0.075, 0.25, 0.075)
    sp.ellipse(p_skin, 0.5, 0.095, 0.22, 0.065)
    if rng.random() < 0.3:  # a bag
        p_bag = sp.part(_jitter(rng, _pick(rng, [(0.1, 0.1, 0.1), (0.45, 0.28, 0.15), (0.6, 0.1, 0.1)])),
                        0.03, 0.05)
        sp.rect(p_bag, 0.0, 0.42, 0.18, 0.62)
    sp.shade = 0.1


def _draw_motorcycle(sp: _Sprite, rng: np.random.Generator, view: str) -> None:
    body = _jitter(rng, _pick(rng, [(0.75, 0.1, 0.08), (0.08, 0.08, 0.09), (0.12, 0.25, 0.65),
                                    (0.65, 0.66, 0.68), (0.92, 0.45, 0.08)]))
    jacket = _jitter(rng, _pick(rng, [(0.08, 0.08, 0.09), (0.22, 0.22, 0.25), (0.15, 0.2, 0.35),
                                      (0.45, 0.3, 0.18), _hsv(rng.random(), 0.6, 0.6)]))
    helmet = _jitter(rng, _pick(rng, [(0.06, 0.06, 0.07), (0.9, 0.9, 0.9), (0.8, 0.12, 0.1),
                                      (0.15, 0.3, 0.75), (0.95, 0.8, 0.1)]))
    legs = _jitter(rng, _pick(rng, _PANTS))
    p_tyre = sp.part(_TYRE, 0.14, 0.04)
    p_rim = sp.part(_RIM, 0.08, 0.02)
    p_body = sp.part(body, 0.08, 0.03)
    p_engine = sp.part((0.22, 0.22, 0.24), 0.36, 0.05)
    p_pipe = sp.part((0.55, 0.55, 0.57), 0.42, 0.02)
    p_seat = sp.part((0.05, 0.05, 0.05), 0.10, 0.03)
    p_jacket = sp.part(jacket, 0.26, 0.08)
    p_legs = sp.part(legs, 0.22, 0.08)
    p_helmet = sp.part(helmet, 0.18, 0.02)
    p_visor = sp.part((0.05, 0.06, 0.08), 0.16, 0.02)
    if view == "side":  # facing right
        r = 0.17
        rx = r * sp.h / sp.w
        for cx in (rx, 1.0 - rx):
            sp.disc(p_tyre, cx, 1.0 - r, r)
            sp.disc(p_rim, cx, 1.0 - r, r * 0.55)
        sp.bar(p_body, 1.0 - rx, 1.0 - r, 0.78, 0.48, max(1.5, 0.035 * sp.h))  # fork
        sp.poly(p_body, [(0.30, 0.55), (0.52, 0.50), (0.78, 0.50), (0.70, 0.66), (0.36, 0.68)])
        sp.poly(p_engine, [(0.38, 0.66), (0.62, 0.66), (0.60, 0.84), (0.42, 0.84)])
        sp.bar(p_pipe, 0.45, 0.84, 0.12, 0.78, max(1.5, 0.03 * sp.h))
        sp.rect(p_seat, 0.22, 0.50, 0.45, 0.56)
        sp.bar(p_legs, 0.40, 0.52, 0.58, 0.68, 0.09 * sp.h)
        sp.bar(p_legs, 0.58, 0.68, 0.55, 0.86, 0.07 * sp.h)
        sp.poly(p_jacket, [(0.30, 0.54), (0.48, 0.54), (0.62, 0.22), (0.44, 0.18)])
        sp.bar(p_jacket, 0.56, 0.25, 0.78, 0.44, 0.07 * sp.h)
        sp.disc(p_helmet, 0.56, 0.10, 0.10)
        sp.ellipse(p_visor, 0.63, 0.11, 0.05, 0.04)
        sp.light(0.80, 0.44, 0.06 * sp.h, _HEADLIGHT, 1.0)
        sp.light(0.10, 0.52, 0.03 * sp.h, _TAILLIGHT, 0.6)
    else:  # seen from behind
        sp.rect(p_tyre, 0.38, 0.66, 0.62, 1.0)
        sp.poly(p_body, [(0.30, 0.50), (0.70, 0.50), (0.64, 0.70), (0.36, 0.70)])
        p_plate = sp.part((0.9, 0.9, 0.85), 0.02, 0.01)
        sp.rect(p_plate, 0.40, 0.62, 0.60, 0.68)
        sp.rect(p_pipe, 0.62, 0.70, 0.80, 0.78)
        sp.bar(p_jacket, 0.22, 0.30, 0.0, 0.42, 0.06 * sp.h)  # arms to the handlebar
        sp.bar(p_jacket, 0.78, 0.30, 1.0, 0.42, 0.06 * sp.h)
        sp.poly(p_legs, [(0.22, 0.50), (0.78, 0.50), (0.85, 0.64), (0.15, 0.64)])
        sp.poly(p_jacket, [(0.18, 0.20), (0.82, 0.20), (0.78, 0.55), (0.22, 0.55)])
        sp.ellipse(p_helmet, 0.5, 0.10, 0.22, 0.10)
        sp.light(0.5, 0.58, 0.04 * sp.h, _TAILLIGHT, 0.8)
    sp.shade = 0.15


def _wheels_side(sp: _Sprite, xs: Sequence[float], r: float, tyre_heat: float) -> None:
    p_tyre = sp.part(_TYRE, tyre_heat, 0.04)
    p_rim = sp.part(_RIM, tyre_heat * 0.7, 0.02)
    for cx in xs:
        sp.disc(p_tyre, cx, 1.0 - r, r)
        sp.disc(p_rim, cx, 1.0 - r, r * 0.5)


# Heat shared by Car, Bus and Truck: infrared alone sees the same kind of warm vehicle.
_V_TOP, _V_LOW, _V_ENGINE, _V_TYRE, _V_EXHAUST = 0.06, 0.13, 0.32, 0.24, 0.45


def _draw_car(sp: _Sprite, rng: np.random.Generator, view: str) -> None:
    paint = _jitter(rng, _pick(rng, _CAR_COLOURS, _CAR_P), 0.05)
    p_body = sp.part(paint, _V_LOW, 0.02)
    p_cabin = sp.part(paint, _V_TOP, 0.02)
    p_engine = sp.part(paint, _V_ENGINE, 0.02)
    p_glass = sp.part(_jitter(rng, _GLASS), _V_TOP, 0.02)
    p_dark = sp.part((0.07, 0.07, 0.08), _V_LOW, 0.03)
    p_lamp = sp.part((0.95, 0.92, 0.80), _V_LOW, 0.0)
    p_tail = sp.part((0.75, 0.08, 0.06), _V_LOW, 0.0)
    p_exh = sp.part((0.2, 0.2, 0.2), _V_EXHAUST, 0.0)
    if view == "side":  # facing right
        sp.poly(p_body, [(0.0, 0.50), (0.05, 0.42), (0.78, 0.40), (0.98, 0.50), (1.0, 0.62),
                         (0.99, 0.80), (0.0, 0.80)])
        sp.poly(p_engine, [(0.78, 0.44), (0.98, 0.52), (0.99, 0.80), (0.76, 0.80)])
        roof = rng.uniform(0.22, 0.34)
        sp.poly(p_cabin, [(0.14, 0.43), (roof, 0.02), (0.66, 0.02), (0.80, 0.43)])
        sp.poly(p_glass, [(0.19, 0.40), (roof + 0.04, 0.09), (0.44, 0.09), (0.44, 0.40)])
        sp.poly(p_glass, [(0.48, 0.40), (0.48, 0.09), (0.64, 0.09), (0.74, 0.40)])
        sp.rect(p_dark, 0.0, 0.74, 1.0, 0.82)
        sp.rect(p_lamp, 0.95, 0.50, 1.0, 0.58)
        sp.rect(p_tail, 0.0, 0.47, 0.03, 0.57)
        sp.rect(p_exh, 0.02, 0.80, 0.08, 0.85)
        r = 0.19
        rx = r * sp.h / sp.w
        _wheels_side(sp, (0.04 + rx, 0.96 - rx), r, _V_TYRE)
        sp.light(0.985, 0.54, 0.10 * sp.h, _HEADLIGHT, 1.0)
        sp.light(0.015, 0.52, 0.05 * sp.h, _TAILLIGHT, 0.6)
    else:  # seen from behind
        sp.poly(p_body, [(0.02, 0.42), (0.98, 0.42), (1.0, 0.55), (1.0, 0.86), (0.0, 0.86), (0.0, 0.55)])
        sp.poly(p_engine, [(0.06, 0.70), (0.94, 0.70), (0.94, 0.86), (0.06, 0.86)])
        sp.poly(p_cabin, [(0.16, 0.02), (0.84, 0.02), (0.95, 0.43), (0.05, 0.43)])
        sp.poly(p_glass, [(0.20, 0.07), (0.80, 0.07), (0.88, 0.38), (0.12, 0.38)])
        sp.rect(p_tail, 0.04, 0.46, 0.22, 0.56)
        sp.rect(p_tail, 0.78, 0.46, 0.96, 0.56)
        p_plate = sp.part((0.92, 0.92, 0.88), _V_LOW, 0.01)
        sp.rect(p_plate, 0.38, 0.58, 0.62, 0.68)
        sp.rect(p_dark, 0.02, 0.74, 0.98, 0.86)
        sp.rect(p_exh, 0.22, 0.84, 0.30, 0.90)
        p_tyre = sp.part(_TYRE, _V_TYRE, 0.04)
        sp.rect(p_tyre, 0.06, 0.84, 0.24, 1.0)
        sp.rect(p_tyre, 0.76, 0.84, 0.94, 1.0)
        sp.light(0.13, 0.51, 0.07 * sp.h, _TAILLIGHT, 0.9)
        sp.light(0.87, 0.51, 0.07 * sp.h, _TAILLIGHT, 0.9)
    sp.shade = 0.3


def _draw_bus(sp: _Sprite, rng: np.random.Generator, view: str) -> None:
    colour = _jitter(rng, _pick(rng, _BUS_COLOURS), 0.05)
    if rng.random() < 0.3:  # white bus with a coloured band
        colour, band = (0.9, 0.9, 0.88), colour
    else:
        band = _pick(rng, [(0.95, 0.95, 0.93), (0.1, 0.1, 0.1), _pick(rng, _BUS_COLOURS)])
    p_top = sp.part(colour, _V_TOP, 0.03)
    p_low = sp.part(colour, _V_LOW, 0.03)
    p_band = sp.part(band, _V_LOW, 0.02)
    p_glass = sp.part(_jitter(rng, _GLASS), _V_TOP, 0.03)
    p_engine = sp.part(tuple(c * 0.6 for c in colour), _V_ENGINE, 0.04)
    p_sign = sp.part((0.95, 0.55, 0.10), _V_TOP, 0.0)
    p_dark = sp.part((0.07, 0.07, 0.08), _V_LOW, 0.03)
    p_exh = sp.part((0.2, 0.2, 0.2), _V_EXHAUST, 0.0)
    if view == "side":  # facing right
        sp.poly(p_top, [(0.0, 0.04), (0.02, 0.0), (0.97, 0.0), (1.0, 0.05), (1.0, 0.55), (0.0, 0.55)])
        sp.rect(p_low, 0.0, 0.55, 1.0, 0.88)
        sp.rect(p_band, 0.0, 0.58, 1.0, 0.66)
        n = max(3, int(round(0.82 * sp.w / (0.55 * sp.h))))
        pitch = 0.80 / n
        for i in range(n):
            x0 = 0.04 + i * pitch
            sp.rect(p_glass, x0, 0.13, x0 + pitch * 0.82, 0.48)
        sp.rect(p_glass, 0.90, 0.10, 0.99, 0.56)  # windscreen
        sp.rect(p_glass, 0.84, 0.14, 0.89, 0.86)  # door
        sp.rect(p_sign, 0.86, 0.03, 0.98, 0.08)
        sp.rect(p_engine, 0.0, 0.66, 0.10, 0.86)  # rear engine
        sp.rect(p_dark, 0.0, 0.84, 1.0, 0.90)
        sp.rect(p_exh, 0.0, 0.86, 0.04, 0.92)
        _wheels_side(sp, (0.16, 0.80), 0.13, _V_TYRE)
        sp.light(0.995, 0.80, 0.08 * sp.h, _HEADLIGHT, 1.0)
        sp.light(0.005, 0.75, 0.04 * sp.h, _TAILLIGHT, 0.6)
    else:  # seen from behind
        sp.poly(p_top, [(0.0, 0.05), (0.05, 0.0), (0.95, 0.0), (1.0, 0.05), (1.0, 0.55), (0.0, 0.55)])
        sp.rect(p_low, 0.0, 0.55, 1.0, 0.90)
        sp.rect(p_glass, 0.08, 0.10, 0.92, 0.45)
        sp.rect(p_sign, 0.20, 0.03, 0.80, 0.08)
        sp.rect(p_band, 0.0, 0.48, 1.0, 0.55)
        sp.rect(p_engine, 0.22, 0.62, 0.78, 0.82)
        p_tail = sp.part((0.75, 0.08, 0.06), _V_LOW, 0.0)
        sp.rect(p_tail, 0.03, 0.60, 0.12, 0.76)
        sp.rect(p_tail, 0.88, 0.60, 0.97, 0.76)
        sp.rect(p_dark, 0.0, 0.84, 1.0, 0.92)
        sp.rect(p_exh, 0.80, 0.90, 0.86, 0.94)
        p_tyre = sp.part(_TYRE, _V_TYRE, 0.04)
        sp.rect(p_tyre, 0.06, 0.90, 0.30, 1.0)
        sp.rect(p_tyre, 0.70, 0.90, 0.94, 1.0)
        sp.light(0.075, 0.68, 0.06 * sp.h, _TAILLIGHT, 0.9)
        sp.light(0.925, 0.68, 0.06 * sp.h, _TAILLIGHT, 0.9)
    sp.shade = 0.15


def _draw_truck(sp: _Sprite, rng: np.random.Generator, view: str) -> None:
    cab = _jitter(rng, _pick(rng, _CAB_COLOURS), 0.05)
    cargo = _jitter(rng, _pick(rng, _CARGO_COLOURS), 0.05)
    p_cargo = sp.part(cargo, _V_TOP, 0.05)
    p_rib = sp.part(tuple(c * 0.72 for c in cargo), _V_TOP, 0.05)
    p_cab = sp.part(cab, _V_LOW, 0.03)
    p_engine = sp.part(cab, _V_ENGINE, 0.03)
    p_glass = sp.part(_jitter(rng, _GLASS), _V_LOW, 0.02)
    p_dark = sp.part((0.08, 0.08, 0.09), _V_LOW, 0.03)
    p_exh = sp.part((0.2, 0.2, 0.2), _V_EXHAUST, 0.0)
    if view == "side":  # facing right
        split = rng.uniform(0.68, 0.74)
        sp.rect(p_cargo, 0.0, 0.0, split, 0.78)
        ribs = max(3, int(round(split * sp.w / (0.18 * sp.h))))
        for i in range(1, ribs):
            x = split * i / ribs
            sp.rect(p_rib, x - 0.006, 0.02, x + 0.006, 0.76)
        sp.rect(p_rib, 0.0, 0.0, split, 0.03)
        top = rng.uniform(0.12, 0.25)
        sp.poly(p_cab, [(split + 0.02, top), (0.93, top), (1.0, 0.42), (1.0, 0.84), (split + 0.02, 0.84)])
        sp.poly(p_engine, [(0.84, 0.52), (1.0, 0.52), (1.0, 0.84), (0.84, 0.84)])
        sp.poly(p_glass, [(0.86, top + 0.05), (0.92, top + 0.05), (0.98, 0.42), (0.86, 0.42)])
        sp.rect(p_dark, 0.0, 0.78, 1.0, 0.86)
        sp.rect(p_exh, split + 0.005, 0.30, split + 0.02, 0.84)  # upright exhaust stack
        r = 0.14
        rx = r * sp.h / sp.w
        _wheels_side(sp, (0.02 + rx, 0.04 + 3 * rx, 0.97 - rx - 0.02), r, _V_TYRE)
        sp.light(0.995, 0.70, 0.08 * sp.h, _HEADLIGHT, 1.0)
        sp.light(0.005, 0.80, 0.04 * sp.h, _TAILLIGHT, 0.6)
    else:  # seen from behind: the cargo doors
        sp.rect(p_cargo, 0.0, 0.0, 1.0, 0.80)
        sp.rect(p_rib, 0.49, 0.02, 0.51, 0.78)
        for x in (0.25, 0.75):
            sp.rect(p_rib, x - 0.012, 0.04, x + 0.012, 0.78)
        sp.rect(p_rib, 0.0, 0.0, 1.0, 0.03)
        sp.rect(p_dark, 0.0, 0.78, 1.0, 0.86)
        sp.rect(p_dark, 0.12, 0.92, 0.88, 0.95)  # under-run bar
        sp.rect(p_engine, 0.35, 0.86, 0.65, 0.92)
        p_tail = sp.part((0.75, 0.08, 0.06), _V_LOW, 0.0)
        sp.rect(p_tail, 0.02, 0.80, 0.12, 0.85)
        sp.rect(p_tail, 0.88, 0.80, 0.98, 0.85)
        sp.rect(p_exh, 0.78, 0.88, 0.84, 0.92)
        p_tyre = sp.part(_TYRE, _V_TYRE, 0.04)
        sp.rect(p_tyre, 0.04, 0.84, 0.34, 1.0)
        sp.rect(p_tyre, 0.66, 0.84, 0.96, 1.0)
        sp.light(0.07, 0.825, 0.05 * sp.h, _TAILLIGHT, 0.9)
        sp.light(0.93, 0.825, 0.05 * sp.h, _TAILLIGHT, 0.9)
    sp.shade = 0.15


def _draw_lamp(sp: _Sprite, rng: np.random.Generator, night: bool) -> None:
    """Street lamp with its arm reaching right; the head glows at night."""
    pole = _jitter(rng, _pick(rng, [(0.45, 0.46, 0.48), (0.15, 0.26, 0.18), (0.12, 0.12, 0.13),
                                    (0.62, 0.63, 0.64)]))
    head_heat = 0.38 if night else 0.22
    p_pole = sp.part(pole, 0.08, 0.03)
    p_head = sp.part(tuple(min(1.0, c * 1.15) for c in pole), head_heat, 0.02)
    p_lens = sp.part((0.92, 0.92, 0.86), head_heat + 0.08, 0.0)
    pw = max(2.0, 0.032 * sp.h)  # pole width in pixels
    px = 0.5 * pw / sp.w
    sp.rect(p_pole, 0.0, 0.94, 3 * px, 1.0)  # base
    sp.rect(p_pole, px * 0.4, 0.03, px * 1.6, 1.0)
    sp.bar(p_pole, px, 0.04, 0.70, 0.045, max(1.5, 0.7 * pw))
    sp.bar(p_pole, px, 0.12, 0.35, 0.05, max(1.0, 0.4 * pw))  # brace
    sp.ellipse(p_head, 0.78, 0.045, 0.22, 0.035)
    sp.ellipse(p_lens, 0.80, 0.062, 0.16, 0.018)
    sp.light(0.80, 0.065, 0.6 * sp.w, (1.0, 0.88, 0.62), 1.0, pool=1.0)
    sp.shade = 0.0


def _draw_tree(sp: _Sprite, rng: np.random.Generator) -> None:
    leaf = _jitter(rng, _pick(rng, [(0.18, 0.35, 0.12), (0.25, 0.42, 0.15), (0.14, 0.28, 0.14),
                                    (0.45, 0.45, 0.15)]))
    p_trunk = sp.part(_jitter(rng, (0.32, 0.24, 0.16)), 0.02, 0.1)
    p_leaf = sp.part(leaf, -0.03, 0.35)
    p_leaf2 = sp.part(tuple(c * 0.75 for c in leaf), -0.04, 0.35)
    sp.rect(p_trunk, 0.44, 0.45, 0.56, 1.0)
    for _ in range(5):
        sp.ellipse(p_leaf if rng.random() < 0.6 else p_leaf2, rng.uniform(0.3, 0.7),
                   rng.uniform(0.2, 0.42), rng.uniform(0.22, 0.3), rng.uniform(0.14, 0.22))
    sp.shade = 0.3


def _draw_sign(sp: _Sprite, rng: np.random.Generator) -> None:
    p_pole = sp.part((0.55, 0.56, 0.58), 0.02, 0.02)
    face = _pick(rng, [(0.85, 0.1, 0.1), (0.1, 0.3, 0.8), (0.95, 0.8, 0.1), (0.1, 0.5, 0.25)])
    p_face = sp.part(face, 0.02, 0.02)
    p_rim = sp.part((0.93, 0.93, 0.93), 0.02, 0.0)
    sp.rect(p_pole, 0.42, 0.25, 0.58, 1.0)
    if rng.random() < 0.5:
        sp.disc(p_rim, 0.5, 0.16, 0.16)
        sp.disc(p_face, 0.5, 0.16, 0.12)
    else:
        sp.rect(p_rim, 0.0, 0.0, 1.0, 0.34)
        sp.rect(p_face, 0.08, 0.02, 0.92, 0.32)
    sp.shade = 0.0


# ----------------------------------------------------------------------------------------
# The scene
# ----------------------------------------------------------------------------------------


@dataclass
class SceneObject:
    """One labelled object of a scene."""

    cls: int
    view: str
    box: tuple[float, float, float, float]  # visible extent, pixel edges x1, y1, x2, y2
    depth: float  # 1 at the bottom row, growing towards the horizon
    heat: float  # scale of the object's heat pattern; 0 = at background temperature
    visible_fraction: float = 1.0


@dataclass
class Scene:
    """One rendered scene; :func:`render_scene` returns a tuple of its main fields."""

    ir: np.ndarray  # (H, W) uint8
    vis: np.ndarray  # (H, W, 3) uint8 RGB
    objects: list[SceneObject]  # the labelled objects, far to near
    condition: str
    variant: str = ""  # "fog" or "smoke" for a fog scene
    id_map: np.ndarray | None = None  # (H, W) uint8: 0 background, 255 scenery, else 1 + drawing index

    @property
    def boxes(self) -> list[tuple[int, float, float, float, float]]:
        return [(o.cls, *o.box) for o in self.objects]


@dataclass
class _Ground:
    yh: int  # horizon row
    vx: float  # vanishing point column
    half: float  # road half-width at the bottom row, pixels
    height: int
    width: int

    def x_at(self, u: float, y: float) -> float:
        """Column of lateral road coordinate ``u`` (-1..1 is the road) at row ``y``."""
        return self.vx + u * self.half * (y - self.yh) / (self.height - self.yh)

    def depth(self, y: float) -> float:
        return (self.height - self.yh) / max(y - self.yh, 0.5)


_BUILDING_COLOURS = [(0.62, 0.60, 0.56), (0.70, 0.64, 0.52), (0.55, 0.33, 0.26), (0.45, 0.52, 0.60),
                     (0.80, 0.79, 0.76), (0.36, 0.37, 0.40)]
# Ground region ids (lookup tables index by them).
_ROAD, _WALK, _VERGE, _KERB, _MARK, _TILE = range(1, 7)


def _background(rng: np.random.Generator, cond: str, g: _Ground, tex: _Textures):
    """Reflectance (3,H,W), temperature (H,W), depth (H,W), lit-window emission (3,H,W) and
    the ambient temperature of things on the ground (a float).

    All float32; colour planes first (RGB), which keeps the per-pixel arithmetic fast. Rows up
    to the horizon hold sky and buildings, rows below it the ground.
    """
    H, W, yh = g.height, g.width, g.yh
    na = yh + 1  # rows above (and on) the horizon
    f32 = np.float32
    vis = np.empty((3, H, W), f32)
    temp = np.empty((H, W), f32)
    emission = np.zeros((3, H, W), f32)
    depth = np.empty((H, W), f32)

    # Infrared base levels per condition (before automatic gain).
    if cond == "night":
        t_sky, t_bld, t_road, t_walk, t_verge = 0.04, 0.34, 0.42, 0.39, 0.27
    elif cond == "crossover":
        t_sky, t_bld, t_road, t_walk, t_verge = 0.20, 0.43, 0.45, 0.44, 0.42
    else:
        t_sky, t_bld, t_road, t_walk, t_verge = 0.12, 0.42, 0.48, 0.45, 0.36

    # Sky: a vertical gradient with soft clouds.
    ya = np.arange(na, dtype=f32)[:, None]
    t = ya / f32(max(yh, 1))
    if cond == "crossover":  # low sun: warm horizon
        top, hor = (0.32, 0.38, 0.58), (0.96, 0.72, 0.50)
    elif cond == "day" and rng.random() < 0.35:  # overcast
        top, hor = (0.62, 0.64, 0.68), (0.80, 0.81, 0.83)
    else:
        top, hor = (0.30, 0.50, 0.84), (0.74, 0.84, 0.95)
    top_a = np.array(top, f32) * f32(rng.uniform(0.9, 1.08))
    hor_a = np.array(hor, f32)
    cloud = np.clip((_take(tex.large, rng, na, W) - f32(rng.uniform(-0.2, 1.0))) * f32(0.65), 0, 0.8)
    white = f32(0.9 * rng.uniform(0.85, 1.0))
    for c in range(3):
        grad = top_a[c] + (hor_a[c] - top_a[c]) * t  # (na,1)
        vis[c, :na] = grad + (white - grad) * cloud
    temp[:na] = f32(t_sky - 0.06) + f32(0.06) * t
    depth[:na] = 40.0

    # Skyline: buildings standing on the horizon, each with a grid of windows.
    top_row = np.full(W, na, np.int32)
    bid = np.zeros(W, np.int32)
    params = []  # (x_start, colour, temperature, pitch_x, fill_x, pitch_y, fill_y)
    scale = H / 256.0
    x = -int(rng.integers(0, W // 8 + 1))
    while x < W:
        bw = int(W * rng.uniform(0.07, 0.22)) + 2
        if rng.random() < 0.15:  # a gap
            x += bw // 2
            continue
        hgt = int(H * rng.uniform(0.06, 0.30))
        x0, x1 = max(x, 0), min(x + bw, W)
        if x1 > x0:
            top_row[x0:x1] = max(yh - hgt, 1)
            bid[x0:x1] = len(params)
            params.append((x + 2, _jitter(rng, _pick(rng, _BUILDING_COLOURS), 0.08),
                           t_bld + rng.uniform(-0.04, 0.04), rng.uniform(5, 10) * scale,
                           rng.uniform(0.45, 0.7), rng.uniform(7, 12) * scale, rng.uniform(0.45, 0.65)))
        x += bw
    if params:
        col = lambda j: np.array([p[j] for p in params], f32)[bid]  # noqa: E731  per column
        bmask = ya >= top_row[None, :]
        wpx, wpy = col(3), col(5)
        rel_x = np.arange(W, dtype=f32) - col(0)
        ix = np.floor(rel_x / wpx)
        in_x = (rel_x - ix * wpx) < col(4) * wpx
        rel_y = ya - top_row[None, :].astype(f32) - 2
        iy = np.floor(rel_y / wpy)
        window = in_x[None, :] & ((rel_y - iy * wpy) < col(6) * wpy) & (rel_y > 0) & (ya < yh - 3) & bmask
        bcol = np.array([p[1] for p in params], f32)[bid].T  # (3,W)
        stain = 1 + f32(0.05) * _take(tex.medium, rng, na, W)
        glass = f32(rng.uniform(0.18, 0.35)) * np.array([0.8, 0.9, 1.0], f32)
        wall = bmask & ~window
        for c in range(3):
            plane = vis[c, :na]
            plane[wall] = (bcol[c] * stain)[wall]
            plane[window] = glass[c]
        temp[:na] = np.where(bmask, col(2)[None, :], temp[:na])
        depth[:na][bmask] = 30.0
        if cond == "night":  # some windows are lit: a hash of (building, window column, row)
            hsh = (ix.astype(np.int64)[None, :] * 73856093 + iy.astype(np.int64) * 19349663
                   + bid.astype(np.int64)[None, :] * 83492791 + int(rng.integers(1 << 20)))
            lit = (np.mod(hsh, 97) < 97 * rng.uniform(0.1, 0.35)) & window
            glow = np.array([0.55, 0.45, 0.25], f32) * f32(rng.uniform(0.6, 1.0))
            for c in range(3):
                emission[c, :na][lit] = glow[c]

    # Ground: road, sidewalks with kerbs, verges, in road coordinates u (lateral, -1..1 is the
    # road) and z (distance along the ground, 1 at the bottom row).
    nb = H - na
    yb = np.arange(na, H, dtype=f32)[:, None]
    s = (yb - yh) / f32(H - yh)  # (nb,1): 0 at the horizon, 1 at the bottom
    z = 1.0 / s
    u = (np.arange(W, dtype=f32)[None, :] - f32(g.vx)) / (f32(g.half) * s)
    au = np.abs(u)
    curb = f32(rng.uniform(1.25, 1.5))
    lab = np.full((nb, W), _VERGE, np.uint8)
    lab[au <= curb] = _WALK
    tiles = (_frac(u * 6) < 0.08) | (_frac(z * 4) < 0.08)
    lab[tiles & (lab == _WALK)] = _TILE
    lab[au < 1.04] = _KERB
    lab[au <= 1.0] = _ROAD
    # Lane markings: dashed lane lines, a centre line, solid edge lines, maybe a zebra crossing.
    lanes = int(rng.integers(1, 3))  # lanes per direction
    lw = f32(0.022)
    dash = _frac(z * f32(rng.uniform(1.2, 2.0)) + f32(rng.random())) < 0.45  # (nb,1)
    mark = np.abs(au - 0.96) < lw
    for i in range(-lanes + 1, lanes):
        line = np.abs(u - f32(i / lanes)) < lw
        mark |= line if (i == 0 and rng.random() < 0.5) else (line & dash)
    if rng.random() < 0.3:
        z0 = rng.uniform(1.3, 3.0)
        zebra = np.abs(z - f32(z0)) < f32(0.15 * z0)
        mark |= zebra & (_frac(u * 5) < 0.5) & (au < 0.93)
    lab[mark & (au <= 1.0)] = _MARK

    lut = np.zeros((7, 3), f32)
    lut[_ROAD] = _jitter(rng, (0.34, 0.34, 0.36), 0.12)
    lut[_WALK] = _jitter(rng, (0.62, 0.60, 0.56), 0.1)
    lut[_TILE] = lut[_WALK] * 0.85
    lut[_KERB] = 0.78
    lut[_MARK] = _pick(rng, [(0.88, 0.88, 0.86), (0.85, 0.75, 0.25)], [0.8, 0.2])
    lut[_VERGE] = _pick(rng, [(0.30, 0.44, 0.18), (0.42, 0.38, 0.28), (0.36, 0.46, 0.22)])
    amp_f = np.array([0, 0.07, 0.05, 0.10, 0.03, 0.05, 0.05], f32)[lab]
    amp_m = np.array([0, 0.06, 0.02, 0.10, 0.02, 0.02, 0.02], f32)[lab]
    fac = 1 + amp_f * _take(tex.fine, rng, nb, W) + amp_m * _take(tex.medium, rng, nb, W)
    for c in range(3):
        vis[c, na:] = np.take(lut[:, c], lab) * fac
    jit = lambda v: v + rng.uniform(-0.03, 0.03)  # noqa: E731
    tw = jit(t_walk)
    tlut = np.array([0, jit(t_road), tw, jit(t_verge), tw, t_road * 0.5 + tw * 0.5, tw], f32)
    tlut[_MARK] = tlut[_ROAD]  # paint is invisible in infrared
    temp[na:] = tlut[lab] + f32(0.03) * s  # the ground nearer the camera reads a little warmer
    depth[na:] = z
    temp += f32(0.025) * _take(tex.large, rng, H, W)
    return vis, temp, depth, emission, float(tw)


def _heat_scale(rng: np.random.Generator, cond: str) -> float:
    if cond == "night":
        return float(rng.uniform(1.0, 1.4))
    if cond == "crossover":
        return float(rng.uniform(0.18, 0.45))
    return float(rng.uniform(0.7, 1.15))


def _choose_view(rng: np.random.Generator, cls: int) -> str:
    if cls == PEOPLE:
        return "front"
    if cls == LAMP:
        return "side"
    return "rear" if rng.random() < 0.5 else "side"


def _lateral(rng: np.random.Generator, cls: int, view: str) -> float:
    """Lateral road coordinate of the object's foot (-1..1 is the road)."""
    side = 1.0 if rng.random() < 0.5 else -1.0
    if cls == LAMP:
        return side * rng.uniform(1.04, 1.2)
    if cls == PEOPLE:
        return side * rng.uniform(1.05, 1.45) if rng.random() < 0.7 else rng.uniform(-0.9, 0.9)
    if cls == -1:
        return side * rng.uniform(1.3, 2.4)
    if view == "rear":
        return rng.uniform(-0.8, 0.8)
    return rng.uniform(-0.85, 0.85) if rng.random() < 0.7 else side * rng.uniform(0.85, 1.1)


def _ioa(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over the area of the smaller box."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / max(small, 1e-6)


@dataclass
class _Placed:
    cls: int
    view: str
    x0: int
    y0: int
    w: int
    h: int
    depth: float
    flip: bool


def _place(rng: np.random.Generator, g: _Ground, cls: int, placed: list[_Placed]) -> _Placed | None:
    H, W = g.height, g.width
    for _ in range(_MAX_TRIES):
        view = _choose_view(rng, cls)
        if cls == -1:
            base, aspect = 0.45, (0.35, 0.6)
        else:
            base, aspect = _SIZE[(cls, view)]
        s = rng.uniform(0.1, 1.0)
        foot = g.yh + s * (H - g.yh)
        size = (0.42 + 0.58 * s) * rng.uniform(0.88, 1.12)
        h = max(8, int(round(base * size * H)))
        w = max(8, int(round(h * rng.uniform(*aspect))))
        u = _lateral(rng, cls, view)
        cx = g.x_at(u, foot)
        if cls == LAMP:  # the pole stands at the foot point, the arm reaches over the road
            flip = u > 0
            x0 = int(round(cx - w + 1)) if flip else int(round(cx))
        else:
            flip = rng.random() < 0.5
            x0 = int(round(cx - w / 2))
        y0 = int(round(foot - h))
        if (cls == LAMP and y0 < 1) or y0 < -0.1 * h:  # a lamp keeps its head in the frame
            continue
        vis_w = min(x0 + w, W) - max(x0, 0)
        if vis_w < 0.6 * w or vis_w < 8 or (cls == LAMP and vis_w < w):
            continue
        box = (x0, y0, x0 + w, y0 + h)
        limit = 0.45 if cls == -1 else 0.3
        if any(_ioa(box, (p.x0, p.y0, p.x0 + p.w, p.y0 + p.h)) > limit for p in placed):
            continue
        return _Placed(cls, view, x0, y0, w, h, g.depth(foot), flip)
    return None


def _sprite(rng: np.random.Generator, p: _Placed, night: bool) -> _Sprite:
    sp = _Sprite(p.w, p.h)
    if p.cls == PEOPLE:
        _draw_people(sp, rng)
    elif p.cls == CAR:
        _draw_car(sp, rng, p.view)
    elif p.cls == BUS:
        _draw_bus(sp, rng, p.view)
    elif p.cls == MOTORCYCLE:
        _draw_motorcycle(sp, rng, p.view)
    elif p.cls == LAMP:
        _draw_lamp(sp, rng, night)
    elif p.cls == TRUCK:
        _draw_truck(sp, rng, p.view)
    elif rng.random() < 0.65:
        _draw_tree(sp, rng)
    else:
        _draw_sign(sp, rng)
    if p.flip:
        sp.mirror()
    return sp


def _glow(layer: np.ndarray, cx: float, cy: float, radius: float, rgb: np.ndarray, gain: float) -> None:
    """Add a light source (a bright core and a Gaussian halo) to ``layer`` (3,H,W) in place."""
    H, W = layer.shape[1:]
    r = max(radius, 1.0)
    ext = int(math.ceil(3 * r)) + 1
    x0, x1 = max(0, int(cx) - ext), min(W, int(cx) + ext + 1)
    y0, y1 = max(0, int(cy) - ext), min(H, int(cy) + ext + 1)
    if x1 <= x0 or y1 <= y0:
        return
    yy = (np.arange(y0, y1, dtype=np.float32) - cy)[:, None] ** 2
    xx = (np.arange(x0, x1, dtype=np.float32) - cx)[None, :] ** 2
    d2 = yy + xx
    f = 0.35 * np.exp(-d2 / (2 * r * r)) + 1.5 * np.exp(-d2 / (2 * (0.25 * r + 0.6) ** 2))
    for c in range(3):
        layer[c, y0:y1, x0:x1] += (gain * rgb[c]) * f


def _pool(illum: np.ndarray, cx: float, cy: float, rx: float, ry: float, gain: float) -> None:
    """Add an elliptic Gaussian pool of light to ``illum`` (H,W) in place."""
    H, W = illum.shape
    x0, x1 = max(0, int(cx - 3 * rx)), min(W, int(cx + 3 * rx) + 1)
    y0, y1 = max(0, int(cy - 3 * ry)), min(H, int(cy + 3 * ry) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    yy = ((np.arange(y0, y1, dtype=np.float32) - cy) / ry)[:, None] ** 2
    xx = ((np.arange(x0, x1, dtype=np.float32) - cx) / rx)[None, :] ** 2
    illum[y0:y1, x0:x1] += gain * np.exp(-(yy + xx) / 2)


def _render(rng: np.random.Generator, width: int, height: int) -> Scene:
    W, H = int(width), int(height)
    tex = _texture_bank(H, W)
    cond = CONDITIONS[int(rng.integers(len(CONDITIONS)))]
    night = cond == "night"
    g = _Ground(yh=int(H * rng.uniform(0.33, 0.47)), vx=W * rng.uniform(0.3, 0.7),
                half=W * rng.uniform(0.45, 0.8), height=H, width=W)
    vis, temp_bg, depth, emission, t_ambient = _background(rng, cond, g, tex)
    temp = temp_bg.copy()
    id_map = np.zeros((H, W), np.uint8)

    # Which objects go in the scene.
    n = int(rng.integers(2, 9))
    classes = list(rng.choice(len(CLASSES), size=n, p=_CLASS_WEIGHTS / _CLASS_WEIGHTS.sum()))
    classes += [-1] * int(rng.integers(0, 4))  # scenery
    placed: list[_Placed] = []
    for c in classes:
        p = _place(rng, g, int(c), placed)
        if p is not None:
            placed.append(p)
    placed.sort(key=lambda p: -p.depth)  # far first: nearer objects occlude

    # Heat per object; in a crossover scene most objects (at least one) sit at ambient.
    labelled_idx = [i for i, p in enumerate(placed) if p.cls >= 0]
    heats = [_heat_scale(rng, cond) for _ in placed]
    if cond == "crossover" and labelled_idx:
        hidden = {i for i in labelled_idx if rng.random() < _CROSSOVER_HIDDEN}
        hidden.add(labelled_idx[int(rng.integers(len(labelled_idx)))])
        for i in hidden:
            heats[i] = 0.0
    if cond == "day":  # solar loading: sun-soaked objects sit near the sunlit surroundings
        for i in labelled_idx:
            if rng.random() < _DAY_SOAKED:
                heats[i] *= float(rng.uniform(0.0, 0.2))
    sun = cond != "night"

    objects: list[SceneObject] = []
    sprites: list[tuple[_Sprite, _Placed, int]] = []
    full_area: list[int] = []
    shade_strength = rng.uniform(0.3, 0.55)
    for i, p in enumerate(placed):
        sp = _sprite(rng, p, night)
        x0, y0 = max(p.x0, 0), max(p.y0, 0)
        x1, y1 = min(p.x0 + p.w, W), min(p.y0 + p.h, H)
        sx, sy = x0 - p.x0, y0 - p.y0
        part = sp.map[sy:sy + (y1 - y0), sx:sx + (x1 - x0)]
        mask = part > 0
        if sun and p.cls not in (LAMP, -1):  # contact shadow under the object
            sh = np.zeros((y1 - y0 + 1, x1 - x0), np.float32)
            cv2.ellipse(sh, (int((p.x0 + p.w / 2 - x0)), y1 - y0 - 1), (max(1, int(p.w * 0.5)),
                        max(1, int(p.h * 0.05))), 0, 0, 360, 1.0, -1)
            vis[:, y0:y1, x0:x1] *= 1 - shade_strength * sh[: y1 - y0]
        rgb = np.array(sp.rgb, np.float32)[part][mask]  # (n,3)
        amp = np.array(sp.amp, np.float32)[part]
        tx = _take(tex.fine, rng, y1 - y0, x1 - x0)
        rows = (np.arange(sy, sy + y1 - y0, dtype=np.float32) / max(p.h - 1, 1))[:, None]
        lum = ((1 + amp * tx) * (1 + sp.shade * (0.5 - rows)))[mask]
        for c in range(3):
            vis[c, y0:y1, x0:x1][mask] = rgb[:, c] * lum
        heat = np.array(sp.heat, np.float32)[part] * np.float32(heats[i])
        treg = temp[y0:y1, x0:x1]
        base = temp_bg[y0:y1, x0:x1]
        if heats[i] > 0:  # seen against the cold sky an object is still at least at ambient
            base = np.maximum(base, np.float32(t_ambient))
        treg[mask] = (base + heat)[mask]
        depth[y0:y1, x0:x1][mask] = p.depth
        oid = len(sprites) + 1 if p.cls >= 0 else _DISTRACTOR
        id_map[y0:y1, x0:x1][mask] = oid
        if p.cls >= 0:
            sprites.append((sp, p, i))
            full_area.append(int(mask.sum()))

    # Visible extent of each labelled object after occlusion.
    for k, (sp, p, i) in enumerate(sprites):
        x0, y0 = max(p.x0, 0), max(p.y0, 0)
        x1, y1 = min(p.x0 + p.w, W), min(p.y0 + p.h, H)
        own = id_map[y0:y1, x0:x1] == k + 1
        cols = np.flatnonzero(own.any(axis=0))
        rws = np.flatnonzero(own.any(axis=1))
        if cols.size == 0 or rws.size == 0:
            continue
        box = (float(x0 + cols[0]), float(y0 + rws[0]), float(x0 + cols[-1] + 1), float(y0 + rws[-1] + 1))
        frac = float(own.sum()) / max(full_area[k], 1)
        objects.append(SceneObject(p.cls, p.view, box, p.depth, heats[i], frac))

    # Lights: lamps at night, vehicle lights at night (and dimly in fog).
    illum = None
    if night:
        illum = np.full((H, W), np.float32(rng.uniform(0.05, 0.11)), np.float32)
        # City glow low in the sky.
        ys = np.arange(H, dtype=np.float32)[:, None]
        haze = np.float32(0.08) * np.exp(-np.abs(ys - g.yh) / np.float32(0.15 * H)) * (depth > 20)
        emission += haze[None] * np.array([1.0, 0.8, 0.55], np.float32)[:, None, None]
    if night or cond == "fog":
        lit_gain = 1.0 if night else 0.35
        for k, (sp, p, i) in enumerate(sprites):
            if p.cls == LAMP and not night:
                continue
            if p.cls != LAMP and rng.random() < 0.15:  # a parked vehicle, lights off
                continue
            for lt in sp.lights:
                cx = p.x0 + lt.fx * (p.w - 1)
                cy = p.y0 + lt.fy * (p.h - 1)
                ix, iy = int(round(cx)), int(round(cy))
                if not (0 <= ix < W and 0 <= iy < H) or id_map[iy, ix] != k + 1:
                    continue
                _glow(emission, cx, cy, lt.radius, np.array(lt.rgb, np.float32), lt.gain * lit_gain)
                if illum is not None and lt.pool > 0:
                    foot = p.y0 + p.h
                    _pool(illum, cx, foot - 0.05 * p.h, 0.55 * p.h, 0.12 * p.h, 0.9 * lt.pool)
                    _pool(illum, cx, cy + 0.3 * p.h, 0.35 * p.h, 0.4 * p.h, 0.35 * lt.pool)
                if illum is not None and lt.rgb == _HEADLIGHT:  # beam on the road ahead
                    fwd = -1.0 if p.flip else 1.0
                    _pool(illum, cx + fwd * 0.6 * p.w, p.y0 + p.h, 0.5 * p.w, 0.1 * p.h, 0.5)

    # Visible image formation.
    variant = ""
    if cond == "day":
        vis = vis * np.float32(rng.uniform(0.9, 1.1))
        noise = 0.008
    elif cond == "crossover":
        tint = np.array([1.04, 0.96, 0.86], np.float32) * np.float32(rng.uniform(0.75, 0.95))
        vis = vis * tint[:, None, None]
        noise = 0.012
    elif cond == "night":
        vis = vis * illum + emission
        noise = float(rng.uniform(0.018, 0.032))
    else:  # fog or smoke: exponential extinction with distance towards an airlight colour
        smoke = rng.random() < 0.35
        variant = "smoke" if smoke else "fog"
        beta = rng.uniform(0.35, 0.6)
        if smoke:
            air = np.array(_jitter(rng, (0.55, 0.52, 0.48), 0.1), np.float32)
            dens = np.clip(1 + 0.6 * _take(tex.large, rng, H, W), 0.3, 2.0)
        else:
            air = np.full(3, rng.uniform(0.72, 0.86), np.float32)
            dens = 1.0
        trans = np.exp(np.float32(-beta) * dens * np.minimum(depth, np.float32(30.0))).astype(np.float32)
        dim = np.float32(rng.uniform(0.9, 1.0))
        vis = (vis * trans + air[:, None, None] * (1 - trans)) * dim + emission * trans
        noise = 0.01
    blur = 0.5 * max(H, W) / 320 + 0.1
    luma_noise = _take(tex.white, rng, H, W) * np.float32(noise * 255.0)
    planes = []
    for c in range(3):
        plane = cv2.GaussianBlur(vis[c].astype(np.float32), (0, 0), blur) * np.float32(255.0) + luma_noise
        if night:  # colour noise on top of the luma noise
            plane += _take(tex.white, rng, H, W) * np.float32(noise * 0.5 * 255.0)
        planes.append(np.clip(plane + np.float32(0.5), 0, 255).astype(np.uint8))
    vis_u8 = cv2.merge(planes)

    # Infrared image formation: fog attenuates long-wave infrared only a little.
    if cond == "fog":
        t_ir = np.exp(-0.04 * np.minimum(depth, 30.0))
        temp = temp * t_ir + np.float32(0.35) * (1 - t_ir)
    sigma = max(0.7, 0.0045 * W)
    temp = cv2.GaussianBlur(temp.astype(np.float32), (0, 0), sigma)
    temp += _take(tex.white, rng, H, W) * np.float32(rng.uniform(0.008, 0.016))
    temp += _take(tex.white, rng, 1, W) * np.float32(rng.uniform(0.003, 0.008))  # column pattern
    # Automatic gain as in a real camera: the range of the frame, robust at the cold end only,
    # so warm objects never clip.
    lo = float(np.percentile(temp[::4, ::4], 0.5))
    hi = float(temp.max())
    if hi - lo < 0.25:
        mid = (hi + lo) / 2
        lo, hi = mid - 0.125, mid + 0.125
    ir = (temp - np.float32(lo)) * np.float32(0.92 / (hi - lo)) + np.float32(0.04)
    ir_u8 = np.clip(ir * 255.0 + 0.5, 0, 255).astype(np.uint8)

    return Scene(ir=ir_u8, vis=vis_u8, objects=objects, condition=cond, variant=variant, id_map=id_map)


def render_scene(rng: np.random.Generator, width: int, height: int
                 ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, float, float, float, float]], str]:
    """Draw one scene.

    Returns ``(ir, vis, boxes, condition)``: ``ir`` (H, W) uint8 infrared; ``vis`` (H, W, 3)
    uint8 RGB; ``boxes`` a list of ``(cls, x1, y1, x2, y2)`` with ``cls`` an index into
    :data:`CLASSES` and corners in pixel-edge coordinates (the box covers columns x1..x2-1,
    0 <= x1 < x2 <= W); ``condition`` one of :data:`CONDITIONS`.
    """
    _check_size(width, height)
    sc = _render(rng, width, height)
    return sc.ir, sc.vis, sc.boxes, sc.condition


# ----------------------------------------------------------------------------------------
# Writing a data set
# ----------------------------------------------------------------------------------------


def _check_size(width: int, height: int) -> None:
    for name, v in (("width", width), ("height", height)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 32 <= int(v) <= 8192:
            raise ConfigError(f"synthetic data: {name} must be an integer in [32, 8192], found {v!r}")


def _check_split(split: Sequence[float]) -> tuple[float, float, float]:
    try:
        parts = tuple(float(f) for f in split)
    except (TypeError, ValueError):
        raise ConfigError(
            f"synthetic data: split must be 3 numbers (train, val, test), found {split!r}") from None
    if len(parts) != 3 or any(not math.isfinite(f) or f < 0 for f in parts) or abs(sum(parts) - 1) > 1e-6:
        raise ConfigError(f"synthetic data: split must be 3 fractions >= 0 summing to 1, found {split!r}")
    return parts  # type: ignore[return-value]


def split_counts(num: int, split: Sequence[float]) -> tuple[int, int, int]:
    """Number of scenes per part: largest remainders, every non-zero part gets one if it can."""
    fr = np.asarray(split, np.float64)
    raw = fr * num
    n = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - n), kind="stable")[: num - int(n.sum())]:
        n[i] += 1
    for i in range(3):  # a non-zero part left empty takes one from the largest part
        if fr[i] > 0 and n[i] == 0 and num >= int((fr > 0).sum()):
            n[int(np.argmax(n))] -= 1
            n[i] += 1
    return int(n[0]), int(n[1]), int(n[2])


def _encode_png(img: np.ndarray) -> bytes:
    arr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img
    ok, buf = cv2.imencode(".png", arr, _PNG_PARAMS)
    assert ok, "OpenCV failed to encode a synthetic image as PNG"  # not user input
    return buf.tobytes()


def _yolo_rows(boxes: Sequence[tuple[int, float, float, float, float]], width: int,
               height: int) -> np.ndarray:
    """(N, 5) normalised ``cls cx cy w h`` rows of a scene's ``(cls, x1, y1, x2, y2)`` boxes."""
    b = np.asarray([bx[1:] for bx in boxes], np.float64).reshape(-1, 4)
    return xyxy_to_yolo(b, np.asarray([bx[0] for bx in boxes], np.int64), width, height)


def generate(out: str | Path, num: int, width: int = 320, height: int = 256, seed: int = 0,
             split: tuple[float, float, float] = (0.7, 0.15, 0.15), overwrite: bool = False,
             *, progress: bool | None = None) -> Path:
    """Write ``num`` synthetic scenes to ``out`` in the canonical layout and return ``out``.

    Writes ``ir/<stem>.png`` (8-bit grey), ``vi/<stem>.png`` (8-bit RGB), ``labels/<stem>.txt``
    (YOLO, normalised), ``meta/{train,val,test}.txt``, ``meta/conditions.tsv``
    (``stem<TAB>condition``) and ``data.yaml``. The folder is built beside ``out`` and moved into
    place only when complete. Scene ``i`` depends only on ``(seed, i)``, width and height; the split
    is a seeded permutation with exact part sizes. ``progress``: show a progress bar (None: only
    on a terminal).

    Raises ConfigError for bad arguments and DataError when ``out`` exists and is not empty
    (unless ``overwrite``).
    """
    from tqdm import tqdm

    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
        raise ConfigError(f"synthetic data: num must be a positive integer, found {num!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"synthetic data: seed must be a non-negative integer, found {seed!r}")
    _check_size(width, height)
    fractions = _check_split(split)
    num, width, height, seed = int(num), int(width), int(height), int(seed)
    out = Path(out)
    digits = max(5, len(str(num - 1)))
    stems = [f"{i:0{digits}d}" for i in range(num)]
    conditions: list[str] = []
    per_class = [0] * len(CLASSES)
    per_cond = {c: 0 for c in CONDITIONS}
    with staged_dir(out, overwrite=overwrite) as tmp:
        bar = tqdm(stems, desc="synth", unit="pair", disable=None if progress is None else not progress)
        for i, stem in enumerate(bar):
            sc = _render(np.random.default_rng([seed, i]), width, height)
            atomic_write_bytes(image_path(tmp, "ir", stem, ".png"), _encode_png(sc.ir))
            atomic_write_bytes(image_path(tmp, "vi", stem, ".png"), _encode_png(sc.vis))
            write_yolo(label_path(tmp, stem), _yolo_rows(sc.boxes, width, height))
            conditions.append(sc.condition)
            per_cond[sc.condition] += 1
            for b in sc.boxes:
                per_class[b[0]] += 1
        order = np.random.default_rng([seed, num, 0x5B11]).permutation(num)
        n_train, n_val, _ = split_counts(num, fractions)
        parts = {"train": order[:n_train], "val": order[n_train:n_train + n_val],
                 "test": order[n_train + n_val:]}
        for name, idx in parts.items():
            write_split(tmp, name, [stems[j] for j in sorted(idx)])
        write_conditions(tmp, zip(stems, conditions))
        write_data_yaml(tmp, DataInfo(
            names=list(CLASSES), labels=True, source="synth", seed=seed, split=fractions,
            extra={
                "description": "synthetic registered infrared/visible street scenes "
                               "(tardal data synth)",
                "synth": {
                    "num": num,
                    "width": width,
                    "height": height,
                    "seed": seed,
                    "split": [float(f) for f in fractions],
                    "generator_version": GENERATOR_VERSION,
                    "conditions": per_cond,
                    "boxes_per_class": {CLASSES[c]: per_class[c] for c in range(len(CLASSES))},
                },
            }))
    log.info("wrote %d synthetic pairs (%d boxes) to %s; conditions %s", num, sum(per_class), out, per_cond)
    return out
