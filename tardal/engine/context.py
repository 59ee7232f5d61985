"""The training context: everything a run builds once and every step receives.

    ctx = build_context(cfg, names)            # models on their device, optimisers, EMA, ...
    logs = mode.step(ctx, state, batch)        # see tardal.engine.modes

:func:`build_context` is what :func:`tardal.engine.loop.train`, ``tardal eval`` and the
benchmark tools use, so a benchmark times exactly the set-up a run trains with.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import torch
from torch import nn

from tardal.config import Config
from tardal.detect.ema import ModelEMA
from tardal.engine import distributed
from tardal.engine.device import BF16_FLAGS, keep_freed_memory, native_bf16, resolve_device
from tardal.engine.optim import build_optimizer
from tardal.losses.criterion import FusionCriterion

log = logging.getLogger(__name__)

from tardal.checkpoint import GENERATOR  # noqa: E402  (keys shared with the checkpoints)

#: Keys of the other networks in ``Context.models`` (and in checkpoints).
DETECTOR, TARGET_CRITIC, DETAIL_CRITIC = "det", "D_t", "D_d"


@dataclass
class Context:
    """What a run builds once (see the module doc); passed explicitly to every step.

    Attributes:
        cfg: the resolved config.
        device: where every model and batch lives.
        names: class names of the data set (empty for unlabelled sets).
        models: the networks by key (:data:`GENERATOR`, :data:`DETECTOR`, critics).
        optimizers: one per trained network, same keys.
        base_lr: each optimiser's learning rate before the schedule factor.
        criterion: the fusion criterion of modes that train G on L_f, else None.
        ema: the detector's moving average, when the mode has a detector and ``train.ema``.
        amp_dtype: the autocast dtype (bf16 on CUDA with ``train.amp``, on the CPU with
            ``train.cpu_amp``), None for fp32; G uses it only with ``train.amp_fusion``
            (:meth:`autocast`).
        dist: this process's rank and the number of processes (torch.distributed).
        wrappers: DistributedDataParallel wrappers of the trained G and detector in a
            multi-process run (the training forward goes through them: :meth:`net`).
    """

    cfg: Config
    device: torch.device
    names: list[str]
    models: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer] = field(default_factory=dict)
    base_lr: dict[str, float] = field(default_factory=dict)
    criterion: FusionCriterion | None = None
    ema: ModelEMA | None = None
    amp_dtype: torch.dtype | None = None
    dist: distributed.DistInfo = field(default_factory=distributed.DistInfo)
    wrappers: dict[str, nn.Module] = field(default_factory=dict)

    def net(self, key: str) -> nn.Module:
        """The module to call for a training forward of ``key`` (its DDP wrapper, if any)."""
        return self.wrappers.get(key) or self.models[key]

    def autocast(self, key: str) -> contextlib.AbstractContextManager:
        """Mixed precision for a forward pass of the network ``key``: a no-op in fp32, and for
        G (and any fusion network) unless ``train.amp_fusion``.

        G stays fp32 by default because in bf16 it cost ``ct`` its detection: on the synthetic
        set (CPU, 15 epochs) ``ct``'s test AP50 at seeds 0-3 was 0.598, 0.651, 0.742, 0.594 with
        everything in bf16, 0.714, 0.803, 0.738, 0.715 with G in fp32 and the detector in bf16,
        0.678, 0.697, 0.712, 0.690 all in fp32 (G alone in bf16, seeds 0 and 3: 0.610, 0.727).
        """
        if not self.in_autocast(key):
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def in_autocast(self, key: str) -> bool:
        """Whether the forward of the network ``key`` runs in mixed precision (:meth:`autocast`)."""
        return self.amp_dtype is not None and (key != GENERATOR or self.cfg.train.amp_fusion)

    @property
    def eval_detector(self) -> nn.Module:
        """The detector used for validation and evaluation: the EMA copy, or the detector."""
        return self.ema.ema if self.ema is not None else self.models[DETECTOR]

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        """Every model in eval mode for the block; training flags restored afterwards."""
        flags = {k: m.training for k, m in self.models.items()}
        for m in self.models.values():
            m.eval()
        try:
            yield
        finally:
            for k, m in self.models.items():
                m.train(flags[k])


def learning_rates(cfg: Config) -> dict[str, float]:
    """The base learning rate of each network key."""
    t = cfg.train
    return {GENERATOR: t.lr_g, TARGET_CRITIC: t.lr_d, DETAIL_CRITIC: t.lr_d, DETECTOR: t.lr_det,
            "D": t.lr_d}


def build_context(cfg: Config, names: Sequence[str], *, restore: bool = False,
                  device: str | torch.device | None = None,
                  dist: distributed.DistInfo | None = None) -> Context:
    """Build the mode's networks on the device, their optimisers, the criterion and the EMA.

    Args:
        cfg: the resolved config; ``cfg.train.mode`` picks the mode.
        names: the data set's class names.
        restore: the weights come from a checkpoint right after (initial-weight files named in
            the config are not read, and no optimiser is built).
        device: overrides ``cfg.train.device``.
        dist: the process layout of a torch.distributed run (the trained G and detector are
            wrapped in DistributedDataParallel; on CUDA each process uses ``cuda:LOCAL_RANK``).
    """
    from tardal.engine.modes import get_mode

    mode = get_mode(cfg)
    info = dist or distributed.DistInfo()
    dev = resolve_device(cfg.train.device) if device is None else torch.device(device)
    if info.enabled and dev.type == "cuda":
        dev = torch.device("cuda", info.local_rank)
    if dev.type == "cpu" and cfg.train.keep_memory:
        keep_freed_memory()
    models = {k: m.to(dev) for k, m in mode.build_models(cfg, list(names), restore=restore).items()}
    if cfg.train.channels_last:
        models = {k: m.to(memory_format=torch.channels_last) for k, m in models.items()}
    base = learning_rates(cfg)
    optimizers: dict[str, torch.optim.Optimizer] = {}
    if not restore:
        for key, model in models.items():
            if any(p.requires_grad for p in model.parameters()):
                optimizers[key] = build_optimizer(model.parameters(), cfg.train,
                                                  base.get(key, cfg.train.lr_g))
    ema = None
    if DETECTOR in models and cfg.train.ema:
        ema = ModelEMA(models[DETECTOR], decay=cfg.train.ema_decay, tau=cfg.train.ema_tau)
    criterion = FusionCriterion.from_config(cfg.loss) if mode.trains_fusion_loss else None
    amp = None
    if (cfg.train.amp and dev.type == "cuda") or (cfg.train.cpu_amp and dev.type == "cpu"):
        amp = torch.bfloat16
    if amp is not None and dev.type == "cpu" and not native_bf16():
        log.warning("train.cpu_amp: this CPU has no native bf16 (no %s flag), so bf16 is "
                    "emulated: check that it is faster here (tools/bench_train.py "
                    "train.cpu_amp=true)", " or ".join(BF16_FLAGS))
    if cfg.train.compile:
        for key in (GENERATOR, DETECTOR):
            if key in models and not restore:
                models[key].compile()
    wrappers: dict[str, nn.Module] = {}
    if info.enabled and not restore:
        distributed.init(info, dev)
        wrappers = {k: distributed.wrap(models[k], dev) for k in mode.ddp_keys
                    if k in optimizers}
    return Context(cfg=cfg, device=dev, names=list(names), models=models, optimizers=optimizers,
                   base_lr={k: base.get(k, cfg.train.lr_g) for k in optimizers},
                   criterion=criterion, ema=ema, amp_dtype=amp, dist=info, wrappers=wrappers)
