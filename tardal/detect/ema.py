"""Exponential moving average of a model's weights, with Ultralytics' decay ramp.

After update ``n`` (1-based) the average is ``ema = d_n * ema + (1 - d_n) * model`` over every
floating-point entry of the state dict (parameters and BatchNorm running statistics), with

    d_n = decay * (1 - exp(-n / tau))

so early updates follow the model closely and the average slows down to ``decay`` after a few
``tau`` updates (Ultralytics: decay 0.9999, tau 2000). Integer buffers (BatchNorm's
``num_batches_tracked``) are copied.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from tardal.errors import CheckpointError, ConfigError


def ema_decay(updates: int, decay: float = 0.9999, tau: float = 2000.0) -> float:
    """The averaging weight of update number ``updates`` (1-based): ``decay*(1-exp(-n/tau))``."""
    return decay * (1.0 - math.exp(-updates / tau))


@torch.no_grad()
def ema_update_(ema_state: dict[str, torch.Tensor], model_state: dict[str, torch.Tensor],
                d: float) -> None:
    """In place: ``ema = d * ema + (1 - d) * model`` for float entries, copy for the others."""
    for key, value in ema_state.items():
        src = model_state[key].detach()
        if value.dtype.is_floating_point:
            value.mul_(d).add_(src.to(value.dtype), alpha=1.0 - d)
        else:
            value.copy_(src)


class ModelEMA:
    """A frozen, eval-mode copy of ``model`` that tracks its weights' moving average.

    Args:
        model: the model to average (deep-copied; the copy never requires gradients).
        decay: the asymptotic averaging weight; tau: the ramp length in updates.
        updates: updates already done (when resuming without a state dict).

    Use ``ema.update(model)`` after every optimiser step, ``ema.ema`` for evaluation, and
    ``state_dict()``/``load_state_dict()`` in checkpoints.
    """

    def __init__(self, model: nn.Module, decay: float = 0.9999, tau: float = 2000.0,
                 updates: int = 0) -> None:
        if not 0.0 <= decay < 1.0 or not tau > 0:
            raise ConfigError(f"EMA (train.ema_decay, train.ema_tau): expected 0 <= decay < 1 "
                              f"and tau > 0, found decay {decay} and tau {tau}")
        self.ema = copy.deepcopy(model).eval()
        self.ema.requires_grad_(False)
        self.decay = float(decay)
        self.tau = float(tau)
        self.updates = int(updates)

    def update(self, model: nn.Module) -> float:
        """Fold the current weights of ``model`` into the average; return the weight ``d`` used."""
        self.updates += 1
        d = ema_decay(self.updates, self.decay, self.tau)
        ema_update_(self.ema.state_dict(), model.state_dict(), d)
        return d

    def state_dict(self) -> dict[str, Any]:
        """Plain dict (loadable with ``torch.load(weights_only=True)``)."""
        return {"ema": self.ema.state_dict(), "updates": self.updates, "decay": self.decay,
                "tau": self.tau}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = [k for k in ("ema", "updates", "decay", "tau") if k not in state]
        if missing:
            raise CheckpointError(f"EMA state: missing keys {missing}, found {sorted(state)}")
        try:
            self.ema.load_state_dict(state["ema"])
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(f"EMA state does not match the model: {first}") from None
        self.updates = int(state["updates"])
        self.decay = float(state["decay"])
        self.tau = float(state["tau"])
