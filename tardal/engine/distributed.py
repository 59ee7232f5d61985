"""Multi-process training with torch.distributed (one process per GPU, or several on a CPU).

Launched by ``torchrun``, which sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``::

    torchrun --nproc_per_node 4 -m tardal train configs/m3fd-ct.yaml          # one machine
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 \\
        --rdzv_backend c10d --rdzv_endpoint HOST:29500 -m tardal train CONFIG    # two machines

Without those variables (a plain ``tardal train``) everything here is a no-op and the run is
single-process. What changes with ``WORLD_SIZE > 1``:

* the process group uses ``nccl`` on CUDA (each process on ``cuda:LOCAL_RANK``) and ``gloo`` on
  the CPU;
* G and the detector run inside ``DistributedDataParallel`` (their gradients are averaged
  during the backward); the critics' gradients are averaged by :func:`average_gradients` after
  their backward, because DDP's reducer does not support the double backward of their gradient
  penalty;
* each process loads ``data.batch_size // WORLD_SIZE`` pairs per step from its share of the
  epoch's permutation (:class:`~tardal.engine.data.EpochSampler`), so the global batch is the
  configured one;
* loss terms are averaged over the processes before they are logged; validation predictions are
  gathered on every process and scored once, so all processes agree on the best epoch;
* only rank 0 writes the run folder (config, results, previews, checkpoints). A checkpoint is
  the same file as a single-process run's, so a run can resume with another number of processes.

If one process fails, torchrun stops the others (its elastic agent), and a collective that waits
for a dead peer raises after the process group's timeout rather than hanging for ever.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import Any, Iterable

import torch
import torch.distributed as dist
from torch import nn

log = logging.getLogger(__name__)

#: How long a collective waits for a peer before raising.
TIMEOUT = datetime.timedelta(minutes=10)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run: ``rank`` of ``world`` processes, ``local_rank`` on its
    machine (the GPU it uses)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Whether this process writes the run folder."""
        return self.rank == 0


def from_environment() -> DistInfo:
    """The run's layout from torchrun's environment variables (single process without them)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(rank=int(os.environ.get("RANK", "0")), world=world,
                    local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def init(info: DistInfo, device: torch.device) -> None:
    """Join the process group (nccl for CUDA devices, gloo otherwise), once."""
    if not info.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, rank=info.rank, world_size=info.world, timeout=TIMEOUT)
    log.info("torch.distributed: rank %d of %d (%s)", info.rank, info.world, backend)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel (its device, no unused parameters)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else 0] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def average_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Average the ``.grad`` of ``params`` over the processes, in one flattened all-reduce."""
    if not dist.is_initialized():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def all_mean(values: torch.Tensor) -> torch.Tensor:
    """The mean of ``values`` over the processes (the tensor itself when single-process)."""
    if not dist.is_initialized():
        return values
    out = values.clone()
    dist.all_reduce(out)
    return out / dist.get_world_size()


def gather_objects(obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every process (``[obj]`` single-process)."""
    if not dist.is_initialized():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out
