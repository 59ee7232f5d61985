"""Training modes: what a run builds and what one training step does.

One loop (:func:`tardal.engine.loop.train`) serves every mode; a mode is a class registered in
``MODES`` under the ``train.mode`` name, with four jobs:

* :meth:`Mode.build_models` (cfg, class names) -> ``{"G": ..., "D_t": ..., "D_d": ..., ...}``;
* :meth:`Mode.build_optimizers` -> ``{"G": opt, ...}`` (one per trained model, by default);
* :meth:`Mode.train_step` (ctx, state, batch) -> dict of float terms to log;
* :meth:`Mode.validate` (ctx, state, loader) -> dict of floats, with ``fitness``
  (higher is better; ``weights/best.pt`` keeps the best);

plus :meth:`Mode.fuse` for previews. Everything a step needs comes in through the
:class:`TrainContext` and the :class:`~tardal.engine.state.TrainState`; nothing lives on
``self`` but the mode's constants. A mode that needs more (a detector, its EMA, its loss)
puts models in ``ctx.models`` and anything else in ``ctx.extras``.

Mode ``dt`` (fusion only), per batch:

1. G step: u = G(ir, vis_y); the critics are frozen (``requires_grad`` off, so they get no
   gradient); ``L_f = a_ssim L_ssim + a_pix L_pixel + a_adv (t_adv adv_t + d_adv adv_d)`` with
   the adversarial weight 0 during the first ``train.d_warm`` epochs; one optimiser step on G.
2. D_t step on real ``ir * m`` vs fake ``u.detach() * m``; 3. D_d step on real
   ``sobel(vis_y) * (1 - m)`` vs fake ``sobel(u.detach()) * (1 - m)``; each minimises
   ``E[D(fake)] - E[D(real)] + penalty``. The critics train during the warm-up too.

The detector settings (``detector.*``, ``loss.beta``, ``train.bridge_warm``, ``train.ema``,
``train.lr_det``) do not apply to ``dt``.

Validation (dt): the content loss ``a_ssim L_ssim + a_pix L_pixel`` of G (eval mode) over the
validation split; ``fitness = -content``, so ``best.pt`` is the lowest validation content loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from tardal.config import Config
from tardal.discriminators import build_discriminator
from tardal.engine.optim import build_optimizer
from tardal.engine.state import TrainState
from tardal.fusion import build_fusion
from tardal.losses.adversarial import critic_loss
from tardal.losses.criterion import (
    FusionCriterion,
    content_weights,
    fusion_weights,
    weighted_total,
)
from tardal.masks.base import MaskProvider
from tardal.ops.color import recolor, rgb_to_y
from tardal.registry import Registry

MODES = Registry("training mode")


@dataclass
class TrainContext:
    """Everything built once per run; passed to every step."""

    cfg: Config
    device: torch.device
    models: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, Any] = field(default_factory=dict)
    masks: MaskProvider | None = None
    names: list[str] = field(default_factory=list)  # class names of the data set
    extras: dict[str, Any] = field(default_factory=dict)


def set_trainable(module: nn.Module, flag: bool) -> None:
    """Switch ``requires_grad`` of every parameter of ``module``."""
    for p in module.parameters():
        p.requires_grad_(flag)


def optimizer_step(ctx: TrainContext, key: str, loss: torch.Tensor) -> None:
    """Zero, backward, clip (``train.clip_grad``) and step the optimiser ``key`` on ``loss``."""
    opt = ctx.optimizers[key]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if ctx.cfg.train.clip_grad > 0:
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, ctx.cfg.train.clip_grad)
    opt.step()


def to_device(batch: Mapping[str, Any], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ir, vis)`` of a batch on ``device``: (B,1,H,W) and (B,3,H,W) float in [0,1]."""
    return (batch["ir"].to(device, non_blocking=True), batch["vis"].to(device, non_blocking=True))


def add_content_terms(ctx: TrainContext, crit: FusionCriterion, fused: torch.Tensor,
                      ir: torch.Tensor, vis_y: torch.Tensor, sums: dict[str, float]) -> int:
    """Add one validation batch's fusion terms (and their weighted ``content`` sum) to ``sums``,
    each times the batch size; returns the batch size."""
    terms = crit(fused, ir, vis_y)
    terms["content"] = weighted_total(terms, content_weights(ctx.cfg.loss), "validation content loss")
    n = ir.shape[0]
    for k, v in terms.items():
        sums[k] = sums.get(k, 0.0) + float(v) * n
    return n


class Mode:
    """Base class of a training mode (see the module doc)."""

    name = ""

    def build_models(self, cfg: Config, names: list[str] | tuple[str, ...] = (), *,
                     restore: bool = False) -> dict[str, nn.Module]:
        """The run's networks; ``names`` are the data set's class names (for a detector).

        ``restore``: the weights will be loaded from a checkpoint of this mode right after, so
        initial weights named in the config (``fusion.weights``, ``detector.weights``) are not
        read (they may not exist where a checkpoint is evaluated).
        """
        raise NotImplementedError

    def build_optimizers(self, cfg: Config, models: dict[str, nn.Module]
                         ) -> dict[str, torch.optim.Optimizer]:
        """One optimiser per trainable model: G at ``lr_g``, critics ``lr_d``, det ``lr_det``."""
        lrs = {"G": cfg.train.lr_g, "D_t": cfg.train.lr_d, "D_d": cfg.train.lr_d,
               "det": cfg.train.lr_det}
        return {k: build_optimizer(m.parameters(), cfg.train, lrs.get(k, cfg.train.lr_g))
                for k, m in models.items() if any(p.requires_grad for p in m.parameters())}

    def needs_masks(self) -> bool:
        return True

    def set_train_mode(self, ctx: TrainContext) -> None:
        """Every model in training mode (override to keep frozen models in eval mode)."""
        for m in ctx.models.values():
            m.train()

    def setup(self, ctx: TrainContext) -> None:
        """Called once the context is built (models on their device, optimisers made) and before
        a checkpoint is restored: build what lives in ``ctx.extras`` (e.g. a detector EMA)."""

    def start_epoch(self, ctx: TrainContext, state: TrainState) -> None:
        """Called at the start of every epoch (``state.epoch`` is its 0-based index); by default
        :meth:`set_train_mode`."""
        self.set_train_mode(ctx)

    def extra_state(self, ctx: TrainContext) -> dict[str, Any]:
        """State outside the models/optimisers/schedulers to save in checkpoints (``extras``)."""
        return {}

    def load_extra_state(self, ctx: TrainContext, state: Mapping[str, Any], where: str) -> None:
        """Inverse of :meth:`extra_state`; ``where`` names the checkpoint for error messages."""

    def train_step(self, ctx: TrainContext, state: TrainState, batch: Mapping[str, Any]
                   ) -> dict[str, float]:
        raise NotImplementedError

    def validate(self, ctx: TrainContext, state: TrainState, loader: DataLoader
                 ) -> dict[str, float]:
        raise NotImplementedError

    @torch.no_grad()
    def preview(self, ctx: TrainContext, batch: Mapping[str, Any]) -> list[np.ndarray]:
        """One (H,W,3) RGB image (float in [0,1] or uint8) per image of a validation batch, for
        ``previews/``: by default the fused luma recoloured with the visible CbCr."""
        ir, vis = to_device(batch, ctx.device)
        rgb = recolor(self.fuse(ctx, ir, vis), vis).clamp(0, 1).cpu()
        return [img.permute(1, 2, 0).numpy() for img in rgb]

    @torch.no_grad()
    def fuse(self, ctx: TrainContext, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        """Fused luma (B,1,H,W) in [0,1] for previews (G in eval mode, restored after)."""
        g = ctx.models["G"]
        was_training = g.training
        g.eval()
        try:
            return g(ir, rgb_to_y(vis))
        finally:
            g.train(was_training)


@MODES.register("dt")
class FusionOnlyMode(Mode):
    """``dt``: G with the dual discriminators, no detector (see the module doc)."""

    name = "dt"

    def build_models(self, cfg: Config, names: list[str] | tuple[str, ...] = (), *,
                     restore: bool = False) -> dict[str, nn.Module]:
        return {
            "G": build_fusion(cfg.fusion),
            "D_t": build_discriminator("target", cfg.disc),
            "D_d": build_discriminator("detail", cfg.disc),
        }

    def criterion(self, ctx: TrainContext) -> FusionCriterion:
        crit = ctx.extras.get("criterion")
        if crit is None:
            crit = ctx.extras["criterion"] = FusionCriterion.from_config(ctx.cfg.loss)
        return crit

    def adversarial_on(self, ctx: TrainContext, state: TrainState) -> bool:
        return state.epoch >= ctx.cfg.train.d_warm

    def generator_step(self, ctx: TrainContext, state: TrainState, ir: torch.Tensor,
                       vis_y: torch.Tensor, mask: torch.Tensor
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """Forward G and its fusion terms with the critics frozen; returns (u, terms, L_f).

        The caller steps G's optimiser (so a mode can add terms, e.g. a detection loss).
        """
        fused = ctx.models["G"](ir, vis_y)
        terms, total = self.fusion_terms(ctx, state, fused, ir, vis_y, mask)
        return fused, terms, total

    def fusion_terms(self, ctx: TrainContext, state: TrainState, fused: torch.Tensor,
                     ir: torch.Tensor, vis_y: torch.Tensor, mask: torch.Tensor
                     ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The fusion terms of an already computed ``fused`` = G(ir, vis_y) and their weighted
        total L_f, with the critics frozen (they get no gradient)."""
        d_t, d_d = ctx.models["D_t"], ctx.models["D_d"]
        set_trainable(d_t, False)
        set_trainable(d_d, False)
        try:
            terms = self.criterion(ctx)(fused, ir, vis_y, mask=mask, d_target=d_t, d_detail=d_d)
            weights = fusion_weights(ctx.cfg.loss, adversarial=self.adversarial_on(ctx, state))
            total = weighted_total(terms, weights, "fusion loss L_f")
        finally:
            set_trainable(d_t, True)
            set_trainable(d_d, True)
        return terms, total

    def critic_steps(self, ctx: TrainContext, fused: torch.Tensor, ir: torch.Tensor,
                     vis_y: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
        """One step each for D_t (ir vs u in the mask) and D_d (textures outside it)."""
        d = ctx.cfg.disc
        fake = fused.detach()
        logs: dict[str, float] = {}
        for key, real_src in (("D_t", ir), ("D_d", vis_y)):
            critic = ctx.models[key]
            terms = critic_loss(critic, critic.view(real_src, mask), critic.view(fake, mask),
                                penalty=d.penalty, k=d.div_k, p=d.div_p, lam=d.gp_lambda)
            loss = weighted_total(terms, {"wasserstein": 1.0, "penalty": 1.0}, f"{key} loss")
            optimizer_step(ctx, key, loss)
            tag = key.replace("D_", "d")
            logs[f"{tag}_w"] = float(terms["wasserstein"].detach())
            logs[f"{tag}_pen"] = float(terms["penalty"].detach())
        return logs

    def train_step(self, ctx: TrainContext, state: TrainState, batch: Mapping[str, Any]
                   ) -> dict[str, float]:
        ir, vis = to_device(batch, ctx.device)
        vis_y = rgb_to_y(vis)
        mask = ctx.masks(batch).to(ctx.device)
        fused, terms, total = self.generator_step(ctx, state, ir, vis_y, mask)
        optimizer_step(ctx, "G", total)
        logs = {"loss": float(total.detach())}
        logs.update({k: float(v.detach()) for k, v in terms.items()})
        logs.update(self.critic_steps(ctx, fused, ir, vis_y, mask))
        logs["mask"] = float(mask.mean())
        return logs

    @torch.no_grad()
    def validate(self, ctx: TrainContext, state: TrainState, loader: DataLoader
                 ) -> dict[str, float]:
        g = ctx.models["G"]
        was_training = g.training
        g.eval()
        crit = self.criterion(ctx)
        sums: dict[str, float] = {}
        count = 0
        try:
            for batch in loader:
                ir, vis = to_device(batch, ctx.device)
                vis_y = rgb_to_y(vis)
                fused = g(ir, vis_y)
                count += add_content_terms(ctx, crit, fused, ir, vis_y, sums)
        finally:
            g.train(was_training)
        out = {k: v / max(count, 1) for k, v in sums.items()}
        out["fitness"] = -out.get("content", float("inf"))
        return out
