"""The pieces of a training step, as plain functions of explicit arguments.

Every function takes the :class:`~tardal.engine.context.Context` and tensors, and returns
tensors: loss terms stay on the device (detached) so that a step never waits for the device;
the loop reads them back once per ``train.log_interval`` steps.

Each piece runs inside a named ``torch.profiler.record_function`` region (:data:`PARTS`), so a
profiler (``tools/bench_train.py``) splits a real step into its parts; outside a profiler the
regions cost nothing measurable.

Notation: ``ir`` (B,1,H,W), ``vis`` (B,3,H,W) RGB, ``vis_y`` its BT.601 luma, ``mask`` (B,1,H,W)
the target mask, all float in [0,1]; ``u = G(ir, vis_y)`` the fused luma.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import torch
from torch import nn

from tardal.engine.context import DETAIL_CRITIC, DETECTOR, GENERATOR, TARGET_CRITIC, Context
from tardal.engine.distributed import average_gradients
from tardal.losses.adversarial import critic_loss
from tardal.losses.criterion import fusion_weights, weighted_sum

Terms = dict[str, torch.Tensor]

#: The profiler regions of a step, in the order a ``ct`` step runs them.
PARTS = ("G forward", "detector forward + loss", "fusion loss", "backward + optimiser step",
         "EMA update", "critic steps")
part = torch.profiler.record_function


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; the gradient is multiplied by ``factor`` on the way back."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.factor, None


def scale_grad(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``x`` unchanged, with its incoming gradient scaled by ``factor`` (the bridge weight)."""
    return _ScaleGrad.apply(x, float(factor))


def backward_and_step(ctx: Context, loss: torch.Tensor, keys: Iterable[str]) -> None:
    """Zero the optimisers ``keys``, back-propagate ``loss`` once, clip each optimiser's gradients
    to ``train.clip_grad`` (0: no clipping) and step them."""
    keys = tuple(keys)
    opts = [ctx.optimizers[k] for k in keys]
    with part("backward + optimiser step"):
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        clip = ctx.cfg.train.clip_grad
        for key, opt in zip(keys, opts):
            if ctx.dist.enabled and key not in ctx.wrappers:  # (DDP averaged the others)
                average_gradients(p for g in opt.param_groups for p in g["params"])
            if clip > 0:
                params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
                torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)
            opt.step()


def float32(tree: Any) -> Any:
    """``tree`` (tensors in dicts, lists, tuples) with every floating tensor in float32."""
    if isinstance(tree, torch.Tensor):
        return tree.float() if tree.is_floating_point() else tree
    if isinstance(tree, Mapping):
        return {k: float32(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(float32(v) for v in tree)
    return tree


def detector_loss(ctx: Context, images: torch.Tensor, batch: Mapping[str, Any]
                  ) -> tuple[torch.Tensor, Terms]:
    """``L_det`` of the detector (training mode) on ``images`` (B,3,H,W) in [0,1].

    The forward runs under the run's autocast, the loss on its outputs in float32: in bf16,
    BCE with logits rounds ``log(1 + exp(-|x|))`` to 0 once ``|x|`` passes about 6, so every
    confident score (the head starts near -10) would add nothing to ``cls``.

    Returns the gain-weighted total (differentiable w.r.t. the detector's parameters and the
    images) and the unweighted terms (``box``, ``cls``, ``dfl`` or ``l1``), detached.
    """
    with part("detector forward + loss"):
        with ctx.autocast(DETECTOR):
            preds = ctx.net(DETECTOR)(images)
        total, terms = ctx.models[DETECTOR].loss(float32(preds), batch)
    return total, {"det": total.detach(), **terms}


def update_ema(ctx: Context) -> None:
    """Fold the detector's current weights into its moving average (when the run keeps one)."""
    if ctx.ema is not None:
        with part("EMA update"):
            ctx.ema.update(ctx.models[DETECTOR])


def fusion_loss(ctx: Context, fused: torch.Tensor, ir: torch.Tensor, vis_y: torch.Tensor,
                mask: torch.Tensor, *, adversarial: bool, valid: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, Terms]:
    """``L_f`` of ``fused`` (float32, outside autocast) with the critics frozen, on the
    ``valid`` (non-padded) pixels.

    ``adversarial=False`` (the critic warm-up) leaves the adversarial terms out of the total
    (they are still computed and logged). Returns the weighted total and the terms, detached.
    """
    assert ctx.criterion is not None, "the mode has no fusion criterion"
    critics = [ctx.models[TARGET_CRITIC], ctx.models[DETAIL_CRITIC]]
    with part("fusion loss"):
        for c in critics:
            c.requires_grad_(False)
        try:
            terms = ctx.criterion(fused.float(), ir, vis_y, mask=mask, d_target=critics[0],
                                  d_detail=critics[1], valid=valid)
        finally:
            for c in critics:
                c.requires_grad_(True)
        total = weighted_sum(terms, fusion_weights(ctx.cfg.loss, adversarial=adversarial))
    return total, {k: v.detach() for k, v in terms.items()}


def critic_steps(ctx: Context, fused: torch.Tensor, ir: torch.Tensor, vis_y: torch.Tensor,
                 mask: torch.Tensor, valid: torch.Tensor | None = None) -> Terms:
    """One optimiser step each for D_t (``ir`` vs ``u`` inside the mask) and D_d (textures
    outside it; both on the ``valid`` pixels), on the detached ``fused``. Returns ``dt_w``, ``dt_pen``, ``dd_w``, ``dd_pen``."""
    d = ctx.cfg.disc
    fake = fused.detach().float()
    logs: Terms = {}
    with part("critic steps"):
        for key, real_src in ((TARGET_CRITIC, ir), (DETAIL_CRITIC, vis_y)):
            critic = ctx.models[key]
            terms = critic_loss(critic, critic.view(real_src, mask, valid),
                                critic.view(fake, mask, valid),
                                penalty=d.penalty, k=d.div_k, p=d.div_p, lam=d.gp_lambda)
            backward_and_step(ctx, terms["wasserstein"] + terms["penalty"], (key,))
            tag = "dt" if key == TARGET_CRITIC else "dd"
            logs[f"{tag}_w"] = terms["wasserstein"].detach()
            logs[f"{tag}_pen"] = terms["penalty"].detach()
    return logs


def generator_forward(ctx: Context, ir: torch.Tensor, vis_y: torch.Tensor) -> torch.Tensor:
    """``u = G(ir, vis_y)``, under the run's autocast with ``train.amp_fusion`` (the caller
    picks the grad mode)."""
    with part("G forward"), ctx.autocast(GENERATOR):
        return ctx.net(GENERATOR)(ir, vis_y)


def set_training(models: Mapping[str, nn.Module], frozen: Iterable[str] = ()) -> None:
    """Every model in training mode except the ``frozen`` keys (eval mode)."""
    frozen = set(frozen)
    for key, m in models.items():
        m.train(key not in frozen)
