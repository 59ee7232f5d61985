"""Detection evaluation: COCO mAP with pycocotools, precision/recall at the best F1, reports."""

from tardal.evaluation.coco import (
    DetectionAccumulator,
    best_f1,
    category_ids,
    coco_predictions,
    evaluate_detections,
    read_categories,
    to_coco_ground_truth,
    to_coco_results,
)
from tardal.evaluation.report import (
    flatten_metrics,
    markdown_comparison,
    markdown_table,
    write_json,
)

__all__ = [
    "DetectionAccumulator",
    "best_f1",
    "category_ids",
    "coco_predictions",
    "evaluate_detections",
    "flatten_metrics",
    "markdown_comparison",
    "markdown_table",
    "read_categories",
    "to_coco_ground_truth",
    "to_coco_results",
    "write_json",
]
