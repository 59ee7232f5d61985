"""Training modes: which networks a run has, and one step, composed from :mod:`.steps`.

A mode is a small class registered in ``MODES`` under its ``train.mode`` name. It declares what
it builds (:meth:`Mode.build_models`), what its step logs (``logs``), whether it needs target
masks, and what the detector looks at (:meth:`Mode.view`); :meth:`Mode.step` reads on one
screen. The loop, ``tardal eval``, the demo and the benchmark tools ask the mode; none of them
lists the modes again.

Notation: ``ir`` (B,1,H,W), ``vis`` (B,3,H,W) RGB, ``vis_y`` its luma, ``mask`` (B,1,H,W), all
float in [0,1]; ``u = G(ir, vis_y)``; ``Psi`` the detector; ``input(u)`` the detector's RGB
input (the fused luma with the visible CbCr, or grey x3: ``detector.input``).

* ``dt``: fusion only. G on ``L_f`` (critics frozen; the adversarial terms join after
  ``train.d_warm`` epochs), then one step each for D_t and D_d on ``u.detach()``.
* ``ct`` (the default): cooperative. One forward of G, and ONE forward of Psi on ``input(u)``
  serving both the detector step and the bridge: the backward of ``L_det + L_f`` updates Psi
  from ``L_det`` and G from ``L_f + beta * L_det`` (``beta = loss.beta`` after
  ``train.bridge_warm`` epochs; during the warm-up Psi sees ``u.detach()``). The gradient
  reaching G is therefore exactly ``dL_det/du`` of the detector as it is at this step,
  normalised with the batch's statistics as in its own step, and the frozen-detector forward of
  the alternating scheme (twice the detector's cost) is gone. Then the critic steps.
* ``tt``: G trained by the detection loss only (the bridge with beta 1, no L_f, no critics);
  G is held during the bridge warm-up while Psi learns on its initial output.
* ``ir`` / ``vis``: Psi on one modality (infrared grey x3; visible RGB, or its luma x3 with
  ``detector.input: grey``). ``frontend``: Psi on ``input(F(ir, vis_y))`` for a frozen fusion
  method F (``fusion.name``, or the G of ``fusion.weights``).

Every step returns its terms as detached device tensors (see ``logs``).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Mapping, Sequence

import torch
from torch import nn

from tardal.checkpoint import load_checkpoint, load_state
from tardal.config import Config
from tardal.discriminators import build_discriminator
from tardal.engine.context import (
    DETAIL_CRITIC,
    DETECTOR,
    GENERATOR,
    TARGET_CRITIC,
    Context,
)
from tardal.engine.state import TrainState
from tardal.engine.steps import (
    Terms,
    backward_and_step,
    critic_steps,
    detector_loss,
    fusion_loss,
    generator_forward,
    scale_grad,
    update_ema,
)
from tardal.errors import CheckpointError, ConfigError, UnknownNameError
from tardal.fusion import build_fusion
from tardal.ops.color import rgb_to_y
from tardal.registry import Registry

log = logging.getLogger(__name__)

MODES = Registry("training mode")

DET_TERMS = ("det", "box", "cls", "dfl")  # ``dfl`` is ``l1`` on DFL-free heads (YOLO26)
FUSION_TERMS = ("loss", "ssim", "pixel", "grad", "adv_t", "adv_d")
CRITIC_TERMS = ("dt_w", "dt_pen", "dd_w", "dd_pen")


def bridge_on(cfg: Config, state: TrainState) -> bool:
    """Whether L_det reaches G: after ``train.bridge_warm`` epochs."""
    return state.epoch >= cfg.train.bridge_warm


def adversarial_on(cfg: Config, state: TrainState) -> bool:
    """Whether the adversarial terms are part of L_f: after ``train.d_warm`` epochs."""
    return state.epoch >= cfg.train.d_warm


def detector_view(cfg: Config, luma: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """``input(luma)``: (B,3,H,W) in [0,1] from a (B,1,H,W) luma, differentiable."""
    from tardal.detect import detector_input

    return detector_input(luma, vis, cfg.detector.input)


def _detector(cfg: Config, names: Sequence[str], restore: bool, channels: int = 3) -> nn.Module:
    from dataclasses import replace

    from tardal.detect import build_detector

    dcfg = replace(cfg.detector, weights="") if restore else cfg.detector
    return build_detector(dcfg, list(names), channels)


def _check_trainable_generator(cfg: Config, mode: str) -> None:
    """The fusion section ``ct``/``tt`` can train with (checked by ``configure``, before any data
    is made)."""
    if cfg.fusion.name != "tardal":
        raise ConfigError(f"train.mode {mode}: fusion.name must be 'tardal' (a trainable G), "
                          f"found {cfg.fusion.name!r}; use train.mode=frontend for fixed methods")
    for key, step in (("detail", "detail split"), ("illum", "illumination step"),
                      ("equalize", "tone step")):
        value = getattr(cfg.fusion, key)
        if value > 0:
            raise ConfigError(f"train.mode {mode}: fusion.{key} must be 0, found {value:g}: G's "
                              f"{step} applies in eval mode only, so the detector would train "
                              f"on other images than it is tested on")


def _trainable_generator(cfg: Config, mode: str, restore: bool) -> nn.Module:
    """G for ``ct``/``tt``, initialised from ``fusion.weights`` when given."""
    _check_trainable_generator(cfg, mode)
    g = build_fusion(cfg.fusion)
    if cfg.fusion.weights and not restore:
        ckpt = load_checkpoint(cfg.fusion.weights)
        models = ckpt.get("models")
        if not isinstance(models, dict) or GENERATOR not in models:
            raise CheckpointError(f"fusion.weights: checkpoint {cfg.fusion.weights} holds no "
                                  f"fusion network (models['{GENERATOR}'])")
        load_state(g, models[GENERATOR], f"fusion.weights {cfg.fusion.weights}")
        log.info("G initialised from %s", cfg.fusion.weights)
    return g


def _critics(cfg: Config) -> dict[str, nn.Module]:
    return {TARGET_CRITIC: build_discriminator("target", cfg.disc),
            DETAIL_CRITIC: build_discriminator("detail", cfg.disc)}


class Mode:
    """A training mode (see the module doc). Subclasses set the class attributes and implement
    :meth:`build_models` and :meth:`step`; detection modes implement :meth:`view`."""

    name: ClassVar[str] = ""
    #: terms :meth:`step` returns (``bridge`` only once the bridge is open)
    logs: ClassVar[tuple[str, ...]] = ()
    has_detector: ClassVar[bool] = True
    #: G is part of the run (trained, or frozen in ``frontend``); its output is previewed
    has_generator: ClassVar[bool] = False
    uses_masks: ClassVar[bool] = False
    trains_fusion_loss: ClassVar[bool] = False  # ctx.criterion is built
    #: models kept in eval mode while training (a frozen front-end)
    frozen: ClassVar[tuple[str, ...]] = ()
    #: trained models whose training forward runs through DistributedDataParallel
    ddp_keys: tuple[str, ...] = (GENERATOR, DETECTOR)

    def configure(self, cfg: Config) -> None:
        """Settle what depends on the config (called by :func:`get_mode`)."""

    def build_models(self, cfg: Config, names: Sequence[str], *, restore: bool = False
                     ) -> dict[str, nn.Module]:
        """The run's networks by key. ``restore``: weights come from a checkpoint right after,
        so initial-weight files named in the config are not read."""
        raise NotImplementedError

    def step(self, ctx: Context, state: TrainState, batch: Mapping[str, Any]) -> Terms:
        """One training step on a batch already on the device; returns detached terms."""
        raise NotImplementedError

    def view(self, ctx: Context, ir: torch.Tensor, vis: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What the detector sees, (B,3,H,W) in [0,1], and the fused luma (or None), computed
        with the models in whatever train/eval state they are in (no gradient)."""
        raise NotImplementedError

    def start_epoch(self, ctx: Context, state: TrainState) -> None:
        """Called before each epoch (``state.epoch`` is its 0-based index)."""
        if DETECTOR in ctx.models:
            ctx.models[DETECTOR].set_epoch(state.epoch, ctx.cfg.train.epochs)


class _DetectOnly(Mode):
    """The detector on a fixed view of the pair (``ir``, ``vis``, ``frontend``)."""

    logs = DET_TERMS

    def build_models(self, cfg: Config, names: Sequence[str], *, restore: bool = False
                     ) -> dict[str, nn.Module]:
        return {DETECTOR: _detector(cfg, names, restore)}

    def step(self, ctx: Context, state: TrainState, batch: Mapping[str, Any]) -> Terms:
        images, _ = self.view(ctx, batch["ir"], batch["vis"])
        l_det, logs = detector_loss(ctx, images, batch)
        backward_and_step(ctx, l_det, (DETECTOR,))
        update_ema(ctx)
        return logs


@MODES.register("ir")
class InfraredMode(_DetectOnly):
    """``ir``: the detector on the infrared image, grey repeated on three channels."""

    name = "ir"

    def view(self, ctx: Context, ir: torch.Tensor, vis: torch.Tensor) -> tuple[torch.Tensor, None]:
        return ir.expand(-1, 3, -1, -1), None


@MODES.register("vis")
class VisibleMode(_DetectOnly):
    """``vis``: the detector on the visible image (RGB; its luma x3 with detector.input grey)."""

    name = "vis"

    def view(self, ctx: Context, ir: torch.Tensor, vis: torch.Tensor) -> tuple[torch.Tensor, None]:
        if ctx.cfg.detector.input == "grey":
            return rgb_to_y(vis).expand(-1, 3, -1, -1), None
        return vis, None


@MODES.register("early")
class EarlyFusionMode(_DetectOnly):
    """``early``: the detector takes the pair stacked as channels, (B,4,H,W) = visible RGB and
    infrared, with its first convolution built for four planes (the same detector family and
    budget as every other mode; local weights of a three-channel model transfer all but the
    first layer)."""

    name = "early"

    def build_models(self, cfg: Config, names: Sequence[str], *, restore: bool = False
                     ) -> dict[str, nn.Module]:
        return {DETECTOR: _detector(cfg, names, restore, channels=4)}

    def view(self, ctx: Context, ir: torch.Tensor, vis: torch.Tensor) -> tuple[torch.Tensor, None]:
        return torch.cat((vis, ir), dim=1), None


@MODES.register("frontend")
class FrontendMode(_DetectOnly):
    """``frontend``: the detector on the output of a frozen fusion method (module doc).

    With ``fusion.weights`` the checkpoint's ``fusion`` section replaces the config's, so the
    run's own config (and its checkpoints) rebuild that network.
    """

    name = "frontend"
    has_generator = True
    frozen = (GENERATOR,)

    def build_models(self, cfg: Config, names: Sequence[str], *, restore: bool = False
                     ) -> dict[str, nn.Module]:
        if cfg.fusion.weights and not restore:
            from tardal.fusion import load_fusion

            net, saved = load_fusion(cfg.fusion.weights)
            weights = cfg.fusion.weights
            cfg.fusion = saved.fusion
            cfg.fusion.weights = weights
            log.info("frontend: frozen %s network from %s", cfg.fusion.name, weights)
        elif cfg.fusion.name == "tardal" and not restore:
            raise ConfigError(
                "train.mode frontend with fusion.name tardal needs fusion.weights (a trained "
                "checkpoint); or name a fixed method: fusion.name=mean, max or laplacian")
        else:
            net = build_fusion(cfg.fusion)
        net.eval().requires_grad_(False)
        return {GENERATOR: net, DETECTOR: _detector(cfg, names, restore)}

    def view(self, ctx: Context, ir: torch.Tensor, vis: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad(), ctx.autocast(GENERATOR):
            fused = ctx.models[GENERATOR](ir, rgb_to_y(vis)).float()
        return detector_view(ctx.cfg, fused, vis), fused

    def step(self, ctx: Context, state: TrainState, batch: Mapping[str, Any]) -> Terms:
        if "fused" not in batch:  # train.cache_fused off: the network on every batch
            return super().step(ctx, state, batch)
        # the network's output fused once per pair and augmented with it (train.cache_fused)
        l_det, logs = detector_loss(ctx, detector_view(ctx.cfg, batch["fused"], batch["vis"]),
                                    batch)
        backward_and_step(ctx, l_det, (DETECTOR,))
        update_ema(ctx)
        return logs


@MODES.register("dt")
class FusionOnlyMode(Mode):
    """``dt``: the fusion method alone, trained by its own objective (TarDAL: G with the dual
    discriminators; the published methods: their losses, :mod:`tardal.engine.objectives`)."""

    name = "dt"
    logs = (*FUSION_TERMS, *CRITIC_TERMS, "mask")  # TarDAL's; other methods declare theirs
    has_detector = False
    has_generator = True
    uses_masks = True
    trains_fusion_loss = True

    def configure(self, cfg: Config) -> None:
        from tardal.engine.objectives import objective_for

        self.objective = objective_for(cfg)
        self.logs = self.objective.logs
        self.uses_masks = self.objective.uses_masks
        self.ddp_keys = (GENERATOR,) if self.objective.ddp_forward else ()

    def build_models(self, cfg: Config, names: Sequence[str], *, restore: bool = False
                     ) -> dict[str, nn.Module]:
        from tardal.engine.objectives import objective_for

        return {GENERATOR: build_fusion(cfg.fusion), **objective_for(cfg).critics(cfg)}

    def step(self, ctx: Context, state: TrainState, batch: Mapping[str, Any]) -> Terms:
        return self.objective.step(ctx, state, batch)

    def view(self, ctx: Context, ir: torch.Tensor, vis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad(), ctx.autocast(GENERATOR):
            fused = ctx.models[GENERATOR](ir, rgb_to_y(vis)).float()
        return detector_view(ctx.cfg, fused, vis), fused


@MODES.register("ct")
class CooperativeMode(Mode):
    """``ct``: fusion and detection trained together (module doc)."""

    name = "ct"
    logs = (*DET_TERMS, *FUSION_TERMS, "bridge", "beta", *CRITIC_TERMS, "mask")
    has_generator = True
    uses_masks = True
    trains_fusion_loss = True

    def configure(self, cfg: Config) -> None:
        _check_trainable_generator(cfg, self.name)

    def build_models(self, cfg: Config, names: Sequence[str], *, restore: bool = False
                     ) -> dict[str, nn.Module]:
        return {GENERATOR: _trainable_generator(cfg, self.name, restore), **_critics(cfg),
                DETECTOR: _detector(cfg, names, restore)}

    def step(self, ctx: Context, state: TrainState, batch: Mapping[str, Any]) -> Terms:
        ir, vis, mask = batch["ir"], batch["vis"], batch["mask"]
        vis_y = rgb_to_y(vis)
        beta = ctx.cfg.loss.beta if bridge_on(ctx.cfg, state) else 0.0
        fused = generator_forward(ctx, ir, vis_y)  # the one forward of G
        # 1+2. one detector forward: Psi learns from input(u); G gets L_f + beta * L_det
        seen = scale_grad(fused, beta) if beta > 0 else fused.detach()
        l_det, logs = detector_loss(ctx, detector_view(ctx.cfg, seen.float(), vis), batch)
        l_f, fusion_terms = fusion_loss(ctx, fused, ir, vis_y, mask, valid=batch.get("valid"),
                                        adversarial=adversarial_on(ctx.cfg, state))
        backward_and_step(ctx, l_det + l_f, (DETECTOR, GENERATOR))
        update_ema(ctx)
        # 3. critics on the detached fused image
        logs.update(fusion_terms)
        logs.update(critic_steps(ctx, fused, ir, vis_y, mask, batch.get("valid")))
        logs.update(loss=l_f.detach() + beta * l_det.detach(), beta=fused.new_tensor(beta).float(),
                    mask=mask.mean())
        if beta > 0:
            logs["bridge"] = l_det.detach()
        return logs

    view = FusionOnlyMode.view


@MODES.register("tt")
class TaskOnlyMode(Mode):
    """``tt``: G trained by the detection loss only (module doc)."""

    name = "tt"
    logs = (*DET_TERMS, "bridge", "loss")
    has_generator = True

    def configure(self, cfg: Config) -> None:
        _check_trainable_generator(cfg, self.name)

    def build_models(self, cfg: Config, names: Sequence[str], *, restore: bool = False
                     ) -> dict[str, nn.Module]:
        return {GENERATOR: _trainable_generator(cfg, self.name, restore),
                DETECTOR: _detector(cfg, names, restore)}

    def step(self, ctx: Context, state: TrainState, batch: Mapping[str, Any]) -> Terms:
        ir, vis = batch["ir"], batch["vis"]
        bridge = bridge_on(ctx.cfg, state)
        with torch.set_grad_enabled(bridge):
            fused = generator_forward(ctx, ir, rgb_to_y(vis))
        l_det, logs = detector_loss(ctx, detector_view(ctx.cfg, fused.float(), vis), batch)
        backward_and_step(ctx, l_det, (DETECTOR, GENERATOR) if bridge else (DETECTOR,))
        update_ema(ctx)
        if bridge:
            logs["bridge"] = logs["loss"] = l_det.detach()
        return logs

    view = FusionOnlyMode.view


def get_mode(cfg: Config) -> Mode:
    """The mode named by ``cfg.train.mode``."""
    try:
        mode = MODES.get(cfg.train.mode)()
    except UnknownNameError as exc:
        raise ConfigError(f"train.mode: {exc}") from None
    mode.configure(cfg)
    return mode
