"""One labelled-track method cell, steps 3-4 (`benchmark.execution.runner`): student,
fresh head and the method's modules trained on the labelled pairs
(`benchmark.protocol.labelled`), then the head and the probe on the test set
(`benchmark.protocol.evaluate_labelled`). Checkpoints per epoch as distillation does."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import torch

from benchmark.backbones import Backbone
from benchmark.datasets.tasks import TaskData
from benchmark.execution.plan import PlannedCell
from benchmark.execution.progress import Reporter
from benchmark.method import Context, Method
from benchmark.protocol import outcomes
from benchmark.protocol.checkpoint import note_resume, training_checkpoint
from benchmark.protocol.curves import collect
from benchmark.protocol.evaluate_labelled import evaluate_labelled
from benchmark.protocol.labelled import (
    label_budget,
    share_head,
    student_head,
    train_labelled,
)
from benchmark.protocol.teacher import Trained
from benchmark.protocol.teacher_outputs import cached_teacher_outputs
from benchmark.results.records import Record
from benchmark.streams import IGNORE_INDEX


class CellSite(Protocol):
    """What a labelled cell reads of the runner that runs it (a protocol, so this module
    does not import the runner that calls it)."""

    device: torch.device
    cache_dir: Path | None
    out: Path | None
    reporter: Reporter


def run_labelled(
    runner: CellSite,
    cell: PlannedCell,
    record: Record,
    data: TaskData,
    teacher: Trained,
    student: Backbone,
    method: Method,
    ctx: Context,
) -> None:
    """Steps 3-4 of the labelled track: student, fresh head and the method's modules
    trained on the labelled pairs, then the head and the probe on the test set."""
    cfg, clock = cell.cfg, time.perf_counter()
    paired = data.paired
    assert paired.target is not None and paired.labels is not None
    head = student_head(ctx, cell.seed, cfg.distill.training_noise).to(runner.device)
    share_head(method, head)
    t_out = None
    if method.distills:
        assert paired.source is not None
        t_out = cached_teacher_outputs(
            teacher, paired.source, keep_maps=method.uses_feature_maps, cache_dir=runner.cache_dir
        )
    ckpt = training_checkpoint(
        runner.out, cell.task, cell.method, cell.seed, cell.track, record.config_hash, runner.device
    )
    weight = float(cell.payload["labelled"]["ce_weight"])  # γ, as planned and hashed
    labels = label_budget(paired.labels, cfg.data.labelled_fraction, cell.seed)
    record.data["sizes"]["labelled"] = int(
        (labels.reshape(len(labels), -1) != IGNORE_INDEX).any(dim=1).sum()
    )
    with (
        runner.reporter.stage(f"{cell.label} train", cfg.distill.epochs) as advance,
        collect(record.curves, "distill"),  # the joint training: CE and the method's terms
    ):
        record.losses = train_labelled(
            student,
            head,
            method,
            t_out,
            paired.target,
            paired.labels,
            cfg.distill,
            cell.seed,
            weight,
            advance,
            ckpt,
            source_ids=paired.source_ids,
        )
    note_resume(record.config, ckpt)
    record.seconds["distill"] = time.perf_counter() - clock
    clock = time.perf_counter()
    with runner.reporter.stage(f"{cell.label} evaluate", 0):
        result = evaluate_labelled(student, head, data, cfg.eval)
    record.metrics = result.metrics
    record.outcomes = {name: outcomes.encode(o) for name, o in result.outcomes.items()}
    record.seconds["evaluate"] = time.perf_counter() - clock
