"""Optimisers, and the learning rate as a plain function of the global step.

The rate of every optimiser at step ``s`` is ``base_lr * lr_factor(s, ...)``, set into its
``param_groups`` before each step (as nanoGPT's ``get_lr``). A checkpoint therefore stores a
step count, not a scheduler: a resumed run, or one whose ``train.epochs`` was extended, computes
the same rates from the same step, and a mode that holds a model still for a while (``tt``
during the bridge warm-up) needs no placeholder steps to keep a schedule in step.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

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


def lr_factor(step: int, total: int, warmup: int, kind: str = "cosine", final: float = 0.01
              ) -> float:
    """The learning-rate factor of optimiser step ``step`` (0-based) of ``total``.

    Rises linearly from ``1/warmup`` to 1 over the first ``warmup`` steps, then falls from 1 to
    ``final`` at the last step (``total - 1``) along a half cosine (``cosine``) or a line
    (``linear``), or stays 1 (``constant``). Steps past ``total`` keep the final factor.
    """
    if kind not in ("cosine", "linear", "constant"):
        raise ConfigError(f"train.schedule: expected cosine, linear or constant, found {kind!r}")
    warmup = max(0, warmup)
    if step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    span = max(1, max(1, total) - 1 - warmup)
    t = min(1.0, max(0.0, (step - warmup) / span))
    if kind == "cosine":
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * t))
    return 1.0 + (final - 1.0) * t


def schedule_length(cfg: TrainConfig, steps_per_epoch: int) -> tuple[int, int]:
    """``(total, warmup)`` optimiser steps of a run of ``cfg.epochs`` epochs."""
    return cfg.epochs * steps_per_epoch, int(round(cfg.warmup_epochs * steps_per_epoch))


def set_learning_rates(optimizers: dict[str, torch.optim.Optimizer], base: dict[str, float],
                       factor: float) -> None:
    """Set every param group of ``optimizers[k]`` to ``base[k] * factor``."""
    for key, opt in optimizers.items():
        for group in opt.param_groups:
            group["lr"] = base[key] * factor
