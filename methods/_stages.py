"""Helpers for the methods that compare feature maps stage by stage (`at`, `nst`, `vid`):
which stages pair up, and how two maps of different sizes are brought to one size.
Not a method (the leading underscore keeps it out of the registry's import loop)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from benchmark.method import Context


def paired_stages(ctx: Context, first: int, name: str) -> list[int]:
    """Stage indices first, first+1, … up to the shallower backbone's deepest stage:
    student stage l is paired with teacher stage l, counted from the shallow end as
    RepDistiller's zip over its feature lists does."""
    count = min(len(ctx.student_channels), len(ctx.teacher_channels))
    if not 0 <= first < count:
        raise ValueError(f"{name}.first_stage={first} leaves no stage: the backbones have {count}")
    return list(range(first, count))


def match_size(f_s: Tensor, f_t: Tensor) -> tuple[Tensor, Tensor]:
    """RepDistiller's convention: whichever map is taller is average-pooled to the other's
    size (the other's height and width: RepDistiller pools to a square of the other's
    height, the same for the square maps it has)."""
    if f_s.shape[-2] > f_t.shape[-2]:
        f_s = F.adaptive_avg_pool2d(f_s, tuple(f_t.shape[-2:]))
    elif f_s.shape[-2] < f_t.shape[-2]:
        f_t = F.adaptive_avg_pool2d(f_t, tuple(f_s.shape[-2:]))
    return f_s, f_t
