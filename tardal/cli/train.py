"""`tardal train CONFIG [key.sub=value ...] [--print-config] [--resume RUN_DIR_OR_last.pt]`.

Examples::

    tardal train configs/synth-ct.yaml                       # fusion trained for detection (ct)
    tardal train configs/synth-ct.yaml train.mode=ir name=synth-ir    # detector on infrared only
    tardal train configs/synth-ct.yaml train.mode=frontend fusion.name=mean   # fixed fusion
    tardal train configs/synth-dt.yaml train.epochs=3 fusion.dim=8   # fusion only (dt)
    tardal train configs/synth-ct.yaml --print-config        # resolved config, then exit
    tardal train --resume runs/train/synth-ct                # continue from weights/last.pt
    tardal train --resume runs/train/ct/weights/last.pt train.epochs=20   # extend a run

Modes (``train.mode``): ``ct`` cooperative (detector step, fusion step through the frozen
detector, critic steps), ``tt`` G by the detection loss only, ``dt`` fusion only, and the
references ``ir``, ``vis`` (detector on one modality) and ``frontend`` (detector on a frozen
fusion method or checkpoint). The run folder is ``project/name`` (``name`` empty: the mode,
then ``ct2``, ``ct3``, ...). It receives ``config.yaml``, ``results.csv``, ``results.png``,
``previews/`` and ``weights/{last,best}.pt``; "best" is the highest validation AP@[.5:.95]
for modes with a detector, the lowest validation content loss for ``dt``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tardal.cli import TardalParser
from tardal.errors import ConfigError

log = logging.getLogger(__name__)


class OverridesAnywhere(TardalParser):
    """Accepts ``key=value`` overrides after options too (``CONFIG --print-config a=1``)."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        namespace, extras = super().parse_known_args(args, namespace)
        late = [a for a in extras if "=" in a and not a.startswith("-")]
        if late:
            namespace.overrides = list(getattr(namespace, "overrides", None) or []) + late
            extras = [a for a in extras if a not in late]
        return namespace, extras


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train fusion for detection (ct), references or fusion only from a config",
        description=__doc__,
        epilog="overrides: any config key, e.g. train.epochs=3 data.batch_size=4 fusion.dim=8",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", nargs="?", help="YAML config (configs/*.yaml); omit with --resume")
    p.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--resume", metavar="RUN", help="run folder or checkpoint (last.pt) to continue")
    p.add_argument("--max-epochs", type=int, default=None,
                   help="stop after this many epochs of this call (resume later)")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave out unusable pairs (missing or damaged image, bad label line) and "
                   "list them in the run folder, instead of stopping (sets data.skip_bad=true)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.__class__ = OverridesAnywhere  # same parser, plus late overrides
    p.set_defaults(func=run)


def _split_args(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """(config path or None, overrides); a first positional with '=' that is no file is one."""
    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config and not Path(config).is_file():
        overrides.insert(0, config)
        config = None
    return config, overrides


def check_before_work(cfg) -> None:
    """What the config cannot check by itself, checked before any data or model is made:
    registered names and the local files the config points to."""
    from tardal.fusion import FUSION

    FUSION.get(cfg.fusion.name)  # UnknownNameError listing close matches and every name
    for key in ("fusion.weights", "detector.weights", "mask.u2net_weights"):
        section, field = key.split(".")
        value = getattr(getattr(cfg, section), field)
        if value and not Path(value).is_file():
            raise ConfigError(f"config key {key!r}: file {value} does not exist")


def run(args: argparse.Namespace) -> int:
    from tardal.config import dump_config, load_config

    config, overrides = _split_args(args)
    if args.max_epochs is not None and args.max_epochs < 1:
        raise ConfigError(f"--max-epochs must be at least 1, found {args.max_epochs}")
    if args.skip_bad:
        overrides.append("data.skip_bad=true")
    if args.resume:
        if config is not None:
            raise ConfigError(
                f"--resume takes its config from the checkpoint; pass overrides only, not {config}"
            )
        from tardal.engine.loop import config_for_resume

        cfg = config_for_resume(args.resume, overrides)
    else:
        if config is None:
            raise ConfigError("tardal train needs a CONFIG file (e.g. configs/synth-dt.yaml) "
                              "or --resume RUN")
        cfg = load_config(config, overrides)
    if args.print_config:
        sys.stdout.write(dump_config(cfg))
        return 0
    check_before_work(cfg)
    from tardal.engine import train

    result = train(cfg, resume=args.resume, max_epochs=args.max_epochs,
                   progress=not args.no_progress)
    s = result.state
    print(f"{result.run_dir}: {s.epoch} epochs, {s.step} steps; best epoch {s.best_epoch} "
          f"(fitness {s.best_fitness:.5g}); weights in {result.run_dir / 'weights'}")
    return 0
