"""Study: TarDAL's loss weights and D_d's Sobel scale, measured on RoadScene's validation pairs.

Each variant (config overrides on ``configs/release.yaml``) trains G on the RoadScene training
split with the same seed and budget, fuses the validation split, and is scored with the nine
MATLAB-suite metrics (EN, MI, SCD, VIF, Qabf, AG, CC, PSNR, MSE; tang convention); the table
gives each metric's mean and each variant's rank among the variants. TNO is never used::

    python tools/study_losses.py                                  # the four default variants
    python tools/study_losses.py train.epochs=12 data.img_size=128
    python tools/study_losses.py --variants "ours=loss.pixel=1;px20=loss.pixel=20"
    python tools/study_losses.py --reuse --variants "..."   # score runs already trained
    python tools/study_losses.py --anchors mean,laplacian    # classical methods in the table
    python tools/study_losses.py --reuse --eval PAIRS --variants "..."   # another set's pairs

``--eval DIR`` scores on another set's pairs (``DIR/ir``, ``DIR/vi``, matched by stem) in place
of RoadScene's validation split: a check of how a choice carries over to images unlike the
training ones (``configs/release.yaml`` was chosen with 8 pairs of ``../shared/data/msrs-mini``,
day and night, linked into a folder of their own without the two files there that do not
decode); TNO stays out of every choice.

``--published DIR`` also ranks each variant against published methods' fused outputs of the
``--eval`` pairs, alone (the "vs published" column: 1 + how many of them are better, per metric,
as ``tools/bench_baselines.py fusion`` ranks on TNO). ``DIR`` holds ``METHOD/STEM.ext`` (the
layout of ``tang-conformance/fused``) or ``STEM_METHOD.ext`` (``vifb-conformance/fused``);
``--published-methods`` picks some of them. The VIFB scenes are not TNO images, so a choice can
be checked against published methods without touching the test set::

    python tools/study_losses.py --reuse --eval ../shared/data/vifb-conformance \
        --published ../shared/data/vifb-conformance/fused --variants "..."

``--seeds 0,1,2`` trains every variant once per seed (runs ``NAME-sS``, ``train.seed=S``): each
run is a row ranked among all rows, and an "over seeds" table gives each variant's mean rank
averaged over its seeds with the lowest and highest, so a choice is weighed against the spread
between seeds (at 135 epochs the release config's own mean rank on RoadScene val ranged over
4.00 - 5.89 across seeds 0, 1, 2, wider than most gaps between the variants it was chosen from)::

    python tools/study_losses.py --seeds 0,1,2 --variants "release=;dim32=fusion.dim=32"

The classical anchors (``tardal fuse --method``) put the variants on an absolute footing: on
TNO (tools/bench_baselines.py fusion), ``laplacian`` ranks 4.9 and ``mean`` 5.9 of 10 against
the nine published methods.

Default variants, each one choice away from ``configs/release.yaml`` (a_ssim = 1, a_pix = 2,
the public code's normalised Sobel for D_d): ``release`` (the file as it is), ``pixel1``
(a_pix = a_ssim), ``pixel20`` (the public code's 20x pixel weight), ``raw-sobel`` (the
paper's Sobel magnitude for D_d, 8x larger), ``adv0.5`` (five times the adversarial weight:
more of the critics' texture and target pull).
Writes ``runs/bench/study_losses.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

VARIANTS = {
    "release": [],
    "pixel1": ["loss.pixel=1"],
    "pixel20": ["loss.pixel=20"],
    "raw-sobel": ["disc.sobel=raw"],
    "adv0.5": ["loss.adv=0.5"],
}

log = logging.getLogger("study_losses")


def parse_variants(text: str) -> dict[str, list[str]]:
    """``"a=k=v,k2=v2;b=..."`` -> ``{"a": ["k=v", "k2=v2"], "b": [...]}``; ``"a="`` is the
    config as it is."""
    out: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, eq, overrides = part.partition("=")
        if not name or not eq:
            raise SystemExit(f"--variants: expected NAME=[key=value[,key=value]], found {part!r}")
        out[name] = [o for o in overrides.split(",") if o]
    return out


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; ``""`` -> ``[]`` (each variant at its config's seed)."""
    try:
        seeds = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise SystemExit(f"--seeds: expected integers separated by commas, found {text!r}")
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"--seeds: a seed is given twice in {text!r}")
    return seeds


def expand_seeds(variants: dict[str, list[str]],
                 seeds: list[int]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """One row per variant and seed (``NAME-sS`` with ``train.seed=S``), and each row's
    variant; without seeds the variants as they are."""
    if not seeds:
        return dict(variants), {n: n for n in variants}
    rows: dict[str, list[str]] = {}
    variant_of: dict[str, str] = {}
    for name, extra in variants.items():
        if any(o.startswith("train.seed=") for o in extra):
            raise SystemExit(f"--seeds: variant {name!r} sets train.seed itself; give one or "
                             "the other")
        for seed in seeds:
            rows[f"{name}-s{seed}"] = [*extra, f"train.seed={seed}"]
            variant_of[f"{name}-s{seed}"] = name
    return rows, variant_of


def over_seeds(row_means: dict[str, float], variant_of: dict[str, str]) -> dict[str, Any]:
    """Each variant's rows' mean ranks: their mean, lowest and highest."""
    out: dict[str, Any] = {}
    for row, variant in variant_of.items():
        out.setdefault(variant, []).append(row_means[row])
    return {v: {"runs": len(m), "mean": sum(m) / len(m), "min": min(m), "max": max(m)}
            for v, m in out.items()}


def split_folders(root: Path, split: str, dest: Path) -> tuple[Path, Path]:
    """The pairs of ``split`` linked into ``dest/ir`` and ``dest/vi`` (named by stem)."""
    from tardal.data.layout import read_split, resolve_pairs

    for side in ("ir", "vi"):
        (dest / side).mkdir(parents=True, exist_ok=True)
    for pair in resolve_pairs(root, read_split(root, split), labels=False):
        for side, path in (("ir", pair.ir), ("vi", pair.vi)):
            link = dest / side / f"{pair.stem}{Path(path).suffix}"
            if not link.exists():
                link.symlink_to(Path(path).resolve())
    return dest / "ir", dest / "vi"


def published_folders(root: Path, stems: set[str], dest: Path,
                      only: list[str] | None = None) -> dict[str, Path]:
    """Published methods' outputs of the pairs ``stems``, one folder per method.

    ``root`` holds ``METHOD/STEM.ext`` (used as is) or ``STEM_METHOD.ext`` (linked into
    ``dest/METHOD/STEM.ext``). Methods that lack one of the stems are left out with a warning;
    ``only`` keeps the named methods (an unknown name stops).
    """
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(root.iterdir()):
        if path.is_dir():
            found[path.name] = {f.stem: f for f in path.iterdir() if f.is_file()}
        elif path.is_file():  # STEM_METHOD.ext: the longest pair stem it starts with
            known = [st for st in stems if path.stem.startswith(f"{st}_")]
            if known:
                stem = max(known, key=len)
                found.setdefault(path.stem[len(stem) + 1:], {})[stem] = path
    if only:
        unknown = [m for m in only if m not in found]
        if unknown:
            raise SystemExit(f"--published-methods: {unknown} not in {root} (have "
                             f"{sorted(found)})")
        found = {m: found[m] for m in only}
    out: dict[str, Path] = {}
    for method, files in found.items():
        missing = sorted(stems - files.keys())
        if missing:
            log.warning("published %s: no output for %s; left out", method, missing)
            continue
        if all(f.parent.name == method for f in files.values()):
            out[method] = root / method
            continue
        folder = dest / method
        folder.mkdir(parents=True, exist_ok=True)
        for stem in stems:
            link = folder / f"{stem}{files[stem].suffix}"
            if not link.exists():
                link.symlink_to(files[stem].resolve())
        out[method] = folder
    if not out:
        raise SystemExit(f"--published {root}: no method has outputs for all of {sorted(stems)}")
    return out


def _train_cell(record: dict[str, Any]) -> str:
    if record.get("classical"):
        return "- |"
    return f"{record['train_s']:.0f} |" if record["train_s"] is not None else "(reused) |"


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _check_reusable(weights: Path, cfg: Any, name: str) -> None:
    """Stop when the run found for ``name`` was trained with other settings than the variant's
    (a run folder of that name from an earlier study; a new run would have gone to ``name2``).
    Keys only one side has (options added since) and the run's name and folders are not
    compared."""
    from tardal.checkpoint import load_checkpoint
    from tardal.config import to_dict

    saved = _flat(load_checkpoint(weights)["config"])
    wanted = _flat(to_dict(cfg))
    skip = {"name", "project", "data.root"}
    differ = sorted(k for k in saved.keys() & wanted.keys()
                    if k not in skip and saved[k] != wanted[k] and
                    not (isinstance(saved[k], (list, tuple)) and list(saved[k]) == list(wanted[k])))
    if differ:
        shown = ", ".join(f"{k}: run {saved[k]!r}, variant {wanted[k]!r}" for k in differ[:6])
        raise SystemExit(f"--reuse: {weights} was trained with other settings than variant "
                         f"{name!r} ({shown}); give the variant its run's overrides or a new "
                         "name")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="*", help="config overrides for every variant")
    p.add_argument("--config", default=str(REPO / "configs" / "release.yaml"))
    p.add_argument("--variants", default=None, help="NAME=key=value[,key=value];NAME=...")
    p.add_argument("--src", default=str(REPO.parent / "shared" / "data" / "roadscene"))
    p.add_argument("--data", default=str(REPO / "runs" / "data" / "roadscene"))
    p.add_argument("--project", default=str(REPO / "runs" / "bench" / "study_losses"))
    p.add_argument("--out", default=str(REPO / "runs" / "bench" / "study_losses"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reuse", action="store_true",
                   help="score a variant's existing PROJECT/NAME/weights/{best,last}.pt (see "
                        "--weights) instead of "
                        "training it again (e.g. runs trained side by side with tardal train); "
                        "stops when that run's saved config differs from the variant's")
    p.add_argument("--weights", choices=("best", "last"), default="best",
                   help="which epoch of each run fuses: best (lowest validation content loss, "
                        "as train_release.py packages) or last")
    p.add_argument("--eval", default="",
                   help="score on this folder's ir/ and vi/ pairs instead of RoadScene val")
    p.add_argument("--anchors", default="",
                   help="classical methods fused beside the variants, e.g. mean,laplacian")
    p.add_argument("--published", default="",
                   help="published methods' outputs of the --eval pairs (METHOD/STEM.ext or "
                        "STEM_METHOD.ext): each variant's rank against them is added")
    p.add_argument("--published-methods", default="",
                   help="with --published: only these methods (comma-separated)")
    p.add_argument("--seeds", default="",
                   help="train every variant once per seed (comma-separated; runs NAME-sS) "
                        "and average its ranks over them")
    args = p.parse_intermixed_args(argv)
    if args.published and not args.eval:
        raise SystemExit("--published needs --eval (the pairs the published outputs fuse)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)

    from bench_baselines import FUSION_METRICS, _environment, _tardal, _write, ranks, score_folders
    from tardal.config import load_config
    from tardal.engine import train

    seeds = parse_seeds(args.seeds)
    if seeds and any(o.startswith("train.seed=") for o in args.overrides):
        raise SystemExit("--seeds: train.seed is also given as an override; give one or the other")
    variants, variant_of = expand_seeds(
        parse_variants(args.variants) if args.variants else dict(VARIANTS), seeds)
    data = Path(args.data)
    if not (data / "data.yaml").is_file():
        _tardal("data", "import", "pairs", args.src, "--out", str(data))
    if args.eval:
        ir, vi = Path(args.eval) / "ir", Path(args.eval) / "vi"
        if not (ir.is_dir() and vi.is_dir()):
            raise SystemExit(f"--eval {args.eval}: expected the folders ir/ and vi/ in it")
        set_name = Path(args.eval).resolve().name
        fused_root = Path(args.project) / "fused" / set_name
    else:
        ir, vi = split_folders(data, "val", Path(args.project) / "val-pairs")
        set_name, fused_root = "RoadScene val", Path(args.project) / "fused"
    fused: dict[str, Path] = {}
    training: dict[str, Any] = {}
    for name, extra in variants.items():
        run_name = name.replace("/", "-")
        cfg = load_config(args.config, [f"data.root={data}", f"project={args.project}",
                                        f"name={run_name}", *args.overrides, *extra])
        log.info("=== %s: %s ===", name, " ".join(extra) or "(config as is)")
        chosen = Path(args.project) / run_name / "weights" / f"{args.weights}.pt"
        if args.reuse and chosen.is_file():
            _check_reusable(chosen, cfg, name)
            training[name] = {"overrides": extra, "train_s": None, "weights": str(chosen),
                              "reused": True}
        else:
            t0 = time.perf_counter()
            result = train(cfg, progress=False)
            chosen = result.best if args.weights == "best" else result.last
            training[name] = {"overrides": extra, "train_s": round(time.perf_counter() - t0, 1),
                              "best_epoch": result.state.best_epoch, "weights": str(chosen)}
        _tardal("fuse", str(chosen), "--ir", str(ir), "--vi", str(vi), "--grey",
                "--ext", "png", "--out", str(fused_root / run_name))
        fused[name] = fused_root / run_name
    for m in filter(None, args.anchors.split(",")):
        out = fused_root / f"classical-{m}"
        _tardal("fuse", "--method", m, "--ir", str(ir), "--vi", str(vi), "--grey",
                "--ext", "png", "--out", str(out))
        fused[m] = out
        training[m] = {"overrides": [f"tardal fuse --method {m}"], "train_s": None,
                       "classical": True}
        variants[m] = [f"(classical: {m})"]
    published: dict[str, Path] = {}
    if args.published:
        stems = {f.stem for f in ir.iterdir()}
        published = published_folders(Path(args.published), stems,
                                      Path(args.project) / "published" / set_name,
                                      [m for m in args.published_methods.split(",") if m])
    means = score_folders({**fused, **{f"{m} (published)": f for m, f in published.items()}},
                          ir, vi, FUSION_METRICS)
    names = list(fused)
    table = {n: ranks(means, n, [m for m in names if m != n], FUSION_METRICS) for n in names}
    pub_names = [f"{m} (published)" for m in published]
    vs_pub = {n: ranks(means, n, pub_names, FUSION_METRICS) for n in names} if published else {}
    result_data = {"config": args.config, "overrides": args.overrides, "data": set_name,
                   "pairs": len(list(ir.iterdir())), "environment": _environment(args.threads),
                   "training": training, "means": means,
                   "ranks": {n: {"per_metric": r, "mean": sum(r.values()) / len(r)}
                             for n, r in table.items()},
                   "published": sorted(published),
                   "ranks_vs_published": {n: {"per_metric": r, "mean": sum(r.values()) / len(r)}
                                          for n, r in vs_pub.items()}}
    if seeds:
        result_data["seeds"] = seeds
        result_data["over_seeds"] = over_seeds(
            {n: result_data["ranks"][n]["mean"] for n in variant_of}, variant_of)
        if published:
            pub_over = over_seeds({n: result_data["ranks_vs_published"][n]["mean"]
                                   for n in variant_of}, variant_of)
            for v, summary in result_data["over_seeds"].items():
                summary["vs_published"] = pub_over[v]
    lines = [f"## Loss-weight study, scored on {set_name} ({result_data['pairs']} pairs; "
             "rank among the variants in brackets)", "",
             "| variant | overrides | " + " | ".join(FUSION_METRICS) + " | mean rank | "
             + ("vs published | " if published else "") + "train s |",
             "|---" * (len(FUSION_METRICS) + 4 + bool(published)) + "|"]
    for n in names:
        cells = [f"{means[n][k]:.3f} ({table[n][k]})" for k in FUSION_METRICS]
        pub = (f"{result_data['ranks_vs_published'][n]['mean']:.2f} | " if published else "")
        lines.append(f"| {n} | {' '.join(variants[n]) or '-'} | " + " | ".join(cells)
                     + f" | {result_data['ranks'][n]['mean']:.2f} | " + pub
                     + _train_cell(training[n]))
    if seeds:
        lines += ["", f"Over seeds {', '.join(map(str, seeds))} (each variant's rows' mean "
                  "ranks above: mean, lowest - highest):", "",
                  "| variant | mean rank | " + ("vs published | " if published else ""),
                  "|---|---|" + ("---|" if published else "")]
        for v, summary in result_data["over_seeds"].items():
            cells = [summary] + ([summary["vs_published"]] if published else [])
            lines.append(f"| {v} | " + " | ".join(
                f"{c['mean']:.2f} ({c['min']:.2f} - {c['max']:.2f})" for c in cells) + " |")
    if published:
        lines += ["", f"Published outputs on the same pairs ({len(published)} methods; "
                  "'vs published' ranks each variant among them alone):", "",
                  "| method | " + " | ".join(FUSION_METRICS) + " |",
                  "|---" * (len(FUSION_METRICS) + 1) + "|"]
        lines += [f"| {m} | " + " | ".join(f"{means[m][k]:.3f}" for k in FUSION_METRICS) + " |"
                  for m in pub_names]
    _write(Path(args.out), result_data, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
