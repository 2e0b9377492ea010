"""Supervised training (through the one loop skeleton, `benchmark.protocol.loop`), batched
inference and the task metrics.

Every loop in the harness takes batches by slicing in-memory tensors with index tensors
drawn from its own `torch.Generator`, so a loop's randomness depends only on its seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.protocol import outcomes
from benchmark.protocol.checkpoint import EpochCheckpoint
from benchmark.protocol.loop import LoopSettings, Progress, train_loop
from benchmark.streams import IGNORE_INDEX, seeded


def hflip(x: Tensor, y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Mirror a random half of the batch (images, and masks when y is dense)."""
    flip = torch.rand(len(x), generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if y.dim() == 3:
        y = torch.where(flip[:, None, None], y.flip(-1), y)
    return x, y


def fit(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loop: LoopSettings,
    *,
    seed: int,
    stream: str,
    flip: bool = False,
    progress: Progress | None = None,
    frozen: nn.Module | None = None,
    checkpoint: EpochCheckpoint | None = None,
) -> None:
    """Supervised training with cross-entropy; `model(x).logits` may be [B,K] or [B,K,H,W].

    `frozen` is a submodule kept in eval mode (and out of the optimiser): its batch-norm
    statistics must not drift while a head is fitted on its features. With a `checkpoint`
    a requeued teacher, reference or fine-tune continues where it stopped
    (`benchmark.protocol.loop`)."""
    device = next(model.parameters()).device
    gen = seeded(seed, stream)
    if frozen is not None:
        frozen.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]

    def step(idx: Tensor) -> dict[str, Tensor]:
        xb, yb = x[idx], y[idx]
        if flip:
            xb, yb = hflip(xb, yb, gen)
        logits = model(xb.to(device)).logits
        return {"ce": F.cross_entropy(logits, yb.to(device), ignore_index=IGNORE_INDEX)}

    model.train()
    if frozen is not None:
        frozen.eval()
    train_loop(
        model,
        params,
        len(x),
        loop,
        gen,
        step,
        name=stream,
        progress=progress,
        checkpoint=checkpoint,
    )
    model.eval()


def predict(model: nn.Module, x: Tensor, batch_size: int = 256) -> Tensor:
    """Class predictions ([N] or [N,H,W]) in eval mode, batch by batch, under
    `torch.inference_mode` (no autograd bookkeeping at all; the same kernels as `no_grad`,
    so the same bits: tests/protocol/test_eval_identity.py)."""
    model.eval()
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = [
            model(x[i : i + batch_size].to(device)).logits.argmax(1).cpu()
            for i in range(0, len(x), batch_size)
        ]
        pred = torch.cat(out)
    return pred.clone()  # an ordinary tensor


def score(pred: Tensor, labels: Tensor, kind: str, num_classes: int) -> dict[str, float]:
    """Top-1 accuracy, or mIoU and pixel accuracy over one confusion summary of the whole
    test set, computed from the per-sample outcomes the records keep
    (`benchmark.protocol.outcomes`)."""
    return outcomes.scores(outcomes.per_sample(pred, labels, kind, num_classes), kind)
