"""Long-lived local workers (`benchmark.execution.workers`): one worker process, forked
from a server that imported the stack once, runs many cells and writes the records an
inline run writes at the same thread count; `kill -9` of
a worker mid-cell loses only that cell, which the next run resumes from its epoch
checkpoint. (`kill -9` of the parent: tests/execution/test_killed_run_resumes.py.)"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from benchmark.config import resolve
from benchmark.execution.jobs import cell_lock_path
from benchmark.execution.plan import Cell, make_plan
from benchmark.execution.runner import CellRunner
from benchmark.locks import read_holder
from benchmark.protocol.checkpoint import checkpoint_path
from benchmark.results.records import read_records

BENCH = Path(sys.executable).parent / "bench"
EPOCHS = {"distill": {"epochs": 16}}
ARGS = [
    "run", "--profile", "smoke", "--methods", "l2,kd", "--tasks", "sketch-cls", "--seeds", "1",
    "--threads", "1", "--set", "distill.epochs=16", "--executor", "local", "--workers", "1",
]  # fmt: skip


@pytest.fixture(scope="module")
def inline(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict]:
    """The plan's metrics, run inline in this process on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    runner = CellRunner(
        resolve("smoke", None, EPOCHS), tmp_path_factory.mktemp("c"), torch.device("cpu")
    )
    cfg = resolve("smoke", None, EPOCHS)
    records = [runner.run(c) for c in make_plan(["sketch-cls"], ["l2", "kd"], [0], cfg)]
    torch.set_num_threads(before)
    return {(r.task, r.method): r.metrics for r in records}


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _bench(tmp_path: Path) -> list[str]:
    out, cache = tmp_path / "out", tmp_path / "cache"
    return [str(BENCH), *ARGS, "--out", str(out), "--cache-dir", str(cache)]


def test_one_worker_runs_every_cell_like_inline(
    tmp_path: Path, inline: dict[tuple[str, str], dict]
) -> None:
    done = subprocess.run(_bench(tmp_path), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    records = read_records(tmp_path / "out")
    assert len(records) == 3 and all(r.ok for r in records)
    pids = {r.config["run"]["job_id"] for r in records}
    assert len(pids) == 1, pids  # three cells, one process
    assert {(r.task, r.method): r.metrics for r in records} == inline
    assert "sketch-cls l2 seed 0: fine-tune" in done.stdout + done.stderr  # a line per cell
    report = json.loads((tmp_path / "out" / "jobs" / "workers.json").read_text())
    if "forkserver" in multiprocessing.get_all_start_methods():  # the stack imported once
        assert report["start"]["method"] == "forkserver"
        assert report["start"]["shared_import_cpu_s"] > 0


def test_kill_9_of_a_worker_loses_only_its_cell(
    tmp_path: Path, inline: dict[tuple[str, str], dict]
) -> None:
    """The worker running l2 is killed once l2 has an epoch checkpoint: l2 is failed, the
    plan goes on with a fresh worker (kd finishes), and the next run resumes l2."""
    out = tmp_path / "out"
    run = subprocess.Popen(_bench(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        cell = Cell("sketch-cls", "l2", 0)
        _wait_for(checkpoint_path(out, cell.task, cell.method, cell.seed).is_file, "an l2 epoch")
        worker = read_holder(cell_lock_path(out, cell))["pid"]
        assert worker != run.pid
        os.kill(worker, signal.SIGKILL)
        stdout, _ = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 1, stdout.decode()[-2000:]  # a failed cell
    states = {(r.method, r.status) for r in read_records(out)}
    assert states == {("_reference", "ok"), ("kd", "ok"), ("l2", "failed")}, states

    again = subprocess.run(_bench(tmp_path), capture_output=True, text=True)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    records = {r.method: r for r in read_records(out)}
    assert records["l2"].config["run"]["resumed_epoch"] >= 1
    assert {("sketch-cls", m): r.metrics for m, r in records.items()} == inline
