"""The training checkpoint: its layout, and every way in and out of it.

A checkpoint (``weights/last.pt``, ``weights/best.pt``) is a plain dict, loadable with
``torch.load(..., weights_only=True)``::

    config      the resolved config (nested dicts)      mode     the train.mode name
    models      {key: state_dict}  (G, D_t, D_d, det)   names    the class names
    optimizers  {key: state_dict}                       ema      the detector EMA, if kept
    state       TrainState (epoch, step, best fitness)  rng      Python/numpy/torch RNG states
    metrics     the epoch's results row                 version  the package version

A release checkpoint (:func:`release`, the fusion weights shipped in the package) keeps only
``config``, ``mode``, ``models`` (G), ``metrics``, ``version`` and ``provenance`` (how it was
made: command, seed, data files and their digests, code revision, library versions).

There is no scheduler state: the learning rate is a function of ``state.step``
(:func:`tardal.engine.optim.lr_factor`). Checkpoints are written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from tardal.checkpoint import GENERATOR, MODELS, load_checkpoint, load_state, save_checkpoint
from tardal.config import Config, apply_override, config_from_dict, to_dict
from tardal.engine.context import Context
from tardal.engine.state import TrainState, capture_rng, restore_rng
from tardal.errors import CheckpointError, ConfigError

CONFIG, MODE, NAMES, OPTIMIZERS, EMA, STATE, RNG, METRICS, PROVENANCE = (
    "config", "mode", "names", "optimizers", "ema", "state", "rng", "metrics", "provenance")


def snapshot(ctx: Context, state: TrainState, mode: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """The full, resumable training state of ``ctx`` as plain containers."""
    ckpt: dict[str, Any] = {
        CONFIG: to_dict(ctx.cfg),
        MODE: mode,
        NAMES: list(ctx.names),
        MODELS: {k: m.state_dict() for k, m in ctx.models.items()},
        OPTIMIZERS: {k: o.state_dict() for k, o in ctx.optimizers.items()},
        STATE: state.to_dict(),
        RNG: capture_rng(),
        METRICS: {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))},
    }
    if ctx.ema is not None:
        ckpt[EMA] = ctx.ema.state_dict()
    return ckpt


def save(path: str | Path, ckpt: dict[str, Any]) -> Path:
    """Write ``ckpt`` atomically (a crash leaves the previous file intact)."""
    return save_checkpoint(path, ckpt)


def release(ckpt: dict[str, Any], provenance: dict[str, Any]) -> dict[str, Any]:
    """The fusion-only release form of a training checkpoint: G, its config and provenance."""
    models = ckpt.get(MODELS, {})
    if GENERATOR not in models:
        raise CheckpointError(f"a release needs models[{GENERATOR!r}], found {sorted(models)}")
    return {CONFIG: ckpt[CONFIG], MODE: ckpt.get(MODE), MODELS: {GENERATOR: models[GENERATOR]},
            METRICS: ckpt.get(METRICS, {}), PROVENANCE: provenance}


def load(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint, checking that it has the sections a run needs."""
    ckpt = load_checkpoint(path)
    for key in (CONFIG, MODELS, MODE):
        if key not in ckpt:
            raise CheckpointError(f"checkpoint {path} has no {key!r} entry: it was not written "
                                  "by 'tardal train'")
    return ckpt


def resume_path(path: str | Path) -> Path:
    """A run folder or a checkpoint file -> the checkpoint to resume from."""
    path = Path(path)
    if path.is_dir():
        path = path / "weights" / "last.pt"
    if not path.is_file():
        raise CheckpointError(f"cannot resume: checkpoint {path} does not exist")
    return path


def run_dir_of(path: Path) -> Path:
    """The run folder a checkpoint belongs to (``RUN/weights/x.pt`` -> ``RUN``)."""
    return path.parent.parent if path.parent.name == "weights" else path.parent


def config_of(ckpt: dict[str, Any], path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """The config saved in ``ckpt``, with ``key=value`` overrides applied on top."""
    try:
        cfg = config_from_dict(ckpt[CONFIG])
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint {path} carries an invalid config: {exc}") from None
    for ov in overrides:
        apply_override(cfg, ov)
    return cfg


def names_of(ckpt: dict[str, Any], path: str | Path) -> list[str]:
    names = ckpt.get(NAMES)
    if not isinstance(names, (list, tuple)):
        raise CheckpointError(f"checkpoint {path} holds no class names")
    return [str(n) for n in names]


def load_models(ctx: Context, ckpt: dict[str, Any], path: str | Path) -> None:
    """Load every model of ``ctx`` (and the detector EMA) from ``ckpt``."""
    saved = ckpt.get(MODELS, {})
    missing = sorted(set(ctx.models) - set(saved))
    if missing:
        raise CheckpointError(f"checkpoint {path}: models {missing} are missing (found "
                              f"{sorted(saved)})")
    for key, model in ctx.models.items():
        load_state(model, saved[key], f"checkpoint {path} (models.{key})")
    if ctx.ema is not None:
        ema = ckpt.get(EMA, (ckpt.get("extras") or {}).get("ema"))
        if ema is None:
            raise CheckpointError(f"checkpoint {path}: no detector EMA state; was it saved with "
                                  "train.ema=false? Pass train.ema=false to use it")
        try:
            ctx.ema.load_state_dict(ema)
        except CheckpointError as exc:
            raise CheckpointError(f"checkpoint {path}: {exc}") from None


def restore(ctx: Context, ckpt: dict[str, Any], path: str | Path, mode: str) -> TrainState:
    """Load the models, optimisers, EMA and RNG states of ``ckpt`` into ``ctx`` for a resume;
    returns the saved :class:`TrainState`."""
    if ckpt.get(MODE) != mode:
        raise CheckpointError(f"checkpoint {path} was written by mode {ckpt.get(MODE)!r}, not "
                              f"{mode!r}")
    load_models(ctx, ckpt, path)
    saved = ckpt.get(OPTIMIZERS, {})
    missing = sorted(set(ctx.optimizers) - set(saved))
    if missing:
        raise CheckpointError(f"checkpoint {path}: optimizers {missing} are missing")
    for key, opt in ctx.optimizers.items():
        try:
            opt.load_state_dict(saved[key])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(f"checkpoint {path} (optimizers.{key}): {exc}") from None
    restore_rng(ckpt[RNG])
    return TrainState.from_dict(ckpt[STATE])
