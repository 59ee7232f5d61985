"""Metric conventions: which formula each metric name means, and how inputs are prepared.

* ``tang`` (default): Linfeng Tang's MATLAB "Evaluation-for-Image-Fusion" suite, which most
  infrared-visible fusion papers quote. Every input is reduced to 8-bit grey first (MATLAB
  ``rgb2gray`` + uint8 rounding), as the suite does after ``imread``.
* ``vifb``: VIFB's MATLAB code. Colour results are evaluated per RGB channel and averaged, and
  several formulas differ (natural-log MI after min-max rescaling, summed SSIM, ...).

Each convention holds a :class:`~tardal.registry.Registry` of :class:`MetricInfo`; unknown
metric names raise :class:`~tardal.errors.UnknownNameError` listing the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from tardal.errors import DataError
from tardal.metrics import basic, edge, information, structural, vifb, vifp
from tardal.metrics._arrays import same_shape, to_grey_u8
from tardal.registry import Registry

MetricFn = Callable[[np.ndarray, np.ndarray, np.ndarray], float]
Triple = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class MetricInfo:
    """One metric of one convention.

    ``fn(fused, ir, vis) -> float`` takes the arrays the convention's ``prepare`` returns.
    """

    name: str
    fn: MetricFn
    higher_is_better: bool
    description: str


@dataclass(frozen=True)
class Convention:
    """A named set of metric definitions plus the input preparation they expect."""

    name: str
    description: str
    prepare: Callable[[np.ndarray, np.ndarray, np.ndarray], Triple]
    metrics: Registry
    order: tuple[str, ...]

    def names(self) -> list[str]:
        """Metric names in this convention's canonical (table) order."""
        return list(self.order)

    def resolve(self, names: Iterable[str] | str | None) -> list[str]:
        """Canonical names for ``names`` (case-insensitive; a string may list several, comma
        separated); all metrics when None.

        Raises UnknownNameError (with close matches and every valid name) for unknown ones.
        """
        if names is None:
            return self.names()
        if isinstance(names, str):
            names = [n for n in names.split(",") if n.strip()]
        by_lower = {n.lower(): n for n in self.names()}
        out = []
        for name in names:
            canonical = by_lower.get(str(name).strip().lower())
            if canonical is None:
                self.metrics.get(str(name).strip())  # raises with the helpful message
            if canonical not in out:
                out.append(canonical)
        return out


# --------------------------------------------------------------------------------------------
# tang


def _reject_unit_range(arrays: list[np.ndarray]) -> None:
    """Catch [0, 1] float images (the package's tensor convention) passed by mistake.

    Three float images whose values all lie in [0, 1] and include fractions would be near-black
    with sub-level detail on the 0..255 scale the metrics use: almost surely [0, 1] data.
    """
    if not all(np.issubdtype(a.dtype, np.floating) and a.size for a in arrays):
        return
    if all(float(np.nanmax(a)) <= 1.0 for a in arrays) and any(np.any(a != np.floor(a)) for a in arrays):
        raise DataError(
            "the images look like [0, 1] floats (all values <= 1, some fractional); the metrics "
            "expect the 0..255 scale: multiply by 255"
        )


def _prepare_tang(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray) -> Triple:
    arrays = [np.asarray(x) for x in (fused, ir, vis)]
    _reject_unit_range(arrays)
    f, a, b = (to_grey_u8(x, name) for x, name in zip(arrays, ("fused", "ir", "vis")))
    same_shape(f, a, b)
    return f, a, b


def _en(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return basic.entropy(f)


def _sd(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return basic.standard_deviation(f)


def _sf(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return basic.spatial_frequency(f)


def _ag(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return basic.average_gradient(f)


TANG_METRICS = Registry("metric (tang convention)")
_TANG_TABLE: tuple[tuple[str, MetricFn, bool, str], ...] = (
    ("EN", _en, True, "entropy of F, bits"),
    ("SD", _sd, True, "standard deviation of F, grey levels"),
    ("SF", _sf, True, "spatial frequency of F, grey levels"),
    ("AG", _ag, True, "average gradient of F, grey levels"),
    ("MI", information.mutual_information, True, "MI(ir,F) + MI(vis,F), bits"),
    ("CC", information.correlation_coefficient, True, "mean Pearson correlation with the sources"),
    ("SCD", information.scd, True, "sum of the correlations of differences"),
    ("PSNR", information.psnr, True, "20 log10(255 / sqrt(MSE on [0,1])), dB"),
    ("MSE", information.mse, False, "mean of the two MSEs on [0,1]"),
    ("SSIM", structural.ssim, True, "mean of SSIM(F,ir) and SSIM(F,vis), MATLAB defaults"),
    ("Qabf", edge.qabf, True, "Xydeas-Petrovic edge preservation"),
    ("Nabf", edge.nabf, False, "Kumar's modified fusion artefacts"),
    ("VIF", vifp.vif, True, "VIF(ir,F) + VIF(vis,F), pixel-domain multiscale"),
)
for _name, _fn, _hib, _desc in _TANG_TABLE:
    TANG_METRICS.register(_name)(MetricInfo(_name, _fn, _hib, _desc))


# --------------------------------------------------------------------------------------------
# vifb


def _prepare_vifb(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray) -> Triple:
    arrays = [np.asarray(x) for x in (fused, ir, vis)]
    _reject_unit_range(arrays)
    return arrays[0], arrays[1], arrays[2]


VIFB_METRICS = Registry("metric (vifb convention)")
_VIFB_HIGHER = {"RMSE": False, "CE": False, "Qcv": False}
for _name, (_fn, _vname) in vifb.VIFB_METRICS.items():
    _doc = (_fn.__doc__ or _vname).strip().splitlines()[0]
    VIFB_METRICS.register(_name)(MetricInfo(_name, _fn, _VIFB_HIGHER.get(_name, True), _doc))


CONVENTIONS = Registry("metric convention")
CONVENTIONS.register("tang")(
    Convention(
        "tang",
        "Tang's MATLAB suite (8-bit grey inputs)",
        _prepare_tang,
        TANG_METRICS,
        tuple(row[0] for row in _TANG_TABLE),
    )
)
CONVENTIONS.register("vifb")(
    Convention(
        "vifb",
        "VIFB's MATLAB code (per-RGB-channel, averaged)",
        _prepare_vifb,
        VIFB_METRICS,
        tuple(vifb.VIFB_METRICS),
    )
)


def get_convention(name: str) -> Convention:
    """The :class:`Convention` registered as ``name`` (UnknownNameError otherwise)."""
    return CONVENTIONS.get(name)
