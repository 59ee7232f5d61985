"""Choosing the compute device once, from ``train.device``; the CPU allocator's setting; whether
the CPU computes bf16 natively."""

from __future__ import annotations

import ctypes
import logging
import platform
from pathlib import Path

import torch

from tardal.errors import ConfigError

log = logging.getLogger(__name__)

#: /proc/cpuinfo flags of CPUs that compute bf16 natively (AVX512-BF16: AMD Zen 4 and later, Intel
#: Cooper Lake; AMX-BF16: Intel Sapphire Rapids and later)
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: glibc's ``mallopt`` parameters (``<malloc.h>``)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4
_kept = False


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` -> CUDA if available, else Apple MPS if available, else CPU; others as given."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ConfigError(
            f"device: expected auto, cpu, cuda, cuda:N or mps, found {spec!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {spec!r} requested but CUDA is not available here")
    return device


def keep_freed_memory() -> bool:
    """Make glibc's allocator keep freed memory for reuse instead of returning it to the system
    (``train.keep_memory``, off by default; once per process, for the rest of it).

    By default glibc serves every block above 32 MB with a fresh ``mmap`` and unmaps it when it
    is freed, so each CPU training step page-faults, and the kernel zeroes, its large
    activations again. With ``mmap`` off and no trimming, freed blocks are reused from the heap,
    as a GPU caching allocator does. Measured on 2 threads, batch 8: G's forward + backward at
    d = 4, 256 px 0.535-0.546 s against 0.653-0.699 s, at d = 32, 320 px 11.8 s against 20.7 s;
    the whole ``ct`` step (``tools/bench_train.py``) at d = 32, 320 px 17.8 s against 21.1 s
    (medians of four runs each; the runs vary by 2-3 s), for a peak of 7.3-7.4 GB against 4.8-4.9
    GB (the heap keeps its high-water mark and fragments). On two Zen 4 cores, fp32: a ``ct``
    step at d = 32, 320 px 10.1 s against 14.0 s (medians of five and three runs); at the shipped
    synthetic config ``ct`` costs 2.41x ``ir`` per step with it, 2.56x without (which is why
    ``configs/synth-ct.yaml`` turns it on). Returns whether the setting is in force; elsewhere
    than glibc (macOS, Windows, musl) nothing changes.
    """
    global _kept
    if _kept:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        # no mmap for large blocks; no trimming below 2 GB free; grow the heap 256 MB at a time
        # (address space: pages cost memory only once written)
        _kept = all(libc.mallopt(param, value) == 1 for param, value in (
            (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1), (M_TOP_PAD, 256 * 2**20)))
    except (OSError, AttributeError) as exc:
        log.debug("mallopt unavailable: %s", exc)
        return False
    return _kept


def native_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The flag by which this CPU computes bf16 natively (one of :data:`BF16_FLAGS`, read from
    Linux's ``/proc/cpuinfo``), or ``""``.

    Where it does, ``train.cpu_amp`` (bf16 autocast on the CPU) makes a training step faster:
    on a Zen 4 core, YOLOv8n's forward + backward at 256 px, batch 8, one thread took 0.24 s
    against 0.40-0.44 s in fp32. Elsewhere oneDNN emulates bf16 (not measured here). ``""``
    where the file cannot be read (macOS, Windows).
    """
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags = set(value.split())
            return next((f for f in BF16_FLAGS if f in flags), "")
    return ""
