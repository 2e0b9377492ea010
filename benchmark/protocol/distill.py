"""The distillation loop: one loop for every method, labels never in sight.

The teacher is frozen, so its outputs on the paired set are computed once per teacher
(`benchmark.protocol.teacher_outputs`, cached with it) and sliced per batch here; a method cannot
tell them from a live forward, and no method pays for teacher forwards.

Each batch's `Batch.source_id` is the paired split's `source_ids` at the batch's indices
(None when the split has none), so contrastive methods can mask negatives that share the
anchor's input; the ids are only sliced, never drawn, so they add no RNG draw, and a run
whose split has none computes exactly what it would without the field.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from benchmark.backbones import Backbone
from benchmark.config import DistillConfig
from benchmark.method import Batch, Method, Outputs
from benchmark.protocol.checkpoint import EpochCheckpoint
from benchmark.protocol.loop import LoopSettings, Progress, train_loop
from benchmark.streams import seeded


def take(outputs: Outputs, index: Tensor, device: torch.device) -> Outputs:
    """The rows of precomputed (CPU, possibly memory-mapped) outputs for one batch of pair
    indices, on the training device."""
    return Outputs(
        embedding=outputs.embedding[index].to(device),
        feature_maps=[m[index].to(device) for m in outputs.feature_maps],
        logits=None if outputs.logits is None else outputs.logits[index].to(device),
    )


def batch_of(index: Tensor, source_ids: Tensor | None, device: torch.device) -> Batch:
    """The `Batch` of pair indices `index`, with their source ids when the split has them."""
    if source_ids is None:
        return Batch(index.to(device))
    return Batch(index.to(device), source_ids[index].to(device))


def distill(
    student: Backbone,
    method: Method,
    teacher: Outputs,
    target: Tensor,
    cfg: DistillConfig,
    seed: int,
    progress: Progress | None = None,
    checkpoint: EpochCheckpoint | None = None,
    source_ids: Tensor | None = None,
) -> dict[str, float]:
    """Train `student` (and the method's modules) on the pairs with the method's losses.

    Returns each loss term's mean over the last epoch. A non-finite loss stops the cell
    with the term's name, rather than silently training on NaNs.

    With a `checkpoint`, the loop's whole state is saved after every epoch and, when a
    matching checkpoint exists, restored first, so the loop continues where a killed run
    stopped and ends in exactly the state an uninterrupted run ends in.

    `source_ids` [N] is the paired split's `Split.source_ids`, one per row of `target`:
    each batch carries its rows of it as `Batch.source_id`.
    """
    if source_ids is not None and len(source_ids) != len(target):
        raise ValueError(f"{len(source_ids)} source ids for {len(target)} pairs")
    device = next(student.parameters()).device
    # `training_noise` re-draws the batch order only (benchmark.config.DistillConfig).
    noise = cfg.training_noise
    gen = seeded(seed, "distill" if noise == 0 else f"distill/noise{noise}")
    params = [p for p in [*student.parameters(), *method.parameters()] if p.requires_grad]

    def step(idx: Tensor) -> dict[str, Tensor]:
        student_out = student(target[idx].to(device))
        return method.losses(
            student_out, take(teacher, idx, device), batch_of(idx, source_ids, device)
        )

    student.train()
    method.train()
    loop = LoopSettings(cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay)
    both = nn.ModuleDict({"student": student, "method": method})
    last = train_loop(
        both,
        params,
        len(target),
        loop,
        gen,
        step,
        name=f"method '{method.name}'",
        progress=progress,
        checkpoint=checkpoint,
    )
    student.eval()
    return last
