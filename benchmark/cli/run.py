"""`bench run`: resolve the config, check every input up front, run the plan's pending
cells on the chosen executor, then render the tables and the leaderboard from the records.

Every check that can fail on bad input (methods, tasks and their data, backbones, teacher
weights, world knobs, per-cell settings) runs before the first cell, so a mistake costs
seconds, not a half-finished plan.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from benchmark.cli.cells_table import print_cells, print_wrapped
from benchmark.cli.common import (
    Command,
    add_run_arguments,
    default_cache_dir,
    default_data_root,
)
from benchmark.errors import UserError

if TYPE_CHECKING:  # imported lazily at run time, so `bench --help` stays fast
    from benchmark.config import RunConfig
    from benchmark.datasets.real import Verdicts
    from benchmark.results.records import Record
    from benchmark.results.with_reference import Reference


@dataclass(frozen=True)
class RunRequest:
    """What `bench run`'s arguments resolve to: the run's configuration, the seed count
    (`--seeds`, else the profile's default), and the config file's `executor` section,
    which says where cells run, not what they compute, so it is kept out of `cfg` and its
    hashes. Without `--seeds` each task takes its own planned count (`task_seeds`)."""

    cfg: RunConfig
    seeds: int
    executor_section: dict[str, Any] | None
    override: bool = False  # --seeds given: every task takes `seeds`

    def task_seeds(self, task: str) -> int:
        """Seeds 0…n − 1 of `task`: `--seeds`, else the task's `tasks.<task>.seeds`, else
        the profile's default."""
        return self.seeds if self.override else self.cfg.for_task(task).seeds


def resolve_config(args: argparse.Namespace) -> RunRequest:
    from benchmark.config import MAX_SEEDS, load_yaml, parse_assignments, resolve
    from benchmark.datasets.tasks import TASKS
    from benchmark.execution.plan import check_method_settings
    from benchmark.method import list_methods

    file_overrides = load_yaml(args.config) if args.config else {}
    executor_section = file_overrides.pop("executor", None)
    sets = parse_assignments(args.sets, list_methods())
    cfg = resolve(args.profile, file_overrides, sets, canonical_task=TASKS.canonical)
    check_method_settings(cfg)
    seeds = cfg.seeds if args.seeds is None else args.seeds
    if not 1 <= seeds <= MAX_SEEDS:
        raise UserError(f"--seeds {seeds} must be between 1 and {MAX_SEEDS}")
    return RunRequest(cfg, seeds, executor_section, override=args.seeds is not None)


def seed_text(per_task: dict[str, list[int]]) -> str:
    """`8 seed(s)`, or each task's count where they differ."""
    counts = {task: len(seeds) for task, seeds in per_task.items()}
    if len(set(counts.values())) <= 1:
        return f"{next(iter(counts.values()), 0)} seed(s)"
    return "seeds per task (" + ", ".join(f"{t} {n}" for t, n in counts.items()) + ")"


def check_folders(out: Path, cache_dir: Path) -> None:
    """The output folder and the cache can be written, the output folder's plan manifest
    (if any) can be read, and its tables are regular files or absent: checked before
    anything is written."""
    from benchmark.execution.status import manifest_path, read_manifest
    from benchmark.results.leaderboard import check_outputs
    from benchmark.storage import check_folder, check_target, check_writable

    check_writable(out, "--out")
    check_writable(cache_dir, "the cache folder (--cache-dir or $XMD_CACHE)")
    for name in ("runs", "locks", "checkpoints", "jobs"):  # what a run writes inside
        check_folder(out / name, "the run's folder")
    if out.is_dir():
        check_target(manifest_path(out), "the plan manifest")
        read_manifest(out)
        check_outputs(out)


def check_run_outputs(
    args: argparse.Namespace,
    cfg: RunConfig,
    seeds: list[int] | dict[str, list[int]],
    tasks: list[str],
    cache_dir: Path,
) -> None:
    """What `bench run` checks of its output folder before writing, for a command that
    runs it later (a sweep's points, a tune's defaults) and must check every input before
    its own first write: the folders, the manifest, the tables, and no finished record of
    other settings (`plan.check_records`)."""
    from benchmark.execution.plan import check_records, make_plan
    from benchmark.method import load_methods
    from benchmark.tracks import parse_tracks

    check_folders(args.out, cache_dir)
    methods = load_methods().resolve(args.methods)
    tracks = tuple(parse_tracks(args.tracks))
    check_records(args.out, make_plan(tasks, methods, seeds, cfg, tracks), args.force)


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    import torch

    from benchmark.backbones import check_backbone, check_backbone_fits
    from benchmark.datasets.real import resolve_tasks, save_verdicts
    from benchmark.datasets.tasks import SEQUENCE_MODALITIES, get_task, world_config
    from benchmark.execution.against_reference import finish_against, plan_against
    from benchmark.execution.executor_settings import from_args
    from benchmark.execution.executors import create_executor, preflight
    from benchmark.execution.jobs import PlanRun
    from benchmark.execution.loggers import Loggers, check_installed
    from benchmark.execution.loggers import parse_names as parse_log_names
    from benchmark.execution.plan import check_records, is_done, make_plan
    from benchmark.execution.progress import RichReporter
    from benchmark.execution.provenance import default_device
    from benchmark.execution.status import add_run, plan_cells, run_entry
    from benchmark.method import load_methods
    from benchmark.results.leaderboard import write_outputs
    from benchmark.results.records import read_records
    from benchmark.storage import remove_stale_temps
    from benchmark.tracks import SUPERVISED, parse_tracks
    from benchmark.weights import fetch as fetch_weights

    reference = _reference(args)
    request = resolve_config(args)
    cfg = request.cfg
    tracks = tuple(parse_tracks(args.tracks))
    track_text = "" if tracks == (SUPERVISED,) else f" · track(s) {', '.join(tracks)}"
    settings = from_args(args, request.executor_section)
    preflight(settings)
    if settings.kind == "local":  # the workers' shared import overlaps the planning below
        from benchmark.execution.workers import warm_up

        warm_up()
    cache_dir = args.cache_dir or default_cache_dir()
    check_folders(args.out, cache_dir)
    log_names = parse_log_names(getattr(args, "log", None))
    check_installed(log_names)
    methods = load_methods().resolve(args.methods)
    data_root = args.data_root or default_data_root()
    # Real data checked up front: files decoded, sizes checked at this run's settings.
    verdicts: list[Verdicts] = []  # the data check's cache, written once all is accepted
    tasks, skipped = resolve_tasks(
        args.tasks, data_root, cfg, cache_dir=cache_dir, pending=verdicts
    )
    # The plan, made once: every cell's settings resolved, parameters validated, hashed.
    absent: list[str] = []  # under --tasks all, the tasks the reference has no records of
    if reference is None:
        per_task = {task: list(range(request.task_seeds(task))) for task in tasks}
        cells = make_plan(tasks, methods, per_task, cfg, tracks)
    else:
        tasks, absent = _reference_tasks(args, reference, tasks, tracks)
        cells, ref_seeds = plan_against(reference, tasks, methods, cfg, tracks, args.seeds)
        per_task = {task: list(ref_seeds[(task, tracks[0])]) for task in tasks}
    check_records(args.out, cells, args.force)  # no finished record of other settings
    task_cfgs = {c.task: c.cfg for c in cells if c.track == tracks[0]}  # each task's settings
    for task, task_cfg in task_cfgs.items():
        world_config(get_task(task), task_cfg.data, task_cfg.world)  # world knobs, up front
    backbones = {b for c in task_cfgs.values() for b in (c.teacher.backbone, c.student.backbone)}
    for backbone in sorted(backbones):
        check_backbone(backbone)
    for task, task_cfg in task_cfgs.items():  # a sequence backbone reads text targets only
        spec = get_task(task)
        check_backbone_fits(
            task_cfg.student.backbone, spec.sequence_target, task, "student.backbone"
        )
        source_text = spec.source in SEQUENCE_MODALITIES
        check_backbone_fits(task_cfg.teacher.backbone, source_text, task, "teacher.backbone")
    # timm: weights downloaded now, or one line before any cell; once per distinct spec.
    for recipe in {c.teacher.weights: c.teacher for c in task_cfgs.values()}.values():
        fetch_weights(recipe)
    pending = [c for c in cells if args.force or not is_done(args.out, c)]
    save_verdicts(verdicts)  # every input accepted: the first write

    threads = settings.resolved_threads()
    torch.set_num_threads(threads)
    for folder in (args.out, cache_dir):  # what killed writers left behind
        remove_stale_temps(folder)
    plan = PlanRun(cfg, args.out, cache_dir, data_root, threads, args.force)
    add_run(args.out, run_entry(plan, settings, len(cells)), plan_cells(cells))
    device = default_device()
    console.print(
        f"[bold]bench run[/] · profile {cfg.profile} · {len(tasks)} task(s) × "
        f"{len(methods)} method(s) × {seed_text(per_task)}{track_text} · {len(cells)} cells, "
        f"{len(cells) - len(pending)} already done · device {device} · "
        f"{torch.get_num_threads()} threads · executor {settings.kind}"
    )
    if skipped:
        console.print(f"skipped (no data; see 'bench data check'): {', '.join(skipped)}")
    if absent:
        console.print(f"left out (no records in {args.with_reference}): {', '.join(absent)}")
    start = time.perf_counter()
    finished = []
    executor = create_executor(plan, settings, device)
    note = executor.submit(pending)
    if note:
        console.print(note)
    if not executor.waits:
        if log_names:
            console.print("--log: nothing is logged with --no-wait (a waiting run logs each cell)")
        console.print(f"not waiting: follow with 'bench status --out {args.out}'")
        return 0

    def say(message: str) -> None:
        console.print(f"bench: {message}", highlight=False, markup=False)

    loggers = Loggers(log_names, args.out, say)
    with RichReporter(len(pending), clock=_clock(pending, settings, args.out)) as reporter:

        def done(record: Record) -> None:
            finished.append(record)
            reporter.cell_done(record)
            loggers.log(record)

        try:
            executor.run(pending, done, reporter)
        finally:
            loggers.close()
    board = write_outputs(read_records(args.out), args.out)
    print_cells(console, finished)
    failed = [r for r in finished if not r.done]
    print_wrapped(
        console,
        f"{len(finished)} cell(s) run in {time.perf_counter() - start:.0f} s, "
        f"{len(failed)} failed · records in {args.out / 'runs'} · "
        f"table {args.out / 'results.csv'} · leaderboard {board}",
    )
    if reference is not None:
        path, lines = finish_against(reference, args.out, cells, ref_seeds)
        for line in lines:
            print_wrapped(console, line)
        if path is not None:
            print_wrapped(console, f"ranked with {reference.folder}'s other methods: {path}")
    # A sweep's points are not runs of the reference's settings; a run ranked against a
    # reference has said above how it compares with it.
    if args.command == "run" and reference is None:
        from benchmark.results.compare import run_summary

        summary = run_summary(args.out)  # None without a reference folder (results/)
        if summary is not None:
            print_wrapped(console, *summary)
    return 1 if failed else 0


def _reference(args: argparse.Namespace) -> Reference | None:
    """`--with-reference FOLDER`, read; its profile becomes the run's unless one is named
    (a different one is then refused by `check_compatible`)."""
    folder = getattr(args, "with_reference", None)
    if folder is None:
        return None
    from benchmark.results.with_reference import load_reference

    if folder.resolve() == args.out.resolve():
        raise UserError(f"--with-reference {folder} is --out itself: run into another folder")
    reference = load_reference(folder)
    if args.profile is None:
        args.profile = reference.profile()
    return reference


def _reference_tasks(
    args: argparse.Namespace,
    reference: Reference,
    tasks: list[str],
    tracks: tuple[str, ...],
) -> tuple[list[str], list[str]]:
    """Under `--tasks all`, (the tasks the reference has records of, the others); a task
    named explicitly must be in it (`Reference.seeds` says so)."""
    if args.tasks.strip() != "all":
        return tasks, []
    have = {(r.task, r.track) for r in reference.records if r.ok}
    kept = [t for t in tasks if all((t, k) in have for k in tracks)]
    if not kept:
        raise UserError(
            f"--with-reference {reference.folder} has no records of any task in the "
            f"{', '.join(tracks)} track(s)"
        )
    return kept, [t for t in tasks if t not in kept]


def _clock(pending: list, settings: Any, out: Path) -> Any:
    """The plan bar's ETA: the committed reference's per-cell seconds (`results/`), over
    the cells that run at once (`benchmark.execution.estimate`)."""
    from benchmark.execution.estimate import PlanClock, priors
    from benchmark.results.compare import reference_folder

    parallel = {"inline": 1, "local": settings.resolved_workers()}.get(
        settings.kind, settings.array_parallelism or len(pending)
    )
    return PlanClock(pending, priors(reference_folder(out), pending), parallel)


def add_arguments(run: argparse.ArgumentParser) -> None:
    """`bench run`'s arguments: those `sweep` and `tune` share, and `--with-reference`."""
    add_run_arguments(run)
    run.add_argument(
        "--with-reference",
        type=Path,
        default=None,
        metavar="FOLDER",
        help="run only these methods, at FOLDER's (e.g. results) profile and seeds, and rank "
        "them with its records of every other method (OUT/LEADERBOARD-with-reference.md)",
    )


COMMAND = Command(
    "run",
    "run methods × tasks × seeds and write the leaderboard",
    add_arguments,
    cmd_run,
)
