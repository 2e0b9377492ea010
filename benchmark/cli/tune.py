"""`bench tune`: every method gets the same hyperparameter budget, selected on labelled
validation data, never on the test set (DomainBed's protocol: Gulrajani & Lopez-Paz,
"In Search of Lost Domain Generalization", ICLR 2021), for cross-modal distillation.

For each (task, method), N trials are drawn from the method's declared search spaces and
the shared schedule's knobs (`benchmark.execution.tune_study`), trial 0 being the
defaults. Each trial is a cell on its own data seed (no run's) also scored on the task's
validation split (`benchmark.execution.tune_trials`); the trial with the best validation
score is re-run on every seed, and those records make the tuned leaderboard, beside the
defaults' (`benchmark.results.tune_board`). The best *test* score over the trials is
kept too, shown only as the oracle's upper bound.

It is made of ordinary runs, so it inherits what a run has:

    OUT/runs/...                               the defaults: `bench run`'s own plan
    OUT/tune/journal.log                       the Optuna journal (every study)
    OUT/tune/<sampler>-seed<s>/trial<k>/       trial k of every (task, method): records,
                                               plan manifest, checkpoints, locks
    OUT/tune/<sampler>-seed<s>/selected-<rule>/   the selected trials, re-run per seed
    OUT/LEADERBOARD.md, OUT/LEADERBOARD-tuned.md

Every executor runs the trial cells (one folder per trial number, so trial k of every
method runs side by side), a killed tune resumes from its records (finished trials are
skipped by their hash, unfinished ones resume from their epoch checkpoints), teachers
come from the shared cache, and a re-run whose settings equal a defaults record's (the
defaults won) is copied from it instead of recomputed.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from benchmark.cli.common import Command, add_run_arguments
from benchmark.errors import UserError

if TYPE_CHECKING:
    import torch

    from benchmark.config import RunConfig
    from benchmark.execution.executor_settings import ExecutorSettings
    from benchmark.execution.plan import PlannedCell
    from benchmark.execution.progress import Advance
    from benchmark.execution.tune_study import Studies, StudySpec
    from benchmark.results.records import Record


def add_tune_arguments(p: argparse.ArgumentParser) -> None:
    """`bench run`'s arguments and those `bench tune` adds."""
    from benchmark.execution.tune_study import SAMPLERS, SELECTIONS

    add_run_arguments(p)
    p.add_argument(
        "--trials",
        type=int,
        required=True,
        help="trials per (task, method), trial 0 being the defaults",
    )
    p.add_argument(
        "--selection",
        default="val",
        choices=SELECTIONS,
        help="val (default): select on the validation split; oracle: on the test set, "
        "an upper bound only",
    )
    p.add_argument("--sampler", default="random", choices=SAMPLERS, help="random (default) or tpe")
    p.add_argument("--sampler-seed", type=int, default=0, help="seed of the trials (default 0)")


@dataclass
class Study:
    """One (task, method)'s study: its spec, its settings, and what its trials gave."""

    task: str
    method: str
    track: str
    own: RunConfig
    spec: StudySpec
    kind: str
    results: dict[int, TrialResult] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.task}/{self.method}"


@dataclass(frozen=True)
class TrialResult:
    number: int
    params: dict[str, Any]
    status: str
    val: float | None
    test: float | None


def _check(args: argparse.Namespace) -> None:
    from benchmark.config import MAX_SEEDS
    from benchmark.execution.tune_study import MAX_TRIALS

    if not 1 <= args.trials <= MAX_TRIALS:
        raise UserError(f"--trials {args.trials} must be between 1 and {MAX_TRIALS}")
    if not 0 <= args.sampler_seed < 2**31:
        raise UserError(f"--sampler-seed {args.sampler_seed} must be between 0 and 2^31 - 1")
    if args.seeds is not None and not 1 <= args.seeds <= MAX_SEEDS:
        raise UserError(f"--seeds {args.seeds} must be between 1 and {MAX_SEEDS}")


def plan_studies(
    tasks: list[str], methods: list[str], cfg: RunConfig, track: str, sampler: str, seed: int
) -> list[Study]:
    """Every (task, method)'s study, from the settings alone (nothing is written): its
    knobs, and a name that holds a digest of everything its trials run under."""
    from benchmark.config import config_hash
    from benchmark.datasets.tasks import get_task
    from benchmark.execution.plan import Cell, method_params, plan_cell
    from benchmark.execution.tune_study import StudySpec, search_space
    from benchmark.execution.tune_trials import TRIAL_SEED, VALIDATION
    from benchmark.tracks import with_track

    studies = []
    for task in tasks:
        own = with_track(cfg.for_task(task), track)
        for method in methods:
            params = method_params(own, method)
            knobs = tuple(search_space(method, params, own.distill))
            base = plan_cell(Cell(task, method, TRIAL_SEED, track), cfg, own)
            space = [(k.name, k.space.describe(), repr(k.default)) for k in knobs]
            digest = config_hash({"cell": base.payload, "space": space, "val": VALIDATION})
            name = f"{track}/{task}/{method}/{sampler}-seed{seed}/{digest[:12]}"
            spec = StudySpec(name, knobs, sampler, seed)
            studies.append(Study(task, method, track, own, spec, get_task(task).kind))
    return studies


def check_validation(tasks: list[str], cfg: RunConfig, data_root: Path | None) -> None:
    """Every real task can give a validation split besides its few-label set (k more of
    each class), checked before anything is written."""
    from benchmark.datasets.real.common import RealCheck, few_shortfall
    from benchmark.datasets.tasks import get_task

    for task in tasks:
        check = get_task(task).check
        if not isinstance(check, RealCheck):
            continue
        _, _, survey = check.survey(data_root)
        if survey is None or survey.few is None:
            continue
        k = cfg.for_task(task).data.labels_per_class
        short = few_shortfall(survey.few, 2 * k)
        if short is not None:
            raise UserError(
                f"{task}: bench tune's validation split takes {k} more of each class "
                f"than the few-label set: {short}"
            )


def _trial_result(
    record: Record | None, number: int, params: dict[str, Any], kind: str
) -> TrialResult:
    from benchmark.execution.tune_trials import selection_metric, test_metric

    if record is None:
        return TrialResult(number, params, "missing", None, None)
    val = record.metrics.get(selection_metric(kind)) if record.ok else None
    test = record.metrics.get(test_metric(kind)) if record.ok else None
    return TrialResult(number, params, record.status, val, test)


def select(results: list[TrialResult], rule: str) -> TrialResult | None:
    """The kept trial: the best validation score (`val`), or the best test score (the
    `oracle`); ties go to the lower trial number, so the defaults win a tie."""
    scored = [r for r in results if (r.val if rule == "val" else r.test) is not None]
    if not scored:
        return None

    def score(r: TrialResult) -> float:
        value = r.val if rule == "val" else r.test
        assert value is not None
        return value

    return max(scored, key=lambda r: (score(r), -r.number))


class TuneReporter:
    """rich bars: one per (task, method) with its trials done / total and the best
    validation score so far, under the executor's own stage bars."""

    def __init__(self, cells: int, studies: list[Study], trials: int) -> None:
        from benchmark.execution.progress import RichReporter

        self.inner = RichReporter(cells)
        self.progress = self.inner.progress
        self.bars = {
            s.label: self.progress.add_task(self._text(s), total=s.spec.budget(trials))
            for s in studies
        }
        for s in studies:
            self.update(s)

    @staticmethod
    def _text(study: Study) -> str:
        best = select(list(study.results.values()), "val")
        where = (
            ""
            if best is None
            else f" · best val {100 * (best.val or 0):.1f}% (trial {best.number})"
        )
        return f"tune {study.label}{where}"

    def update(self, study: Study) -> None:
        done = sum(r.status in ("ok", "failed", "not_applicable") for r in study.results.values())
        self.progress.update(self.bars[study.label], completed=done, description=self._text(study))

    def __enter__(self) -> TuneReporter:
        self.inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.__exit__(*exc)

    def cell_done(self) -> None:
        self.inner.cell_done()

    def stage(self, label: str, total: int) -> contextlib.AbstractContextManager[Advance]:
        return self.inner.stage(label, total)


@dataclass
class Context:
    """What every stage of a tune shares."""

    args: argparse.Namespace
    cfg: RunConfig
    seeds: int
    settings: ExecutorSettings
    cache_dir: Path
    data_root: Path | None
    device: torch.device
    threads: int
    studies_db: Studies
    root: Path  # OUT/tune/<sampler>-seed<s>


def _run_folders(
    ctx: Context, folders: list[tuple[Path, list[PlannedCell], Any]], reporter: Any
) -> None:
    """Run the pending cells of several output folders on the chosen executor, taking the
    steps `bench run` takes for each (manifest, stale temp files, submit, run). Every
    folder is submitted before any is followed, so on SLURM the trial folders' arrays
    queue side by side; inline and local executors run them one folder after another."""
    from benchmark.execution.executors import create_executor
    from benchmark.execution.jobs import PlanRun
    from benchmark.execution.status import add_run, plan_cells, run_entry
    from benchmark.storage import remove_stale_temps

    submitted = []
    for out, cells, on_record in folders:
        plan = PlanRun(ctx.cfg, out, ctx.cache_dir, ctx.data_root, ctx.threads, ctx.args.force)
        add_run(out, run_entry(plan, ctx.settings, len(cells)), plan_cells(cells))
        remove_stale_temps(out)
        executor = create_executor(plan, ctx.settings, ctx.device)
        executor.submit(cells)
        submitted.append((executor, cells, on_record))
    for executor, cells, on_record in submitted:
        executor.run(cells, on_record, reporter)


def run_trials(ctx: Context, studies: list[Study], console: Console) -> None:
    """Every study's trials, in rounds: all N at once under random search (the draws do
    not depend on results), one trial number at a time under TPE (each draw reads the
    scores before it). Each trial number is one folder whose cells run side by side."""
    from benchmark.execution.plan import Cell, is_done
    from benchmark.execution.tune_trials import TRIAL_SEED, trial_cell
    from benchmark.results.records import load_record

    trials = ctx.args.trials
    rounds = [list(range(trials))] if ctx.args.sampler == "random" else [[k] for k in range(trials)]
    by_label = {s.label: s for s in studies}
    params_of: dict[tuple[str, int], dict[str, Any]] = {}
    total = sum(s.spec.budget(trials) for s in studies)
    with TuneReporter(total, studies, trials) as reporter:

        def settle(record: Record, number: int) -> None:
            """A trial's record: its scores kept, told to the study, shown."""
            study = by_label[f"{record.task}/{record.method}"]
            result = _trial_result(record, number, params_of[(study.label, number)], study.kind)
            study.results[number] = result
            ctx.studies_db.tell(study.spec, number, result.val)
            reporter.update(study)
            reporter.cell_done()

        for numbers in rounds:
            folders: dict[int, list[PlannedCell]] = {}
            for study in studies:
                count = min(numbers[-1] + 1, study.spec.budget(trials))
                if count <= numbers[0]:
                    continue
                drawn = ctx.studies_db.ensure(study.spec, count)
                for k in (k for k in numbers if k < count):
                    cell = Cell(study.task, study.method, TRIAL_SEED, study.track)
                    folders.setdefault(k, []).append(
                        trial_cell(cell, ctx.cfg, study.own, drawn[k], k)
                    )
                    params_of[(study.label, k)] = drawn[k]
            pending: dict[int, list[PlannedCell]] = {}
            for k, cells in sorted(folders.items()):
                out = ctx.root / f"trial{k}"
                for cell in cells:
                    record = None
                    if not ctx.args.force and is_done(out, cell):
                        record = load_record(cell.record_path(out))
                    if record is not None:
                        settle(record, k)  # finished before: never re-run
                    else:
                        pending.setdefault(k, []).append(cell)
            _run_folders(
                ctx,
                [
                    (ctx.root / f"trial{k}", cells, lambda r, k=k: settle(r, k))
                    for k, cells in pending.items()
                ],
                reporter,
            )


def tune_note(study: Study, best: TrialResult, rule: str, ctx: Context) -> dict[str, Any]:
    """What each tuned record says about how it was chosen (`config["tune"]`)."""
    from benchmark.execution.tune_trials import TRIAL_SEED, selection_metric

    results = [study.results[k] for k in sorted(study.results)]
    oracle = select(results, "oracle")
    return {
        "selection": rule,
        "trial": best.number,
        "params": best.params,
        "metric": selection_metric(study.kind).removeprefix("val_"),
        "val": best.val,
        "test": best.test,
        "trial_seed": TRIAL_SEED,
        "oracle": {} if oracle is None else {"trial": oracle.number, "test": oracle.test},
        "budget": {
            "trials": ctx.args.trials,
            "run": study.spec.budget(ctx.args.trials),
            "ok": sum(r.val is not None for r in results),
            "sampler": ctx.args.sampler,
            "sampler_seed": ctx.args.sampler_seed,
            "study": study.spec.name,
            "space": {k.name: k.space.describe() for k in study.spec.knobs},
        },
        "trials": [
            {
                "trial": r.number,
                "status": r.status,
                "val": r.val,
                "test": r.test,
                "params": r.params,
            }
            for r in results
        ],
    }


def run_selected(ctx: Context, studies: list[Study], console: Console) -> Path:
    """The selected trial of every study re-run on every seed, into
    `selected-<rule>`: copied from the defaults record when its hash is the same (the
    defaults won), else run; then each record is annotated with how it was chosen."""
    from benchmark.execution.plan import Cell, counts, is_done
    from benchmark.execution.tune_trials import selected_cell
    from benchmark.results.records import load_record, write_record

    rule = ctx.args.selection
    out = ctx.root / f"selected-{rule}"
    cells: list[tuple[Study, PlannedCell, dict[str, Any]]] = []
    for study in studies:
        best = select(list(study.results.values()), rule)
        if best is None:
            statuses = {r.status for r in study.results.values()}
            why = (
                "not applicable in this track"
                if statuses == {"not_applicable"}
                else ("no trial succeeded")
            )
            console.print(f"{study.label}: {why}, nothing to re-run")
            continue
        note = tune_note(study, best, rule, ctx)
        for seed in range(ctx.seeds):
            cell = selected_cell(
                Cell(study.task, study.method, seed, study.track), ctx.cfg, study.own, best.params
            )
            cells.append((study, cell, note))
    pending = []
    for _, cell, note in cells:
        if not ctx.args.force and is_done(out, cell):
            continue
        source = cell.record_path(ctx.args.out)
        record = load_record(source) if source.is_file() else None
        if not ctx.args.force and counts(record, cell.hash):
            assert record is not None
            record.config["tune"] = {**note, "copied_from": str(source)}
            write_record(out, record)
            continue
        pending.append(cell)
    if pending:
        from benchmark.execution.progress import RichReporter

        with RichReporter(len(pending)) as reporter:
            _run_folders(ctx, [(out, pending, lambda r: reporter.cell_done())], reporter)
    for _, cell, note in cells:
        path = cell.record_path(out)
        record = load_record(path) if path.is_file() else None
        if counts(record, cell.hash):
            assert record is not None
            kept = record.config.get("tune", {}).get("copied_from")
            record.config["tune"] = {**note, **({"copied_from": kept} if kept else {})}
            write_record(out, record)
    return out


def cmd_tune(args: argparse.Namespace, console: Console) -> int:
    import torch

    from benchmark.cli.run import (
        check_folders,
        cmd_run,
        default_cache_dir,
        default_data_root,
        resolve_config,
    )
    from benchmark.datasets.real import resolve_tasks
    from benchmark.execution.executor_settings import from_args
    from benchmark.execution.executors import preflight
    from benchmark.execution.provenance import default_device
    from benchmark.execution.tune_study import Studies
    from benchmark.method import load_methods
    from benchmark.results.leaderboard import write_outputs
    from benchmark.results.records import read_records
    from benchmark.results.tune_board import tuned_board_path
    from benchmark.tracks import parse_tracks

    start = time.perf_counter()
    _check(args)
    tracks = parse_tracks(args.tracks)
    if len(tracks) != 1:
        raise UserError(f"--tracks {args.tracks}: bench tune tunes one track at a time")
    request = resolve_config(args)
    cfg, seeds = request.cfg, request.seeds
    settings = from_args(args, request.executor_section)
    if not settings.wait:
        raise UserError("bench tune follows its trials to select among them: drop --no-wait")
    preflight(settings)
    cache_dir = args.cache_dir or default_cache_dir()
    check_folders(args.out, cache_dir)
    methods = load_methods().resolve(args.methods)
    data_root = args.data_root or default_data_root()
    tasks, _ = resolve_tasks(args.tasks, data_root, cfg, cache_dir=cache_dir)
    check_validation(tasks, cfg, data_root)
    studies = plan_studies(tasks, methods, cfg, tracks[0], args.sampler, args.sampler_seed)

    # Nothing is written before this line: every input has been checked.
    defaults = copy.copy(args)
    defaults.seeds = seeds
    defaults.tracks = tracks[0]
    console.print(f"[bold]bench tune[/] · the defaults: {len(methods)} method(s) × {seeds} seed(s)")
    cmd_run(defaults, console)
    threads = settings.resolved_threads()
    torch.set_num_threads(threads)
    ctx = Context(
        args,
        cfg,
        seeds,
        settings,
        cache_dir,
        data_root,
        default_device(),
        threads,
        Studies(args.out / "tune"),
        args.out / "tune" / f"{args.sampler}-seed{args.sampler_seed}",
    )
    budget = sum(s.spec.budget(args.trials) for s in studies)
    console.print(
        f"[bold]bench tune[/] · {args.trials} trial(s) per (task, method), {args.sampler} "
        f"search, seed {args.sampler_seed} · {budget} trial cells · selection {args.selection}"
    )
    run_trials(ctx, studies, console)
    console.print(f"[bold]bench tune[/] · the selected trials on {seeds} seed(s)")
    run_selected(ctx, studies, console)
    board = write_outputs(read_records(args.out), args.out)
    _summary(console, studies, args)
    console.print(
        f"tuned in {time.perf_counter() - start:.0f} s · trials in {ctx.root} · "
        f"leaderboards {board} and {tuned_board_path(board)}"
    )
    return 0


def _summary(console: Console, studies: list[Study], args: argparse.Namespace) -> None:
    table = Table(title=f"bench tune · selection on {args.selection}")
    for col in ("task", "method", "trials ok", "selected", "val", "test (sel.)", "oracle test"):
        table.add_column(col, justify="left" if col in ("task", "method") else "right")
    for s in studies:
        results = list(s.results.values())
        best, oracle = select(results, args.selection), select(results, "oracle")

        def pct(v: float | None) -> str:
            return "—" if v is None or math.isnan(v) else f"{100 * v:.1f}"

        table.add_row(
            s.task,
            s.method,
            f"{sum(r.val is not None for r in results)}/{len(results)}",
            "—" if best is None else str(best.number),
            pct(None if best is None else best.val),
            pct(None if best is None else best.test),
            pct(None if oracle is None else oracle.test),
        )
    console.print(table)


COMMAND = Command(
    "tune",
    "the same hyperparameter budget for every method, selected on validation data; "
    "the tuned leaderboard beside the defaults'",
    add_tune_arguments,
    cmd_tune,
)
