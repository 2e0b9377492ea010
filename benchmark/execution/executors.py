"""Where a plan's cells run: `inline` (this process), `local` (long-lived worker processes
that each run many cells: `benchmark.execution.workers`) or `slurm` (job arrays through
submitit's AutoExecutor).

Each is an `Executor` registered by name: `bench run` creates the one its settings name
and calls `submit`, then `run`; `bench status` asks the registered executors about their
jobs (`live_states`, `job_ended`). A new executor is one class here (and its name in
`benchmark.execution.executor_settings.EXECUTORS`, which the CLI's `--help` lists before this
module is imported; a test checks the two agree).

Every executor runs a cell the same way (`benchmark.execution.jobs.record_cell`: cell lock, skip if
done, resume from the epoch checkpoint, atomic record). With the same torch thread count
(`--threads N`) the same command gives identical records whichever executor runs it; by
default local workers split the cores (`benchmark.execution.executor_settings`).

Order (`benchmark.execution.order`): inline and locally, each (task, seed)'s first method
cell goes first and trains the teacher its other cells wait for, so a method result comes
before the reference cell's all-labels ceiling. On SLURM the reference cells (which train
the shared teachers) are one array and the method cells a second array that starts
`afterany` the first; `afterany` rather than `afterok`, so a reference cell that dies does
not leave the method cells pending forever; they then train the teacher themselves.
Neither ordering is what makes teachers train once; the teacher cache's file lock is (see
`benchmark.protocol.teacher`).

Settings (`benchmark.execution.executor_settings`) are not part of any config hash: where a cell
runs never changes its result.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import submitit
import torch

from benchmark.config import RunConfig
from benchmark.errors import UserError
from benchmark.execution.executor_settings import (
    SLURM_TIMEOUT_MIN,
    ExecutorSettings,
    mem_gb,
    minutes,
)
from benchmark.execution.jobs import CellJob, PlanRun, now_iso, record_cell, settle
from benchmark.execution.order import Order, inline_order
from benchmark.execution.plan import PlannedCell
from benchmark.execution.progress import Reporter
from benchmark.execution.status import (
    ACTIVE,
    QUEUED,
    add_jobs,
    pid_alive,
    read_manifest,
    squeue_states,
)
from benchmark.registry import Registry
from benchmark.results.records import REFERENCE, Record

if TYPE_CHECKING:
    from benchmark.execution.runner import CellRunner

log = logging.getLogger(__name__)


OnRecord = Callable[[Record], None]


def run_inline(
    plan: PlanRun, cells: list[PlannedCell], runner: CellRunner, on_record: OnRecord
) -> None:
    """Cells one after another in this process (a `CellRunner` keeps data and teacher in
    memory between the cells of one (task, seed))."""
    job = {"executor": "inline", "job_id": f"pid{os.getpid()}"}
    redo_before = plan.started if plan.force else None
    for cell in inline_order(cells):
        record = record_cell(runner, plan.out, cell, job, redo_before)
        if record is not None:
            on_record(record)


def _entry(executor: str, job: submitit.Job[Any]) -> dict[str, Any]:
    return {
        "executor": executor,
        "job_id": str(job.job_id),
        "log": str(job.paths.stdout),
        "err": str(job.paths.stderr),
        "submitted": now_iso(),
    }


def run_local(
    plan: PlanRun, cells: list[PlannedCell], settings: ExecutorSettings, on_record: OnRecord
) -> None:
    """Up to `workers` cells at once on long-lived worker processes that each run many
    cells (`benchmark.execution.workers`), each cell after its (task, seed)'s gate, the
    most urgent first (`benchmark.execution.order`)."""
    from benchmark.execution.workers import run_pool

    run_pool(plan, cells, settings, on_record, Order(cells))


def preflight(settings: ExecutorSettings) -> None:
    """Fail before anything is written if the executor cannot run here."""
    if settings.kind != "slurm":
        return
    for tool in ("sbatch", "srun", "squeue"):
        if shutil.which(tool) is None:
            raise UserError(
                f"--executor slurm needs SLURM's '{tool}' on PATH: run on a cluster's login "
                "node, or start the local test cluster with 'bash scripts/slurm-local.sh'"
            )


def slurm_executor(plan: PlanRun, settings: ExecutorSettings) -> submitit.AutoExecutor:
    """A submitit AutoExecutor for SLURM with the settings turned into sbatch options."""
    preflight(settings)
    executor = submitit.AutoExecutor(
        folder=plan.out / "jobs" / "%j",
        cluster="slurm",
        slurm_max_num_timeout=settings.max_requeues,
    )
    params: dict[str, Any] = {
        "name": "xmd-bench",
        "timeout_min": minutes(settings.time) if settings.time else SLURM_TIMEOUT_MIN,
        "cpus_per_task": settings.cpus_per_task or plan.threads,
        "mem_gb": mem_gb(settings.mem) if settings.mem else None,
        "slurm_partition": settings.partition,
        "slurm_gpus_per_task": settings.gpus_per_task or None,
        "slurm_array_parallelism": settings.array_parallelism,
        "slurm_signal_delay_s": settings.signal_delay_s,
        "slurm_additional_parameters": dict(settings.slurm),
    }
    try:
        executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
    except (ValueError, NameError) as err:
        raise UserError(f"bad SLURM setting: {str(err).splitlines()[0]}") from None
    return executor


def job_chunks(cells: list[PlannedCell], size: int) -> list[list[PlannedCell]]:
    """Consecutive cells of one (task, seed, track), at most `size` per array task (plan
    order groups them), so a task's cells share its data and teacher in memory."""
    chunks: list[list[PlannedCell]] = []
    for cell in cells:
        last = chunks[-1] if chunks else None
        same = last is not None and (last[0].task, last[0].seed, last[0].track) == (
            cell.task,
            cell.seed,
            cell.track,
        )
        if last is not None and same and len(last) < size:
            last.append(cell)
        else:
            chunks.append([cell])
    return chunks


def _submit_array(
    executor: submitit.AutoExecutor, work: CellJob, cells: list[PlannedCell], size: int = 1
) -> list[tuple[list[PlannedCell], submitit.Job[Any]]]:
    """One array task per cell, or per chunk of up to `size` cells (`job_chunks`)."""
    chunks = job_chunks(cells, size)
    try:
        # At size 1 each task gets the cell itself, not a list (CellJob takes either).
        jobs = executor.map_array(work, cells if size == 1 else chunks)
        return list(zip(chunks, jobs, strict=True))
    except submitit.core.utils.FailedJobError as err:
        message = " ".join(str(err).split())
        raise UserError(
            f"sbatch refused the job array: {message} (check --slurm-partition, --mem, "
            "--slurm-time and --slurm options)"
        ) from None


def submit_slurm(
    plan: PlanRun, cells: list[PlannedCell], settings: ExecutorSettings
) -> dict[str, dict[str, Any]]:
    """Submit the cells as (at most) two arrays; cells whose job from an earlier run is
    still queued or running are attached to, not resubmitted. Returns every cell's job."""
    known = read_manifest(plan.out).get("jobs", {})
    ours = {
        c.label: known[c.label] for c in cells if known.get(c.label, {}).get("executor") == "slurm"
    }
    live = squeue_states([j["job_id"] for j in ours.values()])
    attached = {k: j for k, j in ours.items() if live.get(j["job_id"]) in QUEUED | ACTIVE}
    todo = [c for c in cells if c.label not in attached]
    refs = [c for c in todo if c.method == REFERENCE]
    rest = [c for c in todo if c.method != REFERENCE]
    entries: dict[str, dict[str, Any]] = {}
    if todo:
        executor = slurm_executor(plan, settings)
        work = CellJob(plan.spec("slurm"))
        live_refs = [c for c in cells if c.label in attached and c.method == REFERENCE]
        after = {attached[c.label]["job_id"].split("_")[0] for c in live_refs}
        size = settings.cells_per_job or 1
        if refs:
            jobs = _submit_array(executor, work, refs, size)
            entries.update({c.label: _entry("slurm", j) for cs, j in jobs for c in cs})
            after.add(str(jobs[0][1].job_id).split("_")[0])
        if rest:
            if after:
                extra = dict(settings.slurm)
                dependency = "afterany:" + ":".join(sorted(after))
                if extra.get("dependency"):
                    dependency = f"{extra['dependency']},{dependency}"
                extra["dependency"] = dependency
                executor.update_parameters(slurm_additional_parameters=extra)
            jobs = _submit_array(executor, work, rest, size)
            entries.update({c.label: _entry("slurm", j) for cs, j in jobs for c in cs})
        add_jobs(plan.out, entries)
    return {**attached, **entries}


def wait_slurm(
    plan: PlanRun,
    cells: list[PlannedCell],
    jobs: dict[str, dict[str, Any]],
    settings: ExecutorSettings,
    on_record: OnRecord,
) -> None:
    """Poll squeue until every job has left the queue, settling each cell as its job
    ends (a job that left no record gets a failed one naming its log)."""
    pending = {c.label: c for c in cells if c.label in jobs}
    while pending:
        try:
            live = squeue_states([jobs[label]["job_id"] for label in pending])
        except RuntimeError as err:  # a busy controller: ask again, never settle blindly
            log.warning("%s; retrying in %.0f s", err, settings.poll_s)
            time.sleep(settings.poll_s)
            continue
        for label in list(pending):
            if live.get(jobs[label]["job_id"]) not in QUEUED | ACTIVE:
                cell = pending.pop(label)
                on_record(settle(cell, plan.out, jobs[label], plan.started))
        if pending:
            time.sleep(settings.poll_s)


# ---- the executors as one interface ----------------------------------------------------


class Executor(ABC):
    """One way to run a plan's pending cells. `submit` hands them over (and may return a
    line for the user, e.g. job ids); `run` reports each cell's record as it ends."""

    name: ClassVar[str] = ""

    def __init__(self, plan: PlanRun, settings: ExecutorSettings, device: torch.device) -> None:
        self.plan, self.settings, self.device = plan, settings, device

    @property
    def waits(self) -> bool:
        """Whether `bench run` stays until the cells end (SLURM's `--no-wait` does not)."""
        return True

    def submit(self, cells: list[PlannedCell]) -> str | None:
        return None

    @abstractmethod
    def run(self, cells: list[PlannedCell], on_record: OnRecord, reporter: Reporter) -> None:
        """Run (or follow) the submitted cells until each has its record."""

    # What `bench status` asks (`benchmark.execution.status.JobWatcher`).
    def live_states(self, jobs: list[dict[str, Any]]) -> dict[str, str]:
        return {}

    def job_ended(self, job: dict[str, Any]) -> bool:
        return False


EXECUTOR_REGISTRY: Registry[type[Executor]] = Registry("executor")


def register_executor(name: str) -> Callable[[type[Executor]], type[Executor]]:
    def decorator(cls: type[Executor]) -> type[Executor]:
        cls.name = name
        return EXECUTOR_REGISTRY.register(name)(cls)

    return decorator


@register_executor("inline")
class InlineExecutor(Executor):
    """This process, cell after cell, with progress bars per stage."""

    def run(self, cells: list[PlannedCell], on_record: OnRecord, reporter: Reporter) -> None:
        from benchmark.execution.runner import CellRunner

        plan = self.plan
        runner = CellRunner(
            plan.cfg, plan.cache_dir, self.device, reporter, plan.data_root, plan.out, plan.threads
        )
        run_inline(plan, cells, runner, on_record)


@register_executor("local")
class LocalExecutor(Executor):
    """Long-lived worker processes on this machine; a cell's job is over when its worker
    process is."""

    def run(self, cells: list[PlannedCell], on_record: OnRecord, reporter: Reporter) -> None:
        run_local(self.plan, cells, self.settings, on_record)

    def job_ended(self, job: dict[str, Any]) -> bool:
        pid = str(job.get("job_id", ""))
        return pid.isdigit() and not pid_alive(int(pid))


@register_executor("slurm")
class SlurmExecutor(Executor):
    """Job arrays on a SLURM cluster, followed with squeue."""

    jobs: dict[str, dict[str, Any]]

    @property
    def waits(self) -> bool:
        return self.settings.wait

    def submit(self, cells: list[PlannedCell]) -> str | None:
        self.jobs = submit_slurm(self.plan, cells, self.settings)
        arrays = sorted({j["job_id"].split("_")[0] for j in self.jobs.values()})
        return f"SLURM job(s) {', '.join(arrays) or '(none)'} · logs in {self.plan.out}/jobs"

    def run(self, cells: list[PlannedCell], on_record: OnRecord, reporter: Reporter) -> None:
        wait_slurm(self.plan, cells, self.jobs, self.settings, on_record)

    def live_states(self, jobs: list[dict[str, Any]]) -> dict[str, str]:
        try:
            return squeue_states([str(j.get("job_id")) for j in jobs])
        except RuntimeError as err:
            raise UserError(f"cannot ask SLURM about this plan's jobs: {err}") from None

    def job_ended(self, job: dict[str, Any]) -> bool:
        return True  # neither queued nor running in squeue (the caller checked)


def create_executor(
    plan: PlanRun, settings: ExecutorSettings, device: torch.device | None = None
) -> Executor:
    return EXECUTOR_REGISTRY.get(settings.kind)(plan, settings, device or torch.device("cpu"))


def watchers() -> dict[str, Executor]:
    """One idle instance of each registered executor, for `bench status` to ask."""
    plan = PlanRun(RunConfig(), Path("."), Path("."), None, 1)
    return {
        name: EXECUTOR_REGISTRY.get(name)(plan, ExecutorSettings(name), torch.device("cpu"))
        for name in EXECUTOR_REGISTRY.names()
    }
