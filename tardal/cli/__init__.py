"""The ``tardal`` command line: one entry point, one module per subcommand.

Each subcommand module defines ``register(subparsers)``, which adds its parser(s) and sets
``func`` to the function that runs it. Heavy imports (torch, Ultralytics) happen inside those
functions, so ``tardal --help`` is quick.

Errors: bad input of any kind (a config key, a data file, a checkpoint, a command-line value)
raises a :class:`~tardal.errors.TardalError`; the command then prints one line,
``tardal <command>: error: <message>``, and exits with status 2 (``-v``/``--verbose``, before or
after the subcommand, adds the traceback). Usage errors found by the argument parser read the
same way. Any other exception is a bug: its traceback is shown and the status is 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Iterator
from typing import NoReturn

from tardal import __version__
from tardal.errors import TardalError

SUBCOMMANDS = ("data", "train", "eval", "fuse", "demo", "metrics", "predict", "export")


class TardalParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like every other error of the CLI.

    Sub-parsers inherit the class (``add_subparsers`` builds them with the parent's type).
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see '{self.prog} --help')\n")


def one_line(message: object) -> str:
    """``message`` as one line: its lines stripped and joined with '; '."""
    parts = [part.strip() for part in str(message).splitlines()]
    return "; ".join(p for p in parts if p)


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser below ``parser`` (subcommands, their actions, ...), each once."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield sub
                yield from _subparsers(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = TardalParser(
        prog="tardal",
        description="Detection-oriented infrared and visible image fusion.",
    )
    parser.add_argument("--version", action="version", version=f"tardal {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging, and the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"tardal.cli.{name}").register(sub)
    for p in _subparsers(parser):  # ``tardal train CONFIG -v`` works as ``tardal -v train``
        p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="debug logging, and the traceback of an error")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:  # named after the subcommand, not the top-level parser
        print(f"tardal {args.command}: error: unrecognized arguments: {' '.join(extras)} "
              f"(see 'tardal {args.command} --help')", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except TardalError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"tardal {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
