"""Exports: ONNX graphs of a trained run, and a fused data set in the Ultralytics layout.

ONNX (:func:`export_onnx`), with PyTorch's TorchScript-based exporter
(``torch.onnx.export(..., dynamo=False)``: the dynamo exporter needs ``onnxscript``, which the
project does not depend on):

* the fusion graph ``G``: inputs ``ir`` (B,1,H,W) and ``vis_y`` (B,1,H,W) float32 in [0,1]
  (``vis_y`` is the visible image's BT.601 luma), output ``fused`` (B,1,H,W); B, H and W are
  dynamic (H and W as the network allows: any size for ``tardal`` with ``fusion.padding``
  ``input``).
* for detection runs, the detection graph: inputs ``ir`` (B,1,S,S) and ``vis`` (B,3,S,S) RGB
  float32 in [0,1], letterboxed to the run's ``data.img_size`` S as in training (grey
  114/255 padding, :func:`tardal.data.transforms.letterbox`); B is dynamic, S fixed (the
  detector's anchor grid is built for it). It runs the mode's view (G and the detector-input
  colouring for ``ct``/``tt``/``frontend``, the modality for ``ir``/``vis``) and the
  evaluation detector (the EMA copy when kept); both inputs are part of every graph. Output
  ``preds`` (B, 4 + nc, N): for each of the N = sum over strides of (S/stride)^2 anchor points,
  rows 0-3 the box centre x, centre y, width and height in letterboxed pixels, rows 4.. the
  sigmoid class scores, before NMS (the layout Ultralytics' ``non_max_suppression`` takes;
  NMS-free heads are not exported).

The fused data set (:func:`export_dataset`): every pair of the chosen splits of a canonical data
set fused at full size (recoloured RGB), written as ``images/{split}/<stem>.png`` with the YOLO
labels copied to ``labels/{split}/<stem>.txt``, a ``data.yaml`` (``path``, ``train``, ``val``,
``test`` when exported, ``names``) that Ultralytics trains on, and COCO JSON per split
(``annotations/{split}.json``).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tardal.errors import CheckpointError, ConfigError, DataError

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17


# ----------------------------------------------------------------------------------------
# ONNX
# ----------------------------------------------------------------------------------------


class DetectionGraph(nn.Module):
    """(ir (B,1,S,S), vis (B,3,S,S)) -> raw detector output (B, 4 + nc, N); see the module doc."""

    def __init__(self, run: Any) -> None:
        super().__init__()
        self.run = run
        self.models = nn.ModuleDict(run.ctx.models)  # registered, so .eval() reaches them

    def forward(self, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        images, _ = self.run.mode.view(self.run.ctx, ir, vis)
        # ``ir``/``vis`` runs read one input; a zero-weighted pixel of both keeps the two inputs
        # in every graph (the exporter drops unused ones), so callers feed every run alike
        images = images + 0.0 * (ir[:, :1, :1, :1] + vis[:, :1, :1, :1])
        out = self.run.detector.model(images)
        return out[0] if isinstance(out, (tuple, list)) else out


@dataclass
class Exported:
    """What :func:`export_onnx` wrote."""

    fusion: Path | None
    detection: Path | None
    mode: str
    img_size: int
    names: list[str]


def _onnx_bytes(model: nn.Module, args: tuple[torch.Tensor, ...], inputs: list[str],
                outputs: list[str], dynamic: dict[str, dict[int, str]], opset: int) -> bytes:
    import warnings

    buf = io.BytesIO()
    with warnings.catch_warnings():  # tracer notes about Python values frozen in the graph
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Constant folding")
        for note in ("You are using the legacy TorchScript", "The feature will be removed"):
            warnings.filterwarnings("ignore", message=note, category=DeprecationWarning)
        torch.onnx.export(model, args, buf, input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic, opset_version=opset, dynamo=False,
                          do_constant_folding=True)
    return buf.getvalue()


def fusion_onnx(net: nn.Module, opset: int = DEFAULT_OPSET, size: int = 64) -> bytes:
    """The fusion graph of ``net`` (``G(ir, vis_y)``) as ONNX bytes (dynamic B, H, W).

    TarDAL's G with ``input`` padding is exported in its canvas layout
    (:meth:`~tardal.fusion.generator.TarDALGenerator.canvas`: the same outputs, without a crop
    per dense layer, which onnxruntime's blocked convolutions run faster).
    """
    from tardal.fusion.generator import TarDALGenerator

    if getattr(net, "equalize", 0.0) > 0 and opset < 16:
        raise ConfigError(f"--opset {opset}: G's tone step (fusion.equalize) needs opset 16 or "
                          f"later (its histogram is a ScatterElements with reduction 'add')")
    if isinstance(net, TarDALGenerator) and net.padding == "input" and not net.on_canvas:
        net = net.canvas()
    net = net.eval()
    ir = torch.rand(1, 1, size, size)
    vis_y = torch.rand(1, 1, size, size)
    dyn = {k: {0: "batch", 2: "height", 3: "width"} for k in ("ir", "vis_y", "fused")}
    with torch.no_grad():
        return _onnx_bytes(net, (ir, vis_y), ["ir", "vis_y"], ["fused"], dyn, opset)


def detection_onnx(run: Any, opset: int = DEFAULT_OPSET) -> bytes:
    """The detection graph of a :class:`~tardal.engine.evaluate.LoadedRun` as ONNX bytes."""
    if getattr(run.detector, "nms_free", False):
        raise ConfigError(f"detector {run.cfg.detector.model}: NMS-free (end-to-end) heads are "
                          "not exported; export the fusion graph alone")
    graph = DetectionGraph(run).eval()
    s = run.cfg.data.img_size
    ir, vis = torch.rand(1, 1, s, s), torch.rand(1, 3, s, s)
    dyn = {k: {0: "batch"} for k in ("ir", "vis", "preds")}
    with torch.no_grad():
        return _onnx_bytes(graph, (ir, vis), ["ir", "vis"], ["preds"], dyn, opset)


def detection_path(out: Path) -> Path:
    """Where the detection graph goes beside the fusion graph ``out``: ``<stem>-det.onnx``."""
    return out.with_name(out.stem + "-det" + (out.suffix or ".onnx"))


def export_onnx(weights: str | Path, out: str | Path | None = None, *,
                opset: int = DEFAULT_OPSET) -> Exported:
    """Export the graphs of a ``tardal train`` checkpoint: the fusion graph to ``out`` (default:
    the checkpoint's path with ``.onnx``) when the run has a fusion network, and the detection
    graph to :func:`detection_path` of it when the run has a detector (see the module doc)."""
    from tardal.engine import checkpoint as ckpt_io
    from tardal.engine.modes import MODES
    from tardal.io import atomic_write_bytes

    weights = Path(weights)
    if not 7 <= opset <= 21:
        raise ConfigError(f"--opset must lie in [7, 21], found {opset}")
    ckpt = ckpt_io.load(weights)
    mode_name = str(ckpt.get(ckpt_io.MODE, ""))
    if mode_name not in MODES.names():
        raise CheckpointError(f"checkpoint {weights}: unknown training mode {mode_name!r}; "
                              f"expected one of {', '.join(MODES.names())}")
    mode = MODES.get(mode_name)()
    out = Path(out) if out else weights.with_suffix(".onnx")
    fusion_file = det_file = None
    graphs: list[tuple[Path, bytes]] = []
    names: list[str] = []
    img_size = 0
    if mode.has_generator:
        from tardal.fusion import load_fusion

        net, cfg = load_fusion(weights)
        img_size = cfg.data.img_size
        graphs.append((out, fusion_onnx(net, opset, size=max(32, min(img_size, 128)))))
        fusion_file = out
    if mode.has_detector:
        from tardal.engine.evaluate import load_run

        run = load_run(weights, device="cpu")
        names, img_size = run.names, run.cfg.data.img_size
        det_file = detection_path(out)
        graphs.append((det_file, detection_onnx(run, opset)))
    for path, data in graphs:  # written only once every graph is built
        atomic_write_bytes(path, data, error=DataError)
        log.info("wrote %s (%.1f MB)", path, len(data) / 1e6)
    return Exported(fusion=fusion_file, detection=det_file, mode=mode_name, img_size=img_size,
                    names=list(names))


# ----------------------------------------------------------------------------------------
# Fused data set in the Ultralytics layout
# ----------------------------------------------------------------------------------------


def fusion_function(weights: str | Path | None = None, method: str | None = None,
                    device: str = "auto") -> tuple[Any, str]:
    """``(fuse, description)``: ``fuse(ir (B,1,H,W), vis (B,3,H,W)) -> (B,3,H,W)`` RGB in
    [0,1] on the CPU, the fused luma of a checkpoint's G or a registered method recoloured
    with the visible CbCr, for :func:`export_dataset`."""
    from tardal.cli.fuse import build_network
    from tardal.engine.device import resolve_device
    from tardal.fusion.inference import fuse_image
    from tardal.ops.color import recolor, rgb_to_y

    net, what = build_network(str(weights) if weights else None, method)
    dev = resolve_device(device)
    net = net.to(dev).eval()

    def fuse(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        ir, vis = ir.to(dev), vis.to(dev)
        fused = fuse_image(net, ir, rgb_to_y(vis)).float().clamp(0, 1)
        return recolor(fused, vis).clamp(0, 1).cpu()

    return fuse, what


@dataclass
class DatasetExport:
    """What :func:`export_dataset` wrote."""

    out: Path
    counts: dict[str, int]  # pairs per split
    names: list[str]
    data_yaml: Path


def export_dataset(root: str | Path, out: str | Path, fuse: Any, *,
                   splits: Sequence[str] = ("train", "val"), progress: bool = True
                   ) -> DatasetExport:
    """Fuse every pair of ``splits`` of the canonical data set at ``root`` with ``fuse`` and
    write the Ultralytics layout and COCO JSON to ``out`` (see the module doc).

    ``fuse(ir (1,1,H,W), vis (1,3,H,W)) -> (1,3,H,W)`` RGB in [0,1] on the CPU (torch tensors).
    The folder is built beside ``out`` and moved into place when complete; an existing
    non-empty ``out`` is refused.
    """
    import json

    import numpy as np
    import yaml
    from tqdm import tqdm

    from tardal.data.dataset import read_pair
    from tardal.data.labels import read_yolo, yolo_to_xyxy
    from tardal.data.layout import read_data_yaml, resolve_pairs, split_stems
    from tardal.io import atomic_write_text, staged_dir, write_image

    root, out = Path(root), Path(out)
    info = read_data_yaml(root)
    names = [str(n) for n in info.names]
    if not info.labels or not names:
        raise DataError(f"data set {root}: data.yaml declares no labels or no class names; "
                        "export-data needs a labelled set")
    pairs = {}
    for split in splits:
        stems = split_stems(root, split)
        if not stems:
            raise DataError(f"data set {root}: split {split!r} is empty or missing "
                            f"(meta/{split}.txt); choose --splits among those present")
        pairs[split] = resolve_pairs(root, stems, labels=True)
    counts: dict[str, int] = {}
    with staged_dir(out) as tmp:
        for split, found in pairs.items():
            images, annotations = [], []
            for k, pair in enumerate(tqdm(found, desc=f"export {split}", unit="pair",
                                          disable=not progress), start=1):
                ir, vis = read_pair(pair)
                h, w = ir.shape[:2]
                with torch.no_grad():
                    rgb = fuse(torch.from_numpy(ir)[None, None],
                               torch.from_numpy(np.ascontiguousarray(vis.transpose(2, 0, 1)))[None])
                img = rgb[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
                write_image(tmp / "images" / split / f"{pair.stem}.png", img)
                text = pair.label.read_text()
                atomic_write_text(tmp / "labels" / split / f"{pair.stem}.txt", text)
                rows = read_yolo(pair.label, len(names))
                images.append({"id": k, "file_name": f"{pair.stem}.png", "width": w,
                               "height": h})
                for (x1, y1, x2, y2), cls in zip(yolo_to_xyxy(rows, w, h), rows[:, 0]):
                    bw, bh = float(x2 - x1), float(y2 - y1)
                    annotations.append({
                        "id": len(annotations) + 1, "image_id": k,
                        "category_id": int(cls) + 1,
                        "bbox": [round(float(x1), 3), round(float(y1), 3), round(bw, 3),
                                 round(bh, 3)],
                        "area": round(bw * bh, 3), "iscrowd": 0,
                    })
            coco = {"categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)],
                    "images": images, "annotations": annotations}
            atomic_write_text(tmp / "annotations" / f"{split}.json", json.dumps(coco))
            counts[split] = len(found)
        data = {"path": str(out.resolve()), **{s: f"images/{s}" for s in pairs},
                "names": dict(enumerate(names))}
        for needed in ("train", "val"):  # Ultralytics needs both keys
            data.setdefault(needed, f"images/{next(iter(pairs))}")
        atomic_write_text(tmp / "data.yaml", yaml.safe_dump(data, sort_keys=False))
    return DatasetExport(out=out, counts=counts, names=names, data_yaml=out / "data.yaml")
