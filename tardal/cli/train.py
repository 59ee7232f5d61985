"""`tardal train`: not available yet."""

from __future__ import annotations

import argparse

from tardal.errors import TardalError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="(not available yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise TardalError("'tardal train' is not available yet")
