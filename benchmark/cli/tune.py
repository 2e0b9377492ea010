"""`bench tune`: every method gets the same hyperparameter budget, selected on labelled
validation data, never on the test set (DomainBed's protocol: Gulrajani & Lopez-Paz,
"In Search of Lost Domain Generalization", ICLR 2021), for cross-modal distillation.

This module is the command: it parses and checks the arguments, runs the defaults (`bench
run`'s own plan, into OUT/runs), hands the studies to `benchmark.execution.tuning` (the
trials, the selection rule of `benchmark.execution.selection`, the re-runs of the kept
trials on every seed) and reports: rich bars while trials run, a table at the end, and
the tuned leaderboard beside the defaults' (`benchmark.results.tune_board`). The best
*test* score over the trials is shown only as the oracle's upper bound.

    OUT/runs/...                               the defaults: `bench run`'s own plan
    OUT/tune/...                               the journal, the trials, the re-runs
                                               (`benchmark.execution.tuning`)
    OUT/LEADERBOARD.md, OUT/LEADERBOARD-tuned.md
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmark.cli.cells_table import print_wrapped
from benchmark.cli.common import Command, add_run_arguments
from benchmark.errors import UserError

if TYPE_CHECKING:
    from benchmark.execution.progress import Advance
    from benchmark.execution.tuning import Study


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


def _check(args: argparse.Namespace) -> None:
    from benchmark.config import MAX_SEEDS
    from benchmark.execution.tune_study import MAX_TRIALS

    if not 1 <= args.trials <= MAX_TRIALS:
        raise UserError(f"--trials {args.trials} must be between 1 and {MAX_TRIALS}")
    if not 0 <= args.sampler_seed < 2**31:
        raise UserError(f"--sampler-seed {args.sampler_seed} must be between 0 and 2^31 - 1")
    if args.seeds is not None and not 1 <= args.seeds <= MAX_SEEDS:
        raise UserError(f"--seeds {args.seeds} must be between 1 and {MAX_SEEDS}")


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
        from benchmark.execution.selection import ValidationSelection

        best = ValidationSelection().select(list(study.results.values()))
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


def cmd_tune(args: argparse.Namespace, console: Console) -> int:
    import torch

    from benchmark.cli.run import (
        check_folders,
        check_run_outputs,
        cmd_run,
        default_cache_dir,
        default_data_root,
        resolve_config,
    )
    from benchmark.datasets.real import Verdicts, resolve_tasks, save_verdicts
    from benchmark.execution.executor_settings import from_args
    from benchmark.execution.executors import preflight
    from benchmark.execution.progress import RichReporter
    from benchmark.execution.provenance import default_device
    from benchmark.execution.tune_study import Studies, check_journal
    from benchmark.execution.tuning import (
        TuneRun,
        check_validation,
        plan_studies,
        run_selected,
        run_trials,
    )
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
    verdicts: list[Verdicts] = []
    tasks, _ = resolve_tasks(args.tasks, data_root, cfg, cache_dir=cache_dir, pending=verdicts)
    check_validation(tasks, cfg, data_root)
    studies = plan_studies(tasks, methods, cfg, tracks[0], args.sampler, args.sampler_seed)
    root = args.out / "tune" / f"{args.sampler}-seed{args.sampler_seed}"
    check_journal(args.out / "tune", [s.spec for s in studies])
    for folder in [root / f"trial{k}" for k in range(args.trials)] + [
        root / f"selected-{args.selection}"
    ]:
        if folder.is_dir():  # each trial folder's plan manifest, read before any write
            check_folders(folder, cache_dir)
    defaults = copy.copy(args)
    defaults.seeds = seeds
    defaults.tracks = tracks[0]
    check_run_outputs(defaults, cfg, list(range(seeds)), tasks, cache_dir)

    # Nothing is written before this line: every input has been checked.
    save_verdicts(verdicts)
    console.print(f"[bold]bench tune[/] · the defaults: {len(methods)} method(s) × {seeds} seed(s)")
    cmd_run(defaults, console)
    threads = settings.resolved_threads()
    torch.set_num_threads(threads)
    run = TuneRun(
        cfg,
        seeds,
        args.trials,
        args.sampler,
        args.sampler_seed,
        args.selection,
        args.force,
        args.out,
        settings,
        cache_dir,
        data_root,
        default_device(),
        threads,
        Studies(args.out / "tune"),
    )
    budget = sum(s.spec.budget(args.trials) for s in studies)
    console.print(
        f"[bold]bench tune[/] · {args.trials} trial(s) per (task, method), {args.sampler} "
        f"search, seed {args.sampler_seed} · {budget} trial cells · selection {args.selection}"
    )
    with TuneReporter(budget, studies, args.trials) as reporter:
        run_trials(run, studies, reporter)
    console.print(f"[bold]bench tune[/] · the selected trials on {seeds} seed(s)")
    run_selected(run, studies, RichReporter, console.print)
    board = write_outputs(read_records(args.out), args.out)
    _summary(console, studies, args)
    print_wrapped(
        console,
        f"tuned in {time.perf_counter() - start:.0f} s · trials in {run.root} · "
        f"leaderboards {board} and {tuned_board_path(board)}",
    )
    return 0


def _summary(console: Console, studies: list[Study], args: argparse.Namespace) -> None:
    """One line a (task, method) within 80 columns, the way `bench run`'s table does it
    (`benchmark.cli.cells_table`): no box, names folded rather than cut, headers on two
    lines; what the columns hold follows the table."""
    from rich import box

    from benchmark.execution.selection import TestOracle, get_rule

    rule, oracle_rule = get_rule(args.selection), TestOracle()
    table = Table(
        title=f"bench tune · selection on {args.selection}",
        box=box.SIMPLE_HEAD,
        padding=0,
        show_edge=False,
    )
    table.add_column("task", overflow="fold")
    table.add_column("method", overflow="fold")
    for col in ("trials\nok", "selected\ntrial", "val", "test\n(sel.)", "oracle\ntest"):
        table.add_column(col, justify="right")

    def pct(v: float | None) -> str:
        return "—" if v is None or math.isnan(v) else f"{100 * v:.1f}"

    for s in studies:
        results = list(s.results.values())
        best, oracle = rule.select(results), oracle_rule.select(results)
        table.add_row(
            escape(s.task),
            escape(s.method),
            f"{sum(r.val is not None for r in results)}/{len(results)}",
            "—" if best is None else str(best.number),
            pct(None if best is None else best.val),
            pct(None if best is None else best.test),
            pct(None if oracle is None else oracle.test),
        )
    console.print(table)
    console.print(
        "val, test (sel.): the selected trial's scores in % of the task's primary metric; "
        "oracle test: the best test score over the trials, an upper bound.",
        highlight=False,
        markup=False,
    )


COMMAND = Command(
    "tune",
    "the same hyperparameter budget for every method, selected on validation data; "
    "the tuned leaderboard beside the defaults'",
    add_tune_arguments,
    cmd_tune,
)
