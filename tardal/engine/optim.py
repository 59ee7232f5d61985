"""Optimisers and per-step learning-rate schedules built from ``cfg.train``."""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR

from tardal.config import TrainConfig
from tardal.errors import ConfigError


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: TrainConfig, lr: float
                    ) -> torch.optim.Optimizer:
    """``cfg.optimizer`` (adam, adamw, sgd) over ``params`` at learning rate ``lr``.

    ``cfg.momentum`` is SGD's momentum and Adam's beta1; ``cfg.weight_decay`` applies to all.
    """
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ConfigError("an optimiser was requested for a model with no trainable parameters")
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(cfg.momentum, 0.999),
                                weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(cfg.momentum, 0.999),
                                 weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, nesterov=True,
                               weight_decay=cfg.weight_decay)
    raise ConfigError(f"train.optimizer: expected adam, adamw or sgd, found {cfg.optimizer!r}")


class WarmupSchedule:
    """LR factor per optimiser step: linear warm-up, then cosine, linear or constant decay.

    ``factor(step)`` rises linearly from ``1/warmup`` to 1 over the first ``warmup`` steps,
    then falls from 1 to ``final`` at the last step (``total - 1``) along a half cosine or a
    line, or stays 1 (``constant``). A plain object (not a closure), so ``LambdaLR`` saves it.
    """

    def __init__(self, kind: str, total: int, warmup: int, final: float) -> None:
        if kind not in ("cosine", "linear", "constant"):
            raise ConfigError(
                f"train.schedule: expected cosine, linear or constant, found {kind!r}")
        self.kind, self.total, self.warmup, self.final = kind, max(1, total), max(0, warmup), final

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if self.kind == "constant":
            return 1.0
        span = max(1, self.total - 1 - self.warmup)
        t = min(1.0, max(0.0, (step - self.warmup) / span))
        if self.kind == "cosine":
            return self.final + (1.0 - self.final) * 0.5 * (1.0 + math.cos(math.pi * t))
        return 1.0 + (self.final - 1.0) * t


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int
                    ) -> LambdaLR:
    """Per-step ``LambdaLR`` over ``cfg.epochs * steps_per_epoch`` steps; ``step()`` per batch."""
    total = cfg.epochs * steps_per_epoch
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    return LambdaLR(optimizer, WarmupSchedule(cfg.schedule, total, warmup, cfg.lr_final))
