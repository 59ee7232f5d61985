"""`tardal data`: import public sets into the canonical layout, check a set, make the synthetic set."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tardal.errors import DataError

_FORMATTER = argparse.RawDescriptionHelpFormatter

_IMPORT_SHORT = {
    "m3fd": "M3FD (Ir/, Vis/, Annotation/*.xml; six classes)",
    "llvip": "LLVIP (infrared/, visible/, Annotations/*.xml; person)",
    "msrs": "MSRS (ir/, vi/, YOLO label folder, classes.txt)",
    "pairs": "unlabelled pairs in ir/ and vi/ (TNO, RoadScene, your own)",
}

_IMPORT_HELP = {
    "m3fd": (
        "M3FD detection release: Ir/, Vis/, Annotation/*.xml (Pascal VOC). The six classes are "
        "matched by name (People, Car, Bus, Motorcycle, Lamp, Truck; case ignored). The split is "
        "the canonical one shipped in data/m3fd/ (whole runs of consecutive frames in one part, "
        "class and scenario shares kept; see data/README.md), or a published one "
        "(--split-file), or with --random-split a seeded class-stratified split image by image "
        "(neighbouring, near-identical frames then land in train and test alike).",
        "tardal data import m3fd /data/M3FD_Detection --out datasets/m3fd\n"
        "  tardal data import m3fd /data/M3FD_Detection --out datasets/m3fd-3rd "
        "--split-file m3fd-labels/m3fd-train.json m3fd-labels/m3fd-val.json "
        "m3fd-labels/m3fd-test.json\n"
        "  tardal data import m3fd /data/M3FD_Detection --out datasets/m3fd-random "
        "--random-split --seed 1 --split 0.8,0.1,0.1 --copy",
    ),
    "llvip": (
        "LLVIP: infrared/{train,test}/, visible/{train,test}/, Annotations/*.xml (class person). "
        "Its own train/test are kept; val is carved from train (val/(train+val) of --split). "
        "Without a test/ folder the test part is carved from train too.",
        "tardal data import llvip /data/LLVIP --out datasets/llvip\n"
        "  tardal data import llvip /data/LLVIP --out datasets/llvip --split 0.8,0.2,0",
    ),
    "msrs": (
        "MSRS: ir/, vi/, YOLO labels in a folder chosen with --labels, classes.txt. train/ and "
        "test/ sub-folders of that shape are kept as parts.",
        "tardal data import msrs /data/MSRS --out datasets/msrs\n"
        "  tardal data import msrs /data/MSRS --out datasets/msrs-ir --labels labels-infrared",
    ),
    "pairs": (
        "Any registered pairs without labels: ir/ (or infrared/) and vi/ (or vis/, visible/), "
        "matched by file stem (TNO, RoadScene, your own). Written with labels: false.",
        "tardal data import pairs /data/TNO --out datasets/tno --split 0,0,1\n"
        "  tardal data import pairs /data/RoadScene --out datasets/roadscene --copy",
    ),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="import, check or generate paired infrared/visible data sets",
        description=(
            "Data sets in the canonical layout: ROOT/ir, ROOT/vi, ROOT/labels (YOLO), "
            "ROOT/meta/{train,val,test}.txt, ROOT/data.yaml (see data/README.md)."
        ),
        epilog=(
            "examples:\n"
            "  tardal data import m3fd /data/M3FD_Detection --out datasets/m3fd\n"
            "  tardal data check datasets/m3fd --json m3fd-check.json\n"
            "  tardal data synth --out runs/data/synth --num 1000 --size 320x256 --seed 0"
        ),
        formatter_class=_FORMATTER,
    )
    p.set_defaults(func=lambda args: p.print_help() or 2)
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    imp = actions.add_parser(
        "import",
        help="convert a public release into the canonical layout",
        description="Convert a public release into the canonical layout. Images stay where "
        "they are (meta/index.tsv holds absolute paths) unless --copy is given; labels are "
        "written as YOLO text. A failed import leaves no output folder behind.",
        epilog="examples:\n  " + "\n  ".join(ex for _, ex in _IMPORT_HELP.values()),
        formatter_class=_FORMATTER,
    )
    imp.set_defaults(func=lambda args: imp.print_help() or 2)
    kinds = imp.add_subparsers(dest="kind", metavar="{m3fd,llvip,msrs,pairs}")
    for kind, (desc, example) in _IMPORT_HELP.items():
        k = kinds.add_parser(kind, help=_IMPORT_SHORT[kind], description=desc,
                             epilog="examples:\n  " + example, formatter_class=_FORMATTER)
        k.add_argument("src", metavar="SRC", type=Path, help="the release's top folder")
        k.add_argument("--out", required=True, type=Path, metavar="DIR",
                       help="output data set root (must not exist or be empty, see --overwrite)")
        made = " (with --random-split)" if kind == "m3fd" else ""
        k.add_argument("--seed", type=int, default=None,
                       help=f"seed of the split{made} (default 0)")
        k.add_argument("--split", default=None, metavar="TRAIN,VAL,TEST",
                       help=f"fractions of the split{made}, summing to 1 (default 0.7,0.15,0.15)")
        k.add_argument("--split-file", nargs="+", type=Path, metavar="DIR_OR_FILE",
                       help="take a published split instead of making one: a folder holding "
                       "train.txt, val.txt, test.txt (one stem per line), or such files, or COCO "
                       "JSON files (their images' stems; the part comes from the file name, e.g. "
                       "*train*.json). Stems that only the split or only the source holds are "
                       "an error (with --skip-bad: a warning; unlisted pairs are left out)")
        if kind == "m3fd":
            k.add_argument("--random-split", action="store_true",
                           help="ignore the shipped split: a seeded class-stratified split image "
                           "by image (--seed, --split)")
        k.add_argument("--copy", action="store_true",
                       help="copy the images into DIR/ir and DIR/vi instead of indexing them")
        k.add_argument("--overwrite", action="store_true", help="replace an existing DIR")
        k.add_argument("--skip-bad", action="store_true",
                       help="leave out pairs that cannot be used (missing partner, unreadable "
                       "image, size mismatch) with a warning, listed in DIR/meta/skipped.tsv, "
                       "instead of stopping with an error")
        k.add_argument("--verify", action="store_true",
                       help="decode every image instead of reading headers (slower; also "
                       "leaves out pairs damaged inside the file)")
        k.add_argument("--align", choices=("error", "resize"), default="error",
                       help="pairs whose infrared and visible sizes differ: an error (see --skip-bad) "
                       "or keep them, the visible image resized when read (resize)")
        if kind == "msrs":
            k.add_argument("--labels", default="labels-fusion", metavar="FOLDER",
                           help="label folder inside SRC (default labels-fusion; also "
                           "labels-infrared, labels-visible)")
        k.set_defaults(func=run_import)

    chk = actions.add_parser(
        "check",
        help="validate a data set and print statistics",
        description="Decode every pair, compare infrared and visible sizes, parse every label "
        "file, and print pairs per split, boxes per class, image sizes and a box size "
        "histogram. Exits with status 2 when anything is wrong.",
        epilog="examples:\n  tardal data check datasets/m3fd\n"
        "  tardal data check datasets/m3fd --json check.json --no-decode",
        formatter_class=_FORMATTER,
    )
    chk.add_argument("root", metavar="DIR", type=Path, help="data set root")
    chk.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    chk.add_argument("--no-decode", action="store_true",
                     help="read image headers only (fast; misses damage inside the files)")
    chk.add_argument("--align", choices=("error", "resize"), default=None,
                     help="accept pairs of different sizes (resize); default from data.yaml")
    chk.add_argument("--workers", type=int, default=4, help="decoding threads (default 4)")
    chk.set_defaults(func=run_check)

    syn = actions.add_parser(
        "synth",
        help="generate the synthetic benchmark in the canonical layout",
        description="Generate the built-in synthetic infrared/visible detection set "
        "(deterministic: the same arguments give identical files).",
        epilog="examples:\n  tardal data synth --out runs/data/synth --num 1000 --size 320x256 "
        "--seed 0\n  tardal data synth --out /tmp/tiny --num 16 --size 64x64 --overwrite",
        formatter_class=_FORMATTER,
    )
    syn.add_argument("--out", required=True, type=Path, metavar="DIR", help="output root")
    syn.add_argument("--num", type=int, default=240, help="number of scenes (default 240)")
    syn.add_argument("--size", default="320x256", metavar="WxH",
                     help="image size (default 320x256)")
    syn.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    syn.add_argument("--overwrite", action="store_true", help="replace an existing DIR")
    syn.set_defaults(func=run_synth)


def run_import(args: argparse.Namespace) -> int:
    from tardal.data.importers import ImportOptions, import_dataset

    options = ImportOptions(
        seed=args.seed, split=args.split, copy=args.copy, overwrite=args.overwrite,
        strict=not args.skip_bad, align=args.align, verify=args.verify,
        progress=sys.stderr.isatty(),
        split_files=tuple(args.split_file) if args.split_file else None,
        random_split=getattr(args, "random_split", False),
    )
    extra = {"labels": args.labels} if args.kind == "msrs" else {}
    result = import_dataset(args.kind, args.src, args.out, options, **extra)
    print(result.summary())
    print(f"next: tardal data check {args.out}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from tardal.data.check import check_dataset, format_report
    from tardal.io import atomic_write_text

    report = check_dataset(args.root, align=args.align, decode=not args.no_decode,
                           workers=args.workers, progress=sys.stderr.isatty())
    print(format_report(report))
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
        print(f"report written to {args.json}")
    if not report["ok"]:
        first = report["problems"][0] if report["problems"] else ""
        raise DataError(f"{report['num_problems']} problem(s) in {args.root} (listed above); "
                        f"first: {first}")
    return 0


def parse_size(text: str) -> tuple[int, int]:
    """``"320x256"`` -> (320, 256) as (width, height)."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise DataError(f"--size: expected WIDTHxHEIGHT such as 320x256, found {text!r}") from None
    if w <= 0 or h <= 0:
        raise DataError(f"--size: width and height must be positive, found {text!r}")
    return w, h


def run_synth(args: argparse.Namespace) -> int:
    import inspect

    from tardal.data.synth import generate
    from tardal.io import staged_dir

    width, height = parse_size(args.size)
    if args.num <= 0:
        raise DataError(f"--num must be positive, found {args.num}")
    out: Path = args.out
    if "overwrite" in inspect.signature(generate).parameters:
        generate(out, args.num, width, height, args.seed, overwrite=args.overwrite)
    else:  # stage it here so a failed run leaves nothing behind
        with staged_dir(out, overwrite=args.overwrite) as tmp:
            generate(tmp, args.num, width, height, args.seed)
    print(f"wrote {args.num} synthetic pairs ({width}x{height}, seed {args.seed}) to {out}")
    print(f"next: tardal data check {out}")
    return 0
