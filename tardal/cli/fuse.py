"""`tardal fuse WEIGHTS --ir PATH --vi PATH --out DIR`: fuse registered image pairs.

Examples::

    tardal fuse --ir pair/ir --vi pair/vi --out fused/               # the packaged release G
    tardal fuse runs/train/dt/weights/best.pt --ir pair/ir --vi pair/vi --out fused/
    tardal fuse best.pt --ir 01_ir.png --vi 01_vi.png --out fused/ --grey
    tardal fuse --method laplacian --ir tno/ir --vi tno/vi --out fused/laplacian
    tardal fuse best.pt --ir big/ir --vi big/vi --out fused/ --tile 512
    tardal fuse --list                                         # registered fusion methods

``--ir`` and ``--vi`` are two files or two folders (paired by file stem). WEIGHTS is a checkpoint
written by ``tardal train`` (its saved config rebuilds the network); ``--method`` runs a registered
method that needs no weights instead; with neither, the release G packaged with tardal fuses
(``tools/train_release.py`` trains it on RoadScene; its provenance is in the file:
``tardal/weights/tardal-release.pt``). Each image is fused whole, at its own size, or in overlapping
tiles with ``--tile`` (``--overlap`` defaults to twice the network's receptive radius, which gives
the one-pass result exactly). The fused luma is recoloured with the visible image's CbCr into RGB,
or written grey with ``--grey``. Output files keep the infrared file's name (``--ext`` changes the
format).

Multi-focus pairs (two colour photographs of one scene, focused near and far) are fused in
colour with ``--multifocus``, ``--ir`` and ``--vi`` naming the near- and far-focus sources: the
decision-map methods (mffgan, mfifgan, fusegan) fuse the colour images by one decision map (they
always take this path), any other method fuses each channel::

    tardal fuse runs/train/mffgan/weights/best.pt --ir lytro/near --vi lytro/far --out fused/
    tardal fuse --method laplacian --multifocus --ir lytro/near --vi lytro/far --out fused/
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tardal.errors import ConfigError, DataError

log = logging.getLogger(__name__)

# Tile used when a one-pass fusion runs out of accelerator memory (larger where exact tiles need
# more overlap), and the overlap for methods that state no receptive radius.
FALLBACK_TILE, FALLBACK_OVERLAP = 512, 32


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fuse", help="fuse infrared/visible pairs with a trained checkpoint or a classical method",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("weights", nargs="?", help="checkpoint from 'tardal train' (weights/best.pt); "
                   "default: the release G packaged with tardal")
    p.add_argument("--method", help="registered fusion method instead of WEIGHTS (mean, max, ...)")
    p.add_argument("--ir", help="infrared image or folder")
    p.add_argument("--vi", help="visible image or folder")
    p.add_argument("--out", help="output folder")
    p.add_argument("--grey", action="store_true", help="write the fused luma, not RGB")
    p.add_argument("--multifocus", action="store_true",
                   help="colour sources of one scene focused differently (--ir: near, --vi: far); "
                        "fused in colour")
    p.add_argument("--tile", type=int, default=0, help="tile side in pixels (0: whole image)")
    p.add_argument("--overlap", type=int, default=None,
                   help="tile overlap in pixels (default: twice the network's receptive radius, "
                        "the exact one-pass result)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--ext", default="", help="output format, e.g. png (default: the input's)")
    p.add_argument("--no-optimize", action="store_true",
                   help="run the network as trained (no BatchNorm folding / channels-last)")
    p.add_argument("--list", action="store_true", help="list the registered fusion methods")
    p.set_defaults(func=run)


def pair_inputs(ir: str | Path, vi: str | Path) -> list[tuple[str, Path, Path]]:
    """``[(output name, ir path, vi path)]`` from two files or two folders paired by stem.

    Raises DataError for a missing path, a file paired with a folder, stems found on one side
    only, or one stem twice in a folder.
    """
    from tardal.io import list_images

    ir, vi = Path(ir), Path(vi)
    for path, flag in ((ir, "--ir"), (vi, "--vi")):
        if not path.exists():
            raise DataError(f"{flag} {path} does not exist")
    if ir.is_file() and vi.is_file():
        return [(ir.name, ir, vi)]
    if ir.is_file() != vi.is_file():
        raise DataError(f"--ir {ir} and --vi {vi} must both be files or both be folders")

    def by_stem(folder: Path) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for p in list_images(folder):
            if p.stem in out:
                raise DataError(f"folder {folder} holds two images with stem {p.stem!r}: "
                                f"{out[p.stem].name} and {p.name}")
            out[p.stem] = p
        return out

    irs, vis = by_stem(ir), by_stem(vi)
    only_ir, only_vi = sorted(set(irs) - set(vis)), sorted(set(vis) - set(irs))
    if only_ir or only_vi:
        parts = []
        if only_ir:
            parts.append(f"{len(only_ir)} infrared image(s) without a visible partner in {vi}: "
                         + ", ".join(irs[s].name for s in only_ir[:10]))
        if only_vi:
            parts.append(f"{len(only_vi)} visible image(s) without an infrared partner in {ir}: "
                         + ", ".join(vis[s].name for s in only_vi[:10]))
        raise DataError("; ".join(parts))
    if not irs:
        both = sorted({d.name for d in ir.iterdir() if d.is_dir()}
                      & {d.name for d in vi.iterdir() if d.is_dir()})
        hint = (f" (sub-folders are not searched; both hold {', '.join(both[:5])}: for example "
                f"--ir {ir / both[0]} --vi {vi / both[0]})" if both else "")
        raise DataError(f"no images found in {ir} and {vi}{hint}")
    return [(irs[s].name, irs[s], vis[s]) for s in sorted(irs)]


def check_pairs(pairs: list[tuple[str, Path, Path]]) -> None:
    """Before any work: every image's header is readable, within the pixel limit, and each
    pair's sizes agree (formats without a size in the header are checked once decoded)."""
    from tardal.data.imagesize import probe_size
    from tardal.io import check_pixels

    for name, ir_path, vi_path in pairs:
        sizes = []
        for path in (ir_path, vi_path):
            sizes.append(probe_size(path, decode=False))
            check_pixels(path)
        if None not in sizes:
            _check_same_size(name, ir_path, vi_path, sizes[0], sizes[1])


def _check_same_size(name: str, ir_path: Path, vi_path: Path, ir_hw: tuple[int, int],
                     vi_hw: tuple[int, int]) -> None:
    if ir_hw != vi_hw:
        (h, w), (hv, wv) = ir_hw, vi_hw
        raise DataError(f"pair {Path(name).stem!r}: infrared {ir_path} is {w}x{h} but visible "
                        f"{vi_path} is {wv}x{hv} (width x height); the pair must be registered")


def build_network(weights: str | None, method: str | None):
    """(network in eval mode, description) for a checkpoint or a registered method."""
    from tardal.config import FusionConfig
    from tardal.fusion import build_fusion, load_fusion
    from tardal.fusion.loading import release_weights

    if weights and method:
        raise ConfigError("give either WEIGHTS or --method, not both")
    if method:
        return build_fusion(FusionConfig(name=method)).eval(), f"method {method!r}"
    if not weights:
        weights = str(release_weights() or "")
        if not weights:
            raise ConfigError("tardal fuse needs WEIGHTS (a checkpoint from 'tardal train') or "
                              "--method NAME (see --list); this installation has no packaged "
                              "release weights (tools/train_release.py makes them)")
    net, cfg = load_fusion(weights)
    return net, f"{cfg.fusion.name} from {weights}"


def run(args: argparse.Namespace) -> int:
    from tardal.io import IMAGE_SUFFIXES, read_ir, read_rgb, safe_output_path, write_image

    if args.list:
        from tardal.fusion import FUSION

        print("\n".join(FUSION.names()))
        return 0
    missing = [f for f in ("ir", "vi", "out") if not getattr(args, f)]
    if missing:
        raise ConfigError("tardal fuse needs " + ", ".join(f"--{m}" for m in missing))
    if args.tile < 0:
        raise ConfigError(f"--tile must be >= 0, found {args.tile}")
    if args.tile and args.overlap is not None and not 0 <= args.overlap < args.tile:
        raise ConfigError(f"--overlap must be in [0, tile), found {args.overlap} with --tile "
                          f"{args.tile}")
    ext = args.ext.lstrip(".").lower()
    formats = [s.lstrip(".") for s in IMAGE_SUFFIXES]
    if args.ext and ext not in formats:
        raise ConfigError(f"--ext: expected one of {', '.join(formats)}, found {args.ext!r}")
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is a file; expected a folder")
    for src in {Path(args.ir), Path(args.vi)}:
        folder = src if src.is_dir() else src.parent
        if out_dir.resolve() == folder.resolve():
            raise ConfigError(f"--out {out_dir} is an input folder; choose another, the inputs "
                              "would be overwritten")
    pairs = pair_inputs(args.ir, args.vi)
    targets = [safe_output_path(out_dir, Path(name).stem + "." + ext if ext else name)
               for name, _, _ in pairs]
    check_pairs(pairs)

    import torch  # after the checks above: bad input is reported without the wait
    from tqdm import tqdm

    from tardal.engine.device import resolve_device
    from tardal.fusion.generator import equalize_blend, split_tone
    from tardal.fusion.inference import fuse_colour, fuse_image, has_colour_path
    from tardal.fusion.optimize import inference_path
    from tardal.ops.color import recolor, rgb_to_y

    device = resolve_device(args.device)
    net, what = build_network(args.weights, args.method)
    colour = args.multifocus or has_colour_path(net)
    net, tone = split_tone(net)  # G's tone step reads the whole image: applied once to the
    # assembled output (tiled or not) after the rest of the network
    known = getattr(net, "receptive_radius", None)  # None: the method does not say
    radius = int(known or 0)
    exact = 2 * radius if known is not None else FALLBACK_OVERLAP  # overlap of exact tiles
    if args.tile and args.overlap is None:
        args.overlap = exact
        if args.overlap >= args.tile:
            raise ConfigError(f"--tile {args.tile}: {what} sees {radius} pixels around each "
                              f"output pixel, so exact tiles overlap by {args.overlap}; use "
                              f"--tile {args.overlap + 1} or more (or a smaller --overlap, "
                              f"with seams)")
    if args.tile and args.overlap // 2 < radius:
        log.warning("--overlap %d: %s sees %d pixels around each output pixel, so tiles leave "
                    "seams; --overlap %d or more gives the one-pass result", args.overlap, what,
                    radius, 2 * radius)
    if colour and has_colour_path(net) and args.tile:
        raise ConfigError(f"--tile: {what} fuses by a decision map over the whole image; "
                          "tiles are not supported")
    if has_colour_path(net):  # decision maps: the network's own colour path, as it is
        net = net.to(device).eval()
    else:  # BatchNorm folded, channels-last (bf16 on CUDA): what tools/bench_fuse.py measures
        net = inference_path(net, device, optimize=not args.no_optimize)
    log.info("fusing %d pair(s) with %s on %s -> %s", len(pairs), what, device, out_dir)
    # The output folder is made by the first write: a failure before it leaves nothing behind.
    for (name, ir_path, vi_path), target in tqdm(list(zip(pairs, targets)), desc="fuse",
                                                 unit="pair", dynamic_ncols=True):
        if colour:
            a_np, b_np = read_rgb(ir_path), read_rgb(vi_path)
            _check_same_size(name, ir_path, vi_path, a_np.shape[:2], b_np.shape[:2])
            a, b = (torch.from_numpy(x.transpose(2, 0, 1).copy())[None].to(device)
                    for x in (a_np, b_np))
            rgb = fuse_colour(net, a, b, tile=args.tile, overlap=args.overlap).float()
            if tone > 0:  # per channel, as G fused them
                rgb = equalize_blend(rgb.reshape(-1, 1, *rgb.shape[-2:]), tone).view_as(rgb)
            img = rgb_to_y(rgb)[0, 0] if args.grey else rgb[0].permute(1, 2, 0)
            write_image(target, img.clamp(0, 1).cpu().numpy())
            continue
        ir_np, vis_np = read_ir(ir_path), read_rgb(vi_path)
        _check_same_size(name, ir_path, vi_path, ir_np.shape[:2], vis_np.shape[:2])
        ir = torch.from_numpy(ir_np)[None, None].to(device)
        vis = torch.from_numpy(vis_np.transpose(2, 0, 1).copy())[None].to(device)
        vis_y = rgb_to_y(vis)
        ir_in, vis_in = ir, vis_y
        try:
            fused = fuse_image(net, ir_in, vis_in, tile=args.tile, overlap=args.overlap)
        except torch.OutOfMemoryError:
            tile = max(FALLBACK_TILE, 2 * exact)
            log.warning("%s: out of memory in one pass; fusing in %d px tiles", name, tile)
            fused = fuse_image(net, ir_in, vis_in, tile=tile, overlap=exact)
        fused = fused.float().clamp(0, 1)
        if tone > 0:
            fused = equalize_blend(fused, tone)
        if args.grey:
            img = fused[0, 0].cpu().numpy()
        else:
            img = recolor(fused, vis)[0].permute(1, 2, 0).cpu().numpy()
        write_image(target, img)
    print(f"fused {len(pairs)} pair(s) -> {out_dir}")
    return 0
