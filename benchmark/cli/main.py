"""`bench`: run plans, list components, render the leaderboard, validate configs.

Bad input (an unknown name, a bad value, a missing file) prints one line naming the
value and how to fix it, exits with code 2, and leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.table import Table

from benchmark.cli.run import cmd_run, default_cache_dir, default_data_root
from benchmark.cli.tune import add_tune_arguments, cmd_tune
from benchmark.errors import UserError
from benchmark.execution.executor_settings import add_arguments

# A user's runs go to runs/ (git-ignored); results/ holds the committed reference records,
# which a command reads only when asked with --out results.
USER_OUT = Path("runs")
OUT_HELP = "output folder (default runs/; the committed reference is results/)"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as a one-line UserError."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{message} (see '{self.prog} --help')")


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=None, help="smoke | quick (default) | paper")
    p.add_argument("--config", type=Path, help="YAML file with config sections")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. teacher.epochs=5 or l2.weight=0.5",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bench", description="XMD-Bench: cross-modal distillation benchmark")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run methods × tasks × seeds and write the leaderboard")
    _run_args(run)
    sweep = sub.add_parser(
        "sweep", help="one run per value of a knob, and OUT/sweeps/KNOB/sweep.csv"
    )
    _run_args(sweep)
    sweep.add_argument(
        "--knob",
        required=True,
        metavar="KEY=V1,V2,...",
        help="e.g. world.sketch_abstraction=0,0.25,0.5,0.75,1",
    )
    tune = sub.add_parser(
        "tune",
        help="the same hyperparameter budget for every method, selected on validation data; "
        "the tuned leaderboard beside the defaults'",
    )
    _run_args(tune)
    add_tune_arguments(tune)
    plot = sub.add_parser("plot", help="PNG and SVG figures from records (needs xmd-bench[plot])")
    plot.add_argument("--out", type=Path, default=USER_OUT, help=OUT_HELP)
    plot.add_argument(
        "--sweep",
        type=Path,
        action="append",
        default=[],
        help="a sweep folder OUT/sweeps/KNOB (default: every one under OUT)",
    )
    plot.add_argument("--figures", type=Path, default=None, help="default OUT/figures")
    _other_commands(sub)
    return parser


def _run_args(run: argparse.ArgumentParser) -> None:
    """The arguments of `bench run`, which `bench sweep` shares."""
    run.add_argument("--methods", default="all", help="'all' or comma-separated names")
    run.add_argument("--tasks", default="all", help="'all' or comma-separated names")
    run.add_argument(
        "--seeds", type=int, default=None, help="number of seeds 0..N-1 (default: the profile's)"
    )
    run.add_argument(
        "--tracks",
        default="supervised",
        help="teacher protocols: supervised, label-free (CMCD's: no labels before the "
        "few-label step) or all (default supervised)",
    )
    _config_args(run)
    run.add_argument("--out", type=Path, default=USER_OUT, help=OUT_HELP)
    run.add_argument("--force", action="store_true", help="recompute finished cells")
    run.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="world/teacher cache (default $XMD_CACHE or ~/.cache/xmd-bench)",
    )
    run.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="folder holding real datasets (default $XMD_DATA)",
    )
    run.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per cell, the same under every executor (default: cores, ≤ 8)",
    )
    add_arguments(run)


def _other_commands(sub) -> None:  # argparse's subparsers action has no public type
    lst = sub.add_parser("list", help="list registered methods, tasks or backbones")
    lst.add_argument("what", choices=["methods", "tasks", "backbones"])
    lst.add_argument("-v", "--verbose", action="store_true", help="show parameters")

    board = sub.add_parser("leaderboard", help="re-render results.csv and LEADERBOARD.md")
    board.add_argument("--out", type=Path, default=USER_OUT, help=OUT_HELP)
    board.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to write the leaderboard (default OUT/LEADERBOARD.md)",
    )

    power = sub.add_parser(
        "power", help="resolution: where a paired difference's variance comes from, and the MDE"
    )
    power.add_argument("--out", type=Path, default=USER_OUT, help=OUT_HELP)
    power.add_argument(
        "--replicate",
        type=Path,
        default=None,
        help="output folder of the same cells re-run with --set distill.training_noise=1",
    )
    power.add_argument(
        "--track",
        default="supervised",
        choices=["supervised", "label-free"],
        help="whose records to decompose (default supervised)",
    )

    val = sub.add_parser("validate", help="check a YAML config without running anything")
    val.add_argument("file", type=Path)

    status = sub.add_parser("status", help="progress of the plan in an output folder")
    status.add_argument("--out", type=Path, default=USER_OUT, help=OUT_HELP)

    data = sub.add_parser(
        "data",
        help="real datasets: 'check' lists found / missing / malformed / unusable at the "
        "profile's sizes",
    )
    data.add_argument("action", choices=["check"])
    data.add_argument(
        "--data-root", type=Path, default=None, help="folder holding real datasets ($XMD_DATA)"
    )
    data.add_argument(
        "--tasks", default="all", help="'all' real tasks or comma-separated ones (pairs:<path> too)"
    )
    data.add_argument(
        "--deep",
        action="store_true",
        help="also decode every file the tasks read and list the bad ones (verdicts cached)",
    )
    data.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where --deep keeps its verdicts (default $XMD_CACHE or ~/.cache/xmd-bench)",
    )
    _config_args(data)  # the sizes to check the splits at: --profile, --config, --set

    compare = sub.add_parser(
        "compare", help="do your records reproduce the reference? per task and method"
    )
    compare.add_argument("--out", type=Path, default=USER_OUT, help="your output folder (runs/)")
    compare.add_argument(
        "--against",
        type=Path,
        default=None,
        help="the reference folder (default results/ here or in the checkout)",
    )

    report = sub.add_parser("report", help="a self-contained HTML page of the records")
    report.add_argument("--out", type=Path, default=USER_OUT, help=OUT_HELP)
    report.add_argument("--html", type=Path, default=None, help="default OUT/report.html")

    perf = sub.add_parser("perf", help="measure the harness against bare loops (one table)")
    perf.add_argument("--quick", action="store_true", help="smoke-profile sizes (for tests)")
    perf.add_argument(
        "--full", action="store_true", help="also time bench run --methods all --tasks all"
    )
    perf.add_argument("--repeats", type=int, default=None, help="repeats per row (default 5)")
    perf.add_argument("--threads", type=int, default=None, help="torch threads (default: cores)")


def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    from benchmark.cli.sweep import run_sweep

    return run_sweep(args, console, cmd_run)


def cmd_plot(args: argparse.Namespace, console: Console) -> int:
    from benchmark.results.plots import plot_command

    for path in plot_command(args.out, args.sweep, args.figures):
        console.print(str(path), highlight=False)
    return 0


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    if args.what == "methods":
        import re

        from benchmark.method import load_methods

        registry = load_methods()
        aliases = registry.aliases()
        for name in registry.names():
            cls = registry.get(name)
            alias = [a for a, target in aliases.items() if target == name]
            doc = (cls.__doc__ or sys.modules[cls.__module__].__doc__ or "").strip()
            paragraph = " ".join(doc.split("\n\n")[0].split())  # its lines joined
            first = re.split(r"(?<=[.!?])\s", paragraph, maxsplit=1)[0]  # the whole sentence
            console.print(
                f"[bold]{name}[/]"
                + (f" (alias {', '.join(alias)})" if alias else "")
                + f"  {first}",
                highlight=False,
            )
            if args.verbose:
                for pname, spec in cls.params.items():
                    console.print(f"    {pname}: {spec.describe()}", highlight=False)
    elif args.what == "tasks":
        from benchmark.datasets.tasks import TASKS

        for name in TASKS.names():
            spec = TASKS.get(name)
            console.print(
                f"[bold]{name}[/]  {spec.source} → {spec.target}, {spec.kind}: {spec.description}",
                highlight=False,
            )
            if args.verbose and spec.world:
                console.print(f"    world: {spec.world}", highlight=False)
    else:
        from benchmark.backbones import SUGGESTED

        for name in SUGGESTED:
            console.print(name)
        if args.verbose:
            console.print("(any timm model with features_only support can be named)")
    return 0


def cmd_leaderboard(args: argparse.Namespace, console: Console) -> int:
    from benchmark.results.leaderboard import write_outputs
    from benchmark.results.records import read_records
    from benchmark.storage import check_writable

    if not (args.out / "runs").is_dir():
        raise UserError(
            f"no records under '{args.out / 'runs'}': run 'bench run --out "
            f"{args.out}' first or pass --out"
        )
    check_writable(args.out, "--out")
    if args.output is not None:
        if args.output.is_dir():
            raise UserError(f"--output '{args.output}' is a folder: name the file to write")
        check_writable(args.output.parent, "the folder of --output")
    skipped: list[tuple[Path, str]] = []
    records = read_records(args.out, skipped)
    if not records:
        first = f", e.g. {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        detail = f"; {len(skipped)} file(s) skipped{first}" if skipped else ""
        raise UserError(f"no valid record under '{args.out / 'runs'}'{detail}")
    for path, problem in skipped:
        console.print(f"skipping record {path}: {problem}", highlight=False, markup=False)
    path = write_outputs(records, args.out, args.output)
    console.print(f"{len(records)} records → {args.out / 'results.csv'} and {path}")
    return 0


def cmd_power(args: argparse.Namespace, console: Console) -> int:
    from benchmark.kinds import kind_of_columns
    from benchmark.results.power import decompose, power_table
    from benchmark.results.records import read_records

    folders = [args.out] + ([args.replicate] if args.replicate is not None else [])
    for folder in folders:
        if not (folder / "runs").is_dir():
            raise UserError(f"no records under '{folder / 'runs'}': pass the folder of a bench run")
    # One track at a time: methods are only ever compared within their track.
    records = [r for r in read_records(args.out) if r.track == args.track]
    replicate = (
        [r for r in read_records(args.replicate) if r.track == args.track]
        if args.replicate is not None
        else None
    )
    kinds = {r.task: r.data.get("kind") or kind_of_columns(r.metrics).name for r in records}
    components = decompose(records, kinds, replicate)
    if not components:
        raise UserError(f"no method records with per-sample outcomes under '{args.out}'")
    print(power_table(components))
    return 0


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from benchmark.config import load_yaml, resolve
    from benchmark.datasets.tasks import TASKS
    from benchmark.execution.executor_settings import parse_settings
    from benchmark.execution.plan import check_method_settings

    loaded = load_yaml(args.file)
    section = loaded.pop("executor", None)
    settings = parse_settings(section, {})
    cfg = resolve(None, loaded, None, canonical_task=TASKS.canonical)
    check_method_settings(cfg)
    extra = f" · executor {settings.kind}" if section is not None else ""
    console.print(f"{args.file}: ok (profile {cfg.profile}){extra}")
    return 0


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    """Each cell of the plan in OUT: done / running / queued / failed / pending."""
    from benchmark.execution.executors import watchers
    from benchmark.execution.status import cell_states, summary

    states = cell_states(args.out, watchers())
    colour = {"done": "green", "running": "cyan", "queued": "blue", "failed": "red"}
    table = Table(title=f"plan in {args.out}")
    for col in ("cell", "state", "job", "detail"):
        table.add_column(col, overflow="fold")
    for s in states:
        state = f"[{colour[s.state]}]{s.state}[/]" if s.state in colour else s.state
        table.add_row(s.label, state, s.job_id, s.detail)
    console.print(table)
    counts = summary(states)
    console.print(f"{len(states)} cells: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return 0


def cmd_data(args: argparse.Namespace, console: Console) -> int:
    """Every real task's data as found / missing / malformed, or unusable at the profile's
    sizes; with --deep every file a task reads is decoded and the bad ones are listed.
    Missing data is no error."""
    from rich.markup import escape

    from benchmark.config import load_yaml, parse_assignments, resolve
    from benchmark.datasets.real import check_all, real_tasks
    from benchmark.datasets.tasks import TASKS
    from benchmark.method import list_methods

    data_root = args.data_root or default_data_root()
    file_overrides = load_yaml(args.config) if args.config else {}
    file_overrides.pop("executor", None)  # where cells run: no bearing on the data
    sets = parse_assignments(args.sets, list_methods())
    cfg = resolve(args.profile, file_overrides, sets, canonical_task=TASKS.canonical)
    tasks = real_tasks() if args.tasks.strip() == "all" else TASKS.resolve(args.tasks)
    for task in tasks:
        if not TASKS.get(task).needs_data_root:
            raise UserError(
                f"--tasks {task}: an embedded-world task reads no files; "
                "name real tasks or pairs:<path>"
            )
    cache_dir = args.cache_dir or default_cache_dir()
    rows = check_all(data_root, cfg, deep=args.deep, cache_dir=cache_dir, tasks=tasks)
    how = " · every file decoded" if args.deep else ""
    table = Table(
        title=f"real datasets under {data_root or '(no data root)'} · profile {cfg.profile}{how}"
    )
    for col in ("task", "status", "details"):
        table.add_column(col, overflow="fold")
    colour = {"found": "green", "missing": "yellow", "malformed": "red", "unusable": "red"}
    for row in rows:
        table.add_row(row.task, f"[{colour[row.status]}]{row.status}[/]", escape(row.reason))
    console.print(table)
    for row in rows:
        for bad in row.bad:
            console.print(f"{row.task}: bad file {bad}", highlight=False, markup=False)
    if not args.deep:
        console.print("files are not decoded: --deep decodes every file the tasks read")
    console.print(
        "your own paired folders run as --tasks pairs:<path> (README, 'Your own paired data')"
    )
    return 0


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    from benchmark.results.compare import cmd_compare as compare

    return compare(args, console)


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    from benchmark.results.report import report_command

    console.print(str(report_command(args.out, args.html)), highlight=False)
    return 0


def cmd_perf(args: argparse.Namespace, console: Console) -> int:
    import torch

    from benchmark.cli.perf import measure, render
    from benchmark.config import resolve
    from benchmark.execution.executor_settings import parse_settings

    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)
    if not 1 <= repeats <= 1000:
        raise UserError(f"--repeats {repeats} must be between 1 and 1000")
    threads = parse_settings(None, {"threads": args.threads}).resolved_threads()
    torch.set_num_threads(threads)
    cfg = resolve("smoke" if args.quick else "quick")
    rows = measure(cfg, repeats=repeats, full=args.full, cache_dir=default_cache_dir())
    render(rows, console, f"bench perf · profile {cfg.profile} · {threads} threads · CPU")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    console = Console()
    try:
        args = build_parser().parse_args(argv)
        command = {
            "run": cmd_run,
            "sweep": cmd_sweep,
            "tune": cmd_tune,
            "plot": cmd_plot,
            "list": cmd_list,
            "leaderboard": cmd_leaderboard,
            "power": cmd_power,
            "validate": cmd_validate,
            "status": cmd_status,
            "data": cmd_data,
            "perf": cmd_perf,
            "compare": cmd_compare,
            "report": cmd_report,
        }[args.command]
        return command(args, console)
    except UserError as err:
        print(f"bench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; finished cells are kept, re-run to resume", file=sys.stderr)
        return 130
    except Exception as err:
        from benchmark.storage import disk_full, full_disk_message

        if not disk_full(err):
            raise
        print(f"bench: error: {full_disk_message(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
