"""The worker side of every executor: run one cell and write its record, safely.

`record_cell` is the one way a cell's record gets written, inline or in a job:
1. take the cell's lock (`<out>/locks/<task>/<method>/seed<k>.lock`), so two processes
   given the same cell (a re-run while an orphaned worker still runs it, a requeued job
   next to a resubmitted one) never compute it twice: the second waits, then skips;
2. skip a cell whose record is already done (a requeued job whose first run had
   finished, a re-run after a crash);
3. run it (resuming from its epoch checkpoint, if any), write the record atomically,
   then remove the checkpoint.
A process killed at any moment therefore leaves either no record (the cell is pending,
and its checkpoint lets it resume) or a complete one, never half of one or two.

`CellJob` is what local workers and SLURM array tasks execute. It is a submitit
`Checkpointable`: on SLURM's pre-timeout or preemption signal submitit calls its
`checkpoint`, which resubmits the very same call; the requeued job resumes from the epoch
checkpoint on disk, which holds all the state (the job object holds none).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import submitit

from benchmark.config import RunConfig
from benchmark.execution.plan import Cell, PlannedCell, counts, is_done
from benchmark.locks import file_lock
from benchmark.protocol.checkpoint import remove_cell_checkpoints
from benchmark.results.records import Record, load_record, write_record
from benchmark.storage import disk_full
from benchmark.tracks import file_suffix

if TYPE_CHECKING:
    from benchmark.execution.runner import CellRunner

log = logging.getLogger(__name__)


def cell_lock_path(out: Path, cell: Cell | PlannedCell) -> Path:
    name = f"seed{cell.seed}{file_suffix(cell.track)}.lock"
    return out / "locks" / cell.task / cell.method / name


def now_iso() -> str:
    """The timestamp format of `Record.created`."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def finished(out: Path, cell: PlannedCell, redo_before: str | None = None) -> bool:
    """Done (`plan.counts`), and made at or after `redo_before` when given, which is how
    `--force` tells its own fresh records from the old ones."""
    path = cell.record_path(out)
    record = load_record(path) if path.is_file() else None
    if not counts(record, cell.hash):
        return False
    assert record is not None
    return redo_before is None or _parse(record.created) >= _parse(redo_before)


def _parse(stamp: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(stamp)
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.UTC)


def record_cell(
    runner: CellRunner,
    out: Path,
    cell: PlannedCell,
    job: dict[str, Any],
    redo_before: str | None = None,
) -> Record | None:
    """Run `cell` unless it is finished and write its record; None when skipped."""

    def waiting(holder: dict[str, Any]) -> None:
        log.warning("%s is being run by %s; waiting for it", cell.label, holder or "another job")

    with file_lock(cell_lock_path(out, cell), holder={"cell": cell.label, **job}, on_wait=waiting):
        if finished(out, cell, redo_before):
            return None
        try:
            record = runner.run(cell)
            record.config.setdefault("run", {}).update(job)
            write_record(out, record)
        except Exception as err:
            if disk_full(err):  # its checkpoint would leave the next attempt no space
                remove_cell_checkpoints(out, cell.task, cell.method, cell.seed, cell.track)
            raise
        # Its folder stays: removing emptied folders could race another job creating its
        # checkpoint there.
        remove_cell_checkpoints(out, cell.task, cell.method, cell.seed, cell.track)
        return record


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a job needs besides its cell; small, so it pickles cheaply."""

    cfg: RunConfig
    out: Path
    cache_dir: Path
    data_root: Path | None
    threads: int
    executor: str
    redo_before: str | None = None
    owner_pid: int | None = None  # local workers end when this process (`bench run`) dies


@dataclass
class PlanRun:
    """One `bench run`: what to run and where its results go."""

    cfg: RunConfig
    out: Path
    cache_dir: Path
    data_root: Path | None
    threads: int
    force: bool = False
    started: str = field(default_factory=now_iso)

    def spec(self, executor: str, owner_pid: int | None = None) -> WorkerSpec:
        return WorkerSpec(
            cfg=self.cfg,
            out=self.out.resolve(),
            cache_dir=self.cache_dir.resolve(),
            data_root=self.data_root.resolve() if self.data_root else None,
            threads=self.threads,
            executor=executor,
            redo_before=self.started if self.force else None,
            owner_pid=owner_pid,
        )


def job_info(executor: str) -> dict[str, Any]:
    """This job's id and log paths, as submitit knows them."""
    info: dict[str, Any] = {"executor": executor}
    try:
        env = submitit.JobEnvironment()
    except RuntimeError:  # not inside a submitit job
        return {**info, "job_id": f"pid{os.getpid()}"}
    info["job_id"] = env.job_id
    try:
        paths = env.paths
    except KeyError:  # submitit's DebugExecutor runs in-process, without a job folder
        return info
    return {**info, "log": str(paths.stdout), "err": str(paths.stderr)}


def _end_with_owner(pid: int) -> None:
    """Exit as soon as `pid` is gone: a local worker must not outlive the `bench run` that
    started it (after `kill -9` of the run, its workers would otherwise go on computing
    behind the user's back). Exiting mid-cell is as safe as any kill: see `record_cell`."""

    def watch() -> None:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(143)
            except PermissionError:  # alive, owned by someone else
                pass
            time.sleep(0.25)

    threading.Thread(target=watch, name="owner-watch", daemon=True).start()


def process_runner(spec: WorkerSpec) -> CellRunner:
    """The runner a job or worker process runs its cells with, set up once for the
    process: it ends with its owner (`spec.owner_pid`), and torch uses the spec's threads."""
    import torch

    from benchmark.execution.provenance import default_device
    from benchmark.execution.runner import CellRunner

    if spec.owner_pid is not None:
        _end_with_owner(spec.owner_pid)
    torch.set_num_threads(spec.threads)
    return CellRunner(
        spec.cfg,
        spec.cache_dir,
        default_device(),
        data_root=spec.data_root,
        out=spec.out,
        threads=spec.threads,
    )


class CellJob(submitit.helpers.Checkpointable):
    """One cell, or several cells of one (task, seed) run one after another by one process
    (a SLURM array task with `executor.cells_per_job` > 1: the stack is imported, and the
    (task, seed)'s data, teacher and input gap loaded, once for all of them), as a
    submitit job. The inherited `checkpoint` resubmits the same call; each cell's progress
    lives in its record and epoch checkpoint files, not in this object, so a requeued job
    skips the cells it finished and resumes the one it was in."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec

    def __call__(self, cells: PlannedCell | list[PlannedCell]) -> str:
        spec = self.spec
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        runner = process_runner(spec)
        job = job_info(spec.executor)
        statuses = []
        for cell in cells if isinstance(cells, list) else [cells]:
            log.info("%s: job %s, %d torch threads", cell.label, job["job_id"], spec.threads)
            record = record_cell(runner, spec.out, cell, job, spec.redo_before)
            status = "skipped (already done)" if record is None else record.status
            log.info("%s: %s", cell.label, status)
            statuses.append(status)
        return "; ".join(statuses)


def failed_record(cell: PlannedCell, reason: str, job: dict[str, Any]) -> Record:
    """The record of a cell whose job died without writing one (killed, out of memory,
    node failure, cancelled): the reason and the job's log, so the plan shows why."""
    config = {**cell.payload, "run": dict(job)}
    return Record(
        task=cell.task,
        method=cell.method,
        seed=cell.seed,
        status="failed",
        config_hash=cell.hash,
        profile=cell.cfg.profile,
        track=cell.track,
        reason=reason,
        config=config,
    )


def log_tail(path: str | None, lines: int = 1) -> str:
    """The last non-empty lines of a job's log (where a dying job says why)."""
    if not path:
        return ""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def settle(cell: PlannedCell, out: Path, job: dict[str, Any], since: str) -> Record:
    """After a job ended: its record, or a failed one written now if it left none (a
    failed record the job itself wrote, after `since`, stands)."""
    path = cell.record_path(out)
    record = load_record(path) if path.is_file() else None
    fresh = record is not None and (record.done or _parse(record.created) >= _parse(since))
    if record is not None and fresh and record.config_hash == cell.hash:
        return record
    tail = log_tail(job.get("err")) or log_tail(job.get("log"))
    reason = f"job {job.get('job_id', '?')} ended without writing a record"
    reason += f" (killed, out of memory or cancelled?); log {job.get('log', '-')}"
    if tail:
        reason += f"; last line: {tail[:200]}"
    with file_lock(cell_lock_path(out, cell), holder={"cell": cell.label, "settling": True}):
        if is_done(out, cell):  # finished meanwhile by another job
            loaded = load_record(path)
            assert loaded is not None
            return loaded
        record = failed_record(cell, reason, job)
        write_record(out, record)
    return record
