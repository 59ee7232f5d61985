"""The Ultralytics YOLO adapter: the only module of the package that imports Ultralytics.

:class:`Detector` wraps an Ultralytics ``DetectionModel`` built from a model YAML shipped with
Ultralytics (``yolov8n.yaml``, ``yolo11n.yaml``, ``yolo26n.yaml``, ...) or from a YAML file, with
``nc`` and the class names of our data set. It computes Ultralytics' detection loss on *our*
batch dict (see ``tardal.data.dataset.collate_pairs``) without Ultralytics' trainer, and decodes
predictions with Ultralytics' NMS. It is a plain ``nn.Module``: ``state_dict`` and
``load_state_dict`` save and restore it, and the loss is differentiable with respect to the input
images, so the detection loss can be back-propagated through a frozen detector into a fusion net.

Offline by construction:

* ``YOLO_OFFLINE=1`` is put in the environment (unless already set) before Ultralytics is first
  imported, which happens lazily on the first :class:`Detector` (importing this module imports
  nothing from Ultralytics). Importing Ultralytics still creates its settings file in the user's
  config folder (``YOLO_CONFIG_DIR`` moves it), which is Ultralytics' own behaviour.
* Model YAMLs are resolved here, inside the installed Ultralytics package or on disk, never
  through Ultralytics' file search (which can download).
* Pretrained weights come only from a local file (``weights=``); a missing file is a
  :class:`~tardal.errors.CheckpointError`.

Frozen detector: :func:`frozen` turns off parameter gradients (and, by default, puts BatchNorm
in eval mode) for the fusion step, whose detection loss must reach only the fusion net.

Loss scaling: Ultralytics' criterion returns ``batch_size * (box_gain*box + cls_gain*cls +
dfl_gain*dfl)`` and its trainer back-propagates that sum (its SGD learning rate and weight decay
are tuned for it, with a nominal batch of 64). :meth:`Detector.loss` returns the *batch-size
independent* form ``total = box_gain*box + cls_gain*cls + dfl_gain*dfl``, where each term is
already normalised by the summed target scores of the batch; multiply by ``B`` to get
Ultralytics' number. With Adam/AdamW the scale hardly matters; it keeps ``loss.beta`` of the
cooperative fusion step independent of the batch size.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import re
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from tardal.errors import CheckpointError, ConfigError, DataError, TardalError
from tardal.registry import close_matches

LOGGER = logging.getLogger(__name__)

DEFAULT_GAINS = {"box": 7.5, "cls": 0.5, "dfl": 1.5}  # Ultralytics' default loss gains
_SCALE = re.compile(r"(\d+)([nslmx])(.+)?$")  # "yolov8n-p2" -> ("8", "n", "-p2")
_NOT_DETECT = ("-cls", "-seg", "-pose", "-obb", "-world", "-sem", "-depth", "yoloe", "rtdetr")
_DETECT_HEADS = ("Detect", "v10Detect")  # plain box heads; subclasses add masks, keypoints, ...
_NO_NMS_TIME_LIMIT = 1e9  # seconds per image: results must not depend on the machine's speed


# ----------------------------------------------------------------------------------------
# Lazy Ultralytics import and model YAMLs
# ----------------------------------------------------------------------------------------


def _ultralytics() -> Any:
    """Import Ultralytics offline (``YOLO_OFFLINE=1`` unless the caller chose otherwise)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import ultralytics

    return ultralytics


def _models_dir() -> Path:
    return Path(_ultralytics().__file__).parent / "cfg" / "models"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"detector model YAML {path} cannot be read: {exc}") from None
    if not isinstance(data, dict) or "backbone" not in data or "head" not in data:
        raise ConfigError(
            f"detector model YAML {path}: expected a mapping with 'backbone' and 'head', "
            f"found {type(data).__name__}"
        )
    return data


def available_models() -> list[str]:
    """Detection model names this Ultralytics ships, e.g. ``yolov8n.yaml`` ... ``yolo26x.yaml``."""
    names = []
    for path in sorted(_models_dir().rglob("*.yaml")):
        if any(tag in path.stem for tag in _NOT_DETECT):
            continue
        scales = (_read_yaml(path).get("scales") or {}) if _SCALE.search(path.stem) is None else {}
        if len(scales) > 1:
            for s in scales:
                names.append(re.sub(r"^(.*?\d+)(.*)$", rf"\g<1>{s}\g<2>", path.stem) + ".yaml")
        else:
            names.append(path.name)
    return names


def resolve_model_yaml(model: str) -> dict[str, Any]:
    """Model dict for an Ultralytics YAML name (``yolov8n.yaml``) or a YAML file path.

    The scale letter in the name (n, s, m, l, x) picks the compound scaling of YAMLs that carry
    ``scales``, as Ultralytics does. Raises :class:`ConfigError` for unknown names (with close
    matches), missing files, or a scaled YAML named without a scale.
    """
    text = str(model).strip()
    path = Path(text).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        found = path
    elif os.sep in text or "/" in text:
        raise ConfigError(f"detector.model: the model YAML {path} does not exist")
    else:
        stem = Path(text).stem if text.endswith((".yaml", ".yml")) else text
        unified = _SCALE.sub(r"\1\3", stem)
        root = _models_dir()
        hits = [p for name in (stem, unified) for p in sorted(root.rglob(f"{name}.yaml"))]
        if not hits or any(tag in stem for tag in _NOT_DETECT):
            valid = available_models()
            close = close_matches(stem + ".yaml", valid)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(
                f"detector.model: unknown detection model {model!r}.{hint} "
                f"Valid names: {', '.join(valid)} (or a path to a model YAML)"
            )
        found = hits[0]
    data = _read_yaml(found)
    match = _SCALE.search(found.stem) or _SCALE.search(Path(text).stem)
    scale = match.group(2) if match else ""
    scales = data.get("scales") or {}
    if len(scales) == 1:  # e.g. yolov10b.yaml: one scale, named by a letter outside nslmx
        scale = next(iter(scales))
    if scales and scale not in scales:
        raise ConfigError(
            f"detector.model: {model!r} has scales {', '.join(scales)}; name one, "
            f"e.g. {found.stem}{next(iter(scales))}.yaml"
        )
    data["scale"] = scale
    data["yaml_file"] = str(found)
    return data


# ----------------------------------------------------------------------------------------
# Local pretrained weights
# ----------------------------------------------------------------------------------------


def load_ultralytics_weights(model: nn.Module, path: str | Path) -> tuple[int, int]:
    """Copy the matching tensors of a local Ultralytics ``.pt`` into ``model`` (a DetectionModel).

    The file is read by Ultralytics' own loader in its restricted mode (``weights_only`` with an
    allow-list of Ultralytics and torch classes: no package installs, no downloads); load only
    files you trust. Tensors are matched by name and shape, so a checkpoint trained with
    another ``nc`` transfers everything but the class-specific layers of the head. (A side
    effect of Ultralytics' restricted loader: the classes it allows stay registered with torch's
    safe globals for the rest of the process.)

    Returns ``(transferred, total)`` tensor counts. Raises :class:`CheckpointError` for a missing,
    unreadable or non-matching file.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(
            f"detector.weights: {path} does not exist (weights are never downloaded; give a local "
            "Ultralytics .pt file, or leave detector.weights empty to train from scratch)"
        )
    if path.suffix != ".pt":
        raise CheckpointError(f"detector.weights: {path}: expected an Ultralytics .pt file")
    _ultralytics()
    from ultralytics.nn.tasks import torch_safe_load
    from ultralytics.utils.checks import check_yolov5u_filename

    file = str(path.resolve())  # a full path: the loader's cache and re-download paths never apply
    if check_yolov5u_filename(file, verbose=False) != file:
        raise CheckpointError(
            f"detector.weights: {path}: Ultralytics' loader would look for the renamed "
            f"{Path(check_yolov5u_filename(file, verbose=False)).name} instead; rename the file"
        )
    LOGGER.warning(
        "loading detector weights %s through Ultralytics' loader (restricted unpickling of "
        "Ultralytics and torch classes); only load checkpoints you trust", path,
    )
    try:
        ckpt, _ = torch_safe_load(file, safe_only=True)
    except (TypeError, RuntimeError, ValueError, EOFError, OSError, ModuleNotFoundError,
            AttributeError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"detector.weights: {path} is not a loadable Ultralytics checkpoint "
                              f"({first})") from None
    source = (ckpt.get("ema") or ckpt.get("model")) if isinstance(ckpt, dict) else None
    if isinstance(source, nn.Module):
        state = source.float().state_dict()
    elif isinstance(source, dict):
        state = source
    else:
        raise CheckpointError(
            f"detector.weights: {path}: expected an Ultralytics checkpoint with an 'ema' or "
            f"'model' entry, found {sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__}"
        )
    own = model.state_dict()
    matched = {k: v for k, v in state.items()
               if k in own and torch.is_tensor(v) and v.shape == own[k].shape}
    if not matched:
        raise CheckpointError(
            f"detector.weights: no tensor of {path} matches the detector (different architecture?)"
        )
    model.load_state_dict(matched, strict=False)
    LOGGER.info("detector weights %s: transferred %d/%d tensors", path, len(matched), len(own))
    return len(matched), len(own)


# ----------------------------------------------------------------------------------------
# The adapter
# ----------------------------------------------------------------------------------------


class Detector(nn.Module):
    """An Ultralytics YOLO detection model with our batch format, loss and prediction API.

    Args:
        names: class names of the data set, in class-id order (``nc = len(names)``).
        model: an Ultralytics model YAML name (``yolov8n.yaml``, ``yolo11n.yaml``,
            ``yolo26n.yaml``, ...) or the path of a model YAML file.
        weights: optional local Ultralytics ``.pt`` to start from (see
            :func:`load_ultralytics_weights`); empty: random initialisation.
        box, cls, dfl: loss gains (Ultralytics' defaults 7.5, 0.5, 1.5). On DFL-free heads
            (``reg_max == 1``, YOLO26) the third term is an L1 box-distance loss named ``l1``, and
            ``dfl`` is its gain, as in Ultralytics.
        nms_free: predict with the one-to-one head of an end-to-end model (YOLO26, YOLOv10)
            without NMS. By default the one-to-many head and NMS are used, as Ultralytics 8.4 does.

    Attributes:
        names: list of class names; ``nc``: their number; ``stride``: the largest stride (input
        sides must be multiples of it); ``loss_names``: the keys of the terms :meth:`loss`
        returns; ``gains``: the loss gains by term name; ``end2end``: whether the head has a
        one-to-one branch (its loss then mixes both branches, see :meth:`set_epoch`).
    """

    def __init__(self, names: Sequence[str], model: str = "yolov8n.yaml", *, weights: str = "",
                 box: float = DEFAULT_GAINS["box"], cls: float = DEFAULT_GAINS["cls"],
                 dfl: float = DEFAULT_GAINS["dfl"], nms_free: bool = False,
                 channels: int = 3) -> None:
        super().__init__()
        names = [str(n) for n in names]
        if not names:
            raise ConfigError(
                "the detector needs class names: the data set has none (data.yaml 'names' is empty)"
            )
        for key, value in (("box", box), ("cls", cls), ("dfl", dfl)):
            if not value >= 0:
                raise ConfigError(f"detector.{key}: expected a gain >= 0, found {value}")
        cfg = resolve_model_yaml(model)
        cfg["nc"] = len(names)
        _ultralytics()
        from ultralytics.nn.tasks import DetectionModel
        from ultralytics.utils import IterableSimpleNamespace

        try:
            net = DetectionModel(cfg, ch=int(channels), nc=len(names), verbose=False)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
            raise ConfigError(f"detector.model: {model!r} does not build: {exc}") from None
        head = net.model[-1]
        if type(head).__name__ not in _DETECT_HEADS:
            raise ConfigError(
                f"detector.model: {model!r} has a {type(head).__name__} head; a plain detection "
                f"model ({' or '.join(_DETECT_HEADS)} head) is needed"
            )
        net.names = dict(enumerate(names))
        # Loss hyper-parameters, read by Ultralytics' criterion. Its gains stay 1 so that it returns
        # unweighted terms; ours are applied in :meth:`loss`. ``epochs`` drives the one-to-many
        # weight decay of end-to-end heads (see :meth:`set_epoch`).
        net.args = IterableSimpleNamespace(box=1.0, cls=1.0, dfl=1.0, epochs=1)
        self.model = net
        self.names = names
        self.channels = int(channels)  # 3 (RGB) or 4 (early fusion: RGB + infrared)
        self.model_name = str(model)
        self.end2end = getattr(head, "one2one_cv2", None) is not None
        if nms_free and not self.end2end:
            raise ConfigError(f"detector.nms_free: {model!r} has no one-to-one (NMS-free) head")
        self.nms_free = bool(nms_free)
        if self.nms_free:
            net.end2end = True
        self.loss_names = ("box", "cls", "dfl" if head.reg_max > 1 else "l1")
        self.gains = dict(zip(self.loss_names, (float(box), float(cls), float(dfl))))
        self._criterion: Any = None
        self._o2m: float | None = None  # one-to-many weight set by set_epoch (end-to-end heads)
        if weights:
            load_ultralytics_weights(net, weights)

    # -- properties -------------------------------------------------------------------------

    @property
    def nc(self) -> int:
        return len(self.names)

    @property
    def stride(self) -> int:
        return int(self.model.stride.max())

    # -- forward and loss -------------------------------------------------------------------

    def forward(self, images: torch.Tensor) -> Any:
        """Raw head outputs for :meth:`loss`, in training and in eval mode.

        Args:
            images: (B,3,H,W) float RGB in [0,1]; H and W multiples of :attr:`stride` (32).

        Returns:
            Ultralytics' training-form prediction dict (``boxes``, ``scores``, ``feats``; or
            ``one2many``/``one2one`` of those for end-to-end heads). Opaque: pass it to
            :meth:`loss`. In eval mode BatchNorm uses running statistics, the rest is the same.
        """
        self._check_images(images)
        out = self.model(images)
        return out[1] if isinstance(out, (tuple, list)) else out

    def _check_images(self, images: torch.Tensor) -> None:
        c = self.channels
        if images.ndim != 4 or images.shape[1] != c:
            raise DataError(f"detector input: expected (B,{c},H,W), found {tuple(images.shape)}")
        h, w = images.shape[-2:]
        s = self.stride
        if h % s or w % s:
            raise DataError(
                f"detector input: height and width must be multiples of {s}, found {h}x{w} "
                "(letterbox to data.img_size, a multiple of 32)"
            )

    def _get_criterion(self, device: torch.device) -> Any:
        """Ultralytics' criterion for this model, rebuilt when the model changed device."""
        crit = self._criterion
        if crit is not None:
            built_on = crit.one2many.device if self.end2end else crit.device
            if built_on != device:
                crit = None
        if crit is None:
            crit = self.model.init_criterion()
            branches = ("one2many", "one2one") if self.end2end else ()
            if self.end2end and not all(hasattr(crit, b) for b in branches):
                raise TardalError(
                    f"this Ultralytics version's end-to-end criterion ({type(crit).__name__}) is "
                    "not supported: expected one2many/one2one branch losses"
                )
            if not all(hasattr(getattr(crit, b) if b else crit, "loss") for b in branches or ("",)):
                raise TardalError(
                    f"this Ultralytics version's criterion ({type(crit).__name__}) has no "
                    "'loss(preds, batch)' method; tardal supports Ultralytics 8.4"
                )
            self._criterion = crit
        if self.end2end and self._o2m is not None:
            crit.o2m, crit.o2o = self._o2m, max(crit.total - self._o2m, 0.0)
        return crit

    def set_epoch(self, epoch: int, epochs: int) -> None:
        """Follow Ultralytics' schedule of end-to-end heads: the weight of the one-to-many loss
        falls linearly from 0.8 (epoch 0) to 0.1 (last epoch), the one-to-one branch gets the
        rest. Call at the start of every epoch (0-based); a no-op for other heads."""
        if not self.end2end:
            return
        self.model.args.epochs = int(epochs)
        crit = self._get_criterion(next(self.parameters()).device)
        self._o2m = float(crit.decay(int(epoch)))
        crit.o2m, crit.o2o = self._o2m, max(crit.total - self._o2m, 0.0)

    def _targets(self, batch: dict[str, Any], batch_size: int) -> dict[str, torch.Tensor]:
        """Validate our collated targets; return Ultralytics' ``batch_idx``/``cls``/``bboxes``."""
        bboxes = batch.get("bboxes", batch.get("boxes_cxcywh_norm"))
        missing = [k for k, v in (("batch_idx", batch.get("batch_idx")), ("cls", batch.get("cls")),
                                  ("bboxes", bboxes)) if v is None]
        if missing:
            raise DataError(f"detector loss: batch is missing {', '.join(missing)} "
                            "(collate with tardal.data.dataset.collate_pairs)")
        idx = torch.as_tensor(batch["batch_idx"]).reshape(-1).float()
        cls = torch.as_tensor(batch["cls"]).reshape(-1, 1).float()
        bboxes = torch.as_tensor(bboxes).float()
        m = idx.shape[0]
        if cls.shape[0] != m or bboxes.shape != (m, 4):
            raise DataError(
                f"detector loss: expected batch_idx (M,), cls (M,1), bboxes (M,4); found "
                f"{tuple(idx.shape)}, {tuple(cls.shape)}, {tuple(bboxes.shape)}"
            )
        if m:
            if idx.min() < 0 or idx.max() >= batch_size:
                raise DataError(f"detector loss: batch_idx must lie in [0, {batch_size}), "
                                f"found {idx.min():g}..{idx.max():g}")
            if cls.min() < 0 or cls.max() >= self.nc:
                raise DataError(f"detector loss: class ids must lie in [0, {self.nc}) "
                                f"({', '.join(self.names)}), found {cls.min():g}..{cls.max():g}")
        return {"batch_idx": idx, "cls": cls, "bboxes": bboxes}

    def loss(self, preds: Any, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Ultralytics' detection loss on our collated batch.

        Args:
            preds: the output of :meth:`forward` for images (B,3,H,W).
            batch: our collated dict with ``batch_idx`` (M,) float image index in the batch,
                ``cls`` (M,1) float class ids in [0, nc), ``bboxes`` (M,4) float normalised
                cxcywh in [0,1] (``boxes_cxcywh_norm`` is accepted as well). The image size is
                taken from the predictions.

        Returns:
            ``(total, terms)``: ``total`` a scalar tensor, differentiable w.r.t. the parameters and
            the input images, equal to ``sum(gains[k] * terms[k])`` (batch-size independent; see
            the module docstring); ``terms`` the unweighted, detached terms by name
            (:attr:`loss_names`: ``box`` (CIoU), ``cls`` (BCE), ``dfl`` or ``l1``). For end-to-end
            heads each term is ``o2m * one-to-many + o2o * one-to-one`` (see :meth:`set_epoch`).
        """
        raw = preds[1] if isinstance(preds, (tuple, list)) else preds
        first = raw["one2many"] if self.end2end else raw
        if not isinstance(first, dict) or "scores" not in first:
            raise TardalError("detector loss: preds must be the output of Detector.forward")
        batch_size = first["scores"].shape[0]
        device = first["scores"].device
        crit = self._get_criterion(device)
        targets = self._targets(batch, batch_size)
        if self.end2end:
            vec = (crit.o2m * crit.one2many.loss(raw["one2many"], targets)[0]
                   + crit.o2o * crit.one2one.loss(raw["one2one"], targets)[0])
        else:
            vec = crit.loss(crit.parse_output(raw), targets)[0]
        vec = vec / batch_size
        gains = torch.tensor([self.gains[k] for k in self.loss_names], device=device, dtype=vec.dtype)
        total = (vec * gains).sum()
        terms = dict(zip(self.loss_names, vec.detach().unbind()))
        return total, terms

    # -- prediction -------------------------------------------------------------------------

    @torch.no_grad()
    def predict(self, images: torch.Tensor, conf: float = 0.001, iou: float = 0.7,
                max_det: int = 300) -> list[dict[str, torch.Tensor]]:
        """Detections per image, in eval mode (the training flag is restored afterwards).

        Args:
            images: (B,3,H,W) float RGB in [0,1], sides multiples of :attr:`stride`.
            conf: score threshold; iou: NMS IoU threshold (class-aware, multi-label NMS as in
                Ultralytics' validation; NMS-free heads only apply ``conf`` and ``max_det``);
            max_det: most detections kept per image.

        Returns:
            B dicts: ``boxes_xyxy`` (K,4) float32 pixels of the input image, clipped to it;
            ``scores`` (K,) float32 in [0,1], descending; ``labels`` (K,) int64 class ids.
        """
        _ultralytics()
        from ultralytics.utils.nms import non_max_suppression

        was_training = self.training
        self.eval()
        if self.nms_free:
            self.model.model[-1].max_det = int(max_det)
        try:
            self._check_images(images)
            out = self.model(images)
        finally:
            self.train(was_training)
        dets = non_max_suppression(
            out, conf_thres=float(conf), iou_thres=float(iou), multi_label=True,
            max_det=int(max_det), end2end=self.nms_free, max_time_img=_NO_NMS_TIME_LIMIT,
        )
        h, w = images.shape[-2:]
        result = []
        for d in dets:
            d = d[d[:, 4].argsort(descending=True)]
            boxes = d[:, :4].float().clone()
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
            result.append({"boxes_xyxy": boxes, "scores": d[:, 4].float(),
                           "labels": d[:, 5].long()})
        return result

    def extra_repr(self) -> str:
        return f"model={self.model_name!r}, nc={self.nc}, loss_names={self.loss_names}"


def build_detector(cfg: Any, names: Sequence[str], channels: int = 3) -> Detector:
    """:class:`Detector` from a ``DetectorConfig`` and the data set's class names; ``channels``
    input planes (4 for early fusion)."""
    return Detector(names, cfg.model, weights=cfg.weights, box=cfg.box, cls=cfg.cls,
                    dfl=cfg.dfl, nms_free=cfg.nms_free, channels=channels)


@contextlib.contextmanager
def frozen(module: nn.Module, bn_eval: bool = True) -> Iterator[nn.Module]:
    """Freeze ``module`` for a step that back-propagates *through* it (the fusion step).

    Inside the block no parameter requires a gradient, so gradients reach only the inputs; with
    ``bn_eval`` the module is also in eval mode, so BatchNorm uses (and does not update) its
    running statistics and the detector is left exactly as it was. Both are restored on exit.
    """
    flags = [p.requires_grad for p in module.parameters()]
    training = module.training
    module.requires_grad_(False)
    if bn_eval:
        module.eval()
    try:
        yield module
    finally:
        for p, f in zip(module.parameters(), flags):
            p.requires_grad_(f)
        module.train(training)
