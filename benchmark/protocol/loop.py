"""The one training-loop skeleton: teacher and reference training, SimCLR pre-training,
distillation and the few-label fine-tune all run their epochs through `train_loop`.

What every loop shares, written once: SGD with Nesterov momentum and a per-step cosine
decay over the whole run, seeded index batches from the loop's own generator, the sum of
the step's named loss terms (a non-finite term stops the loop with its name), the mean of
each term over the last epoch and its history over every epoch (`benchmark.protocol.curves`),
progress reports, and a checkpoint of the loop's whole state after every epoch (or every so
many seconds: `benchmark.protocol.checkpoint`) that a requeued or re-run job resumes from,
ending in exactly the
state an uninterrupted run ends in. What differs between loops is only what one step
computes from a batch of indices, which the caller passes in as `step`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from benchmark.protocol.checkpoint import EpochCheckpoint, restore_rng, rng_state
from benchmark.protocol.curves import LR, loop_history

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
# One step: a batch of sample indices → named scalar loss terms (summed for backward).
Step = Callable[[Tensor], dict[str, Tensor]]


@dataclass(frozen=True)
class LoopSettings:
    """The schedule of one loop."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float


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


def train_loop(
    state: nn.Module,
    params: list[nn.Parameter],
    n: int,
    settings: LoopSettings,
    generator: torch.Generator,
    step: Step,
    *,
    name: str = "training",
    progress: Progress | None = None,
    checkpoint: EpochCheckpoint | None = None,
) -> dict[str, float]:
    """Run `settings.epochs` epochs of `step` over batches of `n` samples; the mean of each
    loss term over the last epoch.

    `state` holds every module the loop changes (what the checkpoint saves and restores);
    `params` are the parameters it optimises; `generator` draws the batch order (and
    whatever else `step` draws from it). The caller sets the modules' train/eval modes.
    Every epoch's term means and learning rate go to the open curve stage, if any
    (`benchmark.protocol.curves`).
    """
    opt, sched = sgd_cosine(
        params,
        settings.lr,
        settings.weight_decay,
        settings.epochs * steps_per_epoch(n, settings.batch_size),
    )
    start, last = 0, {}
    history = loop_history()
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        state.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        restore_rng(saved["rng"], generator)
        start, last = int(saved["epoch"]), dict(saved["losses"])
        history[:] = [dict(epoch) for epoch in saved.get("history", [])]
        log.info("%s: resuming at epoch %d of %d", name, start, settings.epochs)
        if progress is not None:
            progress(start)
    for epoch in range(start, settings.epochs):
        sums: dict[str, float] = {}
        count, lr = 0, 0.0
        for idx in batches(n, settings.batch_size, generator):
            terms = step(idx)
            total = torch.stack(list(terms.values())).sum()
            for term, value in terms.items():
                v = value.item()
                if not math.isfinite(v):
                    raise FloatingPointError(f"loss '{term}' of {name} is {v}")
                sums[term] = sums.get(term, 0.0) + v
            count += 1
            opt.zero_grad(set_to_none=True)
            total.backward()
            lr += float(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        last = {term: s / max(1, count) for term, s in sums.items()}
        if LR in last:
            raise ValueError(f"a loss term of {name} is named '{LR}', the learning rate's curve")
        history.append({**last, LR: lr / max(1, count)})
        if checkpoint is not None and checkpoint.due():
            checkpoint.save(
                {
                    "epoch": epoch + 1,
                    "model": state.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "rng": rng_state(generator),
                    "losses": last,
                    "history": history,
                }
            )
        if progress is not None:
            progress(1)
    return last
