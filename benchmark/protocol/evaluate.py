"""Target-modality evaluation of a student: linear probe and few-label fine-tuning.

Both read the same student: the probe asks what its frozen features already know, the
fine-tune what they are worth as an initialisation. Probe features are extracted once per
split; the probe itself is a multinomial logistic regression (per-pixel for segmentation)
solved full-batch with L-BFGS, which is deterministic and needs no learning rate.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.backbones import Backbone, TaskModel, resample
from benchmark.config import EvalConfig
from benchmark.datasets.tasks import TaskData
from benchmark.kinds import get_kind
from benchmark.protocol import outcomes
from benchmark.protocol.checkpoint import EpochCheckpoint
from benchmark.protocol.loop import LoopSettings
from benchmark.protocol.training import IGNORE_INDEX, Progress, fit, predict, seeded

PROBE_REDUCTION = 4  # segmentation probe: features resampled to 1/4 of the input size


def probe_features(student: Backbone, x: Tensor, kind: str, batch_size: int = 256) -> Tensor:
    """Frozen features: embeddings [N,D], or every stage resampled and stacked [N,ΣC,h,w].
    Computed under `torch.inference_mode` (the bits of `no_grad`), returned as an ordinary
    tensor (the probe's solver differentiates through functions of it)."""
    student.eval()
    device = next(student.parameters()).device
    size = (x.shape[-2] // PROBE_REDUCTION, x.shape[-1] // PROBE_REDUCTION)
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            o = student(x[i : i + batch_size].to(device))
            if get_kind(kind).dense:
                maps = [resample(m, size) for m in o.feature_maps]
                out.append(torch.cat(maps, dim=1).cpu())
            else:
                out.append(o.embedding.cpu())
        features = torch.cat(out)
    return features.clone()


def _fit_linear(
    feats: Tensor,
    labels: Tensor,
    num_classes: int,
    steps: int,
    weight_decay: float,
    size: tuple[int, int] | None,
) -> nn.Module:
    """Full-batch L-BFGS on cross-entropy + L2; a 1×1 conv for dense features."""
    dense = feats.dim() == 4
    layer: nn.Module = (
        nn.Conv2d(feats.shape[1], num_classes, 1)
        if dense
        else nn.Linear(feats.shape[1], num_classes)
    )
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    opt = torch.optim.LBFGS(
        layer.parameters(), lr=1.0, max_iter=steps, history_size=10, line_search_fn="strong_wolfe"
    )

    def closure() -> Tensor:
        opt.zero_grad()
        logits = layer(feats)
        if size is not None:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        penalty = weight_decay * layer.weight.pow(2).sum()
        loss = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX) + penalty
        loss.backward()
        return loss

    opt.step(closure)
    return layer


def linear_probe(student: Backbone, data: TaskData, cfg: EvalConfig) -> np.ndarray:
    """The probe's per-sample outcomes on the test set (`benchmark.protocol.outcomes`)."""
    few, test = data.few, data.test
    assert few.target is not None and few.labels is not None
    assert test.target is not None and test.labels is not None
    train = probe_features(student, few.target, data.kind)
    # Standardise with the labelled set's statistics only: the test set stays unseen.
    dims = (0, 2, 3) if train.dim() == 4 else (0,)
    mean, std = train.mean(dims, keepdim=True), train.std(dims, keepdim=True) + 1e-6
    size = tuple(few.labels.shape[-2:]) if get_kind(data.kind).dense else None
    with torch.enable_grad():
        layer = _fit_linear(
            (train - mean) / std,
            few.labels,
            data.num_classes,
            cfg.probe_steps,
            cfg.probe_weight_decay,
            size,
        )
    test_feats = (probe_features(student, test.target, data.kind) - mean) / std
    preds = []
    with torch.no_grad():
        for i in range(0, len(test_feats), 256):  # dense logits of a large test set: batched
            logits = layer(test_feats[i : i + 256])
            if size is not None:
                logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
            preds.append(logits.argmax(1))
    return outcomes.per_sample(torch.cat(preds), test.labels, data.kind, data.num_classes)


def restart_stream(restart: int, noise: int) -> str:
    """The random stream of one fine-tune restart: restart 0 of the unperturbed run keeps
    the seed's own stream; `noise` (`distill.training_noise`) shifts every restart."""
    name = "finetune" if restart == 0 else f"finetune/restart{restart}"
    return name if noise == 0 else f"{name}/noise{noise}"


def finetune(
    student: Backbone,
    data: TaskData,
    cfg: EvalConfig,
    seed: int,
    stream: str = "finetune",
    progress: Progress | None = None,
    checkpoint: EpochCheckpoint | None = None,
) -> np.ndarray:
    """Fine-tune a copy of the student with a fresh head on the few labels; the per-sample
    outcomes on the test set. The head's initialisation and the batch order come from
    `stream`, so restarts differ in exactly those."""
    few, test = data.few, data.test
    assert few.target is not None and few.labels is not None
    assert test.target is not None and test.labels is not None
    torch.manual_seed(int(torch.randint(2**31, (1,), generator=seeded(seed, f"{stream}/head"))))
    model = TaskModel(copy.deepcopy(student), data.num_classes, data.kind)
    model = model.to(next(student.parameters()).device)
    model.requires_grad_(True)
    fit(
        model,
        few.target,
        few.labels,
        LoopSettings(cfg.finetune_epochs, cfg.finetune_batch_size, cfg.finetune_lr, 5e-4),
        seed=seed,
        stream=stream,
        progress=progress,
        checkpoint=checkpoint,
    )
    pred = predict(model, test.target)
    return outcomes.per_sample(pred, test.labels, data.kind, data.num_classes)


@dataclass
class Evaluation:
    """A cell's metrics and the per-sample outcomes they were computed from."""

    metrics: dict[str, float]
    outcomes: dict[str, np.ndarray]  # "probe": [N, ...]; "finetune": [R, N, ...]


def evaluate(
    student: Backbone,
    data: TaskData,
    cfg: EvalConfig,
    seed: int,
    noise: int = 0,
    progress: Progress | None = None,
    checkpoints: Callable[[int], EpochCheckpoint | None] | None = None,
) -> Evaluation:
    """All metrics of a cell, prefixed by protocol: probe_acc, finetune_miou, ...

    The fine-tune runs `cfg.finetune_restarts` times from the same distilled student, each
    with its own head initialisation and batch order, and reports the mean of the
    restarts' metrics: the few-label fine-tune is itself a noisy training run, and
    averaging restarts removes part of that noise from every method's score alike.
    `checkpoints(r)` makes restart r resumable; the probe is one deterministic solve."""
    probe = linear_probe(student, data, cfg)
    runs = [
        finetune(
            student,
            data,
            cfg,
            seed,
            restart_stream(r, noise),
            progress,
            checkpoints(r) if checkpoints is not None else None,
        )
        for r in range(cfg.finetune_restarts)
    ]
    tuned = np.stack(runs)
    metrics = {f"probe_{k}": v for k, v in outcomes.scores(probe, data.kind).items()}
    metrics.update(
        {f"finetune_{k}": v for k, v in outcomes.restart_scores(tuned, data.kind).items()}
    )
    return Evaluation(metrics, {"probe": probe, "finetune": tuned})
