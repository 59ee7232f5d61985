"""The ``tardal`` command line: one entry point, one module per subcommand.

Each subcommand module defines ``register(subparsers)``, which adds its parser and sets
``func`` to the function that runs it. Heavy imports (torch, Ultralytics) happen inside those
functions, so ``tardal --help`` is quick.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from tardal import __version__
from tardal.errors import TardalError

SUBCOMMANDS = ("data", "train", "eval", "fuse", "demo", "metrics")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tardal",
        description="Detection-oriented infrared and visible image fusion.",
    )
    parser.add_argument("--version", action="version", version=f"tardal {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"tardal.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except TardalError as exc:
        print(f"tardal {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
