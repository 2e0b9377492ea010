"""Per-sample outcomes on the test set: what a metric is computed from, kept in the record.

Two methods of one (task, seed) are scored on the same test samples, so their outcomes
are paired sample by sample. Keeping them lets the statistics split a difference's
variance into the part due to which test samples were drawn and the rest
(`benchmark.power`), and lets any metric be recomputed exactly from the record.

- classification: one 0/1 per test sample (correct or not), shape [N];
- segmentation: per test image and class, the pixel counts of the intersection, the
  prediction and the ground truth, shape [N, 3, C]. They add up over images to the one
  confusion-matrix summary the metric is defined on (mIoU over the whole test set, not
  averaged per image), so a bootstrap over images resamples exactly that metric.

A fine-tune with restarts stores one row per restart ([R, N] or [R, N, 3, C]); its
metric is the mean of the restarts' metrics.

In the record an outcome array is stored as text: `.npy` bytes, zlib-compressed, base64.
Counts are uint16 (an image of up to 256×256 pixels), correctness uint8.
"""

from __future__ import annotations

import base64
import io
import zlib

import numpy as np
import torch
from torch import Tensor

CLASSIFICATION = "classification"
MAX_PIXELS = np.iinfo(np.uint16).max


def per_sample(pred: Tensor, labels: Tensor, kind: str, num_classes: int) -> np.ndarray:
    """The outcome array of one prediction of the whole test set (see the module doc)."""
    if kind == CLASSIFICATION:
        return (pred == labels).to(torch.uint8).numpy()
    n = len(labels)
    pixels = labels[0].numel()
    if pixels > MAX_PIXELS:
        raise ValueError(f"images of {pixels} pixels exceed the uint16 outcome counts")
    valid = (labels >= 0) & (labels < num_classes)
    image = torch.arange(n)[:, None, None].expand_as(labels)
    counts = torch.zeros(n, 3, num_classes, dtype=torch.int64)
    img, lab, prd = image[valid], labels[valid], pred[valid].clamp(0, num_classes - 1)
    hit = lab == prd
    for row, (at_image, at_class) in enumerate(((img[hit], lab[hit]), (img, prd), (img, lab))):
        ones = torch.ones(len(at_image), dtype=torch.int64)
        counts[:, row].index_put_((at_image, at_class), ones, accumulate=True)
    return counts.numpy().astype(np.uint16)


def seg_scores(totals: np.ndarray) -> dict[str, float]:
    """mIoU over the classes present in prediction or ground truth, and pixel accuracy,
    from summed [3, C] counts (intersection, prediction, ground truth)."""
    inter, predicted, truth = (totals[i].astype(np.float64) for i in range(3))
    union = predicted + truth - inter
    present = union > 0
    miou = float((inter[present] / union[present]).mean()) if present.any() else 0.0
    return {"miou": miou, "pixel_acc": float(inter.sum() / max(truth.sum(), 1.0))}


def scores(outcome: np.ndarray, kind: str) -> dict[str, float]:
    """The metrics of one outcome array (one prediction of the test set)."""
    if kind == CLASSIFICATION:
        return {"acc": float(outcome.astype(np.float64).mean())}
    return seg_scores(outcome.astype(np.int64).sum(0))


def restart_scores(outcomes: np.ndarray, kind: str) -> dict[str, float]:
    """Means over restarts (the first axis) of each restart's metrics."""
    each = [scores(o, kind) for o in outcomes]
    return {k: float(np.mean([e[k] for e in each])) for k in each[0]}


def encode(outcome: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, outcome, allow_pickle=False)
    return base64.b64encode(zlib.compress(buffer.getvalue(), 9)).decode("ascii")


def decode(text: str) -> np.ndarray:
    raw = zlib.decompress(base64.b64decode(text.encode("ascii")))
    return np.load(io.BytesIO(raw), allow_pickle=False)
