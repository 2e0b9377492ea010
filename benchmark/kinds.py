"""Task kinds and their metrics, as registered objects.

A task kind says how a prediction of the whole test set becomes per-sample outcomes (the
arrays records keep, `benchmark.protocol.outcomes`), which metrics those outcomes give, and which
metric ranks methods. Nothing else tests a kind's name or guesses the primary metric
from column names; everything asks here: the leaderboard, `bench power`, `bench
compare`, the run summary, the scheduler, the models (`dense`) and the methods (through
`Context.dense`). A third kind (say, depth regression) is one more `register_kind` with
its outcome and metric functions, plus the loss and head the training uses for it.

Each metric declares, as lm-evaluation-harness does, whether higher is better and how
it aggregates over seeds (the mean, with a Student-t interval: `benchmark.results.stats`).

This module is a leaf: it imports numpy, torch and the registry only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from benchmark.registry import Registry

CLASSIFICATION = "classification"
SEGMENTATION = "segmentation"
PROTOCOLS = ("finetune", "probe")  # the two evaluations every method cell reports
MAX_PIXELS = np.iinfo(np.uint16).max


@dataclass(frozen=True)
class Metric:
    """One number computed from a kind's outcome array (summed over samples first where
    the kind's outcomes are counts)."""

    name: str  # the column suffix: a record holds `<protocol>_<name>`
    description: str
    higher_is_better: bool = True
    aggregation: str = "mean"  # over seeds, with a t interval


@dataclass(frozen=True)
class TaskKind:
    """How a kind turns predictions into outcomes and outcomes into its metrics."""

    name: str
    metrics: tuple[Metric, ...]
    primary: str  # the metric that ranks methods
    dense: bool  # per-pixel predictions: dense heads, the costliest cells to run
    # (pred, labels, num_classes) → the outcome array of one prediction of the test set
    per_sample: Callable[[Tensor, Tensor, int], np.ndarray]
    # one outcome array → {metric name: value}
    scores: Callable[[np.ndarray], dict[str, float]]
    outcome_ndim: int  # dimensions of one prediction's outcome array

    def column(self, protocol: str, metric: str | None = None) -> str:
        """A record's metric key, e.g. `finetune_acc`."""
        return f"{protocol}_{metric or self.primary}"

    def ranking(self) -> tuple[str, str]:
        """(the column methods are ranked by, the other protocol's column beside it)."""
        return self.column("finetune"), self.column("probe")

    def metric(self, name: str) -> Metric:
        return next(m for m in self.metrics if m.name == name)


KINDS: Registry[TaskKind] = Registry("task kind")


def register_kind(kind: TaskKind) -> TaskKind:
    return KINDS.register(kind.name)(kind)


def get_kind(name: str) -> TaskKind:
    return KINDS.get(name)


def kind_of_columns(columns: Iterable[str]) -> TaskKind:
    """The kind whose primary probe column is among `columns`: for records that do not
    name their kind (`benchmark.hashing`, record-without-kind; dense kinds are checked
    first, as their columns are the more specific)."""
    present = set(columns)
    kinds = sorted((KINDS.get(n) for n in KINDS.names()), key=lambda k: not k.dense)
    for kind in kinds:
        if kind.column("probe") in present or kind.column("finetune") in present:
            return kind
    return KINDS.get(CLASSIFICATION)


# ---- classification -------------------------------------------------------------------


def _correct(pred: Tensor, labels: Tensor, num_classes: int) -> np.ndarray:
    """One 0/1 per test sample."""
    return (pred == labels).to(torch.uint8).numpy()


def _accuracy(outcome: np.ndarray) -> dict[str, float]:
    return {"acc": float(outcome.astype(np.float64).mean())}


register_kind(
    TaskKind(
        name=CLASSIFICATION,
        metrics=(Metric("acc", "top-1 accuracy"),),
        primary="acc",
        dense=False,
        per_sample=_correct,
        scores=_accuracy,
        outcome_ndim=1,
    )
)


# ---- segmentation ---------------------------------------------------------------------


def _pixel_counts(pred: Tensor, labels: Tensor, num_classes: int) -> np.ndarray:
    """Per test image and class, the pixel counts of the intersection, the prediction and
    the ground truth, [N, 3, C] (uint16); pixels labelled outside 0..C-1 are ignored."""
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


def _segmentation_scores(outcome: np.ndarray) -> dict[str, float]:
    """The metrics of one whole-test-set confusion summary (not averaged per image)."""
    return seg_scores(outcome.astype(np.int64).sum(0))


register_kind(
    TaskKind(
        name=SEGMENTATION,
        metrics=(
            Metric("miou", "mean IoU over one confusion summary of the test set"),
            Metric("pixel_acc", "pixel accuracy"),
        ),
        primary="miou",
        dense=True,
        per_sample=_pixel_counts,
        scores=_segmentation_scores,
        outcome_ndim=3,
    )
)
