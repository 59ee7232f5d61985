"""`tardal metrics`: fusion quality metrics of folders of fused images.

Examples::

    tardal metrics --fused out/tardal --ir tno/ir --vi tno/vi
    tardal metrics --fused out/densefuse --fused out/tardal --ir tno/ir --vi tno/vi --out runs/cmp
    tardal metrics --fused out/tardal --ir tno/ir --vi tno/vi --metrics EN,MI,Qabf --out cmp.csv
    tardal metrics --fused vifb/SeAFusion --ir vifb/ir --vi vifb/vi --convention vifb --workers 2

Fused images are paired with ``--ir`` and ``--vi`` by file stem (``01.png`` with ``01.jpg``).
Several ``--fused`` folders give one comparison table, one row per method (the folder name).
A fused folder lacking an image that both source folders have is an error; with
``--allow-missing`` every method is scored on the images all folders have, and the images left
out are printed and recorded in every output file.
Writes a per-image CSV, a Markdown table of means and standard deviations and a JSON summary
(``--out``: a folder, default runs/metrics, or a file name ending in .csv/.md/.json), and prints
the table.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "metrics",
        help="fusion quality metrics (EN, MI, Qabf, VIF, ...) of fused image folders",
        description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--fused",
        action="append",
        required=True,
        metavar="DIR",
        help="folder of fused images; repeat to compare methods (method name = folder name)",
    )
    p.add_argument("--ir", required=True, metavar="DIR", help="infrared source images")
    p.add_argument("--vi", required=True, metavar="DIR", help="visible source images")
    p.add_argument(
        "--out",
        default="runs/metrics",
        metavar="FILE_OR_DIR",
        help="output folder, or X.csv / X.md / X.json to name the files (default: runs/metrics)",
    )
    p.add_argument(
        "--convention",
        default="tang",
        help="metric definitions: tang (Tang's MATLAB suite, default) or vifb (VIFB's code)",
    )
    p.add_argument(
        "--metrics",
        default=None,
        metavar="NAMES",
        help="comma-separated metric names (default: all of the convention's), e.g. EN,MI,Qabf",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes (default 1; results are identical)",
    )
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="score every method on the images all fused folders have, instead of stopping when "
        "a folder lacks some (those left out are listed in the outputs)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tardal.errors import ConfigError
    from tardal.metrics import get_convention
    from tardal.metrics.folders import evaluate_folders, to_markdown, write_results

    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, found {args.workers}")
    conv = get_convention(args.convention)
    names = None
    if args.metrics is not None:
        names = [n for n in (s.strip() for s in args.metrics.split(",")) if n]
        if not names:
            raise ConfigError(f"--metrics lists no metric names (found {args.metrics!r})")
    names = conv.resolve(names)  # fail on a bad name before reading any image
    results = evaluate_folders(
        args.fused, args.ir, args.vi, convention=conv.name, metrics=names, workers=args.workers,
        allow_missing=args.allow_missing,
    )
    paths = write_results(results, args.out)
    print(to_markdown(results), end="")
    log.info("per-image values: %s", paths["csv"])
    log.info("table: %s, summary: %s", paths["md"], paths["json"])
    return 0
