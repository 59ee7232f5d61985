"""Typed configuration: YAML files parsed into dataclasses, with ``key.sub=value`` overrides.

The whole schema lives here, flat and commented, so one file shows every knob::

    cfg = load_config("configs/synth-ct.yaml", ["train.epochs=3", "fusion.dim=8"])
    print(dump_config(cfg))

Unknown keys are rejected with the closest valid keys suggested; values are type-checked
against the field's annotation (``int`` accepts ``3``, ``float`` accepts ``3`` and ``3.0``,
``bool`` accepts ``true/false/1/0/yes/no``, tuples and lists accept YAML lists).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from tardal.errors import ConfigError
from tardal.registry import close_matches

# ----------------------------------------------------------------------------------------
# Schema
# ----------------------------------------------------------------------------------------


@dataclass
class SynthConfig:
    """The built-in synthetic data set, generated when ``data.root`` does not exist yet."""

    num: int = 240  # number of scenes
    width: int = 320
    height: int = 256
    seed: int = 0


@dataclass
class AugmentConfig:
    """Registered-pair augmentations (training split only)."""

    hflip: float = 0.5  # probability of a horizontal flip
    scale: tuple[float, float] = (0.75, 1.25)  # random rescale range before the crop
    crop: float = 0.5  # probability of a random crop (keeps at least half of each side)
    # side in pixels of a random window cut at the image's own scale after the rescale, in
    # place of the crop (0: off); with img_size = patch nothing is downscaled: fusion networks
    # then train on native-resolution patches, as the published ones do
    patch: int = 0
    # photometric: each source's intensities raised to its own power exp(u), u uniform in
    # [-gamma, gamma] (0: off), so that G meets darker and brighter scenes than the training
    # set's own (night images of another set, say)
    gamma: float = 0.0


@dataclass
class DataConfig:
    root: str = "runs/data/synth"  # canonical layout: ir/ vi/ labels/ meta/ data.yaml
    synth: SynthConfig = field(default_factory=SynthConfig)
    generate: bool = True  # generate the synthetic set at ``root`` when it is missing
    train_split: str = "train"
    val_split: str = "val"
    test_split: str = "test"
    img_size: int = 320  # training and evaluation letterbox size (square, multiple of 32)
    align: Literal["error", "resize"] = "error"  # infrared/visible of different sizes
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    batch_size: int = 8  # global batch (split over the processes of a torchrun run)
    workers: int = 0  # DataLoader worker processes (persistent across epochs)
    # ram: decode every training and validation pair once and keep it in memory as stored
    # (8/16-bit; the same values as reading the files), when it fits in half the free memory
    cache: Literal["none", "ram"] = "none"
    skip_bad: bool = False  # leave out (and list) unusable pairs instead of stopping; --skip-bad


@dataclass
class FusionConfig:
    name: str = "tardal"  # registered fusion method (see ``tardal fuse --list``)
    dim: int = 16  # channel width d (paper: 32)
    depth: int = 3  # dense-block layers (paper: 3)
    output: Literal["sigmoid", "tanh"] = "sigmoid"  # map onto [0,1]: sigmoid or (tanh+1)/2
    padding: Literal["input", "reflect", "zeros"] = "input"  # see tardal/fusion/generator.py
    # tardal: > 0 splits G's eval-mode output at a Gaussian of this sigma: G sets the band below
    # it, the band above it comes from the sources (detail_rule); 0 = G alone
    detail: float = 0.0
    detail_rule: Literal["max", "sum"] = "max"  # the split's detail: the larger source's, or both
    # tardal: > 0 moves G's eval-mode output towards the sources' average below a Gaussian of
    # this sigma, by the fraction illum_weight (its illumination; G keeps the contrast); 0 = off
    illum: float = 0.0
    illum_weight: float = 1.0
    # tardal: > 0 moves G's eval-mode tone curve this fraction of the way to its histogram-
    # equalised one (the whole image; after the split and the illumination step); 0 = off
    equalize: float = 0.0
    weights: str = ""  # local checkpoint to start from (or to freeze, in ``frontend`` mode)
    levels: int = 4  # laplacian: pyramid levels (fewer on small images)


@dataclass
class DiscriminatorConfig:
    dim: int = 16
    layers: int = 3  # stride-2 conv layers: 3 or 4
    penalty: Literal["wgan-div", "gp"] = "wgan-div"
    div_k: float = 2.0
    div_p: float = 6.0
    gp_lambda: float = 10.0
    detail_mask: bool = True  # D_d sees grad * (1 - m); false drops the (1 - m)
    # D_d's gradient map: the unnormalised Sobel magnitude (raw: a unit step gives 4) or the
    # public code's normalised one (normalized: divided by 8)
    sobel: Literal["raw", "normalized"] = "raw"
    pool: int = 4  # adaptive average pool to pool x pool before the linear score (any input size)


@dataclass
class LossConfig:
    ssim: float = 1.0  # a_ssim
    pixel: float = 1.0  # a_pix
    adv: float = 0.1  # a_adv
    t_adv: float = 1.0  # weight of the target discriminator inside L_adv
    d_adv: float = 1.0  # weight of the detail discriminator inside L_adv
    # SSIM, MS-SSIM or SSIM without its luminance factor (cs: the pixel term alone sets the
    # intensity; tardal/losses/ssim.py)
    ssim_kind: Literal["ssim", "ms-ssim", "cs"] = "ssim"
    # pixel-term weighting: the paper's SDW, the public code's SDW, or the brighter source (max)
    sdw: Literal["paper", "code", "max"] = "paper"
    beta: float = 1.0  # weight of L_det in the fusion step (ct mode)
    grad: float = 0.0  # max-gradient texture term (tardal/losses/gradient.py); 0: the paper's L_f
    # the texture term's form: |grad u| against the stronger source's magnitude (L1), the
    # stronger source's signed Sobel pair, only where |grad u| falls short of it, or the stronger
    # source's Laplacian-pyramid details (tardal/losses/gradient.py)
    grad_form: Literal["magnitude", "signed", "deficit", "pyramid"] = "magnitude"


@dataclass
class MaskConfig:
    provider: Literal["auto", "boxes", "lc", "u2net"] = "auto"  # auto: boxes if labels, else lc
    otsu_refine: bool = True  # boxes: keep warmer-than-background pixels inside each box
    soft: bool = False
    u2net_weights: str = ""  # local weights file for the u2net provider
    u2net_size: int = 320  # u2net: the infrared image is resized to this square for the network
    threshold: Literal["otsu", "std"] = "std"  # lc binarisation: Otsu or mean + k * std (u2net: 0.5)
    k: float = 2.0  # threshold "std": mean + k * std of the saliency map
    sigma: float = 2.0  # lc: Gaussian smoothing of the saliency map (pixels, 0 disables)
    morph: int = 3  # lc/u2net: opening then closing with a k x k ellipse (0 or 1 disables)
    warm_only: bool = False  # lc: one-sided contrast, only warmer-than-the-rest counts (no cold sky)
    cache: int = 4096  # masks kept in memory per provider (key: image name + pixel digest)


@dataclass
class DetectorConfig:
    model: str = "yolov8n.yaml"  # Ultralytics model YAML (yolov8n, yolo11n, yolo26n, ...)
    weights: str = ""  # optional local Ultralytics .pt the user trusts
    input: Literal["color", "grey"] = "color"  # RGB from fused luma + visible CbCr, or grey x3
    conf: float = 0.001  # score threshold for evaluation
    iou: float = 0.7  # NMS IoU
    max_det: int = 300
    box: float = 7.5  # loss gain of the box (CIoU) term, Ultralytics' default
    cls: float = 0.5  # loss gain of the classification (BCE) term
    dfl: float = 1.5  # loss gain of the distribution-focal term (L1 box term on YOLO26)
    nms_free: bool = False  # YOLO26/YOLOv10: predict with the one-to-one head, without NMS
    plot_conf: float = 0.25  # score threshold of the boxes drawn on previews and demo panels


@dataclass
class TrainConfig:
    mode: Literal["ct", "tt", "dt", "ir", "vis", "frontend", "early"] = "ct"
    epochs: int = 10
    optimizer: Literal["adam", "adamw", "sgd"] = "adamw"
    lr_g: float = 1e-3
    lr_d: float = 1e-4
    lr_det: float = 2e-3
    weight_decay: float = 5e-4
    momentum: float = 0.9  # sgd momentum; adam/adamw beta1
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_epochs: float = 1.0
    lr_final: float = 0.01  # last learning rate as a fraction of the initial one (cosine/linear)
    d_warm: int = 1  # epochs before L_adv enters the generator loss
    bridge_warm: int = 1  # epochs with beta = 0 (ct)
    ema: bool = True  # validate/evaluate an exponential moving average of the detector weights
    ema_decay: float = 0.9999  # EMA: d_n = ema_decay * (1 - exp(-n / ema_tau)) at update n
    ema_tau: float = 2000.0  # EMA ramp in optimiser steps (Ultralytics: 2000; short runs: less)
    clip_grad: float = 10.0  # max gradient norm, 0 disables
    seed: int = 0
    deterministic: bool = False  # torch deterministic algorithms (CPU runs are bit-exact anyway)
    device: str = "auto"  # auto, cpu, cuda, cuda:1, mps
    channels_last: bool = False  # channels-last memory layout of the networks (faster on CPU)
    # CPU: the C allocator (glibc) keeps freed memory for reuse instead of page-faulting every
    # large activation in again each step: faster large runs for a higher peak of memory
    # (measured in tardal/engine/device.py)
    keep_memory: bool = False
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    # bf16 autocast on the CPU as well: faster where the CPU computes bf16 natively (AVX512-BF16,
    # AMX; tardal.engine.device.native_bf16); emulated elsewhere
    cpu_amp: bool = False
    # G's forward under that autocast too. Off: G stays fp32 (its critics and the fusion loss
    # are fp32 either way; ct on the synthetic set, CPU, test AP50 at seeds 0-3: all in bf16
    # 0.598-0.742, G in fp32 with the detector in bf16 0.714-0.803; tardal/engine/context.py)
    amp_fusion: bool = False
    compile: bool = False  # torch.compile G and the detector (slow start, faster steps on GPU)
    # frontend: fuse each training pair once at its own size (8-bit, in memory) and augment the
    # fused image with the pair, instead of running the frozen network on every batch
    cache_fused: bool = True
    log_interval: int = 20  # steps between reading the loss terms back from the device
    preview: int = 4  # fused previews written per epoch


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    disc: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    project: str = "runs/train"  # run folders go under here
    name: str = ""  # run folder name; empty: <mode>, <mode>2, ...


# ----------------------------------------------------------------------------------------
# Machinery
# ----------------------------------------------------------------------------------------

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against annotation ``tp``; convert where it is lossless; else raise."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r}: expected a mapping, found {value!r}")
        return from_dict(tp, value, prefix=key + ".")
    if origin is Literal:
        if value not in args:
            raise ConfigError(
                f"config key {key!r}: expected one of {', '.join(map(repr, args))}, found {value!r}"
            )
        return value
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v for v in value.strip("[]()").split(",") if v.strip()]
            value = [yaml.safe_load(v) for v in value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {key!r}: expected a list, found {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(
                    f"config key {key!r}: expected {len(args)} values, found {len(value)}"
                )
            return tuple(_coerce(v, a, key) for v, a in zip(value, args))
        inner = args[0] if args else Any
        out = [_coerce(v, inner, key) for v in value]
        return tuple(out) if origin is tuple else out
    if origin in (typing.Union, types.UnionType):
        for a in args:
            try:
                return _coerce(value, a, key)
            except ConfigError:
                continue
        raise ConfigError(f"config key {key!r}: {value!r} matches none of {tp}")
    if tp is Any:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"config key {key!r}: expected null, found {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, (str, int)) and str(value).lower() in _TRUE | _FALSE:
            return str(value).lower() in _TRUE
        raise ConfigError(f"config key {key!r}: expected true or false, found {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ConfigError(f"config key {key!r}: expected an integer, found {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"config key {key!r}: expected an integer, found {value!r}") from None
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"config key {key!r}: expected a number, found {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key {key!r}: expected a number, found {value!r}") from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"config key {key!r}: expected a string, found {value!r}")
        return "" if value is None else str(value)
    raise ConfigError(f"config key {key!r}: unsupported type {tp}")


def _unknown_key(cls: type, key: str, prefix: str) -> ConfigError:
    valid = [f.name for f in dataclasses.fields(cls)]
    close = close_matches(key, valid)
    hint = f" Did you mean {', '.join(repr(prefix + c) for c in close)}?" if close else ""
    return ConfigError(
        f"unknown config key {prefix + key!r}.{hint} Valid keys here: "
        + ", ".join(prefix + v for v in valid)
    )


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a nested dict, rejecting unknown keys and bad types."""
    hints = _field_types(cls)
    kwargs = {}
    for key, value in (data or {}).items():
        if key not in hints:
            raise _unknown_key(cls, str(key), prefix)
        kwargs[key] = _coerce(value, hints[key], prefix + key)
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain nested dicts, lists and scalars (YAML- and checkpoint-safe)."""
    out = dataclasses.asdict(cfg)

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return plain(out)


def apply_override(cfg: Any, override: str) -> None:
    """Apply one ``key.sub=value`` string to ``cfg`` in place (the value is parsed as YAML).

    The value is type- and range-checked (:data:`VALUE_RULES`) before ``cfg`` changes.
    """
    if "=" not in override:
        raise ConfigError(f"override {override!r}: expected key=value, e.g. train.epochs=3")
    dotted, raw = override.split("=", 1)
    parts = dotted.strip().split(".")
    node: Any = cfg
    prefix = ""
    for i, part in enumerate(parts):
        if not dataclasses.is_dataclass(node):
            raise ConfigError(f"override {override!r}: {prefix.rstrip('.')!r} has no sub-keys")
        hints = _field_types(type(node))
        if part not in hints:
            raise _unknown_key(type(node), part, prefix)
        if i == len(parts) - 1:
            try:
                value = yaml.safe_load(raw) if raw.strip() else ""
            except yaml.YAMLError:
                value = raw
            if hints[part] is str and not isinstance(value, str):
                value = raw  # keep strings such as "007" or "1e3" verbatim
            value = _coerce(value, hints[part], prefix + part)
            check_value(prefix + part, value)
            setattr(node, part, value)
        else:
            node = getattr(node, part)
            prefix += part + "."


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                cls: type = Config) -> Any:
    """Read a YAML config (or start from defaults when ``path`` is None), then apply overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"config file {path} is not valid YAML: {yaml_problem(exc)}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path}: expected a mapping at the top level")
    try:
        cfg = from_dict(cls, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path else str(exc)) from None
    for ov in overrides:
        apply_override(cfg, ov)
    try:
        check_values(cfg)  # overrides were checked as they were applied: this finds the file's
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path else str(exc)) from None
    return cfg


def config_from_dict(data: dict[str, Any], cls: type = Config) -> Any:
    """Rebuild a config saved with :func:`to_dict` (e.g. from a checkpoint); values checked."""
    cfg = from_dict(cls, data)
    check_values(cfg)
    return cfg


def dump_config(cfg: Any) -> str:
    """The resolved config as YAML text."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None)


# ----------------------------------------------------------------------------------------
# Value ranges: one table, checked once when a config is loaded, rebuilt or overridden
# ----------------------------------------------------------------------------------------
#
# Types are checked by ``_coerce`` above; this table adds what a type cannot say (a batch size
# of at least one, a probability in [0, 1], ...). Every int and float field of the schema needs
# an entry (tests/test_config.py walks the schema to make sure); a new field gets one line in
# VALUE_RULES. Rules see the coerced value; numbers must also be finite.


@dataclass(frozen=True)
class Rule:
    """One value check: ``ok(value)`` says whether the value is allowed; ``expected`` says what
    is allowed, in words that complete "expected ..." (e.g. ``"an integer >= 1"``)."""

    expected: str
    ok: typing.Callable[[Any], bool]


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _kind(integer: bool) -> str:
    return "an integer" if integer else "a number"


def at_least(lo: float, integer: bool = False) -> Rule:
    """``value >= lo``."""
    return Rule(f"{_kind(integer)} >= {lo:g}", lambda x: _finite(x) and x >= lo)


def above(lo: float, integer: bool = False) -> Rule:
    """``value > lo``."""
    return Rule(f"{_kind(integer)} > {lo:g}", lambda x: _finite(x) and x > lo)


def between(lo: float, hi: float, *, hi_open: bool = False, integer: bool = False) -> Rule:
    """``lo <= value <= hi`` (``< hi`` with ``hi_open``)."""
    close = ")" if hi_open else "]"

    def ok(x: Any) -> bool:
        return _finite(x) and lo <= x and (x < hi if hi_open else x <= hi)

    return Rule(f"{_kind(integer)} in [{lo:g}, {hi:g}{close}", ok)


def one_of(*values: Any) -> Rule:
    return Rule("one of " + ", ".join(map(repr, values)), lambda x: x in values)


def positive_range() -> Rule:
    """A pair ``(lo, hi)`` with ``0 < lo <= hi``."""
    return Rule("two numbers lo, hi with 0 < lo <= hi",
                lambda x: len(x) == 2 and all(_finite(v) and v > 0 for v in x) and x[0] <= x[1])


def matches(pattern: str, expected: str) -> Rule:
    """A string matching the regular expression ``pattern`` in full."""
    compiled = re.compile(pattern)
    return Rule(expected, lambda x: isinstance(x, str) and compiled.fullmatch(x) is not None)


NONEMPTY = matches(r"(?s).*\S.*", "a non-empty string")
# A single folder or file name: no separators, not "." or "..".
PLAIN_NAME = matches(r"(?!\.\.?$)[^/\\\x00]*", "a plain name without '/', '\\' or '..'")
DEVICE = matches(r"auto|cpu|mps|cuda(:\d+)?", "auto, cpu, cuda, cuda:N or mps")
UNIT = between(0.0, 1.0)
WEIGHT = at_least(0.0)
SIZE = at_least(16, integer=True)
COUNT = at_least(0, integer=True)
SEED = at_least(0, integer=True)

#: dotted key -> rule. Keys not listed are checked for type only (strings with free content,
#: booleans, Literal choices).
VALUE_RULES: dict[str, Rule] = {
    # data
    "data.root": NONEMPTY,
    "data.synth.num": at_least(1, integer=True),
    "data.synth.width": SIZE,
    "data.synth.height": SIZE,
    "data.synth.seed": SEED,
    "data.train_split": PLAIN_NAME,
    "data.val_split": PLAIN_NAME,
    "data.test_split": PLAIN_NAME,
    "data.img_size": at_least(32, integer=True),  # rounded to the detector stride by the engine
    "data.augment.hflip": UNIT,
    "data.augment.scale": positive_range(),
    "data.augment.crop": UNIT,
    "data.augment.patch": COUNT,
    "data.augment.gamma": between(0.0, 2.0),
    "data.batch_size": at_least(1, integer=True),
    "data.workers": COUNT,
    # fusion network
    "fusion.name": NONEMPTY,
    "fusion.dim": at_least(1, integer=True),
    "fusion.depth": at_least(1, integer=True),
    "fusion.levels": at_least(1, integer=True),
    "fusion.detail": between(0.0, 8.0),
    "fusion.illum": between(0.0, 64.0),
    "fusion.illum_weight": UNIT,
    "fusion.equalize": UNIT,
    # discriminators
    "disc.dim": at_least(1, integer=True),
    "disc.layers": one_of(3, 4),
    "disc.div_k": above(0.0),
    "disc.div_p": above(0.0),
    "disc.gp_lambda": WEIGHT,
    "disc.pool": at_least(1, integer=True),
    # loss weights
    "loss.ssim": WEIGHT,
    "loss.pixel": WEIGHT,
    "loss.adv": WEIGHT,
    "loss.t_adv": WEIGHT,
    "loss.d_adv": WEIGHT,
    "loss.beta": WEIGHT,
    "loss.grad": WEIGHT,
    # masks
    "mask.u2net_size": SIZE,
    "mask.k": WEIGHT,
    "mask.sigma": WEIGHT,
    "mask.morph": COUNT,
    "mask.cache": COUNT,
    # detector
    "detector.model": NONEMPTY,
    "detector.conf": UNIT,
    "detector.iou": UNIT,
    "detector.max_det": at_least(1, integer=True),
    "detector.box": WEIGHT,
    "detector.cls": WEIGHT,
    "detector.dfl": WEIGHT,
    "detector.plot_conf": UNIT,
    # training
    "train.epochs": at_least(1, integer=True),
    "train.lr_g": above(0.0),
    "train.lr_d": above(0.0),
    "train.lr_det": above(0.0),
    "train.weight_decay": WEIGHT,
    "train.momentum": between(0.0, 1.0, hi_open=True),
    "train.warmup_epochs": at_least(0.0),
    "train.lr_final": UNIT,
    "train.d_warm": COUNT,
    "train.bridge_warm": COUNT,
    "train.ema_decay": between(0.0, 1.0, hi_open=True),
    "train.ema_tau": above(0.0),
    "train.clip_grad": WEIGHT,  # 0 disables
    "train.seed": SEED,
    "train.device": DEVICE,
    "train.preview": COUNT,
    "train.log_interval": at_least(1, integer=True),
    # run folder
    "project": NONEMPTY,
    "name": PLAIN_NAME,  # a folder under ``project``
}


def check_value(key: str, value: Any) -> None:
    """Raise ConfigError when ``value`` breaks the rule of dotted ``key`` (no rule: no check)."""
    rule = VALUE_RULES.get(key)
    if rule is not None and not rule.ok(value):
        shown = list(value) if isinstance(value, tuple) else value
        raise ConfigError(f"config key {key!r}: expected {rule.expected}, found {shown!r}")


def check_values(cfg: Any, prefix: str = "") -> None:
    """Check every field of the config dataclass ``cfg`` against :data:`VALUE_RULES`.

    Raises ConfigError naming the first offending dotted key, the allowed range and the value.
    """
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        key = prefix + f.name
        if dataclasses.is_dataclass(value):
            check_values(value, key + ".")
        else:
            check_value(key, value)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML parse error in one line: where (line, column; 1-based), what, and the context."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        return " ".join(str(exc).split())
    text = f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None:
        text += f" ({context} started at line {context_mark.line + 1}, column " \
                f"{context_mark.column + 1})"
    return text
