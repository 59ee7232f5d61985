"""Run by ``torchrun`` (or plainly) from ``test_engine_distributed.py``: train with the given
config overrides, then write this process's final weights to ``OUT/rank<R>.pt``."""

from __future__ import annotations

import os
import sys

import torch

import tardal.engine.loop as loop
from tardal.config import load_config

contexts = []
_build = loop.build_context


def _keep(*args, **kwargs):  # the test's window on each process's models
    ctx = _build(*args, **kwargs)
    contexts.append(ctx)
    return ctx


def main() -> None:
    out, config, *overrides = sys.argv[1:]
    torch.set_num_threads(1)
    loop.build_context = _keep
    if os.environ.get("TARDAL_TEST_FAIL_RANK") == os.environ.get("RANK", "0"):
        # a process that dies in its first step: the others must stop, not hang
        import tardal.engine.modes as modes

        def boom(*a, **k):
            os._exit(3)

        for cls in (modes.CooperativeMode, modes.TaskOnlyMode, modes.InfraredMode):
            cls.step = boom
    loop.train(load_config(config, overrides), progress=False)
    rank = int(os.environ.get("RANK", "0"))
    torch.save({k: m.state_dict() for k, m in contexts[0].models.items()},
               os.path.join(out, f"rank{rank}.pt"))


if __name__ == "__main__":
    main()
