from __future__ import annotations

import pytest
import torch

from benchmark.protocol.loop import batches, steps_per_epoch
from benchmark.protocol.training import score, seeded


def segmentation_scores(pred: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict:
    return score(pred, labels, "segmentation", num_classes)


def test_segmentation_scores_by_hand() -> None:
    labels = torch.tensor([[[0, 0, 1, 1], [0, 2, 2, 1]]])
    pred = torch.tensor([[[0, 1, 1, 1], [0, 2, 0, 1]]])
    # class 0: tp 2, union 4 → 0.5; class 1: tp 3, union 4 → 0.75; class 2: tp 1, union 2 → 0.5
    scores = segmentation_scores(pred, labels, num_classes=3)
    assert scores["miou"] == pytest.approx((0.5 + 0.75 + 0.5) / 3)
    assert scores["pixel_acc"] == pytest.approx(6 / 8)


def test_segmentation_ignores_absent_classes_and_invalid_pixels() -> None:
    labels = torch.tensor([[[0, 1, -1]]])
    pred = torch.tensor([[[0, 1, 3]]])
    scores = segmentation_scores(pred, labels, num_classes=4)
    assert scores == {"miou": 1.0, "pixel_acc": 1.0}


def test_batches_are_seeded_and_drop_the_short_tail() -> None:
    a = [b.tolist() for b in batches(10, 4, seeded(0, "x"))]
    b = [b.tolist() for b in batches(10, 4, seeded(0, "x"))]
    c = [b.tolist() for b in batches(10, 4, seeded(0, "y"))]
    assert a == b and a != c and [len(x) for x in a] == [4, 4]
    assert [len(x) for x in batches(10, 4, seeded(0, "x"), shuffle=False)] == [4, 4, 2]
    assert steps_per_epoch(10, 4) == 2 and steps_per_epoch(3, 8) == 1
