"""`kill -9` of `bench run` mid-plan, inline and with local workers, then the same command
again: the plan completes, finished cells are not recomputed, no record is lost,
duplicated or half-written, no teacher is trained twice, and the metrics equal an
uninterrupted run's (a cell killed mid-distillation resumes from its epoch checkpoint)."""

from __future__ import annotations

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
from benchmark.execution.executors import watchers
from benchmark.execution.jobs import cell_lock_path
from benchmark.execution.plan import expand, make_plan
from benchmark.execution.runner import CellRunner
from benchmark.execution.status import cell_states
from benchmark.locks import is_held
from benchmark.results.records import read_records

BENCH = Path(sys.executable).parent / "bench"
PLAN = ["--methods", "l2,crd", "--tasks", "sketch-cls", "--seeds", "1"]
ARGS = ["run", "--profile", "smoke", *PLAN, "--threads", "1", "--set", "distill.epochs=16"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict]:
    """The plan's metrics from one uninterrupted inline run in this process."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    cfg = resolve("smoke", None, {"distill": {"epochs": 16}})
    runner = CellRunner(cfg, tmp_path_factory.mktemp("cache"), torch.device("cpu"))
    records = [runner.run(c) for c in make_plan(["sketch-cls"], ["l2", "crd"], [0], cfg)]
    torch.set_num_threads(before)
    return {(r.task, r.method): r.metrics for r in records}


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _checkpoints(out: Path) -> list[Path]:
    return sorted((out / "checkpoints").rglob("*.pt")) if (out / "checkpoints").is_dir() else []


def _bench(out: Path, cache: Path, *extra: str) -> list[str]:
    return [str(BENCH), *ARGS, "--out", str(out), "--cache-dir", str(cache), *extra]


def _kill_mid_plan_then_rerun(tmp_path: Path, *extra: str) -> Path:
    out, cache = tmp_path / "out", tmp_path / "cache"
    log = (tmp_path / "killed.log").open("w")
    run = subprocess.Popen(_bench(out, cache, *extra), stdout=log, stderr=subprocess.STDOUT)
    try:
        # crd runs last: by its first epoch the gate (l2, which trained the teacher) is done.
        crd = out / "checkpoints" / "sketch-cls" / "crd"
        _wait_for(lambda: bool(list(crd.glob("*.pt"))) or run.poll() is not None, "a crd epoch")
        assert run.poll() is None, (tmp_path / "killed.log").read_text()
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    cells = expand(["sketch-cls"], ["l2", "crd"], [0])
    # Workers end with their run; then no cell is held by anyone.
    _wait_for(lambda: not any(is_held(cell_lock_path(out, c)) for c in cells), "workers to end")
    states = {s.label: s.state for s in cell_states(out, watchers())}
    assert states["sketch-cls/l2/seed0"] == "done" and states["sketch-cls/crd/seed0"] != "done"
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*.json")}
    assert stamps, "the gate cell finished before the kill"

    again = subprocess.run(_bench(out, cache, *extra), capture_output=True, text=True)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    for path, stamp in stamps.items():  # finished cells were not recomputed
        assert path.stat().st_mtime_ns == stamp, path
    return out


def _check_completed(out: Path, uninterrupted: dict[tuple[str, str], dict]) -> None:
    files = sorted(p.relative_to(out / "runs").as_posix() for p in (out / "runs").rglob("*"))
    assert files == [
        "sketch-cls",
        "sketch-cls/_reference",
        "sketch-cls/_reference/seed0.json",
        "sketch-cls/crd",
        "sketch-cls/crd/seed0.json",
        "sketch-cls/l2",
        "sketch-cls/l2/seed0.json",
    ], files  # one record per cell, no temp file left behind
    records = read_records(out)
    assert all(r.ok for r in records), [r.reason for r in records]
    assert {(r.task, r.method): r.metrics for r in records} == uninterrupted
    assert any(r.config.get("run", {}).get("resumed_epoch", 0) >= 1 for r in records)
    assert not _checkpoints(out)
    trained = (out.parent / "cache" / "teachers" / "trained.jsonl").read_text().splitlines()
    assert len(trained) == 1, trained  # the teacher was trained once, before the kill
    assert {s.state for s in cell_states(out, watchers())} == {"done"}


def test_kill_9_inline_run_then_rerun(
    tmp_path: Path, uninterrupted: dict[tuple[str, str], dict]
) -> None:
    out = _kill_mid_plan_then_rerun(tmp_path)
    _check_completed(out, uninterrupted)


def test_kill_9_local_run_then_rerun(
    tmp_path: Path, uninterrupted: dict[tuple[str, str], dict]
) -> None:
    out = _kill_mid_plan_then_rerun(tmp_path, "--executor", "local", "--workers", "2")
    _check_completed(out, uninterrupted)
