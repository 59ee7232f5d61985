"""Training modes with a detector: ``ct`` (cooperative), ``tt``, and the references ``ir``,
``vis`` and ``frontend``. All run in the one loop of :mod:`tardal.engine.loop`.

Notation: ``ir`` (B,1,H,W), ``vis`` (B,3,H,W) RGB, ``vis_y`` its BT.601 luma, all in [0,1];
``u = G(ir, vis_y)`` the fused luma; ``Psi`` the detector (``models["det"]``), whose input is
``detector_input(u, vis, detector.input)``: the fused luma with the visible CbCr (``color``) or
the luma repeated (``grey``). ``L_det`` is the detector's loss (``box``, ``cls``, ``dfl`` terms,
gain-weighted, independent of the batch size).

``ct`` (the default), per batch, with ONE forward of G whose ``u`` serves all three steps:

1. detector step: Psi on ``L_det(Psi(input(u.detach())))``; one optimiser step on Psi, then the
   EMA update;
2. fusion step: G on ``L_f + beta * L_det(Psi(input(u)))``, the second term back-propagated
   through the frozen detector (:func:`tardal.detect.frozen`: no parameter gradients, BatchNorm
   in eval mode so its running statistics stay as they are). ``beta = loss.beta`` after the
   bridge warm-up and 0 during the first ``train.bridge_warm`` epochs, when the detector forward
   of this step is skipped altogether (the term is then not logged);
3. critic steps: D_t and D_d on ``u.detach()``, as in ``dt``.

``tt``: G trained by the detection loss only: step 1 as in ``ct``, then G on
``L_det(Psi(input(u)))`` through the frozen detector (no L_f, no critics, no masks). The bridge
warm-up applies too: G is held fixed during the first ``train.bridge_warm`` epochs, while the
detector learns on its (initial) output, because the gradient of an untrained detector is noise.

``ir``: Psi on the infrared image, grey repeated on three channels. ``vis``: Psi on the visible
image (RGB; its luma repeated with ``detector.input: grey``). ``frontend``: Psi on
``input(F(ir, vis_y))`` for a frozen fusion method F: any registered method (``fusion.name``:
``mean``, ``max``, ``laplacian``) or the G of a checkpoint (``fusion.weights``; its
``fusion`` section replaces the config's so the run's config rebuilds it). F is stored in the
checkpoints as ``models["G"]``, so ``tardal eval`` and ``tardal fuse`` work on frontend runs too.

``fusion.weights`` in ``ct``/``tt`` initialises G from a checkpoint (e.g. a ``dt`` run);
``detector.weights`` initialises the detector from a local Ultralytics ``.pt``.

Logged terms per step: ``det`` (L_det of the detector step) with ``box``, ``cls``, ``dfl``
(or ``l1``); in ``ct`` also ``loss`` (G's total), ``ssim``, ``pixel``, ``adv_t``, ``adv_d``,
``bridge`` (L_det through the frozen detector, after the warm-up), ``beta``, the critic terms
``dt_w``, ``dt_pen``, ``dd_w``, ``dd_pen`` and ``mask``; in ``tt`` ``loss`` and ``bridge``.

Validation: the EMA detector (``train.ema``; else the detector itself) predicts on the
validation split, boxes are mapped back to the original images through the letterbox, and
:class:`~tardal.evaluation.DetectionAccumulator` scores them with pycocotools: ``AP``
(AP@[.5:.95]), ``AP50``, ``AP75``, ``APs/m/l``, ``precision``, ``recall``, ``f1`` and
``AP50/<class>``, ``AP/<class>``; modes with G add the validation content loss (``content``,
``ssim``, ``pixel`` of G in eval mode). ``fitness = AP`` (0 when undefined), so
``weights/best.pt`` holds the epoch with the best AP@[.5:.95].
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Any, Iterator, Mapping

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from tardal.checkpoint import load_checkpoint, load_state
from tardal.config import Config
from tardal.discriminators import build_discriminator
from tardal.engine.modes import (
    MODES,
    FusionOnlyMode,
    Mode,
    TrainContext,
    add_content_terms,
    optimizer_step,
    to_device,
)
from tardal.engine.state import TrainState
from tardal.errors import CheckpointError, ConfigError
from tardal.fusion import build_fusion
from tardal.losses.criterion import (
    FusionCriterion,
    NonFiniteLossError,
    weighted_total,
)
from tardal.ops.color import rgb_to_y

log = logging.getLogger(__name__)

DETECTOR = "det"  # key of the detector in ctx.models and in checkpoints
GENERATOR = "G"  # key of the fusion network (trained or frozen)


@contextlib.contextmanager
def eval_mode(*modules: nn.Module | None) -> Iterator[None]:
    """Put ``modules`` in eval mode for the block and restore each one's training flag."""
    mods = [m for m in modules if m is not None]
    flags = [m.training for m in mods]
    for m in mods:
        m.eval()
    try:
        yield
    finally:
        for m, f in zip(mods, flags):
            m.train(f)


def check_finite(total: torch.Tensor, terms: Mapping[str, torch.Tensor], what: str) -> None:
    """Raise :class:`NonFiniteLossError` naming every term when ``total`` is NaN or infinite."""
    if not torch.isfinite(total.detach()).all():
        values = ", ".join(f"{k}={float(v):.4g}" for k, v in terms.items())
        raise NonFiniteLossError(
            f"{what} is not finite ({float(total.detach())}); terms: {values}. Lower the learning "
            "rate (train.lr_det, train.lr_g) or check the inputs for NaN")


def _detector(cfg: Config, names: list[str] | tuple[str, ...], restore: bool) -> nn.Module:
    from tardal.detect import build_detector

    dcfg = cfg.detector
    if restore and dcfg.weights:
        from dataclasses import replace

        dcfg = replace(dcfg, weights="")  # the checkpoint holds the trained weights
    return build_detector(dcfg, list(names))


def _init_generator(g: nn.Module, path: str) -> None:
    """Load ``models["G"]`` of the checkpoint at ``path`` into ``g`` (same architecture)."""
    ckpt = load_checkpoint(path)
    models = ckpt.get("models")
    if not isinstance(models, dict) or GENERATOR not in models:
        raise CheckpointError(f"fusion.weights: checkpoint {path} holds no fusion network "
                              f"(models['{GENERATOR}'])")
    load_state(g, models[GENERATOR], f"fusion.weights {path} (models.{GENERATOR})")
    log.info("G initialised from %s", path)


class DetectionMode(Mode):
    """Shared parts of the modes with a detector (see the module doc)."""

    name = ""
    has_generator = False  # G is part of the run (trained in ct/tt, frozen in frontend)
    trains_generator = False

    def needs_masks(self) -> bool:
        return False

    # -- set-up and state ---------------------------------------------------------------------

    def setup(self, ctx: TrainContext) -> None:
        from tardal.detect import ModelEMA

        if ctx.cfg.train.ema:
            t = ctx.cfg.train
            if not (0.0 <= t.ema_decay < 1.0 and t.ema_tau > 0):
                raise ConfigError(f"train.ema_decay must be in [0, 1) and train.ema_tau > 0, found "
                                  f"{t.ema_decay} and {t.ema_tau}")
            ctx.extras["ema"] = ModelEMA(ctx.models[DETECTOR], decay=t.ema_decay, tau=t.ema_tau)

    def extra_state(self, ctx: TrainContext) -> dict[str, Any]:
        ema = ctx.extras.get("ema")
        return {"ema": ema.state_dict()} if ema is not None else {}

    def load_extra_state(self, ctx: TrainContext, state: Mapping[str, Any], where: str) -> None:
        ema = ctx.extras.get("ema")
        if ema is None:
            return
        if "ema" not in state:
            raise CheckpointError(f"{where}: no detector EMA state (extras.ema); was it saved "
                                  "with train.ema=false? Pass train.ema=false to use it")
        try:
            ema.load_state_dict(state["ema"])
        except CheckpointError as exc:
            raise CheckpointError(f"{where}: {exc}") from None

    def start_epoch(self, ctx: TrainContext, state: TrainState) -> None:
        self.set_train_mode(ctx)
        ctx.models[DETECTOR].set_epoch(state.epoch, ctx.cfg.train.epochs)

    def eval_detector(self, ctx: TrainContext) -> nn.Module:
        """The detector used for validation and evaluation: the EMA copy, or the detector."""
        ema = ctx.extras.get("ema")
        return ema.ema if ema is not None else ctx.models[DETECTOR]

    # -- inputs -----------------------------------------------------------------------------

    def to_detector(self, ctx: TrainContext, luma: torch.Tensor, vis: torch.Tensor
                    ) -> torch.Tensor:
        """``detector_input(luma, vis, detector.input)``: (B,3,H,W) in [0,1], differentiable."""
        from tardal.detect import detector_input

        return detector_input(luma, vis, ctx.cfg.detector.input)

    def fused(self, ctx: TrainContext, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor | None:
        """Inference-time fused luma (G in eval mode), or None for modes without G."""
        if not self.has_generator:
            return None
        g = ctx.models[GENERATOR]
        with eval_mode(g), torch.no_grad():
            return g(ir, rgb_to_y(vis))

    def detector_view(self, ctx: TrainContext, ir: torch.Tensor, vis: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Inference-time detector input (B,3,H,W) in [0,1] and the fused luma (or None)."""
        fused = self.fused(ctx, ir, vis)
        assert fused is not None, "modes without G override detector_view"
        with torch.no_grad():
            return self.to_detector(ctx, fused, vis), fused

    @torch.no_grad()
    def fuse(self, ctx: TrainContext, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        """The luma the detector looks at (B,1,H,W): fused, or the single modality's."""
        fused = self.fused(ctx, ir, vis)
        if fused is not None:
            return fused
        images, _ = self.detector_view(ctx, ir, vis)
        return rgb_to_y(images)

    # -- steps ------------------------------------------------------------------------------

    def detector_step(self, ctx: TrainContext, images: torch.Tensor, batch: Mapping[str, Any]
                      ) -> dict[str, float]:
        """One optimiser step of the detector on ``images`` (no gradient to their source);
        then the EMA update. Returns ``det`` and the unweighted terms."""
        det = ctx.models[DETECTOR]
        total, terms = det.loss(det(images.detach()), batch)
        check_finite(total, terms, "detector loss L_det")
        optimizer_step(ctx, DETECTOR, total)
        ema = ctx.extras.get("ema")
        if ema is not None:
            ema.update(det)
        logs = {"det": float(total.detach())}
        logs.update({k: float(v) for k, v in terms.items()})
        return logs

    def bridge_loss(self, ctx: TrainContext, fused: torch.Tensor, vis: torch.Tensor,
                    batch: Mapping[str, Any]) -> torch.Tensor:
        """``L_det(Psi(input(fused)))`` through the frozen detector: the gradient reaches
        ``fused`` (and G behind it) only; the detector's parameters and BN statistics stay."""
        from tardal.detect import frozen

        det = ctx.models[DETECTOR]
        with frozen(det, bn_eval=True):
            total, terms = det.loss(det(self.to_detector(ctx, fused, vis)), batch)
        check_finite(total, terms, "detection loss through the frozen detector")
        return total

    def bridge_on(self, ctx: TrainContext, state: TrainState) -> bool:
        """Whether the bridge (L_det into G) is active: after ``train.bridge_warm`` epochs."""
        return state.epoch >= ctx.cfg.train.bridge_warm

    # -- validation -------------------------------------------------------------------------

    @torch.no_grad()
    def validate(self, ctx: TrainContext, state: TrainState, loader: DataLoader
                 ) -> dict[str, float]:
        from tardal.evaluation import DetectionAccumulator, flatten_metrics

        det = self.eval_detector(ctx)
        dcfg = ctx.cfg.detector
        acc = DetectionAccumulator(ctx.names)
        crit = FusionCriterion.from_config(ctx.cfg.loss) if self.has_generator else None
        sums: dict[str, float] = {}
        count = 0
        for batch in loader:
            ir, vis = to_device(batch, ctx.device)
            images, fused = self.detector_view(ctx, ir, vis)
            preds = det.predict(images, conf=dcfg.conf, iou=dcfg.iou, max_det=dcfg.max_det)
            acc.add(preds, batch)
            if crit is not None and fused is not None:
                count += add_content_terms(ctx, crit, fused, ir, rgb_to_y(vis), sums)
        results = acc.compute()
        out = flatten_metrics(results)
        out.update({k: v / max(count, 1) for k, v in sums.items()})
        ap = float(results["AP"])
        out["fitness"] = ap if math.isfinite(ap) else 0.0
        return out

    @torch.no_grad()
    def preview(self, ctx: TrainContext, batch: Mapping[str, Any]) -> list[np.ndarray]:
        """The detector's input with the validation detector's boxes (score >= plot_conf)."""
        from tardal.engine.plots import draw_detections

        ir, vis = to_device(batch, ctx.device)
        images, _ = self.detector_view(ctx, ir, vis)
        d = ctx.cfg.detector
        preds = self.eval_detector(ctx).predict(images, conf=max(d.conf, d.plot_conf), iou=d.iou,
                                                max_det=d.max_det)
        return [draw_detections(img.permute(1, 2, 0).cpu().numpy(), p["boxes_xyxy"], p["labels"],
                                ctx.names, p["scores"])
                for img, p in zip(images, preds)]


@MODES.register("ct")
class CooperativeMode(DetectionMode, FusionOnlyMode):
    """``ct``: the alternating bilevel scheme (see the module doc)."""

    name = "ct"
    has_generator = True
    trains_generator = True

    def needs_masks(self) -> bool:
        return True

    def build_models(self, cfg: Config, names: list[str] | tuple[str, ...] = (), *,
                     restore: bool = False) -> dict[str, nn.Module]:
        if cfg.fusion.name != "tardal":
            raise ConfigError(f"train.mode {self.name}: fusion.name must be 'tardal' (a trainable "
                              f"G), found {cfg.fusion.name!r}; use mode frontend for fixed methods")
        g = build_fusion(cfg.fusion)
        if cfg.fusion.weights and not restore:
            _init_generator(g, cfg.fusion.weights)
        return {GENERATOR: g, "D_t": build_discriminator("target", cfg.disc),
                "D_d": build_discriminator("detail", cfg.disc),
                DETECTOR: _detector(cfg, names, restore)}

    def beta(self, ctx: TrainContext, state: TrainState) -> float:
        """The weight of L_det in the fusion step: 0 during the bridge warm-up."""
        return ctx.cfg.loss.beta if self.bridge_on(ctx, state) else 0.0

    def train_step(self, ctx: TrainContext, state: TrainState, batch: Mapping[str, Any]
                   ) -> dict[str, float]:
        ir, vis = to_device(batch, ctx.device)
        vis_y = rgb_to_y(vis)
        mask = ctx.masks(batch).to(ctx.device)
        fused = ctx.models[GENERATOR](ir, vis_y)  # the one forward of G for this batch
        # 1. detector on the detached fused image
        logs = self.detector_step(ctx, self.to_detector(ctx, fused.detach(), vis), batch)
        # 2. G on L_f + beta * L_det through the frozen detector
        terms, l_f = self.fusion_terms(ctx, state, fused, ir, vis_y, mask)
        beta = self.beta(ctx, state)
        total = l_f
        if beta > 0:
            bridge = self.bridge_loss(ctx, fused, vis, batch)
            total = weighted_total({"L_f": l_f, "bridge": bridge}, {"L_f": 1.0, "bridge": beta},
                                   "fusion-step loss L_f + beta * L_det")
            logs["bridge"] = float(bridge.detach())
        optimizer_step(ctx, GENERATOR, total)
        logs["loss"] = float(total.detach())
        logs["beta"] = float(beta)
        logs.update({k: float(v.detach()) for k, v in terms.items()})
        # 3. critics on the detached fused image
        logs.update(self.critic_steps(ctx, fused, ir, vis_y, mask))
        logs["mask"] = float(mask.mean())
        return logs


@MODES.register("tt")
class TaskOnlyMode(DetectionMode):
    """``tt``: G trained by the detection loss only (see the module doc)."""

    name = "tt"
    has_generator = True
    trains_generator = True

    def build_models(self, cfg: Config, names: list[str] | tuple[str, ...] = (), *,
                     restore: bool = False) -> dict[str, nn.Module]:
        if cfg.fusion.name != "tardal":
            raise ConfigError(f"train.mode {self.name}: fusion.name must be 'tardal' (a trainable "
                              f"G), found {cfg.fusion.name!r}; use mode frontend for fixed methods")
        g = build_fusion(cfg.fusion)
        if cfg.fusion.weights and not restore:
            _init_generator(g, cfg.fusion.weights)
        return {GENERATOR: g, DETECTOR: _detector(cfg, names, restore)}

    def train_step(self, ctx: TrainContext, state: TrainState, batch: Mapping[str, Any]
                   ) -> dict[str, float]:
        ir, vis = to_device(batch, ctx.device)
        fused = ctx.models[GENERATOR](ir, rgb_to_y(vis))
        logs = self.detector_step(ctx, self.to_detector(ctx, fused.detach(), vis), batch)
        if self.bridge_on(ctx, state):
            bridge = self.bridge_loss(ctx, fused, vis, batch)
            optimizer_step(ctx, GENERATOR, bridge)
            logs["bridge"] = logs["loss"] = float(bridge.detach())
        else:  # G held: a step without gradients changes nothing and keeps its LR schedule in step
            ctx.optimizers[GENERATOR].zero_grad(set_to_none=True)
            ctx.optimizers[GENERATOR].step()
        return logs


class _FixedInputMode(DetectionMode):
    """A detector on a fixed (untrained) view of the pair."""

    def build_models(self, cfg: Config, names: list[str] | tuple[str, ...] = (), *,
                     restore: bool = False) -> dict[str, nn.Module]:
        return {DETECTOR: _detector(cfg, names, restore)}

    def train_step(self, ctx: TrainContext, state: TrainState, batch: Mapping[str, Any]
                   ) -> dict[str, float]:
        ir, vis = to_device(batch, ctx.device)
        images, _ = self.detector_view(ctx, ir, vis)
        return self.detector_step(ctx, images, batch)


@MODES.register("ir")
class InfraredMode(_FixedInputMode):
    """``ir``: the detector on the infrared image, grey repeated on three channels."""

    name = "ir"

    def detector_view(self, ctx: TrainContext, ir: torch.Tensor, vis: torch.Tensor
                      ) -> tuple[torch.Tensor, None]:
        return ir.expand(-1, 3, -1, -1), None


@MODES.register("vis")
class VisibleMode(_FixedInputMode):
    """``vis``: the detector on the visible image (RGB; its luma x3 with detector.input grey)."""

    name = "vis"

    def detector_view(self, ctx: TrainContext, ir: torch.Tensor, vis: torch.Tensor
                      ) -> tuple[torch.Tensor, None]:
        if ctx.cfg.detector.input == "grey":
            return rgb_to_y(vis).expand(-1, 3, -1, -1), None
        return vis, None


@MODES.register("frontend")
class FrontendMode(_FixedInputMode):
    """``frontend``: the detector on the output of a frozen fusion method (see the module doc)."""

    name = "frontend"
    has_generator = True

    def build_models(self, cfg: Config, names: list[str] | tuple[str, ...] = (), *,
                     restore: bool = False) -> dict[str, nn.Module]:
        if cfg.fusion.weights and not restore:
            from tardal.fusion import load_fusion

            net, saved = load_fusion(cfg.fusion.weights)
            weights = cfg.fusion.weights
            cfg.fusion = saved.fusion  # resolved: the run's config rebuilds this network
            cfg.fusion.weights = weights
            log.info("frontend: frozen %s network from %s", cfg.fusion.name, weights)
        else:
            if cfg.fusion.name == "tardal" and not restore:
                raise ConfigError(
                    "train.mode frontend with fusion.name tardal needs fusion.weights (a trained "
                    "checkpoint); or name a fixed method: fusion.name=mean, max or laplacian")
            net = build_fusion(cfg.fusion)
        net.eval().requires_grad_(False)
        return {GENERATOR: net, DETECTOR: _detector(cfg, names, restore)}

    def set_train_mode(self, ctx: TrainContext) -> None:
        ctx.models[GENERATOR].eval()
        ctx.models[DETECTOR].train()

