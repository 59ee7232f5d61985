"""Train tardal's release G on the shared RoadScene pairs and package it for ``tardal fuse``.

One seeded command, on RoadScene only (TNO stays a fair test set)::

    python tools/train_release.py                      # configs/release.yaml, ~5 min on 2 cores
    python tools/train_release.py train.seed=1 --out /tmp/g.pt

It imports ``../shared/data/roadscene`` into the canonical layout (once), trains
``configs/release.yaml`` (mode ``dt``), and writes the best epoch's generator, its config and its
provenance (command, seed, config, training files with their SHA-256 digests, code revision,
library versions, training time) atomically to ``tardal/weights/tardal-release.pt``, the file
``tardal fuse --ir A --vi B --out C`` uses when no weights are given. The file must stay under
5 MB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 5 * 1024 * 1024

log = logging.getLogger("train_release")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def training_files(root: Path) -> dict[str, Any]:
    """The training split's files (infrared and visible) with their digests."""
    from tardal.data.layout import read_split, resolve_pairs

    stems = read_split(root, "train")
    files = {}
    for pair in resolve_pairs(root, stems, labels=False):
        for role, path in (("ir", pair.ir), ("vi", pair.vi)):
            files[f"{pair.stem}/{role}/{Path(path).name}"] = _sha256(Path(path))
    digest = hashlib.sha256("".join(f"{k}={v}\n" for k, v in sorted(files.items())).encode())
    return {"pairs": len(stems), "sha256": digest.hexdigest(), "files": files}


def _git_revision() -> dict[str, Any]:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    cwd=REPO, capture_output=True, text=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": rev, "dirty": dirty}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="*", help="config overrides key=value")
    p.add_argument("--config", default=str(REPO / "configs" / "release.yaml"))
    p.add_argument("--src", default=str(REPO.parent / "shared" / "data" / "roadscene"),
                   help="the RoadScene pairs (ir/, vi/)")
    p.add_argument("--data", default=str(REPO / "runs" / "data" / "roadscene"),
                   help="where the canonical copy lives")
    p.add_argument("--project", default=str(REPO / "runs" / "release"))
    p.add_argument("--out", default=str(REPO / "tardal" / "weights" / "tardal-release.pt"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--weights", choices=("best", "last"), default="best",
                   help="the epoch packaged: best (lowest validation content loss) or last")
    args = p.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)

    from tardal.cli import main as tardal_main
    from tardal.config import load_config
    from tardal.engine import train
    from tardal.engine.checkpoint import load, release, save

    data = Path(args.data)
    if not (data / "data.yaml").is_file():
        rc = tardal_main(["data", "import", "pairs", args.src, "--out", str(data)])
        if rc:
            return rc
    overrides = [f"data.root={data}", f"project={args.project}", *args.overrides]
    cfg = load_config(args.config, overrides)
    t0 = time.perf_counter()
    result = train(cfg, progress=False)
    train_s = time.perf_counter() - t0
    ckpt = load(result.best if args.weights == "best" else result.last)
    provenance = {
        "command": "python tools/train_release.py " + " ".join(sys.argv[1:] if argv is None
                                                                else argv),
        "config_file": str(Path(args.config).resolve().relative_to(REPO)),
        "overrides": overrides[2:],
        "seed": cfg.train.seed,
        "data": {"name": "RoadScene", "source": str(args.src), **training_files(data)},
        "packaged": args.weights, "best_epoch": result.state.best_epoch,
        "epochs": result.state.epoch,
        "steps": result.state.step, "train_s": round(train_s, 1),
        "code": _git_revision(),
        "torch": str(torch.__version__), "python": platform.python_version(),
        "machine": platform.machine(), "threads": args.threads,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    out = save(args.out, release(ckpt, provenance))
    size = os.path.getsize(out)
    which = (f"best epoch {result.state.best_epoch}" if args.weights == "best"
             else "last epoch")
    print(f"release G ({which} of {result.state.epoch}, "
          f"{train_s:.0f} s) -> {out}: {size / 1e6:.2f} MB")
    if size > MAX_BYTES:
        print(f"error: {out} is {size} bytes, over the {MAX_BYTES}-byte limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
