"""Shared training pieces: seeded index batches, SGD with a cosine schedule, supervised
training, batched inference and the task metrics.

Every loop in the harness takes batches by slicing in-memory tensors with index tensors
drawn from its own `torch.Generator`, so a loop's randomness depends only on its seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark import outcomes
from benchmark.checkpoint import EpochCheckpoint, restore_rng, rng_state
from benchmark.streams import IGNORE_INDEX, seeded

Progress = Callable[[int], None]


def batches(
    n: int, batch_size: int, generator: torch.Generator, *, shuffle: bool = True
) -> Iterator[Tensor]:
    """Index batches over n samples; the last short batch is dropped when shuffling, so
    batch-norm never sees a batch of one."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    step = min(batch_size, n)
    stop = n - n % step if shuffle else n
    for start in range(0, stop, step):
        yield order[start : start + step]


def steps_per_epoch(n: int, batch_size: int) -> int:
    return max(1, n // min(batch_size, n))


def sgd_cosine(
    params: list[nn.Parameter], lr: float, weight_decay: float, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """SGD with Nesterov momentum and a per-step cosine decay to zero."""
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    total = max(1, total_steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    )
    return opt, sched


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
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
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
    the loop saves its whole state after every epoch and resumes from a matching one, so a
    requeued teacher, reference or fine-tune continues where it stopped and ends in the
    state an uninterrupted run ends in."""
    device = next(model.parameters()).device
    gen = seeded(seed, stream)
    if frozen is not None:
        frozen.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt, sched = sgd_cosine(params, lr, weight_decay, epochs * steps_per_epoch(len(x), batch_size))
    start = resume(checkpoint, model, opt, sched, gen, progress)
    model.train()
    if frozen is not None:
        frozen.eval()
    for epoch in range(start, epochs):
        for idx in batches(len(x), batch_size, gen):
            xb, yb = x[idx], y[idx]
            if flip:
                xb, yb = hflip(xb, yb, gen)
            logits = model(xb.to(device)).logits
            loss = F.cross_entropy(logits, yb.to(device), ignore_index=IGNORE_INDEX)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        save_epoch(checkpoint, epoch, model, opt, sched, gen)
        if progress is not None:
            progress(1)
    model.eval()


def resume(
    checkpoint: EpochCheckpoint | None,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    gen: torch.Generator,
    progress: Progress | None,
) -> int:
    """Restore a loop's state from its checkpoint; the epoch to start from (0 if none)."""
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is None:
        return 0
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    sched.load_state_dict(saved["scheduler"])
    restore_rng(saved["rng"], gen)
    if progress is not None:
        progress(saved["epoch"])
    return int(saved["epoch"])


def save_epoch(
    checkpoint: EpochCheckpoint | None,
    epoch: int,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    gen: torch.Generator,
) -> None:
    if checkpoint is not None:
        checkpoint.save(
            {
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "rng": rng_state(gen),
            }
        )


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 256) -> Tensor:
    """Class predictions ([N] or [N,H,W]) in eval mode, batch by batch."""
    model.eval()
    device = next(model.parameters()).device
    out = [
        model(x[i : i + batch_size].to(device)).logits.argmax(1).cpu()
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(out)


def score(pred: Tensor, labels: Tensor, kind: str, num_classes: int) -> dict[str, float]:
    """Top-1 accuracy, or mIoU and pixel accuracy over one confusion summary of the whole
    test set, computed from the per-sample outcomes the records keep (`benchmark.outcomes`)."""
    return outcomes.scores(outcomes.per_sample(pred, labels, kind, num_classes), kind)
