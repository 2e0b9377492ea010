"""Per-epoch training curves: how each training loop of a cell went, epoch by epoch.

A cell's record keeps, per stage, each loss term's mean over every epoch and the learning
rate (the mean of the rates its steps used), in `Record.curves`:
`{"distill": {"kd": [...], "lr": [...]}, "finetune": {"ce": [...], "lr": [...]}, ...}`.
The stages are `distill` and one per fine-tune restart (`finetune`, `finetune1`, ...: the
names the restarts' checkpoints have), so a method that diverged, plateaued or fought its
weighting shows it, and the last entry of each distillation term is the record's `losses`.

Collection keeps the protocol's signatures as they are: the runner opens a stage with
`collect(record.curves, "distill")`, and every `train_loop` that starts inside it gets its
series from `loop_history` (the n-th loop of a stage is named like the n-th restart).
Outside a stage (teacher training) a loop's history is kept nowhere. The history also
travels in the loop's epoch checkpoint, so a resumed loop's curve is whole. The stage
writes its series into the target on exit, also when the loop failed, so a failed cell's
record shows the epochs it finished.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

# One epoch of one loop: each loss term's mean and "lr".
Epoch = dict[str, float]
# A record's curves: stage → series name → one value per epoch (None where a term was
# missing from an epoch, and for a non-finite value, which JSON cannot hold).
Curves = dict[str, dict[str, list[float | None]]]
LR = "lr"


@dataclass
class _Stage:
    name: str
    loops: list[list[Epoch]] = field(default_factory=list)


_ACTIVE: ContextVar[_Stage | None] = ContextVar("xmd_curves_stage", default=None)


def stage_name(stage: str, loop: int) -> str:
    """The n-th loop of a stage: `finetune`, `finetune1`, `finetune2`, ..."""
    return stage if loop == 0 else f"{stage}{loop}"


@contextmanager
def collect(target: Curves, stage: str) -> Iterator[None]:
    """Keep the per-epoch history of every loop started inside, written into `target`
    (as `stage`, `stage1`, ...) when the block ends, however it ends."""
    own = _Stage(stage)
    token = _ACTIVE.set(own)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
        for n, history in enumerate(own.loops):
            target[stage_name(stage, n)] = columns(history)


def loop_history() -> list[Epoch]:
    """The list a starting loop appends its epochs to: registered with the open stage, or
    a private one when no stage is open."""
    history: list[Epoch] = []
    stage = _ACTIVE.get()
    if stage is not None:
        stage.loops.append(history)
    return history


def columns(history: list[Epoch]) -> dict[str, list[float | None]]:
    """Epoch rows → one list per series, in the order the series first appear."""
    names: list[str] = []
    for epoch in history:
        names += [k for k in epoch if k not in names]
    return {
        name: [_finite(epoch.get(name)) for epoch in history]
        for name in sorted(names, key=lambda n: (n == LR, names.index(n)))
    }


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def curve_problem(raw: object) -> str:
    """What is wrong with a record's `curves` ('' when nothing), for the record reader:
    every value is a finite number or None (a record never stores a non-finite one)."""
    if not isinstance(raw, dict):
        return f"curves is a {type(raw).__name__}, not a mapping"
    for stage, series in raw.items():
        if not isinstance(series, dict):
            return f"curves.{str(stage)[:60]} is not a mapping of series"
        for name, values in series.items():
            if not isinstance(values, list) or not all(_value_ok(v) for v in values):
                return f"curves.{str(stage)[:60]}.{str(name)[:60]} is not a list of finite numbers"
    return ""


def _value_ok(value: object) -> bool:
    if value is None:
        return True
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:  # a JSON integer can have 400 digits
        return math.isfinite(value)
    except OverflowError:
        return False
