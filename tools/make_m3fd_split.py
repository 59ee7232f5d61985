"""Make the canonical M3FD split shipped in ``data/m3fd/`` (one command, seeded, deterministic).

    python tools/make_m3fd_split.py                        # reads ../shared/data/m3fd-labels
    python tools/make_m3fd_split.py --labels DIR --out data/m3fd --seed 0

M3FD's 4,200 images are frames of videos: consecutive stems are neighbouring frames, often
near copies. A split image by image (as the third-party COCO files in ``m3fd-labels`` are)
puts a neighbour of almost every test frame into train, so test scores measure memory. This
tool splits by runs of frames instead:

1. read every image of ``DIR/m3fd-{train,val,test}.json`` (the union: the whole box list),
   with its boxes, its scenario (the ``scene`` field) and its size; classes are matched by
   name to the importer's order (People, Car, Bus, Motorcycle, Lamp, Truck), never by id;
2. cut the stem sequence into runs of consecutive frames at gaps in the numbering and where
   the scenario or the image size changes, and cut runs into pieces of at most ``--max-len``
   frames (:func:`tardal.data.split.frame_runs`);
3. give whole pieces to train/val/test with a seeded simulated annealing that keeps every
   class's and every scenario's share of boxes, and the share of images, close to the
   fractions, while keeping val and test pieces together so few of their frames have a
   training frame within +-2 (:func:`tardal.data.split.chunked_split`);
4. write ``OUT/{train,val,test}.txt`` (one stem per line, sorted) and ``OUT/stats.json``, and
   print the statistics as Markdown (the table in ``data/README.md``).

The same labels and arguments always give the same files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tardal.data.importers import M3FD_NAMES  # noqa: E402
from tardal.data.layout import SPLITS, parse_fractions  # noqa: E402
from tardal.data.split import chunked_split, frame_runs, split_statistics  # noqa: E402
from tardal.errors import DataError  # noqa: E402
from tardal.io import atomic_write_text  # noqa: E402

DEFAULT_LABELS = REPO.parent / "shared" / "data" / "m3fd-labels"


def read_m3fd_boxes(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, int],
                                           dict[str, tuple[int, int]]]:
    """Boxes per class (in ``M3FD_NAMES`` order), scenario and (width, height) per stem, from
    every ``*.json`` COCO file in ``folder``."""
    files = sorted(folder.glob("*.json"))
    if not files:
        raise DataError(f"{folder} holds no COCO *.json files (expected m3fd-train.json, ...)")
    lower = {n.lower(): i for i, n in enumerate(M3FD_NAMES)}
    counts: dict[str, np.ndarray] = {}
    scene: dict[str, int] = {}
    size: dict[str, tuple[int, int]] = {}
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        cat = {}
        for c in data["categories"]:
            if c["name"].lower() not in lower:
                raise DataError(f"{path}: category {c['name']!r} is not an M3FD class "
                                f"({', '.join(M3FD_NAMES)})")
            cat[c["id"]] = lower[c["name"].lower()]
        for img in data["images"]:
            stem = Path(img["file_name"]).stem
            if stem in counts:
                raise DataError(f"{path}: image {stem} is listed in another file too")
            counts[stem] = np.zeros(len(M3FD_NAMES), np.int64)
            scene[stem] = int(img["scene"])
            size[stem] = (int(img["width"]), int(img["height"]))
        by_id = {img["id"]: Path(img["file_name"]).stem for img in data["images"]}
        for ann in data["annotations"]:
            counts[by_id[ann["image_id"]]][cat[ann["category_id"]]] += 1
    return counts, scene, size


def markdown(stats: dict, names: list[str]) -> str:
    """The statistics as Markdown tables (parts; class shares; scenario shares)."""
    parts = stats["parts"]
    lines = ["| part | images | boxes | max class-share deviation (points) | "
             "max scenario-share deviation (points) | images with a train frame within +-2 |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for p, e in parts.items():
        leak = f"{e['train_neighbour'] * 100:.2f} %" if "train_neighbour" in e else "-"
        lines.append(f"| {p} | {e['images']} | {e['boxes']} | {e['max_class_dev_points']:.2f} "
                     f"| {e['max_strata_dev_points']:.2f} | {leak} |")
    lines += ["", "Share of boxes of each class (whole set, then each part), and each part's "
              "fraction of that class's boxes:", "",
              "| class | whole | " + " | ".join(parts) + " | "
              + " | ".join(f"{p} fraction" for p in parts) + " |",
              "| --- " * (2 + 2 * len(parts)) + "|"]
    for n in names:
        lines.append(f"| {n} | {stats['class_share'][n] * 100:.2f} % | "
                     + " | ".join(f"{parts[p]['class_share'][n] * 100:.2f} %" for p in parts)
                     + " | "
                     + " | ".join(f"{parts[p]['class_fraction'][n] * 100:.1f} %" for p in parts)
                     + " |")
    lines += ["", "Share of boxes of each scenario (the `scene` field of the M3FD box list):", "",
              "| scenario | whole | " + " | ".join(parts) + " | "
              + " | ".join(f"{p} fraction" for p in parts) + " |",
              "| --- " * (2 + 2 * len(parts)) + "|"]
    for k in stats["strata_share"]:
        lines.append(f"| {k} | {stats['strata_share'][k] * 100:.2f} % | "
                     + " | ".join(f"{parts[p]['strata_share'][k] * 100:.2f} %" for p in parts)
                     + " | "
                     + " | ".join(f"{parts[p]['strata_fraction'][k] * 100:.1f} %" for p in parts)
                     + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=Path, default=DEFAULT_LABELS,
                    help=f"folder of the M3FD COCO box lists (default {DEFAULT_LABELS})")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "m3fd",
                    help="output folder (default data/m3fd)")
    ap.add_argument("--seed", type=int, default=0, help="search seed (default 0)")
    ap.add_argument("--fractions", default="0.7,0.15,0.15",
                    help="train,val,test fractions (default 0.7,0.15,0.15)")
    ap.add_argument("--max-len", type=int, default=20,
                    help="longest piece of a run, in frames (default 20)")
    ap.add_argument("--iterations", type=int, default=300_000,
                    help="annealing steps (default 300000)")
    ap.add_argument("--leak-weight", type=float, default=1000.0,
                    help="cost of one point of held-out frames next to train (default 1000)")
    args = ap.parse_args(argv)
    fractions = parse_fractions(args.fractions, what="--fractions")

    counts, scene, size = read_m3fd_boxes(args.labels)
    cut_by = {s: (scene[s], size[s]) for s in counts}
    runs = frame_runs(sorted(counts), cut_by=cut_by, max_len=args.max_len)
    start = time.perf_counter()
    split = chunked_split(runs, counts, fractions, args.seed, strata=scene,
                          iterations=args.iterations, leak_weight=args.leak_weight)
    took = time.perf_counter() - start
    stats = split_statistics(split, counts, M3FD_NAMES, strata=scene)
    stats["settings"] = {
        "labels": [p.name for p in sorted(args.labels.glob("*.json"))],
        "seed": args.seed, "fractions": list(fractions), "max_len": args.max_len,
        "iterations": args.iterations, "leak_weight": args.leak_weight, "radius": 2,
        "runs": len({tuple(r) for r in frame_runs(sorted(counts), cut_by=cut_by,
                                                  max_len=10 ** 9)}),
        "pieces": len(runs),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for part in SPLITS:
        atomic_write_text(args.out / f"{part}.txt", "".join(f"{s}\n" for s in split[part]))
    atomic_write_text(args.out / "stats.json", json.dumps(stats, indent=2) + "\n")
    print(markdown(stats, M3FD_NAMES))
    print(f"\n{stats['settings']['runs']} runs cut into {len(runs)} pieces; search {took:.1f} s; "
          f"wrote {', '.join(f'{p}.txt' for p in SPLITS)} and stats.json to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
