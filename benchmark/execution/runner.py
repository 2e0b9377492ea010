"""Run one cell of a plan end to end and turn it into a record.

Protocol of a method cell (task, method, seed):
1. load the task's splits (cached world data);
2. get the (task, seed) teacher from the cache, training it only if absent;
3. build the student and the method, distill on the unlabelled pairs (skipped by methods
   that do not distill, like `scratch`);
4. evaluate on the target test set: linear probe, then few-label fine-tuning.
In the labelled track steps 3-4 are the student and a fresh head trained on the labelled
pairs with cross-entropy plus the method's terms, then evaluated by that head and the
probe (`benchmark.protocol.labelled`, `benchmark.protocol.evaluate_labelled`).
A reference cell records the teacher's source score and the all-labels target score.
A method that cannot run in the cell's track (one that needs teacher logits, in the
label-free track: `benchmark.tracks`) gets a `not_applicable` record saying why.

Any exception inside a cell becomes a `failed` record with its reason, so one broken
cell never stops the rest of the plan.

Given an output folder, a method cell checkpoints its distillation after every epoch (its
fine-tunes only when they run longer than `FINETUNE_EVERY_S`) and resumes from a matching
checkpoint (`benchmark.protocol.checkpoint`), so a killed or requeued cell
continues instead of restarting; the shared data and teacher caches are built under file
locks, so concurrent jobs build each entry once (`benchmark.locks`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
import traceback
from pathlib import Path

import torch

from benchmark.backbones import Backbone
from benchmark.config import RunConfig
from benchmark.datasets.tasks import TaskData, get_task
from benchmark.execution.cell_setup import data_facts, initial_student, method_context
from benchmark.execution.labelled_cell import run_labelled
from benchmark.execution.plan import PlannedCell
from benchmark.execution.progress import NullReporter, Reporter
from benchmark.execution.provenance import git_commit, host, versions
from benchmark.hashing import config_hash
from benchmark.locks import file_lock
from benchmark.method import Method, Outputs, create_method
from benchmark.protocol import outcomes
from benchmark.protocol.checkpoint import (
    EpochCheckpoint,
    checkpoint_path,
    fingerprint,
    note_resume,
    training_checkpoint,
)
from benchmark.protocol.curves import collect
from benchmark.protocol.distill import distill
from benchmark.protocol.evaluate import evaluate
from benchmark.protocol.gaps import gap_metrics, input_gap, teacher_gap_outputs
from benchmark.protocol.teacher import (
    Trained,
    get_all_labels_reference,
    get_teacher,
    reference_recipe,
)
from benchmark.protocol.teacher_outputs import cached_teacher_outputs
from benchmark.protocol.training import seeded
from benchmark.results.records import NOT_APPLICABLE, OK, REFERENCE, Record
from benchmark.storage import disk_full
from benchmark.tracks import is_label_free, is_labelled, not_applicable

# Few-label fine-tunes checkpoint at most this often (`benchmark.protocol.checkpoint`, "When").
FINETUNE_EVERY_S = 60.0


def _planned(cell: object) -> None:
    """Refuse a raw `Cell`: the runner runs what the plan derived, nothing else."""
    if not isinstance(cell, PlannedCell):
        raise TypeError(
            f"CellRunner runs planned cells, got {cell!r}: plan it first "
            "(benchmark.execution.plan.plan_cell(cell, cfg) or make_plan)"
        )


class CellRunner:
    """Runs cells in order, keeping the current (task, seed)'s data and teacher in memory
    so consecutive cells of one plan do not reload them."""

    def __init__(
        self,
        cfg: RunConfig,
        cache_dir: Path | None,
        device: torch.device,
        reporter: Reporter | None = None,
        data_root: Path | None = None,
        out: Path | None = None,
        threads: int | None = None,
    ) -> None:
        """`out` turns on epoch checkpoints under `<out>/checkpoints`; `threads` pins the
        torch thread count for every cell (None keeps the process's setting)."""
        self.cfg = cfg
        self.cache_dir = cache_dir
        self.data_root = data_root
        self.out = out
        self.threads = threads
        self.device = device
        self.reporter: Reporter = reporter or NullReporter()
        self._data: tuple[tuple[str, int], TaskData] | None = None
        self._teacher: tuple[tuple[str, int, str], Trained] | None = None
        self._input_gap: tuple[tuple[str, int, str], dict[str, float]] | None = None
        self._gap_teacher: tuple[tuple[str, int, str], dict[bool, Outputs]] | None = None

    def data(self, cell: PlannedCell) -> TaskData:
        """The splits of the cell's (task, seed), which every track shares."""
        _planned(cell)
        task, seed, cfg = cell.task, cell.seed, cell.cfg
        if self._data is None or self._data[0] != (task, seed):
            with self._data_lock(task, seed, cfg):
                loaded = get_task(task).load(
                    cfg.data, cfg.world, seed, self.cache_dir, self.data_root
                )
            self._data = ((task, seed), loaded)
        return self._data[1]

    def _data_lock(
        self, task: str, seed: int, cfg: RunConfig
    ) -> contextlib.AbstractContextManager[None]:
        """Concurrent jobs of one (task, seed) would all generate the same cached splits;
        with this lock the first generates them and the others then read the cache."""
        if self.cache_dir is None:
            return contextlib.nullcontext()
        what = {"task": task, "seed": seed, "data": dataclasses.asdict(cfg.data)}
        what.update(world=cfg.world, root=str(self.data_root))
        return file_lock(self.cache_dir / "locks" / f"data-{config_hash(what)}.lock")

    def teacher(self, data: TaskData, cell: PlannedCell) -> Trained:
        """The cell's teacher: one per (task, seed, track). Only the cell that trained it
        sees `trained_now` (so a later cell's record neither claims the training nor counts
        its seconds, whichever cell of the (task, seed) runs first)."""
        which = (data.name, cell.seed, cell.track)
        if self._teacher is None or self._teacher[0] != which:
            cfg = cell.cfg
            epochs = cfg.teacher.total_epochs()
            with self.reporter.stage(f"{data.name} teacher", epochs) as adv:
                trained = get_teacher(data, cfg, cell.seed, self.cache_dir, self.device, adv)
            self._teacher = (which, trained)
            return trained
        kept = self._teacher[1]
        if kept.trained_now:
            kept = dataclasses.replace(kept, trained_now=False)
            self._teacher = (which, kept)
        return kept

    def input_gap(self, data: TaskData, teacher: Trained, seed: int) -> dict[str, float]:
        """The method-independent `input_gap_*` of a (task, seed)'s teacher, once."""
        which = (data.name, seed, teacher.key)
        if self._input_gap is None or self._input_gap[0] != which:
            self._input_gap = (which, input_gap(teacher.model, data, seed))
        return self._input_gap[1]

    def gap_teacher(self, data: TaskData, teacher: Trained, seed: int, maps: bool) -> Outputs:
        """The teacher's outputs on the (task, seed)'s gap pairs (`teacher_gap_outputs`),
        computed once for all the method cells of a (task, seed) this runner runs."""
        which = (data.name, seed, teacher.key)
        if self._gap_teacher is None or self._gap_teacher[0] != which:
            self._gap_teacher = (which, {})
        kept = self._gap_teacher[1]
        if maps not in kept:
            kept[maps] = teacher_gap_outputs(teacher.model, data, seed, maps)
        return kept[maps]

    def run(self, cell: PlannedCell) -> Record:
        """The cell's record: its settings, payload and hash are the plan's
        (`benchmark.execution.plan.plan_cell`), never re-derived here."""
        _planned(cell)
        record = Record(
            task=cell.task,
            method=cell.method,
            seed=cell.seed,
            status=OK,
            config_hash=cell.hash,
            profile=self.cfg.profile,
            track=cell.track,
            config=copy.deepcopy(cell.payload),  # the record adds to its copy
            versions=versions(),
            git=git_commit(),
            host=host(),
            device=str(self.device),
        )
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        record.versions["torch_threads"] = str(torch.get_num_threads())
        try:
            if cell.method == REFERENCE:
                self._reference(cell, record)
            elif (why := self._not_applicable(cell)) is not None:
                record.status, record.reason = NOT_APPLICABLE, why
            else:
                self._method(cell, record)
        except Exception as err:  # a cell's failure is data, not a crash of the plan
            if disk_full(err):  # ...but a full disk would fail every later cell alike
                raise
            record.status = "failed"
            record.reason = f"{type(err).__name__}: {err}"
            record.config["traceback"] = traceback.format_exc(limit=8)
        return record

    def _not_applicable(self, cell: PlannedCell) -> str | None:
        """Why the method cannot run in the cell (None when it can): `not_applicable` on
        the cell's settings, decided before any data or teacher is loaded."""
        method = create_method(cell.method, **(cell.params or {}))
        return not_applicable(
            method,
            sequence_target=get_task(cell.task).sequence_target,
            label_free=is_label_free(cell.cfg),
        )

    def _teacher_fields(self, teacher: Trained) -> dict[str, object]:
        return {
            "key": teacher.key,
            "trained_now": teacher.trained_now,
            "metrics": teacher.metrics,
            "seconds": round(teacher.seconds, 3),
        }

    def _reference(self, cell: PlannedCell, record: Record) -> None:
        start = time.perf_counter()
        data = self.data(cell)
        record.data = data_facts(data)
        record.seconds["data"] = time.perf_counter() - start
        teacher = self.teacher(data, cell)
        record.teacher = self._teacher_fields(teacher)
        cfg = cell.cfg
        epochs = reference_recipe(data, cfg).epochs
        with self.reporter.stage(f"{cell.task} all-labels reference", epochs) as advance:
            ref = get_all_labels_reference(
                data, cfg, cell.seed, self.cache_dir, self.device, advance
            )
        record.seconds["teacher"] = teacher.seconds if teacher.trained_now else 0.0
        record.seconds["reference"] = ref.seconds if ref.trained_now else 0.0
        record.metrics = {f"teacher_{k}": v for k, v in teacher.metrics.items()}
        record.metrics.update({f"all_labels_{k}": v for k, v in ref.metrics.items()})
        clock = time.perf_counter()
        record.metrics.update(self.input_gap(data, teacher, cell.seed))
        record.seconds["gap"] = time.perf_counter() - clock

    def _method(self, cell: PlannedCell, record: Record) -> None:
        cfg, clock = cell.cfg, time.perf_counter()
        data = self.data(cell)
        record.data = data_facts(data)
        record.seconds["data"] = time.perf_counter() - clock
        clock = time.perf_counter()
        teacher = self.teacher(data, cell)
        record.teacher = self._teacher_fields(teacher)
        record.seconds["teacher"] = time.perf_counter() - clock

        student = initial_student(cfg.student.backbone, data, cell.seed).to(self.device)
        method = create_method(cell.method, **(cell.params or {}))
        if cfg.distill.training_noise:  # re-draw the method's own initialisation only
            stream = f"method/noise{cfg.distill.training_noise}"
            torch.manual_seed(int(torch.randint(2**31, (1,), generator=seeded(cell.seed, stream))))
        ctx = method_context(student, teacher.model, data)
        method.setup(ctx)
        method.to(self.device)
        if is_labelled(cell.track):
            run_labelled(self, cell, record, data, teacher, student, method, ctx)
            self._gaps(cell, record, data, teacher, student, method)
            return

        clock = time.perf_counter()
        if method.distills:
            paired = data.paired
            assert paired.source is not None and paired.target is not None
            t_out = cached_teacher_outputs(
                teacher, paired.source, keep_maps=method.uses_feature_maps, cache_dir=self.cache_dir
            )
            ckpt = training_checkpoint(
                self.out,
                cell.task,
                cell.method,
                cell.seed,
                cell.track,
                record.config_hash,
                self.device,
            )
            with (
                self.reporter.stage(f"{cell.label} distill", cfg.distill.epochs) as advance,
                collect(record.curves, "distill"),
            ):
                record.losses = distill(
                    student,
                    method,
                    t_out,
                    paired.target,
                    cfg.distill,
                    cell.seed,
                    advance,
                    ckpt,
                    source_ids=paired.source_ids,
                )
            note_resume(record.config, ckpt)
        record.seconds["distill"] = time.perf_counter() - clock

        clock = time.perf_counter()
        restarts = cfg.eval.finetune_restarts
        epochs = restarts * cfg.eval.finetune_epochs
        with (
            self.reporter.stage(f"{cell.label} evaluate", epochs) as adv,
            collect(record.curves, "finetune"),  # one stage per restart: finetune, finetune1, ...
        ):

            def checkpoints(restart: int) -> EpochCheckpoint | None:
                if self.out is None:
                    return None
                stage = "finetune" if restart == 0 else f"finetune{restart}"
                path = checkpoint_path(
                    self.out, cell.task, cell.method, cell.seed, stage, cell.track
                )
                key = fingerprint(record.config_hash, self.device)
                return EpochCheckpoint(path, key, every_s=FINETUNE_EVERY_S)

            noise = cfg.distill.training_noise
            hook = cell.evaluation  # a `bench tune` trial's: its validation split scored too
            if hook is not None:
                result = hook.evaluate(
                    cell, student, data, record, adv, checkpoints, self.cache_dir, self.data_root
                )
            else:
                result = evaluate(student, data, cfg.eval, cell.seed, noise, adv, checkpoints)
        record.metrics = result.metrics
        record.outcomes = {name: outcomes.encode(o) for name, o in result.outcomes.items()}
        record.seconds["evaluate"] = time.perf_counter() - clock
        if hook is not None and not hook.gaps:
            return  # a trial: selection reads validation scores; the re-runs get the gaps

        # After evaluation, which leaves the student untouched (it fine-tunes a copy), so
        # measuring the gap cannot change any metric.
        self._gaps(cell, record, data, teacher, student, method)

    def _gaps(
        self,
        cell: PlannedCell,
        record: Record,
        data: TaskData,
        teacher: Trained,
        student: Backbone,
        method: Method,
    ) -> None:
        clock = time.perf_counter()

        def teacher_rows(maps: bool) -> Outputs:
            return self.gap_teacher(data, teacher, cell.seed, maps)

        gaps = gap_metrics(student, method, teacher.model, data, cell.seed, teacher_rows)
        record.metrics.update(gaps)
        record.metrics.update(self.input_gap(data, teacher, cell.seed))
        record.seconds["gap"] = time.perf_counter() - clock
