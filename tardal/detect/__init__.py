"""Detector adapter: Ultralytics YOLO behind our batch format (``yolo`` is the only module of the
package that imports Ultralytics, lazily), its input builder, box mapping and a model EMA."""

from tardal.detect.boxes import scale_boxes_back
from tardal.detect.ema import ModelEMA, ema_decay, ema_update_
from tardal.detect.input import detector_input
from tardal.detect.yolo import (
    Detector,
    available_models,
    build_detector,
    frozen,
    load_ultralytics_weights,
    resolve_model_yaml,
)

__all__ = [
    "Detector",
    "ModelEMA",
    "available_models",
    "build_detector",
    "detector_input",
    "ema_decay",
    "ema_update_",
    "frozen",
    "load_ultralytics_weights",
    "resolve_model_yaml",
    "scale_boxes_back",
]
