"""`bench`: run plans, list components, render the leaderboard, validate configs.

Bad input (an unknown name, a bad value, a missing file) prints one line naming the
value and how to fix it, exits with code 2, and leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.table import Table

from benchmark.errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as a one-line UserError."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{message} (see '{self.prog} --help')")


def default_cache_dir() -> Path:
    env = os.environ.get("XMD_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "xmd-bench"


def default_data_root() -> Path | None:
    """Where real datasets live: `--data-root`, else $XMD_DATA, else none (embedded only)."""
    env = os.environ.get("XMD_DATA")
    return Path(env) if env else None


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
    run.add_argument("--methods", default="all", help="'all' or comma-separated names")
    run.add_argument("--tasks", default="all", help="'all' or comma-separated names")
    run.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1)")
    _config_args(run)
    run.add_argument("--out", type=Path, default=Path("results"), help="output folder")
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
    run.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")

    lst = sub.add_parser("list", help="list registered methods, tasks or backbones")
    lst.add_argument("what", choices=["methods", "tasks", "backbones"])
    lst.add_argument("-v", "--verbose", action="store_true", help="show parameters")

    board = sub.add_parser("leaderboard", help="re-render results.csv and LEADERBOARD.md")
    board.add_argument("--out", type=Path, default=Path("results"), help="output folder")
    board.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to write the leaderboard (default OUT/LEADERBOARD.md)",
    )

    val = sub.add_parser("validate", help="check a YAML config without running anything")
    val.add_argument("file", type=Path)
    return parser


def _resolve_config(args: argparse.Namespace):  # -> RunConfig
    from benchmark.config import load_yaml, parse_assignments, resolve
    from benchmark.method import list_methods
    from benchmark.plan import check_method_settings

    file_overrides = load_yaml(args.config) if args.config else {}
    sets = parse_assignments(args.sets, list_methods())
    cfg = resolve(args.profile, file_overrides, sets)
    check_method_settings(cfg)
    return cfg


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    import torch

    from benchmark.backbones import check_backbone
    from benchmark.datasets.tasks import TASKS, get_task, world_config
    from benchmark.leaderboard import write_outputs
    from benchmark.method import load_methods
    from benchmark.plan import cell_config, expand, is_done
    from benchmark.progress import RichReporter
    from benchmark.provenance import default_device
    from benchmark.records import read_records, write_record
    from benchmark.runner import CellRunner

    if args.seeds < 1:
        raise UserError(f"--seeds {args.seeds} must be at least 1")
    cfg = _resolve_config(args)
    methods = load_methods().resolve(args.methods)
    tasks = TASKS.resolve(args.tasks)
    check_backbone(cfg.teacher.backbone)
    check_backbone(cfg.student.backbone)
    for task in tasks:
        world_config(get_task(task), cfg.data, cfg.world)  # validates world knobs up front
    cells = expand(tasks, methods, list(range(args.seeds)))
    for cell in cells:
        cell_config(cell, cfg)
    pending = [c for c in cells if args.force or not is_done(args.out, c, cfg)]

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    cache_dir = args.cache_dir or default_cache_dir()
    device = default_device()
    console.print(
        f"[bold]bench run[/] · profile {cfg.profile} · {len(tasks)} task(s) × "
        f"{len(methods)} method(s) × {args.seeds} seed(s) · {len(cells)} cells, "
        f"{len(cells) - len(pending)} already done · device {device} · "
        f"{torch.get_num_threads()} threads"
    )
    start = time.perf_counter()
    finished = []
    with RichReporter(len(pending)) as reporter:
        data_root = args.data_root or default_data_root()
        runner = CellRunner(cfg, cache_dir, device, reporter, data_root)
        for cell in pending:
            record = runner.run(cell)
            write_record(args.out, record)
            finished.append(record)
            reporter.cell_done()
    board = write_outputs(read_records(args.out), args.out)
    _summary(console, finished)
    failed = [r for r in finished if not r.ok]
    console.print(
        f"{len(finished)} cell(s) run in {time.perf_counter() - start:.0f} s, "
        f"{len(failed)} failed · records in {args.out / 'runs'} · "
        f"table {args.out / 'results.csv'} · leaderboard {board}"
    )
    return 1 if failed else 0


def _summary(console: Console, records: list) -> None:
    if not records:
        return
    table = Table(title="cells run")
    for col in ("task", "method", "seed", "status", "fine-tune", "probe", "seconds"):
        table.add_column(col, justify="right" if col in {"seed", "seconds"} else "left")
    for r in records:
        m = r.metrics
        ft = m.get(
            "finetune_acc",
            m.get("finetune_miou", m.get("all_labels_acc", m.get("all_labels_miou"))),
        )
        pr = m.get("probe_acc", m.get("probe_miou", m.get("teacher_acc", m.get("teacher_miou"))))
        table.add_row(
            r.task,
            r.method,
            str(r.seed),
            r.status if r.ok else f"[red]failed[/]: {r.reason[:60]}",
            "—" if ft is None else f"{100 * ft:.1f}",
            "—" if pr is None else f"{100 * pr:.1f}",
            f"{sum(r.seconds.values()):.1f}",
        )
    console.print(table)


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    if args.what == "methods":
        from benchmark.method import load_methods

        registry = load_methods()
        aliases = registry.aliases()
        for name in registry.names():
            cls = registry.get(name)
            alias = [a for a, target in aliases.items() if target == name]
            doc = (cls.__doc__ or sys.modules[cls.__module__].__doc__ or "").strip()
            first = doc.splitlines()[0] if doc else ""
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
    from benchmark.leaderboard import write_outputs
    from benchmark.records import read_records

    if not (args.out / "runs").is_dir():
        raise UserError(
            f"no records under '{args.out / 'runs'}': run 'bench run --out "
            f"{args.out}' first or pass --out"
        )
    records = read_records(args.out)
    path = write_outputs(records, args.out, args.output)
    console.print(f"{len(records)} records → {args.out / 'results.csv'} and {path}")
    return 0


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from benchmark.config import load_yaml, resolve
    from benchmark.plan import check_method_settings

    cfg = resolve(None, load_yaml(args.file), None)
    check_method_settings(cfg)
    console.print(f"{args.file}: ok (profile {cfg.profile})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    console = Console()
    try:
        args = build_parser().parse_args(argv)
        command = {
            "run": cmd_run,
            "list": cmd_list,
            "leaderboard": cmd_leaderboard,
            "validate": cmd_validate,
        }[args.command]
        return command(args, console)
    except UserError as err:
        print(f"bench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; finished cells are kept, re-run to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
