"""The labelled track's training (`benchmark.tracks`): cross-entropy on the student's own
head plus the method's distillation terms, on the labelled pairs.

This is how RepDistiller (`train_student.py`: loss = γ·CE + α·KD + β·L_method, `-r γ -a α
-b β`), mdistiller (`CE_WEIGHT`·CE + the distiller's loss), C2KD, DKD, DIST, Zhao et al.
and MST-Distill (`(1 − α)·CE + α·L_KD`, `main-KD-UU.py`) train a student:

    L = γ · CE(h(f_s(x_tgt)), y) + Σ_terms L_method(student, teacher, batch with y),

h a fresh class head (linear on the pooled embedding, or the dense head for segmentation,
CE then per pixel with `IGNORE_INDEX` pixels left out), γ the method's `labelled_ce_weight`
(or its `ce_weight` parameter; the user's `methods.<name>.ce_weight` sets it for any
method, as MST-Distill's 1 − α), and the method's terms at its labelled defaults
(`Method.labelled_defaults`, under the user's values); γ enters the record's hash.
`scratch` (no distillation) is γ·CE alone, γ = 1: a plain supervised run of backbone and
head on the pairs, step for step `fit` with the distillation schedule.

One head: a method that distils class logits through a head of the student's own (the
`head` attribute of `kd`, `dkd`, `dist`, `c2kd`, built by `class_head`) has it replaced
by the track's head, so cross-entropy and distillation train the same classifier, as
the references' students have one classifier for both. The head is drawn from a stream
of its own, after the method's `setup`, so every method of a (task, seed) starts from the
same head and the method's own modules start as in the other tracks.

The label budget is the whole paired set by default; `data.labelled_fraction` < 1 keeps the
labels of a seeded draw of that fraction of the pairs (`label_budget`) and marks the rest
`IGNORE_INDEX`: they still pass through the method's terms, which then treat them as
unlabelled (the teacher's argmax where a method needs a class).

The schedule is the distillation schedule (`distill.*`) and the batch order its stream,
so a labelled cell differs from its supervised-track twin only in what it is trained on.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.backbones import Backbone, class_head, head_logits
from benchmark.config import DistillConfig
from benchmark.method import Context, Method, Outputs
from benchmark.params import validate
from benchmark.protocol.checkpoint import EpochCheckpoint
from benchmark.protocol.distill import batch_of, take
from benchmark.protocol.loop import LoopSettings, Progress, train_loop
from benchmark.streams import IGNORE_INDEX, seeded
from benchmark.tracks import GAMMA, GAMMA_SPEC, method_values

CE_TERM = "ce"  # the track's cross-entropy, as a record's `losses` name it
HEAD_STREAM = "labelled/head"


def declared(cls: type[Method], values: dict[str, Any]) -> dict[str, Any]:
    """The user's values for `cls` without a `ce_weight` it does not declare: that one
    sets the labelled track's γ (`ce_weight`) and means nothing to the method itself."""
    return method_values(cls.params, values, cls.name)


def labelled_params(cls: type[Method], values: dict[str, Any]) -> dict[str, Any]:
    """A method's parameters in the labelled track: declared defaults, then the
    reference's labelled weights (`labelled_defaults`), then the user's values."""
    return validate(cls.params, {**cls.labelled_defaults, **declared(cls, values)}, cls.name)


def ce_weight(
    cls: type[Method], params: dict[str, Any], values: dict[str, Any] | None = None
) -> float:
    """γ, the weight of the track's cross-entropy for `cls` with `params`: its
    `ce_weight` parameter where it declares one (the cross-entropy its paper adds), else
    the user's `methods.<name>.ce_weight` (`values`, e.g. MST-Distill's 1 − α), else its
    `labelled_ce_weight`."""
    if GAMMA in cls.params:
        return float(params[GAMMA])
    if values and GAMMA in values:
        return float(validate({GAMMA: GAMMA_SPEC}, {GAMMA: values[GAMMA]}, cls.name)[GAMMA])
    return float(cls.labelled_ce_weight)


def student_head(ctx: Context, seed: int, noise: int = 0) -> nn.Module:
    """The student's fresh head, its initialisation from the seed's own stream
    (`distill.training_noise` re-draws it, as it re-draws a method's own modules)."""
    stream = HEAD_STREAM if noise == 0 else f"{HEAD_STREAM}/noise{noise}"
    torch.manual_seed(int(torch.randint(2**31, (1,), generator=seeded(seed, stream))))
    return class_head(ctx)


def share_head(method: Method, head: nn.Module) -> None:
    """Give a method that owns a student class head (`head`, as `class_head` builds it)
    the track's head in its place: one classifier for cross-entropy and distillation."""
    own = getattr(method, "head", None)
    if not isinstance(own, nn.Module) or type(own) is not type(head):
        return
    shapes = {k: v.shape for k, v in own.state_dict().items()}
    if shapes == {k: v.shape for k, v in head.state_dict().items()}:
        method.head = head


def label_ce(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy over the labelled rows (and pixels); 0 with a gradient path when a
    batch holds none, where the mean over nothing would be NaN."""
    if not bool((labels != IGNORE_INDEX).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)


def label_budget(labels: Tensor, fraction: float, seed: int) -> Tensor:
    """`labels` with all but round(fraction · N) pairs, a seeded draw, set to
    `IGNORE_INDEX` (`data.labelled_fraction`); the labels themselves at fraction 1."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"data.labelled_fraction={fraction} must be in (0, 1]")
    if fraction == 1.0:
        return labels
    order = torch.randperm(len(labels), generator=seeded(seed, "labelled/fraction"))
    budget = labels.clone()
    budget[order[round(fraction * len(labels)) :]] = IGNORE_INDEX
    return budget


def labelled_terms(
    student: Outputs,
    head: nn.Module,
    method: Method,
    teacher: Outputs | None,
    batch: Any,
    weight: float,
) -> dict[str, Tensor]:
    """One batch's loss terms: γ·CE on the head, then the method's own terms."""
    assert batch.label is not None, "the labelled track's batches carry labels"
    logits = head_logits(head, student, like=batch.label)
    terms = {CE_TERM: weight * label_ce(logits, batch.label)}
    if method.distills:
        assert teacher is not None
        own = method.losses(student, teacher, batch)
        if CE_TERM in own:
            raise ValueError(
                f"method '{method.name}' returns a '{CE_TERM}' term with labels given: the "
                "labelled track adds the cross-entropy itself"
            )
        terms.update(own)
    return terms


def train_labelled(
    student: Backbone,
    head: nn.Module,
    method: Method,
    teacher: Outputs | None,
    target: Tensor,
    labels: Tensor,
    cfg: DistillConfig,
    seed: int,
    weight: float,
    progress: Progress | None = None,
    checkpoint: EpochCheckpoint | None = None,
    source_ids: Tensor | None = None,
) -> dict[str, float]:
    """Train student, head and the method's modules on the labelled pairs; each term's
    mean over the last epoch. `teacher` is the teacher's outputs on the pairs (None for
    a method that does not distil); `weight` is γ (`ce_weight`). Checkpoints and resumes
    as `benchmark.protocol.distill.distill` does."""
    if len(labels) != len(target):
        raise ValueError(f"{len(labels)} labels for {len(target)} pairs")
    device = next(student.parameters()).device
    noise = cfg.training_noise
    gen = seeded(seed, "distill" if noise == 0 else f"distill/noise{noise}")
    modules = nn.ModuleDict({"student": student, "method": method, "head": head})
    params = [p for p in modules.parameters() if p.requires_grad]  # shared head once

    def step(idx: Tensor) -> dict[str, Tensor]:
        out = student(target[idx].to(device))
        batch = batch_of(idx, source_ids, device)
        batch.label = labels[idx].to(device)
        t_out = take(teacher, idx, device) if teacher is not None else None
        return labelled_terms(out, head, method, t_out, batch, weight)

    modules.train()
    loop = LoopSettings(cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay)
    last = train_loop(
        modules,
        params,
        len(target),
        loop,
        gen,
        step,
        name=f"method '{method.name}' (labelled)",
        progress=progress,
        checkpoint=checkpoint,
    )
    modules.eval()
    return last
