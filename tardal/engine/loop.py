"""The training loop, one for every mode.

    from tardal.config import load_config
    from tardal.engine import train
    result = train(load_config("configs/synth-ct.yaml", ["train.epochs=3"]))
    result.run_dir / "weights" / "best.pt"

Per epoch: select the epoch's shuffle and augmentation draws, call the mode's ``start_epoch``
(training flags, the detector's epoch), run its ``train_step`` on every batch (stepping every LR
scheduler after each batch), validate, append a row to ``results.csv``, write previews, then
save ``weights/last.pt`` (and ``weights/best.pt`` when the validation fitness improved); at the
end of the call, draw ``results.png``. A checkpoint holds the state dict of every model,
optimiser and scheduler, the mode's extra state (the detector EMA), the :class:`TrainState`,
the Python/numpy/torch RNG states, the resolved config, the class names, the mode and the
package version; resuming from ``last.pt`` rebuilds everything from the saved config and
continues with exactly the batches, augmentations and random draws an uninterrupted run would
have used (on CPU the parameters match bit for bit).
"""
from __future__ import annotations

import contextlib
import copy
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch

from tardal.checkpoint import load_checkpoint, load_state, save_checkpoint
from tardal.config import Config, config_from_dict, dump_config, to_dict
from tardal.engine.data import Loaders, build_loaders
from tardal.engine.device import resolve_device
from tardal.engine import detection_modes as _detection_modes  # noqa: F401  (registers modes)
from tardal.engine.modes import MODES, Mode, TrainContext
from tardal.engine.optim import build_scheduler
from tardal.engine.run import increment_dir, read_results, write_results
from tardal.engine.state import TrainState, capture_rng, restore_rng, seed_everything
from tardal.errors import CheckpointError, ConfigError, UnknownNameError
from tardal.io import atomic_write_text, write_image
from tardal.losses.criterion import NonFiniteLossError
from tardal.masks import build_mask_provider, resolve_provider_name

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What :func:`train` leaves behind."""

    run_dir: Path
    state: TrainState
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last(self) -> Path:
        return self.run_dir / "weights" / "last.pt"

    @property
    def best(self) -> Path:
        return self.run_dir / "weights" / "best.pt"


def get_mode(cfg: Config) -> Mode:
    try:
        return MODES.get(cfg.train.mode)()
    except UnknownNameError as exc:
        raise ConfigError(f"train.mode: {exc}") from None


def place(model: torch.nn.Module, device: torch.device, channels_last: bool = False
          ) -> torch.nn.Module:
    """``model`` on ``device``, its 4-D weights channels-last when asked (``train.channels_last``:
    on CPU the convolutions of G run markedly faster that way; the results are the same up to
    float rounding)."""
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def resolve_resume(path: str | Path) -> Path:
    """A run folder or a checkpoint file -> the checkpoint to resume from."""
    path = Path(path)
    if path.is_dir():
        path = path / "weights" / "last.pt"
    if not path.is_file():
        raise CheckpointError(f"cannot resume: checkpoint {path} does not exist")
    return path


def config_for_resume(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """The config saved in a checkpoint, with ``key=value`` overrides applied on top."""
    return checkpoint_config(load_checkpoint(resolve_resume(path)), path, overrides)


def checkpoint_config(ckpt: dict[str, Any], path: str | Path,
                      overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Rebuild the config stored in a loaded checkpoint and apply ``key=value`` overrides."""
    from tardal.config import apply_override

    try:
        cfg = config_from_dict(ckpt["config"])
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint {path} carries an invalid config: {exc}") from None
    for ov in overrides:
        apply_override(cfg, ov)
    return cfg


@contextlib.contextmanager
def deterministic(enabled: bool) -> Iterator[None]:
    """``torch.use_deterministic_algorithms`` for the run, restored afterwards."""
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def make_checkpoint(ctx: TrainContext, state: TrainState, mode: Mode,
                    metrics: dict[str, Any]) -> dict[str, Any]:
    """The full, resumable training state as plain containers of tensors and scalars."""
    return {
        "config": to_dict(ctx.cfg),
        "mode": mode.name,
        "models": {k: m.state_dict() for k, m in ctx.models.items()},
        "optimizers": {k: o.state_dict() for k, o in ctx.optimizers.items()},
        "schedulers": {k: s.state_dict() for k, s in ctx.schedulers.items()},
        "extras": mode.extra_state(ctx),
        "state": state.to_dict(),
        "rng": capture_rng(),
        "names": list(ctx.names),
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))},
    }


def restore_checkpoint(ctx: TrainContext, ckpt: dict[str, Any], path: Path, mode: Mode
                       ) -> TrainState:
    """Load every state dict of ``ckpt`` into ``ctx``; returns the saved TrainState."""
    if ckpt.get("mode") != mode.name:
        raise CheckpointError(
            f"checkpoint {path} was written by mode {ckpt.get('mode')!r}, not {mode.name!r}"
        )
    for section, table in (("models", ctx.models), ("optimizers", ctx.optimizers),
                           ("schedulers", ctx.schedulers)):
        saved = ckpt.get(section, {})
        missing = sorted(set(table) - set(saved))
        if missing:
            raise CheckpointError(f"checkpoint {path}: {section} {missing} are missing")
        for key, obj in table.items():
            if section == "models":
                load_state(obj, saved[key], f"checkpoint {path} ({section}.{key})")
                continue
            # The LR schedule's shape comes from the config (so a resume with a larger
            # train.epochs stretches it); its position and base rates from the checkpoint.
            shape = [copy.copy(f) for f in getattr(obj, "lr_lambdas", [])]  # load updates in place
            try:
                obj.load_state_dict(saved[key])
            except (ValueError, KeyError, RuntimeError) as exc:
                raise CheckpointError(f"checkpoint {path} ({section}.{key}): {exc}") from None
            if shape:
                obj.lr_lambdas = shape
    mode.load_extra_state(ctx, ckpt.get("extras", {}), f"checkpoint {path}")
    restore_rng(ckpt["rng"])
    return TrainState.from_dict(ckpt["state"])


def _preview_batch(loaders: Loaders, count: int) -> dict[str, Any] | None:
    from tardal.data.dataset import collate_pairs

    ds = loaders.val.dataset
    n = min(count, len(ds))
    return collate_pairs([ds[i] for i in range(n)]) if n > 0 else None


def write_previews(ctx: TrainContext, mode: Mode, batch: dict[str, Any] | None, folder: Path,
                   epoch: int) -> None:
    """``folder/epoch{epoch}_{name}.png``: :meth:`Mode.preview` of the preview batch (the fused
    luma recoloured with the visible CbCr; with a detector, its input with the boxes found)."""
    if batch is None:
        return
    for img, name in zip(mode.preview(ctx, batch), batch["name"]):
        write_image(folder / f"epoch{epoch}_{name}.png", img)


def _postfix(means: dict[str, float]) -> dict[str, str]:
    keys = [k for k in ("det", "loss", "bridge", "ssim", "pixel", "adv_t", "adv_d", "dt_w",
                        "dd_w") if k in means]
    return {k: f"{means[k]:.3g}" for k in keys}


def train(cfg: Config, *, resume: str | Path | None = None, max_epochs: int | None = None,
          progress: bool = True) -> RunResult:
    """Train as ``cfg.train.mode`` says; see the module doc.

    Args:
        cfg: the resolved config (for a resume: the checkpoint's, see :func:`config_for_resume`).
        resume: a run folder or ``last.pt`` to continue from.
        max_epochs: stop after this many epochs of this call (the schedule still spans
            ``cfg.train.epochs``); used to split a run, e.g. for time-boxed jobs.
        progress: show a progress bar.
    """
    from tqdm import tqdm

    mode = get_mode(cfg)
    device = resolve_device(cfg.train.device)
    resume_path = resolve_resume(resume) if resume is not None else None
    with deterministic(cfg.train.deterministic):
        seed_everything(cfg.train.seed)
        loaders = build_loaders(cfg)
        models = {k: place(m, device, cfg.train.channels_last)
                  for k, m in mode.build_models(cfg, loaders.names).items()}
        optimizers = mode.build_optimizers(cfg, models)
        steps_per_epoch = len(loaders.train)
        schedulers = {k: build_scheduler(o, cfg.train, steps_per_epoch)
                      for k, o in optimizers.items()}
        masks = None
        if mode.needs_masks():
            masks = build_mask_provider(cfg.mask, loaders.has_labels)
            if hasattr(masks, "to"):
                masks.to(device)
        ctx = TrainContext(cfg=cfg, device=device, models=models, optimizers=optimizers,
                           schedulers=schedulers, masks=masks, names=loaders.names)
        mode.setup(ctx)
        if resume_path is not None:
            ckpt = load_checkpoint(resume_path)
            state = restore_checkpoint(ctx, ckpt, resume_path, mode)
            run_dir = resume_path.parent.parent if resume_path.parent.name == "weights" \
                else resume_path.parent
            log.info("resuming %s from epoch %d (step %d)", run_dir, state.epoch, state.step)
        else:
            state = TrainState()
            run_dir = increment_dir(cfg.project, cfg.name or mode.name)
            run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.yaml", dump_config(cfg))
        results_path = run_dir / "results.csv"
        rows: list[dict[str, Any]] = [r for r in read_results(results_path)
                                      if int(r.get("epoch", 0)) <= state.epoch]
        preview = _preview_batch(loaders, cfg.train.preview)
        log.info("mode %s on %s; data %s (%d train / %d val pairs, masks: %s); run folder %s",
                 mode.name, device, loaders.root, len(loaders.train.dataset),
                 len(loaders.val.dataset),
                 resolve_provider_name(cfg.mask, loaders.has_labels) if masks else "none",
                 run_dir)
        end = cfg.train.epochs if max_epochs is None else min(cfg.train.epochs,
                                                              state.epoch + max_epochs)
        for epoch in range(state.epoch, end):
            t0 = time.perf_counter()
            loaders.set_epoch(epoch)
            mode.start_epoch(ctx, state)
            sums: dict[str, float] = {}
            n = 0
            bar = tqdm(loaders.train, desc=f"epoch {epoch + 1}/{cfg.train.epochs}",
                       disable=not progress, leave=False, dynamic_ncols=True)
            for batch in bar:
                try:
                    logs = mode.train_step(ctx, state, batch)
                except NonFiniteLossError as exc:
                    raise NonFiniteLossError(
                        f"epoch {epoch + 1}, step {state.step + 1}: {exc}") from None
                for sched in schedulers.values():
                    sched.step()
                state.step += 1
                n += 1
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.set_postfix(_postfix({k: v / n for k, v in sums.items()}), refresh=False)
            bar.close()
            val = mode.validate(ctx, state, loaders.val)
            state.epoch = epoch + 1
            row: dict[str, Any] = {"epoch": state.epoch, "step": state.step}
            row.update({f"lr/{k}": o.param_groups[0]["lr"] for k, o in optimizers.items()})
            row.update({f"train/{k}": v / max(n, 1) for k, v in sums.items()})
            row.update({f"val/{k}": v for k, v in val.items() if k != "fitness"})
            row["fitness"] = val["fitness"]
            row["time_s"] = time.perf_counter() - t0
            rows.append(row)
            write_results(results_path, rows)
            write_previews(ctx, mode, preview, run_dir / "previews", state.epoch)
            improved = val["fitness"] > state.best_fitness
            if improved:
                state.best_fitness, state.best_epoch = val["fitness"], state.epoch
            ckpt = make_checkpoint(ctx, state, mode, row)
            save_checkpoint(run_dir / "weights" / "last.pt", ckpt)
            if improved:
                save_checkpoint(run_dir / "weights" / "best.pt", ckpt)
            log.info("epoch %d/%d: %s  val: %s%s", state.epoch, cfg.train.epochs,
                     " ".join(f"{k}={v / max(n, 1):.4g}" for k, v in sums.items()),
                     " ".join(f"{k}={v:.4g}" for k, v in val.items()),
                     "  (best)" if improved else "")
        write_plot(rows, run_dir / "results.png")
    return RunResult(run_dir=run_dir, state=state, rows=rows)


def write_plot(rows: list[dict[str, Any]], path: Path) -> None:
    """``results.png`` of the rows; a failure to draw is logged, never fatal to a run."""
    from tardal.engine.plots import plot_results

    try:
        plot_results(rows, path)
    except (ImportError, OSError, ValueError, RuntimeError) as exc:
        log.warning("could not draw %s: %s", path, exc)
