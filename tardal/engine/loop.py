"""The training loop, one for every mode.

    from tardal.config import load_config
    from tardal.engine import train
    result = train(load_config("configs/synth-ct.yaml", ["train.epochs=3"]))
    result.run_dir / "weights" / "best.pt"

Per epoch: select the epoch's shuffle and augmentation draws; for every batch set the learning
rates from the global step (:func:`~tardal.engine.optim.lr_factor`), move the batch to the
device and run the mode's step; every ``train.log_interval`` steps read the accumulated loss
terms back from the device once (a step never waits for it), check them (a NaN or infinite
term stops the run naming the term, the step and the batch's images; the last good checkpoint
stays as it was) and update the progress bar. Then validate, append a row to ``results.csv``,
write previews and ``weights/last.pt`` (and ``weights/best.pt`` when the fitness improved); at
the end draw ``results.png``. Resuming from ``last.pt`` continues with exactly the batches,
augmentations and random draws an uninterrupted run would have used (on the CPU the parameters
match bit for bit). See :mod:`tardal.engine.checkpoint` for what a checkpoint holds.
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from tardal.config import Config, dump_config
from tardal.engine import checkpoint as ckpt_io
from tardal.engine import distributed
from tardal.engine.context import DETECTOR, GENERATOR, Context, build_context
from tardal.engine.data import Loaders, build_loaders, to_device
from tardal.engine.modes import Mode, get_mode
from tardal.engine.optim import lr_factor, schedule_length, set_learning_rates
from tardal.engine.run import increment_dir, read_results, write_results
from tardal.engine.state import TrainState, seed_everything
from tardal.engine.steps import Terms, set_training
from tardal.engine.validate import validate, write_previews
from tardal.io import atomic_write_text
from tardal.errors import ConfigError
from tardal.losses.criterion import NonFiniteLossError

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


class TermMeter:
    """Loss terms of the steps since the last read-back, kept on the device.

    :meth:`flush` reads them back in one transfer, raises :class:`NonFiniteLossError` for the
    first step with a NaN or infinite term (naming the term values and the batch's images), and
    adds the rest to the epoch's sums.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[int, Sequence[str], Terms]] = []
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, step: int, names: Sequence[str], terms: Terms) -> None:
        self.pending.append((step, names, terms))

    def flush(self, epoch: int) -> None:
        """Read the pending terms back (averaged over the processes of a distributed run, so a
        non-finite value on any process stops every process)."""
        if not self.pending:
            return
        keys = sorted({k for _, _, t in self.pending for k in t})
        device = next(iter(self.pending[0][2].values())).device
        table = torch.stack([torch.stack([t[k].float().reshape(()).to(device) if k in t
                                          else torch.zeros((), device=device) for k in keys])
                             for _, _, t in self.pending])
        table = distributed.all_mean(table).cpu()
        for row, (step, names, terms) in zip(table.tolist(), self.pending):
            values = {k: v for k, v in zip(keys, row) if k in terms}
            bad = [k for k, v in values.items() if not math.isfinite(v)]
            if bad:
                shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
                raise NonFiniteLossError(
                    f"epoch {epoch + 1}, step {step + 1}: loss term(s) {', '.join(bad)} not "
                    f"finite ({shown}) on the batch of images {', '.join(map(str, names))}. "
                    "Lower the learning rate (train.lr_g, train.lr_det) or check those images; "
                    "weights/last.pt still holds the last good epoch")
            for k, v in values.items():
                self.sums[k] = self.sums.get(k, 0.0) + v
                self.counts[k] = self.counts.get(k, 0) + 1
        self.pending.clear()

    def means(self) -> dict[str, float]:
        return {k: v / self.counts[k] for k, v in self.sums.items()}


@contextlib.contextmanager
def deterministic(enabled: bool) -> Iterator[None]:
    """``torch.use_deterministic_algorithms`` for the run when asked, restored afterwards."""
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    if enabled:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def _preview_batch(loaders: Loaders, count: int) -> dict[str, Any] | None:
    from tardal.engine.data import collate

    ds = loaders.val.dataset
    n = min(count, len(ds))
    return collate([ds[i] for i in range(n)]) if n > 0 else None


def _postfix(mode: Mode, means: dict[str, float]) -> dict[str, str]:
    return {k: f"{means[k]:.3g}" for k in mode.logs if k in means and k not in ("beta", "mask")}


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
    mode = get_mode(cfg)
    resume_path = ckpt_io.resume_path(resume) if resume is not None else None
    if mode.has_detector:
        round_img_size(cfg)
    info = distributed.from_environment()
    try:
        with deterministic(cfg.train.deterministic):
            return _train(cfg, mode, info, resume_path, max_epochs, progress)
    finally:
        distributed.shutdown()


def _cache_frontend(loaders: Loaders, ctx: Context) -> None:
    """Fuse every training pair once with the frozen front-end (``train.cache_fused``)."""
    from tardal.engine.data import fuse_dataset

    dataset = loaders.train.dataset.pairs
    t0 = time.perf_counter()
    dataset.extra = cache = fuse_dataset(ctx.models[GENERATOR], dataset, ctx.device)
    log.info("frontend: %d training pairs fused once in %.1f s (%.0f MB, 8-bit)", len(dataset),
             time.perf_counter() - t0, cache.nbytes / 1e6)


def _train(cfg: Config, mode: Mode, info: distributed.DistInfo, resume_path: Path | None,
           max_epochs: int | None, progress: bool) -> RunResult:
    from tqdm import tqdm

    seed_everything(cfg.train.seed)
    loaders = build_loaders(cfg, masks=mode.uses_masks, rank=info.rank, world=info.world,
                            pin_memory=torch.cuda.is_available() and cfg.train.device != "cpu")
    ctx = build_context(cfg, loaders.names, dist=info)
    if mode.name == "frontend" and cfg.train.cache_fused:
        _cache_frontend(loaders, ctx)
    if info.enabled:  # same initial weights everywhere, other random draws per process
        torch.manual_seed(cfg.train.seed + info.rank)
    if resume_path is not None:
        state = ckpt_io.restore(ctx, ckpt_io.load(resume_path), resume_path, mode.name)
        run_dir = ckpt_io.run_dir_of(resume_path)
        log.info("resuming %s from epoch %d (step %d)", run_dir, state.epoch, state.step)
    else:
        state = TrainState()
        run_dir = increment_dir(cfg.project, cfg.name or mode.name)
        if info.main:
            try:
                run_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"project: cannot create the run folder {run_dir}: "
                                  f"{exc.strerror or exc}") from None
    if info.enabled:  # every process uses rank 0's folder name
        run_dir = Path(distributed.gather_objects(str(run_dir))[0])
    writes = info.main  # only rank 0 writes the run folder
    results_path = run_dir / "results.csv"
    if writes:
        atomic_write_text(run_dir / "config.yaml", dump_config(cfg))
        if loaders.skipped:
            atomic_write_text(run_dir / "skipped.tsv", "split\tstem\treason\n" + "".join(
                "\t".join(str(v).replace("\t", " ") for v in row) + "\n"
                for row in loaders.skipped))
    rows: list[dict[str, Any]] = [r for r in read_results(results_path)
                                  if int(r.get("epoch", 0)) <= state.epoch]
    preview = _preview_batch(loaders, cfg.train.preview) if writes else None
    total, warmup = schedule_length(cfg.train, len(loaders.train))
    t = cfg.train
    mixed = [name for key, name in ((GENERATOR, "G"), (DETECTOR, "the detector"))
             if key in ctx.models and ctx.in_autocast(key)]
    log.info("mode %s on %s%s%s; data %s (%d train / %d val pairs); run folder %s", mode.name,
             ctx.device, f" (rank {info.rank} of {info.world})" if info.enabled else "",
             f" ({' and '.join(mixed)} in bf16 autocast)" if mixed else "",
             loaders.root, len(loaders.train.dataset), len(loaders.val.dataset), run_dir)
    end = t.epochs if max_epochs is None else min(t.epochs, state.epoch + max_epochs)
    for epoch in range(state.epoch, end):
        t0 = time.perf_counter()
        loaders.set_epoch(epoch)
        set_training(ctx.models, mode.frozen)
        mode.start_epoch(ctx, state)
        meter = TermMeter()
        bar = tqdm(loaders.train, desc=f"epoch {epoch + 1}/{t.epochs}",
                   disable=not (progress and writes), leave=False, dynamic_ncols=True)
        for batch in bar:
            set_learning_rates(ctx.optimizers, ctx.base_lr,
                               lr_factor(state.step, total, warmup, t.schedule, t.lr_final))
            logs = mode.step(ctx, state, to_device(batch, ctx.device))
            meter.add(state.step, batch["name"], logs)
            state.step += 1
            if len(meter.pending) >= t.log_interval:
                meter.flush(epoch)
                bar.set_postfix(_postfix(mode, meter.means()), refresh=False)
        bar.close()
        meter.flush(epoch)
        val = validate(ctx, mode, loaders.val)
        state.epoch = epoch + 1
        row = _row(ctx, state, meter.means(), val, time.perf_counter() - t0)
        rows.append(row)
        improved = val["fitness"] > state.best_fitness
        if improved:
            state.best_fitness, state.best_epoch = val["fitness"], state.epoch
        if writes:
            write_results(results_path, rows)
            write_previews(ctx, mode, preview, run_dir / "previews", state.epoch)
            snap = ckpt_io.snapshot(ctx, state, mode.name, row)
            ckpt_io.save(run_dir / "weights" / "last.pt", snap)
            if improved:
                ckpt_io.save(run_dir / "weights" / "best.pt", snap)
        log.info("epoch %d/%d: %s  val: %s%s", state.epoch, t.epochs,
                 " ".join(f"{k}={v:.4g}" for k, v in meter.means().items()),
                 " ".join(f"{k}={v:.4g}" for k, v in val.items()),
                 "  (best)" if improved else "")
    if writes:
        write_plot(rows, run_dir / "results.png")
    return RunResult(run_dir=run_dir, state=state, rows=rows)


#: The input stride of Ultralytics' detection models (P3-P5 heads); data.img_size must be a
#: multiple of it.
DETECTOR_STRIDE = 32


def round_img_size(cfg: Config) -> None:
    """Round ``data.img_size`` up to a multiple of the detector's stride, with a warning, as
    Ultralytics does (the resolved config, saved in the run, holds the size used)."""
    size = cfg.data.img_size
    if size % DETECTOR_STRIDE:
        new = -(-size // DETECTOR_STRIDE) * DETECTOR_STRIDE
        log.warning("data.img_size=%d is not a multiple of the detector's stride %d; using %d",
                    size, DETECTOR_STRIDE, new)
        cfg.data.img_size = new


def _row(ctx: Context, state: TrainState, train_means: dict[str, float], val: dict[str, float],
         seconds: float) -> dict[str, Any]:
    """One ``results.csv`` row: epoch, step, learning rates, train and validation values."""
    row: dict[str, Any] = {"epoch": state.epoch, "step": state.step}
    row.update({f"lr/{k}": o.param_groups[0]["lr"] for k, o in ctx.optimizers.items()})
    row.update({f"train/{k}": v for k, v in train_means.items()})
    row.update({f"val/{k}": v for k, v in val.items() if k != "fitness"})
    row["fitness"] = val["fitness"]
    row["time_s"] = seconds
    return row


def config_for_resume(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """The config saved in a checkpoint (or a run folder's ``last.pt``), with overrides."""
    path = ckpt_io.resume_path(path)
    return ckpt_io.config_of(ckpt_io.load(path), path, overrides)


def write_plot(rows: list[dict[str, Any]], path: Path) -> None:
    """``results.png`` of the rows; a failure to draw is logged, never fatal to a run."""
    from tardal.evaluation.plots import plot_results

    try:
        plot_results(rows, path)
    except (ImportError, OSError, ValueError, RuntimeError) as exc:
        log.warning("could not draw %s: %s", path, exc)
