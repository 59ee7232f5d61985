"""How each fusion method learns in mode ``dt`` (fusion only): its extra networks and its step.

An objective is registered under the fusion method's name (``fusion.name``), builds the
networks the method trains besides G (its discriminator, under the key ``D``; TarDAL's two
critics), and runs one step with the engine's step functions (:mod:`tardal.engine.steps`).
Methods share the loop, the checkpoints and the validation; a method adds its step, not a loop.
The losses are the pure functions of :mod:`tardal.losses.published` (and TarDAL's criterion).

* ``tardal``: L_f on G with the critics frozen, then one step each for D_t and D_d.
* ``densefuse``: the auto-encoder reconstructs the infrared and the visible luma of the batch
  (MSE + 100 (1 - SSIM)); fusion rules act only at inference.
* ``fusiongan``: two discriminator steps (visible vs fused, soft-label LSGAN), then G.
* ``ufgan``: one discriminator step, then G with FusionGAN's terms, SSIM and total variation.
* ``pmgi``: G on its intensity and gradient terms. ``u2fusion``: G on the SSIM and MSE terms
  weighted by the weight-free information measure of the two sources.
* ``mffgan``, ``mfifgan``, ``fusegan`` (multi-focus): each batch's visible lumas become
  synthetic defocus pairs (:func:`tardal.data.defocus.defocus_pair`, Gaussian blur; disk blur
  for FuseGAN), drawn from a generator seeded by ``(train.seed, step)`` so a resumed run draws
  the same pairs. MFF-GAN trains its image generator against a discriminator on Laplacian
  magnitudes; MFIF-GAN (WGAN-GP) and FuseGAN (LSGAN) train the focus map against a PatchGAN on
  ``cat(a, b, map)``.

Objectives whose step calls a method other than G's ``forward`` (``densefuse``, ``mfifgan``,
``fusegan``) set ``ddp_forward = False``: under torch.distributed their G's gradients are
averaged by hand instead of by DistributedDataParallel.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import torch
from torch import nn

from tardal.config import Config
from tardal.engine.context import DETAIL_CRITIC, GENERATOR, TARGET_CRITIC, Context
from tardal.engine.state import TrainState
from tardal.engine.steps import (
    Terms,
    backward_and_step,
    critic_steps,
    fusion_loss,
    generator_forward,
)
from tardal.losses import published as P
from tardal.ops.color import rgb_to_y
from tardal.registry import Registry

OBJECTIVES = Registry("fusion objective")
CRITIC = "D"  # a published method's discriminator in ctx.models


class Objective:
    """How one fusion method learns (see the module doc)."""

    logs: ClassVar[tuple[str, ...]] = ()
    uses_masks: ClassVar[bool] = False
    ddp_forward: ClassVar[bool] = True

    def critics(self, cfg: Config) -> dict[str, nn.Module]:
        """The networks trained besides G, by key."""
        return {}

    def step(self, ctx: Context, state: TrainState, batch: Mapping[str, Any]) -> Terms:
        raise NotImplementedError


def _frozen(module: nn.Module) -> Any:
    """``requires_grad`` off for the block (the critic in G's step)."""
    class _Frozen:
        def __enter__(self) -> None:
            module.requires_grad_(False)

        def __exit__(self, *exc: Any) -> None:
            module.requires_grad_(True)

    return _Frozen()


def _pair(batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    return batch["ir"], rgb_to_y(batch["vis"])


def _detached(terms: Terms) -> Terms:
    return {k: v.detach() for k, v in terms.items()}


@OBJECTIVES.register("tardal")
class TarDALObjective(Objective):
    """G on L_f with the critics frozen, then the critics' steps (TarDAL's ``dt``)."""

    logs = ("loss", "ssim", "pixel", "grad", "adv_t", "adv_d", "dt_w", "dt_pen", "dd_w", "dd_pen",
            "mask")
    uses_masks = True

    def critics(self, cfg: Config) -> dict[str, nn.Module]:
        from tardal.discriminators import build_discriminator

        return {TARGET_CRITIC: build_discriminator("target", cfg.disc),
                DETAIL_CRITIC: build_discriminator("detail", cfg.disc)}

    def step(self, ctx: Context, state: TrainState, batch: Mapping[str, Any]) -> Terms:
        ir, vis_y = _pair(batch)
        mask = batch["mask"]
        fused = generator_forward(ctx, ir, vis_y)
        l_f, logs = fusion_loss(ctx, fused, ir, vis_y, mask, valid=batch.get("valid"),
                                adversarial=state.epoch >= ctx.cfg.train.d_warm)
        backward_and_step(ctx, l_f, (GENERATOR,))
        logs.update(critic_steps(ctx, fused, ir, vis_y, mask, batch.get("valid")))
        logs.update(loss=l_f.detach(), mask=mask.mean())
        return logs


@OBJECTIVES.register("densefuse")
class DenseFuseObjective(Objective):
    """The auto-encoder reconstructs both sources (MSE + 100 (1 - SSIM))."""

    logs = ("loss", "pixel", "ssim")
    ddp_forward = False

    def step(self, ctx: Context, state: TrainState, batch: Mapping[str, Any]) -> Terms:
        ir, vis_y = _pair(batch)
        images = torch.cat((ir, vis_y))
        terms = P.densefuse_loss(ctx.models[GENERATOR].reconstruct(images), images)
        backward_and_step(ctx, terms["loss"], (GENERATOR,))
        return _detached(terms)


class _LSGANObjective(Objective):
    """G against one soft-label LSGAN discriminator on the visible luma (FusionGAN, UFGAN)."""

    critic_name: ClassVar[str] = ""
    d_steps: ClassVar[int] = 1

    def critics(self, cfg: Config) -> dict[str, nn.Module]:
        from tardal.discriminators import DISCRIMINATORS

        return {CRITIC: DISCRIMINATORS.build(self.critic_name, dim=cfg.disc.dim)}

    def g_terms(self, d_fake: torch.Tensor, fused: torch.Tensor, ir: torch.Tensor,
                vis_y: torch.Tensor) -> Terms:
        raise NotImplementedError

    def step(self, ctx: Context, state: TrainState, batch: Mapping[str, Any]) -> Terms:
        ir, vis_y = _pair(batch)
        d = ctx.models[CRITIC]
        fused = generator_forward(ctx, ir, vis_y).float()
        for _ in range(self.d_steps):
            d_terms = P.fusiongan_d_loss(d(vis_y), d(fused.detach()))
            backward_and_step(ctx, d_terms["loss"], (CRITIC,))
        with _frozen(d):
            terms = self.g_terms(d(fused), fused, ir, vis_y)
        backward_and_step(ctx, terms["loss"], (GENERATOR,))
        logs = _detached(terms)
        logs.update(d_real=d_terms["real"].detach(), d_fake=d_terms["fake"].detach())
        return logs


@OBJECTIVES.register("fusiongan")
class FusionGANObjective(_LSGANObjective):
    logs = ("loss", "adv", "intensity", "gradient", "d_real", "d_fake")
    critic_name, d_steps = "fusiongan", 2

    def g_terms(self, d_fake: torch.Tensor, fused: torch.Tensor, ir: torch.Tensor,
                vis_y: torch.Tensor) -> Terms:
        return P.fusiongan_g_loss(d_fake, fused, ir, vis_y)


@OBJECTIVES.register("ufgan")
class UFGANObjective(_LSGANObjective):
    logs = ("loss", "adv", "intensity", "gradient", "ssim_ir", "ssim_vis", "tv", "d_real",
            "d_fake")
    critic_name, d_steps = "ufgan", 1

    def g_terms(self, d_fake: torch.Tensor, fused: torch.Tensor, ir: torch.Tensor,
                vis_y: torch.Tensor) -> Terms:
        return P.ufgan_g_loss(d_fake, fused, ir, vis_y)


@OBJECTIVES.register("pmgi")
class PMGIObjective(Objective):
    logs = ("loss", "int_ir", "int_vis", "grad_vis", "grad_ir")

    def step(self, ctx: Context, state: TrainState, batch: Mapping[str, Any]) -> Terms:
        ir, vis_y = _pair(batch)
        terms = P.pmgi_loss(generator_forward(ctx, ir, vis_y).float(), ir, vis_y)
        backward_and_step(ctx, terms["loss"], (GENERATOR,))
        return _detached(terms)


@OBJECTIVES.register("u2fusion")
class U2FusionObjective(Objective):
    logs = ("loss", "ssim", "mse", "w_ir")

    def step(self, ctx: Context, state: TrainState, batch: Mapping[str, Any]) -> Terms:
        ir, vis_y = _pair(batch)
        w_a, w_b = P.u2fusion_weights(ir, vis_y)
        terms = P.u2fusion_loss(generator_forward(ctx, ir, vis_y).float(), ir, vis_y, w_a, w_b)
        backward_and_step(ctx, terms["loss"], (GENERATOR,))
        logs = _detached(terms)
        logs["w_ir"] = w_a.mean().detach()
        return logs


def _defocus(ctx: Context, state: TrainState, batch: Mapping[str, Any], blur: str,
             strength: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A synthetic multi-focus pair ``(a, b, mask)`` from the batch's visible lumas."""
    from tardal.data.defocus import defocus_pair

    gen = torch.Generator(device=batch["vis"].device)
    gen.manual_seed(ctx.cfg.train.seed * 1_000_003 + state.step)
    pair = defocus_pair(rgb_to_y(batch["vis"]), gen, blur=blur, strength=strength)
    return pair.a, pair.b, pair.mask


@OBJECTIVES.register("mffgan")
class MFFGANObjective(Objective):
    logs = ("loss", "adv", "intensity", "gradient", "d_real", "d_fake")

    def critics(self, cfg: Config) -> dict[str, nn.Module]:
        from tardal.discriminators import DISCRIMINATORS

        return {CRITIC: DISCRIMINATORS.build("mffgan", dim=cfg.disc.dim)}

    def step(self, ctx: Context, state: TrainState, batch: Mapping[str, Any]) -> Terms:
        a, b, _ = _defocus(ctx, state, batch, "gaussian", 2.0)
        d = ctx.models[CRITIC]
        fused = generator_forward(ctx, a, b).float()
        real, fake = P.mffgan_d_inputs(fused, a, b)
        d_terms = P.mffgan_d_loss(d(real), d(fake.detach()))
        backward_and_step(ctx, d_terms["loss"], (CRITIC,))
        with _frozen(d):
            terms = P.mffgan_g_loss(d(fake), fused, a, b)
        backward_and_step(ctx, terms["loss"], (GENERATOR,))
        logs = _detached(terms)
        logs.update(d_real=d_terms["real"].detach(), d_fake=d_terms["fake"].detach())
        return logs


class _FocusMapObjective(Objective):
    """The generator predicts the focus map of a synthetic pair; a PatchGAN judges
    ``cat(a, b, map)`` against ``cat(a, b, true mask)``."""

    ddp_forward = False
    blur: ClassVar[str] = "gaussian"
    strength: ClassVar[float] = 2.0

    def critic(self, cfg: Config) -> nn.Module:
        raise NotImplementedError

    def critics(self, cfg: Config) -> dict[str, nn.Module]:
        return {CRITIC: self.critic(cfg)}

    def losses(self, d: nn.Module, real: torch.Tensor, fake: torch.Tensor, focus: torch.Tensor,
               mask: torch.Tensor) -> tuple[Terms, Terms]:
        raise NotImplementedError

    def step(self, ctx: Context, state: TrainState, batch: Mapping[str, Any]) -> Terms:
        a, b, mask = _defocus(ctx, state, batch, self.blur, self.strength)
        d = ctx.models[CRITIC]
        focus = ctx.models[GENERATOR].focus_map(a, b)
        real, fake = torch.cat((a, b, mask), 1), torch.cat((a, b, focus), 1)
        d_terms, _ = self.losses(d, real, fake.detach(), focus, mask)
        backward_and_step(ctx, d_terms["loss"], (CRITIC,))
        with _frozen(d):
            _, terms = self.losses(d, real, fake, focus, mask)
        backward_and_step(ctx, terms["loss"], (GENERATOR,))
        logs = _detached(terms)
        logs["d_loss"] = d_terms["loss"].detach()
        return logs


@OBJECTIVES.register("mfifgan")
class MFIFGANObjective(_FocusMapObjective):
    logs = ("loss", "adv", "l1", "d_loss")

    def critic(self, cfg: Config) -> nn.Module:
        from tardal.discriminators import DISCRIMINATORS

        return DISCRIMINATORS.build("patchgan", in_channels=3, dim=cfg.disc.dim,
                                    norm="instance", score_bias=False)

    def losses(self, d: nn.Module, real: torch.Tensor, fake: torch.Tensor, focus: torch.Tensor,
               mask: torch.Tensor) -> tuple[Terms, Terms]:
        if not fake.requires_grad:  # the critic's step (WGAN-GP)
            return P.mfifgan_d_loss(d, real, fake), {}
        return {}, P.mfifgan_g_loss(d(fake), focus, mask)


@OBJECTIVES.register("fusegan")
class FuseGANObjective(_FocusMapObjective):
    logs = ("loss", "adv", "l1", "d_loss")
    blur, strength = "disk", 3.0

    def critic(self, cfg: Config) -> nn.Module:
        from tardal.discriminators import DISCRIMINATORS

        return DISCRIMINATORS.build("patchgan", in_channels=3, dim=cfg.disc.dim)

    def losses(self, d: nn.Module, real: torch.Tensor, fake: torch.Tensor, focus: torch.Tensor,
               mask: torch.Tensor) -> tuple[Terms, Terms]:
        if not fake.requires_grad:
            return P.fusegan_d_loss(d(real), d(fake)), {}
        return {}, P.fusegan_g_loss(d(fake), focus, mask)


def objective_for(cfg: Config) -> Objective:
    """The objective of ``cfg.fusion.name`` (every trainable registered method has one)."""
    from tardal.errors import ConfigError, UnknownNameError

    try:
        return OBJECTIVES.get(cfg.fusion.name)()
    except UnknownNameError as exc:
        raise ConfigError(f"fusion.name: {cfg.fusion.name!r} has no training objective (fixed "
                          f"methods need no training): {exc}") from None
