"""Executors with submitit's own DebugExecutor and LocalExecutor: settings, teachers
trained exactly once by concurrent jobs, and requeue after a timeout or a preemption,
resuming from the epoch checkpoint to the same record as an uninterrupted run."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import submitit
import torch

from benchmark.cli.main import main
from benchmark.config import RunConfig
from benchmark.errors import UserError
from benchmark.execution.executor_settings import (
    mem_gb,
    minutes,
    parse_settings,
    parse_slurm_options,
)
from benchmark.execution.jobs import CellJob, WorkerSpec, cell_lock_path
from benchmark.execution.plan import Cell, PlannedCell, make_plan, plan_cell
from benchmark.execution.runner import CellRunner
from benchmark.locks import file_lock, read_holder
from benchmark.protocol.checkpoint import checkpoint_path
from benchmark.results.records import REFERENCE, Record, load_record, record_path

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _record(out: Path, cell: PlannedCell) -> Record:
    record = load_record(record_path(out, cell.task, cell.method, cell.seed))
    assert record is not None, f"no record for {cell.label}"
    return record


def _spec(cfg: RunConfig, out: Path, cache: Path) -> WorkerSpec:
    return WorkerSpec(
        cfg=cfg, out=out, cache_dir=cache, data_root=None, threads=1, executor="local"
    )


# --- settings -----------------------------------------------------------------------


def test_flags_override_the_yaml_section() -> None:
    section = {
        "kind": "slurm",
        "partition": "gpu",
        "time": 120,
        "mem": "32G",
        "slurm": {"qos": "a"},
    }
    flags = {"partition": "debug", "slurm": {"account": "ml"}, "threads": None}
    s = parse_settings(section, flags)
    assert (s.kind, s.partition, s.time, s.mem) == ("slurm", "debug", "120", "32G")
    assert s.slurm == {"qos": "a", "account": "ml"}
    assert parse_slurm_options(["account=ml", "exclusive"]) == {"account": "ml", "exclusive": True}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90", 90), ("30:00", 30), ("30:01", 31), ("1:30:00", 90), ("2-00", 2880), ("1-2:03", 1563)],
)
def test_slurm_time_formats(text: str, expected: int) -> None:
    assert minutes(text) == expected


def test_memory_formats() -> None:
    assert (
        mem_gb("16G") == 16 and mem_gb("512M") == 0.5 and mem_gb("2") == 2 and mem_gb("1T") == 1024
    )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"kind": "slrum"}, "unknown executor 'slrum': did you mean 'slurm'?"),
        ({"wokers": 2}, "unknown executor setting 'wokers': did you mean 'workers'?"),
        ({"workers": 0}, "executor.workers=0 must be at least 1"),
        ({"workers": "two"}, "executor.workers='two' is not a valid int"),
        ({"time": "soon"}, "--slurm-time 'soon' is not a time limit"),
        ({"mem": "lots"}, "--mem 'lots' is not an amount of memory"),
        ({"slurm": {"bad key": 1}}, "--slurm 'bad key' is not an sbatch option name"),
    ],
)
def test_bad_settings_are_user_errors(section: dict[str, object], message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_settings(section, {})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--executor", "slrum"], "unknown executor 'slrum': did you mean 'slurm'?"),
        (["run", "--slurm-time", "soon"], "--slurm-time 'soon' is not a time limit"),
        (["run", "--slurm", "=x"], "--slurm '=x' must look like key=value"),
        (["run", "--workers", "0"], "executor.workers=0 must be at least 1"),
        (["run", "--executor", "slurm"], "--executor slurm needs SLURM's 'sbatch' on PATH"),
        (["status"], "no plan in"),
    ],
)
def test_cli_errors_are_one_line_and_write_nothing(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no SLURM tools on PATH
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists()


# --- jobs ---------------------------------------------------------------------------


def test_cell_job_under_debug_executor(smoke: RunConfig, cache_dir: Path, tmp_path: Path) -> None:
    """A CellJob is a plain submitit job: it runs in-process under DebugExecutor, records
    its job id, and its checkpoint resubmits the very same call (submitit's protocol)."""
    cell = plan_cell(Cell("audio-cls", "l2", 0), smoke)
    work = CellJob(_spec(smoke, tmp_path, cache_dir))
    job = submitit.DebugExecutor(folder=tmp_path / "jobs").submit(work, cell)
    assert job.result() == "ok"
    assert _record(tmp_path, cell).config["run"]["job_id"] == job.job_id
    again = work.checkpoint(cell)
    assert again.function is work and again.args == (cell,)
    assert submitit.DebugExecutor(folder=tmp_path / "jobs").submit(work, cell).result() == (
        "skipped (already done)"
    )


def test_one_slurm_job_runs_a_chunk_of_cells(
    smoke: RunConfig, cache_dir: Path, tmp_path: Path
) -> None:
    """With `executor.cells_per_job`, an array task runs several cells of one (task, seed)
    in one process, one record each; its requeue skips the finished ones."""
    from benchmark.execution.executors import job_chunks
    from benchmark.execution.plan import make_plan

    plan = make_plan(["sketch-cls", "audio-cls"], ["l2", "kd"], [0], smoke)
    chunks = job_chunks(plan, 2)
    assert [[c.method for c in chunk] for chunk in chunks] == [[REFERENCE, "l2"], ["kd"]] * 2
    assert all(len({(c.task, c.seed) for c in chunk}) == 1 for chunk in chunks)
    assert parse_settings({"kind": "slurm", "cells_per_job": 3}, {}).cells_per_job == 3

    work = CellJob(_spec(smoke, tmp_path, cache_dir))
    cells = [c for c in plan if c.task == "audio-cls" and c.method != REFERENCE]
    job = submitit.DebugExecutor(folder=tmp_path / "jobs").submit(work, cells)
    assert job.result() == "ok; ok"
    assert {_record(tmp_path, c.cell).config["run"]["job_id"] for c in cells} == {job.job_id}
    again = submitit.DebugExecutor(folder=tmp_path / "jobs").submit(work, cells)
    assert again.result() == "skipped (already done); skipped (already done)"


def _flock_waiters(path: Path) -> int:
    """How many processes are blocked waiting for the flock on `path` (/proc/locks lists
    waiters with a '->' before the lock type)."""
    inode = f":{path.stat().st_ino} "
    lines = Path("/proc/locks").read_text().splitlines()
    return sum(1 for line in lines if "-> FLOCK" in line and inode in line)


def test_teacher_trained_exactly_once_by_concurrent_jobs(smoke: RunConfig, tmp_path: Path) -> None:
    """Two jobs on an empty cache need the same teacher (their tasks share the RGB source
    pool). The test holds the teacher's lock until both are blocked on it, so they reach
    it at the same moment: one trains, the other waits, then loads what it trained."""
    cells = make_plan(["sketch-cls", "depth-cls"], [], [0], smoke)  # their reference cells
    probe = CellRunner(smoke, tmp_path / "probe", CPU).run(cells[1])  # key and metrics
    cache, out = tmp_path / "cache", tmp_path / "out"
    lock = cache / "teachers" / f"teacher-{probe.teacher['key']}.lock"
    executor = submitit.LocalExecutor(folder=tmp_path / "jobs" / "%j")
    executor.update_parameters(timeout_min=10)
    with file_lock(lock, holder={"job_id": "test"}):
        jobs = executor.map_array(CellJob(_spec(smoke, out, cache)), cells)
        _wait_for(lambda: _flock_waiters(lock) == 2, "both jobs to wait for the teacher")
    assert [j.result() for j in jobs] == ["ok"] * 2

    records = [_record(out, c) for c in cells]
    assert {r.teacher["key"] for r in records} == {probe.teacher["key"]}
    assert sorted(r.teacher["trained_now"] for r in records) == [False, True]
    trained = (cache / "teachers" / "trained.jsonl").read_text().splitlines()
    assert len(trained) == 1, trained
    # Each task's all-labels reference is its own entry, also trained once.
    assert len((cache / "references" / "trained.jsonl").read_text().splitlines()) == 2
    assert records[1].metrics == probe.metrics


@pytest.fixture
def longer(smoke: RunConfig) -> RunConfig:
    return dataclasses.replace(smoke, distill=dataclasses.replace(smoke.distill, epochs=12))


def test_timeout_and_preemption_requeue_and_resume(
    longer: RunConfig, cache_dir: Path, tmp_path: Path
) -> None:
    """Attempt 1 is held at the cell's lock until the time limit's warning signal (USR2,
    20 s into every attempt): submitit checkpoints and requeues it. Attempt 2 computes,
    and once its first epochs are saved it gets the same signal, as from a preemption.
    Attempt 3 resumes from the saved epoch and ends with the uninterrupted record."""
    cell = plan_cell(Cell("sketch-cls", "crd", 0), longer)
    whole = CellRunner(longer, cache_dir, CPU).run(cell)
    executor = submitit.LocalExecutor(folder=tmp_path / "jobs" / "%j", max_num_timeout=5)
    executor.update_parameters(timeout_min=0.5, signal_delay_s=10)
    with file_lock(cell_lock_path(tmp_path, cell), holder={"job_id": "test"}):
        job = executor.submit(CellJob(_spec(longer, tmp_path, cache_dir)), cell)
        _wait_for(lambda: "Requeued job" in (job.stdout() or ""), "the time limit's requeue")
    _wait_for(checkpoint_path(tmp_path, cell.task, cell.method, cell.seed).is_file, "an epoch")
    os.kill(read_holder(cell_lock_path(tmp_path, cell))["pid"], signal.SIGUSR2)

    assert job.result() == "ok"
    log = (job.stdout() or "") + (job.stderr() or "")
    assert "this job is timed-out" in log and log.count("Requeued job") >= 2
    record = _record(tmp_path, cell)
    assert record.config["run"]["resumed_epoch"] >= 1
    assert record.metrics == whole.metrics and record.losses == whole.losses


def test_threads_per_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inline uses every core; local workers split them; --threads always wins."""
    from benchmark.execution.executor_settings import ExecutorSettings

    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert ExecutorSettings("inline").resolved_threads() == 4
    local = ExecutorSettings("local")
    assert (local.resolved_threads(), local.resolved_workers()) == (1, 4)
    two = ExecutorSettings("local", workers=2)
    assert (two.resolved_threads(), two.resolved_workers()) == (2, 2)
    assert ExecutorSettings("local", threads=3).resolved_workers() == 1
    assert ExecutorSettings("slurm").resolved_threads() == 4
    assert ExecutorSettings("inline", threads=1).resolved_threads() == 1


def test_order_gates_on_a_method_cell_then_longest_work_first(smoke: RunConfig) -> None:
    """Each (task, seed)'s first method cell is its gate (it trains the teacher); then
    references before method cells, segmentation before classification, plan order."""
    from benchmark.execution.order import Order, inline_order
    from benchmark.execution.plan import make_plan

    plan = make_plan(["sketch-cls", "depth-seg"], ["l2", "crd"], [0], smoke)
    order = Order(plan)
    ranked = sorted(plan, key=order.priority)
    assert [(c.task, c.method) for c in ranked] == [
        ("depth-seg", "l2"),
        ("sketch-cls", "l2"),
        ("depth-seg", REFERENCE),
        ("sketch-cls", REFERENCE),
        ("depth-seg", "crd"),
        ("sketch-cls", "crd"),
    ]
    assert [order.gate(c) for c in plan[:3]] == [plan[1], None, plan[1]]
    assert [(c.task, c.method) for c in inline_order(plan)][:3] == [
        ("sketch-cls", "l2"),
        ("sketch-cls", REFERENCE),
        ("sketch-cls", "crd"),
    ]
    # seeds past those reporting headroom have no reference cell, and are gated all the same
    later = make_plan(["sketch-cls"], ["l2", "crd"], [smoke.seeds], smoke)
    assert [c.method for c in later] == ["l2", "crd"]
    assert [Order(later).gate(c) for c in later] == [None, later[0]]
    # `bench tune`'s trials (an evaluation hook, no reference): their teacher exists, no gate
    trials = [dataclasses.replace(c, evaluation=object()) for c in plan if c.method != REFERENCE]
    assert all(Order(trials).gate(c) is None for c in trials)  # type: ignore[arg-type]


def test_executors_are_one_registry_the_settings_agree_with() -> None:
    """`--executor` names (listed before the executors are imported) are exactly the
    registered executors, and each answers `bench status`'s two questions."""
    from benchmark.execution.executor_settings import EXECUTORS
    from benchmark.execution.executors import EXECUTOR_REGISTRY, watchers

    assert sorted(EXECUTORS) == sorted(EXECUTOR_REGISTRY.names())
    watching = watchers()
    assert watching["local"].job_ended({"executor": "local", "job_id": "999999999"})
    assert not watching["inline"].job_ended({"executor": "inline", "job_id": "pid1"})
    assert watching["inline"].live_states([{"job_id": "1"}]) == {}
