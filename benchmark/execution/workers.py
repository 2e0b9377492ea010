"""Long-lived local workers: `--executor local` runs a plan's cells on N worker processes
that each import the stack once and run many cells, one at a time.

Why: a process per cell pays the imports (torch, timm, every method) and reloads the
cell's (task, seed) data, teacher and input gap every time. A worker keeps one
`CellRunner` for its whole life, which holds the last (task, seed)'s data, teacher and
input gap in memory, and the parent hands a free worker, among the cells that are ready
and equally urgent, one of the (task, seed) it ran last (`pick`).

Protocol: the parent (`bench run`) talks to each worker over a pipe. It sends one
`PlannedCell` at a time (None: stop); the worker runs it through `record_cell` (the same
cell lock, skip-if-done, checkpoint resume and atomic record as every executor) and
answers with the cell's status. So:
- a worker killed mid-cell (`kill -9`, out of memory) loses only that cell: the parent
  sees the process end, settles the cell (a failed record naming the worker's log, unless
  the cell's record was written meanwhile) and starts a fresh worker for the rest;
- a killed parent loses nothing finished (every record is written by the worker before
  it answers), and its workers end with it (`benchmark.execution.jobs`' owner watch; a
  worker waiting for its next cell also sees the pipe close);
- `--slurm-time`/`executor.time` is a per-cell limit here: the parent kills a worker whose
  cell runs past it and queues the cell again (it resumes from its epoch checkpoint), at
  most `max_requeues` times, then fails it.

Workers start from a fork server that has imported the stack once
(`benchmark.execution.worker_preload`; `warm_up` starts it while the parent still plans),
so N workers cost one import, not N; where the platform has no fork server they are
spawned and each imports on its own. Either way a worker starts with a fresh copy of the
modules, never the parent's state, and takes the parent's environment as it is when the
worker starts.

Each worker writes its log to `<out>/jobs/local-<pid>/worker.log`; the manifest's job of a
cell names the worker's pid and that log. What each worker did (start, busy and idle
seconds, cells) and what the shared import cost goes to `<out>/jobs/workers.json` at the
end of the run, which `bench perf` reads for the worker overhead (busy worker-seconds plus
the shared import, over the cells' own seconds).
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from benchmark.execution.executor_settings import ExecutorSettings, minutes
from benchmark.execution.jobs import PlanRun, WorkerSpec, now_iso, settle
from benchmark.execution.order import Order
from benchmark.execution.plan import PlannedCell
from benchmark.execution.status import add_jobs
from benchmark.results.records import Record

log = logging.getLogger(__name__)

STOP = None
PRELOAD = "benchmark.execution.worker_preload"


def worker_context() -> multiprocessing.context.BaseContext:
    """The fork server preloaded with the stack where the platform has one, else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([PRELOAD])  # read when the server starts, once
    return context


def warm_up() -> None:
    """Start the fork server now, so its import runs while the caller goes on planning;
    a no-op where workers are spawned or the server already runs."""
    if worker_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _redirect_output(path: Path) -> None:
    """The worker's stdout and stderr (its own and any library's) go to its log file, not
    to the terminal the parent draws its progress bars on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def log_path(out: Path, pid: int) -> Path:
    return out / "jobs" / f"local-{pid}" / "worker.log"


def worker_main(spec: WorkerSpec, conn: Connection, environ: dict[str, str]) -> None:
    """A worker's life: set up once, then run cells until told to stop or the pipe closes.
    `environ` is the parent's environment when it started the worker (the fork server's
    is the one it had when the server started)."""
    os.environ.clear()
    os.environ.update(environ)
    path = log_path(spec.out, os.getpid())
    _redirect_output(path)
    import sys

    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 (lives as long as we do)
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from benchmark.execution.jobs import process_runner, record_cell
    from benchmark.execution.worker_preload import PRELOAD_CPU_S

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    runner = process_runner(spec)
    job = {"executor": spec.executor, "job_id": str(os.getpid()), "log": str(path)}
    log.info("worker %d ready: %d torch threads", os.getpid(), spec.threads)
    conn.send(("ready", repr(PRELOAD_CPU_S)))
    while True:
        try:
            cell = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if cell is STOP:
            return
        log.info("%s: start", cell.label)
        record = record_cell(runner, spec.out, cell, job, spec.redo_before)
        status = "skipped (already done)" if record is None else record.status
        log.info("%s: %s", cell.label, status)
        conn.send(("done", status))


@dataclass
class Worker:
    """The parent's handle on one worker process and what it has done so far."""

    process: Any  # multiprocessing.Process (fork-server or spawn context)
    conn: Connection
    started: float
    ready: bool = False
    timed_out: bool = False  # killed by the parent for running past the time limit
    cell: Any = None  # the PlannedCell it runs now
    since: float = 0.0  # when it got `cell`
    last: tuple[str, int, str] | None = None  # (task, seed, track) of its previous cell
    idle_since: float | None = None
    idle: float = 0.0  # seconds spent ready and waiting for a cell
    cells: int = 0
    ended: float | None = None

    @property
    def pid(self) -> int:
        return int(self.process.pid)


@dataclass
class Pool:
    """N long-lived workers, started on demand and replaced when one dies."""

    spec: WorkerSpec
    size: int
    workers: list[Worker] = field(default_factory=list)
    history: list[Worker] = field(default_factory=list)

    preload_cpu_s: float | None = None  # the fork server's import, shared by every worker

    def __post_init__(self) -> None:
        self.context = worker_context()

    def start(self) -> Worker:
        parent, child = self.context.Pipe()
        process = self.context.Process(
            target=worker_main,
            args=(self.spec, child, dict(os.environ)),
            name="xmd-worker",
            daemon=False,
        )
        process.start()
        child.close()
        worker = Worker(process, parent, time.perf_counter())
        self.workers.append(worker)
        self.history.append(worker)
        return worker

    def fill(self, wanted: int) -> None:
        while len(self.workers) < min(self.size, wanted):
            self.start()

    def retire(self, worker: Worker, kill: bool = False) -> None:
        if kill and worker.process.is_alive():
            os.kill(worker.pid, signal.SIGKILL)
        worker.process.join(timeout=30)
        worker.conn.close()
        worker.ended = worker.ended or time.perf_counter()
        if worker.idle_since is not None:
            worker.idle += worker.ended - worker.idle_since
            worker.idle_since = None
        self.workers.remove(worker)

    def close(self) -> None:
        """Stop every worker: politely when idle, by force when still busy (the parent is
        leaving on an error; its cells stay pending and resume on the next run)."""
        for worker in list(self.workers):
            busy = worker.cell is not None
            if not busy:
                with contextlib.suppress(OSError):
                    worker.conn.send(STOP)
            self.retire(worker, kill=busy)

    def report(self) -> dict[str, Any]:
        """What every worker did: seconds alive, idle, busy (alive minus idle), cells; and
        how the workers started, with the CPU seconds of the fork server's shared import
        (none when spawned: each worker's own import is in its busy seconds)."""
        rows = []
        for w in self.history:
            end = w.ended if w.ended is not None else time.perf_counter()
            idle = w.idle + (end - w.idle_since if w.idle_since is not None else 0.0)
            rows.append(
                {
                    "pid": w.pid,
                    "cells": w.cells,
                    "alive_s": round(end - w.started, 3),
                    "idle_s": round(idle, 3),
                    "busy_s": round(end - w.started - idle, 3),
                }
            )
        start = {"method": self.context.get_start_method(), "shared_import_cpu_s": None}
        if start["method"] == "forkserver" and self.preload_cpu_s is not None:
            start["shared_import_cpu_s"] = round(self.preload_cpu_s, 3)
        return {"workers": rows, "start": start, "written": now_iso()}

    def events(self, timeout: float) -> list[tuple[Worker, tuple[str, str] | None]]:
        """Messages from workers (None: the worker ended) within `timeout` seconds."""
        handles: dict[Any, Worker] = {}
        for w in self.workers:
            handles[w.conn] = w
            handles[w.process.sentinel] = w
        ready = wait(list(handles), timeout=timeout)
        seen: dict[int, tuple[Worker, tuple[str, str] | None]] = {}
        for handle in ready:
            worker = handles[handle]
            if worker.pid in seen:
                continue
            message = None
            try:
                if worker.conn.poll():
                    message = worker.conn.recv()
            except (EOFError, OSError):
                message = None
            if message is None and worker.process.is_alive():
                continue  # sentinel not ready and nothing to read: a spurious wake-up
            seen[worker.pid] = (worker, message)
        return list(seen.values())


def write_report(out: Path, pool: Pool) -> None:
    path = out / "jobs" / "workers.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(pool.report(), indent=1) + "\n")
    tmp.replace(path)


Priority = Callable[[PlannedCell], tuple[Any, ...]]
OnRecord = Callable[[Record], None]


def pick(
    ready: list[PlannedCell], last: tuple[str, int, str] | None, priority: Priority
) -> PlannedCell:
    """The most urgent ready cell (`priority`); among equally urgent ones (same leading
    keys) one of the (task, seed, track) the worker ran last, whose data, teacher and input
    gap it still holds."""

    def key(c: PlannedCell) -> tuple[Any, ...]:
        urgent = priority(c)
        return (*urgent[:-1], (c.task, c.seed, c.track) != last, urgent[-1])

    return min(ready, key=key)


def run_pool(
    plan: PlanRun,
    cells: list[PlannedCell],
    settings: ExecutorSettings,
    on_record: OnRecord,
    order: Order,
) -> None:
    """Run `cells` on `settings.resolved_workers()` long-lived workers; a cell starts once
    its gate (`benchmark.execution.order`: the cell of its (task, seed, track) that trains
    the teacher they share) has ended, the most urgent first. Every cell is reported to
    `on_record` with its record as it ends."""
    spec = plan.spec("local", owner_pid=os.getpid())
    limit = minutes(settings.time) * 60.0 if settings.time else None
    pool = Pool(spec, settings.resolved_workers())
    ended: set[PlannedCell] = set()
    queue = list(cells)
    requeues: dict[str, int] = {}
    entries: dict[str, dict[str, Any]] = {}

    def finish(worker: Worker, record: Record) -> None:
        cell = worker.cell
        worker.cell, worker.last = None, (cell.task, cell.seed, cell.track)
        worker.cells += 1
        worker.idle_since = time.perf_counter()
        ended.add(cell)
        on_record(record)

    try:
        pool.fill(len(queue))
        while queue or any(w.cell is not None for w in pool.workers):
            for worker in pool.workers:
                if not worker.ready or worker.cell is not None:
                    continue
                ready = [c for c in queue if order.gate(c) in ended or order.gate(c) is None]
                if not ready:
                    break
                cell = pick(ready, worker.last, order.priority)
                queue.remove(cell)
                entry = {
                    "executor": "local",
                    "job_id": str(worker.pid),
                    "log": str(log_path(spec.out, worker.pid)),
                    "submitted": now_iso(),
                }
                entries[cell.label] = entry
                add_jobs(plan.out, {cell.label: entry})
                worker.conn.send(cell)
                now = time.perf_counter()
                if worker.idle_since is not None:
                    worker.idle += now - worker.idle_since
                    worker.idle_since = None
                worker.cell, worker.since = cell, now
            for worker, message in pool.events(timeout=0.5):
                if message is None:  # the worker process ended
                    if not worker.ready and worker.cell is None:
                        raise RuntimeError(
                            f"a local worker died while starting; see its log "
                            f"{log_path(spec.out, worker.pid)}"
                        )
                    cell = worker.cell
                    pool.retire(worker)
                    if cell is not None:
                        count = requeues.get(cell.label, 0)
                        if worker.timed_out and count < settings.max_requeues:
                            requeues[cell.label] = count + 1
                            queue.insert(0, cell)  # resumes from its epoch checkpoint
                        else:
                            entry = dict(entries[cell.label])
                            if worker.timed_out:
                                entry["log"] = (
                                    f"{entry['log']} (ran past --slurm-time {settings.time})"
                                )
                            worker.cell = cell
                            finish(worker, settle(cell, plan.out, entry, plan.started))
                    pool.fill(len(queue) + sum(w.cell is not None for w in pool.workers))
                elif message[0] == "ready":
                    worker.ready = True
                    pool.preload_cpu_s = float(message[1])
                    worker.idle_since = time.perf_counter()
                elif message[0] == "done":
                    cell = worker.cell
                    finish(worker, settle(cell, plan.out, entries[cell.label], plan.started))
            if limit is not None:
                for worker in pool.workers:
                    running = worker.cell is not None and not worker.timed_out
                    if running and time.perf_counter() - worker.since > limit:
                        log.warning("%s ran past the time limit; requeueing it", worker.cell.label)
                        worker.timed_out = True
                        os.kill(worker.pid, signal.SIGKILL)
    finally:
        pool.close()
        write_report(plan.out, pool)
