"""The runner on real code paths: every method on one embedded task of each kind, the
real-data tasks, determinism, teacher reuse, failures turned into records."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import Tensor

from benchmark.config import RunConfig
from benchmark.datasets.tasks import get_task, list_tasks
from benchmark.execution.plan import Cell, make_plan, plan_cell
from benchmark.execution.runner import CellRunner
from benchmark.method import METHODS, Batch, Method, Outputs, create_method
from benchmark.results.records import NOT_APPLICABLE, REFERENCE, Record
from tests.method_selection import selected_methods

CPU = torch.device("cpu")
# One torch thread (conftest's `one_thread`) for every test here: smoke cells are tiny, and
# on a shared 2-core machine they run several times faster on one thread than on two. No
# check depends on the thread count (the determinism checks compare runs at one count).
pytestmark = pytest.mark.usefixtures("one_thread")


# Every method runs one full smoke cell on one embedded classification task and one
# embedded segmentation task: a method sees only backbone outputs, so the other embedded
# tasks of a kind exercise no method code these two do not (and cost a cell per method
# each). The remaining embedded target modality, audio, runs below in
# `test_teacher_trained_once_and_shared_by_methods` (scratch, l2) and depth-cls in
# `test_same_seed_gives_identical_metrics` (l2), their records held to the same checks;
# `test_every_embedded_task_and_modality_is_exercised` keeps that true as tasks are added.
# Every real-data task runs the methods that read each kind of teacher output (feature
# maps: l2; logits: kd) on its fixture files. All methods on all real tasks would add 35
# cells that exercise no method code the embedded tasks do not.
# text-cls runs every method too: its student is a sequence backbone, whose [B, C, L, 1]
# maps some methods cannot compare with an image's (they are recorded not applicable).
EVERY_METHOD_TASKS = ("sketch-cls", "depth-seg", "text-cls")
OTHER_EMBEDDED_CELLS = {"audio-cls": ("scratch", "l2"), "depth-cls": ("l2",)}
EMBEDDED = [t for t in list_tasks() if not get_task(t).needs_data_root]
REAL = [t for t in list_tasks() if get_task(t).needs_data_root]
SELECTED = selected_methods()
CELLS = [(m, t) for m in SELECTED for t in EVERY_METHOD_TASKS] + [
    (m, t) for m in ("l2", "kd") if m in SELECTED for t in REAL
]


def check_record(record: Record, method: str, task: str) -> None:
    """What every ok record of a smoke cell holds: finite metrics in their ranges, the gap
    estimates, both evaluation scores of the task's kind, finite losses."""
    where = f"method '{method}' on {task}"
    assert record.ok, f"{where}: {record.reason}"
    assert record.metrics, f"{where}: a cell must produce metrics"
    for name, value in record.metrics.items():
        assert math.isfinite(value), (where, name, value)
        if name.endswith(("_n", "_dim")):  # the gap estimates' sample size and width
            assert value >= 1 and value == int(value), (where, name, value)
        elif name.endswith("_pair"):  # cosine distance lies in [0, 2]
            assert 0.0 <= value <= 2.0, (where, name, value)
        elif "gap" in name:  # 2a − 1 unclipped, its interval, debiased CKA: [−1, 1]
            assert -1.0 <= value <= 1.0, (where, name, value)
        else:
            assert 0.0 <= value <= 1.0, (where, name, value)
    gaps = {"gap_tv", "gap_tv_lo", "gap_tv_hi", "gap_cka", "gap_pair"}
    if not get_task(task).sequence_target:  # the image teacher cannot read tokens
        gaps.add("input_gap_tv")
    assert gaps <= set(record.metrics), f"{where}: every ok record carries the gap estimates"
    assert record.metrics["gap_tv_lo"] <= record.metrics["gap_tv"] <= record.metrics["gap_tv_hi"]
    prefix = "acc" if task.endswith("-cls") else "miou"
    assert {f"probe_{prefix}", f"finetune_{prefix}"} <= set(record.metrics), where
    assert all(math.isfinite(v) for v in record.losses.values()), (where, record.losses)
    assert METHODS.get(method).distills == bool(record.losses), where
    check_curves(record, where)


def check_curves(record: Record, where: str) -> None:
    """The per-epoch curves (`benchmark.protocol.curves`): a distillation curve per loss
    term whose last epoch is the record's `losses`, and the learning rate, decaying; a
    training-loss and a learning-rate curve per fine-tune restart (none in the labelled
    track, which trains its head with the distillation), all of one length."""
    distill = record.curves.get("distill", {})
    assert {k: v[-1] for k, v in distill.items() if k != "lr"} == record.losses, where
    assert bool(distill) == bool(record.losses), where
    tunes = [s for s in record.curves if s.startswith("finetune")]
    assert tunes == [f"finetune{r or ''}" for r in range(len(tunes))], where
    assert all(set(record.curves[s]) == {"ce", "lr"} for s in tunes), where
    assert bool(tunes) != (record.track == "labelled"), where  # its head is trained jointly
    for stage, series in record.curves.items():
        assert len({len(v) for v in series.values()}) == 1, (where, stage)
        assert all(v is not None and math.isfinite(v) for v in series["lr"]), (where, stage)
        assert series["lr"] == sorted(series["lr"], reverse=True), (where, stage)


@pytest.mark.parametrize(("method", "task"), CELLS)
def test_every_method_on_one_task_of_each_kind(
    method: str, task: str, smoke: RunConfig, cache_dir: Path, data_root: Path
) -> None:
    cell = plan_cell(Cell(task, method, 0), smoke)
    record = CellRunner(smoke, cache_dir, CPU, data_root=data_root).run(cell)
    if get_task(task).sequence_target and create_method(method).needs_spatial_maps():
        assert record.status == NOT_APPLICABLE, (method, task, record.reason)
        assert "position by position" in record.reason and not record.metrics
        return
    check_record(record, method, task)


def test_every_embedded_task_and_modality_is_exercised() -> None:
    """The registry-wide cells cover both task kinds, and together with the other tests'
    cells every embedded task, so every target modality runs a full cell somewhere."""
    kinds = {get_task(t).kind for t in EVERY_METHOD_TASKS}
    assert kinds == {get_task(t).kind for t in EMBEDDED}, kinds
    run = set(EVERY_METHOD_TASKS) | set(OTHER_EMBEDDED_CELLS)
    assert run == set(EMBEDDED), f"embedded tasks no test runs a cell on: {set(EMBEDDED) - run}"
    assert {get_task(t).target for t in run} == {get_task(t).target for t in EMBEDDED}


def test_same_seed_gives_identical_metrics(smoke: RunConfig, tmp_path: Path) -> None:
    cell = plan_cell(Cell("depth-cls", "l2", 0), smoke)
    first = CellRunner(smoke, tmp_path / "a", CPU).run(cell)
    second = CellRunner(smoke, tmp_path / "b", CPU).run(cell)  # fresh caches: all retrained
    check_record(first, "l2", "depth-cls")
    assert second.ok, second.reason
    assert first.metrics == second.metrics and first.losses == second.losses
    assert first.config_hash == second.config_hash


def test_teacher_trained_once_and_shared_by_methods(smoke: RunConfig, tmp_path: Path) -> None:
    runner = CellRunner(smoke, tmp_path, CPU)
    records = [runner.run(c) for c in make_plan(["audio-cls"], ["scratch", "l2"], [0], smoke)]
    assert [r.method for r in records] == [REFERENCE, *OTHER_EMBEDDED_CELLS["audio-cls"]]
    for record in records[1:]:
        check_record(record, record.method, "audio-cls")
    assert {"input_gap_tv", "input_gap_cka", "input_gap_pair"} <= set(records[0].metrics)
    assert records[0].metrics["input_gap_tv"] == records[2].metrics["input_gap_tv"]
    assert records[0].teacher["trained_now"] is True
    keys = {r.teacher["key"] for r in records}
    assert len(keys) == 1
    # A new process (new runner) loads the cached teacher instead of retraining it.
    again = CellRunner(smoke, tmp_path, CPU).run(plan_cell(Cell("audio-cls", "l2", 0), smoke))
    assert again.teacher["trained_now"] is False and again.teacher["key"] in keys
    assert again.metrics == records[2].metrics
    assert len(list((tmp_path / "teachers").glob("teacher-*.pt"))) == 1


def test_tasks_with_the_same_source_pool_share_one_teacher(
    smoke: RunConfig, tmp_path: Path
) -> None:
    """The teacher is keyed by its data, not by the task's name: the embedded
    classification tasks see the same RGB scenes, so they share one teacher."""
    runner = CellRunner(smoke, tmp_path, CPU)
    sketch = runner.run(plan_cell(Cell("sketch-cls", "scratch", 0), smoke))
    depth = runner.run(plan_cell(Cell("depth-cls", "scratch", 0), smoke))
    assert sketch.teacher["trained_now"] is True and depth.teacher["trained_now"] is False
    assert sketch.teacher["key"] == depth.teacher["key"]
    other_seed = runner.run(plan_cell(Cell("depth-cls", "scratch", 1), smoke))
    assert other_seed.teacher["key"] != depth.teacher["key"]
    segmentation = runner.run(plan_cell(Cell("depth-seg", "scratch", 0), smoke))
    assert segmentation.teacher["key"] != depth.teacher["key"]


class _Exploding(Method):
    name = "exploding"

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        return {"boom": student.embedding.sum() * float("nan")}


def test_a_failing_method_becomes_a_failed_record(
    smoke: RunConfig, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(METHODS._entries, "exploding", _Exploding)
    cell = plan_cell(Cell("sketch-cls", "exploding", 0), smoke)
    record = CellRunner(smoke, cache_dir, CPU).run(cell)
    assert record.status == "failed"
    assert "loss 'boom' of method 'exploding' is nan" in record.reason
    assert "traceback" in record.config
