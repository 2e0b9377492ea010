"""The plan manifest (`<out>/plan.json`) and `bench status`.

`bench run` writes the manifest: every cell it planned, with the config hash a record
must carry to count, and the job each cell was last given to (executor, job id, log
paths). Workers never write it (they write only their own records), and each `bench run`
updates it under a short lock, read-modify-write, atomically, so concurrent runs on one
folder keep each other's cells.

A cell's state, from what is on disk and what the scheduler says:
- done: an ok record with the manifest's hash;
- running: its cell lock is held (a worker is inside it), or SLURM says RUNNING;
- queued: SLURM has its job, not yet running (pending, requeued, held);
- failed: a failed record with the manifest's hash (reason and log path), or its job has
  ended without leaving any record (killed, cancelled, out of memory);
- pending: none of these: not started, or left unfinished by a killed inline run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from benchmark.errors import UserError
from benchmark.execution.jobs import cell_lock_path
from benchmark.execution.plan import Cell, PlannedCell, counts
from benchmark.locks import file_lock, is_held, read_holder
from benchmark.results.records import load_record
from benchmark.storage import read_input, write_json
from benchmark.tracks import SUPERVISED

if TYPE_CHECKING:
    from benchmark.execution.executor_settings import ExecutorSettings
    from benchmark.execution.jobs import PlanRun

MANIFEST = "plan.json"
SCHEMA = 1
MAX_MANIFEST_BYTES = 256 << 20  # ~300 bytes a cell: far beyond any plan's size
# squeue states of a job that will still run (or is running).
QUEUED = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED", "RESIZING"}
ACTIVE = {"RUNNING", "CONFIGURING", "COMPLETING", "STAGE_OUT", "SIGNALING"}


def manifest_path(out: Path) -> Path:
    return out / MANIFEST


def read_manifest(out: Path) -> dict[str, Any]:
    path = manifest_path(out)
    if not os.path.lexists(path):
        return {"schema": SCHEMA, "runs": [], "cells": [], "jobs": {}}
    try:  # read_input: a FIFO or device here would block or never end
        loaded = json.loads(read_input(path, "the plan manifest", MAX_MANIFEST_BYTES))
    except ValueError as err:
        raise UserError(f"cannot read the plan manifest '{path}': {str(err)[:120]}") from None
    except RecursionError:
        raise UserError(f"the plan manifest '{path}' is nested too deeply") from None
    problem = manifest_problem(loaded)
    if problem:
        raise UserError(
            f"the plan manifest '{path}' is malformed ({problem}): move it aside and "
            "re-run 'bench run' with the same arguments to write a fresh one"
        )
    return loaded


_CELL_FIELDS = {"label": str, "task": str, "method": str, "seed": int, "config_hash": str}


def manifest_problem(manifest: Any) -> str:
    """What is wrong with a manifest's shape ('' when nothing)."""
    if not isinstance(manifest, dict):
        return f"a {type(manifest).__name__}, not a mapping"
    for name, kind in (("runs", list), ("cells", list), ("jobs", dict)):
        if name in manifest and not isinstance(manifest[name], kind):
            return f"'{name}' is not a {kind.__name__}"
    for i, cell in enumerate(manifest.get("cells", [])):
        if not isinstance(cell, dict):
            return f"cells[{i}] is not a mapping"
        for name, kind in _CELL_FIELDS.items():
            value = cell.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                return f"cells[{i}].{name}={value!r} is not a {kind.__name__}"
    for label, job in manifest.get("jobs", {}).items():
        if not isinstance(job, dict):
            return f"jobs[{label!r}] is not a mapping"
    return ""


@contextlib.contextmanager
def editing_manifest(out: Path):  # -> Iterator[dict[str, Any]]
    """Read, let the caller change, write back atomically, under the manifest's lock."""
    with file_lock(out / "locks" / "manifest.lock"):
        manifest = read_manifest(out)
        yield manifest
        write_json(manifest_path(out), manifest)


def add_run(out: Path, run: dict[str, Any], cells: list[dict[str, Any]]) -> None:
    """Record a `bench run` and its cells (in plan order; cells of earlier runs on the same
    folder stay, a cell planned again takes its new hash)."""
    with editing_manifest(out) as manifest:
        manifest["runs"] = [*manifest.get("runs", [])[-19:], run]
        fresh = {c["label"]: c for c in cells}
        kept = [fresh.pop(c["label"], c) for c in manifest.get("cells", [])]
        manifest["cells"] = kept + [c for c in cells if c["label"] in fresh]


def add_jobs(out: Path, jobs: dict[str, dict[str, Any]]) -> None:
    with editing_manifest(out) as manifest:
        manifest.setdefault("jobs", {}).update(jobs)


def plan_cells(cells: list[PlannedCell]) -> list[dict[str, Any]]:
    """The manifest entries of a plan's cells: identity and the hash a record must carry."""
    return [
        {
            "label": c.label,
            "task": c.task,
            "method": c.method,
            "seed": c.seed,
            "track": c.track,
            "config_hash": c.hash,
        }
        for c in cells
    ]


def run_entry(plan: PlanRun, settings: ExecutorSettings, cells: int) -> dict[str, Any]:
    """What the manifest keeps of one `bench run` (the last 20 are kept)."""
    executor = {k: v for k, v in dataclasses.asdict(settings).items() if v not in (None, {})}
    return {
        "started": plan.started,
        "argv": sys.argv[1:],
        "pid": os.getpid(),
        "cells": cells,
        "threads": plan.threads,
        "executor": executor,
    }


def squeue_states(job_ids: list[str]) -> dict[str, str]:
    """SLURM's state of each of `job_ids` still known to it ("123_4" → "RUNNING"); jobs
    that ended are absent. Empty without `squeue` (no SLURM here). Uses squeue, not
    sacct, because sacct needs an accounting database that small clusters lack."""
    if not job_ids or shutil.which("squeue") is None:
        return {}
    cmd = ["squeue", "--noheader", "--array", "--user", getpass.getuser(), "--format=%i|%T"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as err:
        raise RuntimeError(f"squeue failed: {err}") from err
    wanted = set(job_ids)
    states: dict[str, str] = {}
    for line in done.stdout.splitlines():
        job_id, _, state = line.strip().partition("|")
        if job_id in wanted:
            states[job_id] = state
    return states


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class CellState:
    label: str
    state: str  # done | running | queued | failed | pending
    job_id: str = ""
    detail: str = ""
    cell: Cell | None = None  # the planned cell the label names (set by `cell_states`)


class JobWatcher(Protocol):
    """What `bench status` asks an executor about the jobs it made (`benchmark.execution.executors`
    implements it per executor; status never tests an executor's name)."""

    def live_states(self, jobs: list[dict[str, Any]]) -> dict[str, str]:
        """Scheduler states ("RUNNING", "PENDING", ...) of those of `jobs` still known to
        the scheduler, by job id."""
        ...

    def job_ended(self, job: dict[str, Any]) -> bool:
        """Whether `job`, absent from `live_states`, is over."""
        ...


def cell_states(out: Path, watchers: Mapping[str, JobWatcher]) -> list[CellState]:
    """The state of every cell in the manifest, in plan order; `watchers` maps each
    executor's name to what can tell its jobs' state (`benchmark.execution.executors.WATCHERS`)."""
    manifest = read_manifest(out)
    if not manifest.get("cells"):
        raise UserError(f"no plan in '{out}': start one with 'bench run --out {out} ...'")
    jobs: dict[str, dict[str, Any]] = manifest.get("jobs", {})
    queue: dict[str, str] = {}
    for name, watcher in watchers.items():
        own = [j for j in jobs.values() if j.get("executor") == name]
        if own:
            queue.update(watcher.live_states(own))
    states = []
    for cell in manifest["cells"]:
        label = cell["label"]
        job = jobs.get(label, {})
        watcher = watchers.get(str(job.get("executor", "")))
        ended = bool(job) and watcher is not None and watcher.job_ended(job)
        state = _state(out, label, cell, job, queue, ended)
        state.cell = Cell(
            cell["task"], cell["method"], int(cell["seed"]), cell.get("track", SUPERVISED)
        )
        states.append(state)
    return states


def _state(
    out: Path,
    label: str,
    cell: dict[str, Any],
    job: dict[str, Any],
    queue: dict[str, str],
    job_ended: bool,
) -> CellState:
    # A manifest cell without a track is supervised (benchmark.hashing,
    # record-without-track).
    planned = Cell(cell["task"], cell["method"], int(cell["seed"]), cell.get("track", SUPERVISED))
    path = planned.record_path(out)
    record = load_record(path) if path.is_file() else None
    current = record is not None and record.config_hash == cell["config_hash"]
    job_id = str(job.get("job_id", ""))
    if counts(record, cell["config_hash"]):
        assert record is not None
        run = record.config.get("run", {})
        detail = "not applicable" if not record.ok else ""
        return CellState(label, "done", str(run.get("job_id", job_id)), detail)
    lock = cell_lock_path(out, planned)
    if is_held(lock):
        holder = read_holder(lock)
        where = holder.get("host", "?")
        return CellState(label, "running", str(holder.get("job_id", job_id)), f"on {where}")
    state = queue.get(job_id, "")
    if state in ACTIVE:
        return CellState(label, "running", job_id, state.lower())
    if state in QUEUED:
        return CellState(label, "queued", job_id, state.lower())
    if record is not None and current:
        run = record.config.get("run", {})
        log = run.get("log") or job.get("log") or str(path)
        return CellState(label, "failed", str(run.get("job_id", job_id)), f"{record.reason}; {log}")
    if job_ended:
        detail = f"job ended without a record; log {job.get('log', '-')}"
        return CellState(label, "failed", job_id, detail)
    if record is not None and record.done:  # judged by its hash: not this plan's answer
        other = f"its record was made with other settings (profile {record.profile[:40]})"
        return CellState(label, "pending", job_id, other)
    return CellState(label, "pending", job_id, "")


def summary(states: list[CellState]) -> dict[str, int]:
    counts = {name: 0 for name in ("done", "running", "queued", "failed", "pending")}
    for s in states:
        counts[s.state] += 1
    return counts
