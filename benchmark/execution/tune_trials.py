"""`bench tune`'s cells: a trial is an ordinary method cell with the trial's parameters
that is also scored on the task's validation split; a selected trial is re-run as an
ordinary cell on every seed.

Trials run on their own data seed (`TRIAL_SEED`). A trial cell's payload is the payload a
`bench run` cell with the same settings has, plus a `tune` entry (its trial number and the
validation protocol). So its hash differs from every normal cell's (it computes more),
its record sits in the trial's own folder, and
everything a normal cell has — cell locks, epoch checkpoints, resume, every executor —
applies to it unchanged. Both are planned by the one planner (`plan_cell`, with the
trial's values); a trial's evaluation hook (`TrialEvaluation`) makes the runner also
score the validation split (`evaluate_trial`) and skip the gap estimates, which
selection does not read. A selected trial's re-run carries no `tune` entry in its
payload: it is the very cell `bench run` would plan for those settings, so where the
defaults won, its hash is the defaults record's own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.backbones import Backbone
from benchmark.config import MAX_SEEDS, EvalConfig, RunConfig
from benchmark.datasets.tasks import Split, TaskData, get_task
from benchmark.datasets.validation import load_validation
from benchmark.execution.plan import Cell, PlannedCell, plan_cell
from benchmark.hashing import config_hash
from benchmark.kinds import get_kind
from benchmark.protocol import outcomes
from benchmark.protocol.checkpoint import EpochCheckpoint
from benchmark.protocol.evaluate import Evaluation, evaluate
from benchmark.protocol.training import Progress
from benchmark.results.records import Record

TUNE = "tune"  # the payload entry that makes a cell a trial
VALIDATION = {"split": "validation", "labels_per_class": "as the few-label set", "version": 1}
VAL_PREFIX = "val_"  # validation metrics and outcomes of a trial record
# Trials run on a data seed no `bench run` takes (runs take seeds 0..MAX_SEEDS-1): their
# own data draw, teacher and student initialisation. So the selection and the re-runs that
# judge it never share a training run, and a trial's luck on its own run (which its
# validation and test scores share) cannot reach the tuned scores.
TRIAL_SEED = MAX_SEEDS


@dataclass(frozen=True)
class TrialEvaluation:
    """The evaluation hook of trial `number` (`benchmark.execution.plan.EvaluationHook`):
    the `tune` payload entry, the test and validation splits scored together
    (`evaluate_trial`), and no gap estimates (selection does not read them)."""

    number: int
    gaps: bool = False

    @property
    def payload(self) -> dict[str, Any]:
        return {TUNE: {"trial": self.number, "validation": VALIDATION}}

    def evaluate(
        self,
        cell: PlannedCell,
        student: Backbone,
        data: TaskData,
        record: Record,
        progress: Progress,
        checkpoints: Callable[[int], EpochCheckpoint | None],
        cache_dir: Path | None,
        data_root: Path | None,
    ) -> Evaluation:
        validation = trial_validation(cell, cache_dir, data_root)
        record.data["sizes"]["validation"] = len(validation)
        cfg = cell.cfg
        noise = cfg.distill.training_noise
        return evaluate_trial(
            student, data, validation, cfg.eval, cell.seed, noise, progress, checkpoints
        )


def trial_cell(
    cell: Cell, cfg: RunConfig, task_cfg: RunConfig, params: dict[str, Any], number: int
) -> PlannedCell:
    """Trial `number` of `cell`'s (task, method) on its seed: the normal cell under the
    trial's parameters, with the `tune` entry in its payload and hash."""
    return plan_cell(cell, cfg, task_cfg, values=params, evaluation=TrialEvaluation(number))


def selected_cell(
    cell: Cell, cfg: RunConfig, task_cfg: RunConfig, params: dict[str, Any]
) -> PlannedCell:
    """The selected trial's parameters on `cell`'s seed: exactly what `bench run` plans."""
    return plan_cell(cell, cfg, task_cfg, values=params)


def selection_metric(kind: str) -> str:
    """The score trials are selected by: the ranking metric on the validation split."""
    return VAL_PREFIX + get_kind(kind).ranking()[0]


def test_metric(kind: str) -> str:
    return get_kind(kind).ranking()[0]


# One (task, seed)'s validation split, kept while consecutive trial cells share it.
_cached: tuple[str, Split] | None = None


def trial_validation(cell: PlannedCell, cache_dir: Path | None, data_root: Path | None) -> Split:
    """The validation split of a trial cell's (task, seed), under the cell's settings."""
    global _cached
    cfg = cell.cfg
    key = config_hash(
        {"task": cell.task, "seed": cell.seed, "data": dataclasses.asdict(cfg.data)}
        | {"world": cfg.world, "root": str(data_root)}
    )
    if _cached is None or _cached[0] != key:
        spec = get_task(cell.task)
        _cached = (key, load_validation(spec, cfg.data, cfg.world, cell.seed, cache_dir, data_root))
    return _cached[1]


def evaluate_trial(
    student: Backbone,
    data: TaskData,
    validation: Split,
    cfg: EvalConfig,
    seed: int,
    noise: int = 0,
    progress: Progress | None = None,
    checkpoints: Callable[[int], EpochCheckpoint | None] | None = None,
) -> Evaluation:
    """`evaluate` on the test split with the validation samples appended, then its
    outcomes split back: one probe and one set of fine-tunes (fitted on the few labels
    only) predict both, so the validation scores cost no second training. The test
    metrics and outcomes are the cell's usual ones; the validation ones are prefixed
    `val_`. Nothing fitted reads any label of either split."""
    test = data.test
    assert test.target is not None and test.labels is not None
    assert validation.target is not None and validation.labels is not None
    n = len(test)
    both = Split(
        target=torch.cat([test.target, validation.target]),
        labels=torch.cat([test.labels, validation.labels]),
    )
    joint = evaluate(
        student, dataclasses.replace(data, test=both), cfg, seed, noise, progress, checkpoints
    )
    probe, tuned = joint.outcomes["probe"], joint.outcomes["finetune"]
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "": (probe[:n], tuned[:, :n]),
        VAL_PREFIX: (probe[n:], tuned[:, n:]),
    }
    metrics: dict[str, float] = {}
    kept: dict[str, np.ndarray] = {}
    for prefix, (p, f) in parts.items():
        metrics.update({f"{prefix}probe_{k}": v for k, v in outcomes.scores(p, data.kind).items()})
        metrics.update(
            {f"{prefix}finetune_{k}": v for k, v in outcomes.restart_scores(f, data.kind).items()}
        )
        kept[f"{prefix}probe"], kept[f"{prefix}finetune"] = p, f
    return Evaluation(metrics, kept)
