"""A tiny fixed detection batch in our collated format (64x64, batch 2, six classes)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

NAMES = ["People", "Car", "Bus", "Motorcycle", "Lamp", "Truck"]
SIZE = 64
BOXES = [[[8, 8, 30, 40], [36, 20, 60, 36]], [[20, 30, 50, 60]]]  # xyxy pixels per image
LABELS = [[0, 3], [5]]


def make_batch(size: int = SIZE) -> tuple[torch.Tensor, dict[str, Any]]:
    """Images with flat coloured rectangles where the boxes are, and the collated targets."""
    images = torch.full((len(BOXES), 3, size, size), 0.2)
    idx, cls, cxcywh = [], [], []
    for i, (boxes, labels) in enumerate(zip(BOXES, LABELS)):
        for (x1, y1, x2, y2), c in zip(boxes, labels):
            colour = torch.tensor([0.9, 0.5, 0.1]) * (c + 1) / 6
            images[i, :, y1:y2, x1:x2] = colour[:, None, None]
            idx.append(i)
            cls.append([c])
            cxcywh.append([(x1 + x2) / 2 / size, (y1 + y2) / 2 / size,
                           (x2 - x1) / size, (y2 - y1) / size])
    bboxes = torch.tensor(cxcywh)
    batch = {
        "vis": images,
        "batch_idx": torch.tensor(idx, dtype=torch.float32),
        "cls": torch.tensor(cls, dtype=torch.float32),
        "bboxes": bboxes,
        "boxes_cxcywh_norm": bboxes,
        "boxes_xyxy": [torch.tensor(b, dtype=torch.float32) for b in BOXES],
        "labels": [torch.tensor(lb, dtype=torch.int64) for lb in LABELS],
        "name": [f"img{i}" for i in range(len(BOXES))],
        "orig_size": [(size, size)] * len(BOXES),
        "letterbox": [(1.0, 0.0, 0.0)] * len(BOXES),
    }
    return images, batch


@pytest.fixture
def tiny_batch() -> tuple[torch.Tensor, dict[str, Any]]:
    return make_batch()


@pytest.fixture
def names() -> list[str]:
    return list(NAMES)
