"""The labelled track's evaluation: the student's own head on the target test set, as the
papers of that setting report it (top-1 accuracy, or mIoU over the test set's confusion
summary), plus the same linear probe as the other tracks, for comparison with them.

There is no few-label fine-tune here: the student was trained with labels and has a
head of its own, so a fine-tune from ten labels a class would only measure how much of
that head a weaker one could recover. Metrics are `head_<metric>` and `probe_<metric>`;
the per-sample outcomes are kept under `head` and `probe` (`benchmark.protocol.outcomes`),
so pairing, intervals and resolution work as in the other tracks.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from benchmark.backbones import Backbone, head_logits
from benchmark.config import EvalConfig
from benchmark.datasets.tasks import TaskData
from benchmark.protocol import outcomes
from benchmark.protocol.evaluate import Evaluation, linear_probe

HEAD = "head"  # the protocol name of the student's own head


@torch.no_grad()
def head_predictions(
    student: Backbone, head: nn.Module, x: Tensor, batch_size: int = 256
) -> Tensor:
    """Class predictions of backbone and head ([N] or [N, H, W]) in eval mode."""
    student.eval()
    head.eval()
    device = next(student.parameters()).device
    preds = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(device)
        logits = head_logits(head, student(xb), like=xb)
        preds.append(logits.argmax(1).cpu())
    return torch.cat(preds)


def evaluate_labelled(
    student: Backbone, head: nn.Module, data: TaskData, cfg: EvalConfig
) -> Evaluation:
    """`head_*` and `probe_*` metrics of a labelled-track student, with their outcomes."""
    test = data.test
    assert test.target is not None and test.labels is not None
    probe = linear_probe(student, data, cfg)
    own = outcomes.per_sample(
        head_predictions(student, head, test.target), test.labels, data.kind, data.num_classes
    )
    metrics = {f"{HEAD}_{k}": v for k, v in outcomes.scores(own, data.kind).items()}
    metrics.update({f"probe_{k}": v for k, v in outcomes.scores(probe, data.kind).items()})
    return Evaluation(metrics, {HEAD: own, "probe": probe})
