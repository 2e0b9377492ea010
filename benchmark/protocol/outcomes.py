"""Per-sample outcomes on the test set: what a metric is computed from, kept in the record.

Two methods of one (task, seed) are scored on the same test samples, so their outcomes
are paired sample by sample. Keeping them lets the statistics split a difference's
variance into the part due to which test samples were drawn and the rest
(`benchmark.results.power`), and lets any metric be recomputed exactly from the record.

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
from torch import Tensor

from benchmark.kinds import get_kind


def per_sample(pred: Tensor, labels: Tensor, kind: str, num_classes: int) -> np.ndarray:
    """The outcome array of one prediction of the whole test set (see the module doc),
    as the task kind defines it (`benchmark.kinds`)."""
    return get_kind(kind).per_sample(pred, labels, num_classes)


def scores(outcome: np.ndarray, kind: str) -> dict[str, float]:
    """The metrics of one outcome array (one prediction of the test set)."""
    return get_kind(kind).scores(outcome)


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
