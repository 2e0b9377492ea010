"""`bench leaderboard`: re-render results.csv and LEADERBOARD.md from the records, or
export them (`--format latex|parquet`, `benchmark.results.export`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from benchmark.cli.common import OUT_HELP, USER_OUT, Command
from benchmark.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=USER_OUT, help=OUT_HELP)
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to write it (default OUT/LEADERBOARD.md, OUT/LEADERBOARD.tex or "
        "OUT/results.parquet, by --format)",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=2.0,
        help="equivalence margin in points: a pair within it is 'equivalent' (default 2)",
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        action="append",
        default=None,
        help="markdown (default: LEADERBOARD.md and results.csv), latex (booktabs tables, one "
        "per task and track) or parquet (one row per record; needs xmd-bench[parquet]); "
        "repeatable",
    )


FORMATS = ("markdown", "latex", "parquet")
DEFAULT_NAME = {"latex": "LEADERBOARD.tex", "parquet": "results.parquet"}


def cmd_leaderboard(args: argparse.Namespace, console: Console) -> int:
    from benchmark.results.leaderboard import check_outputs, write_outputs
    from benchmark.results.records import read_records
    from benchmark.storage import check_target, check_writable

    if not (args.out / "runs").is_dir():
        raise UserError(
            f"no records under '{args.out / 'runs'}': run 'bench run --out "
            f"{args.out}' first or pass --out"
        )
    check_writable(args.out, "--out")
    check_outputs(args.out, args.output)  # no special file (docs/cluster.md, "Reliability")
    formats = list(dict.fromkeys(args.format or ["markdown"]))
    if args.output is not None and len(formats) > 1:
        raise UserError("--output names one file: give one --format with it")
    if "parquet" in formats:
        from benchmark.results.export import check_parquet

        check_parquet()
    for fmt in formats:  # the exports' files, checked like the board's
        if fmt != "markdown":
            check_target(args.output or args.out / DEFAULT_NAME[fmt], f"the {fmt} file")
    if args.output is not None:
        check_writable(args.output.parent, "the folder of --output")
    skipped: list[tuple[Path, str]] = []
    records = read_records(args.out, skipped)
    if not records:
        first = f", e.g. {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        detail = f"; {len(skipped)} file(s) skipped{first}" if skipped else ""
        raise UserError(f"no valid record under '{args.out / 'runs'}'{detail}")
    for path, problem in skipped:
        console.print(f"skipping record {path}: {problem}", highlight=False, markup=False)
    if not 0 < args.margin < 100:
        raise UserError(f"--margin {args.margin:g} must be between 0 and 100 points")
    margin = args.margin / 100
    for fmt in formats:
        if fmt == "markdown":
            path = write_outputs(records, args.out, args.output, margin=margin)
            console.print(f"{len(records)} records → {args.out / 'results.csv'} and {path}")
            continue
        from benchmark.results.export import latex, write_parquet
        from benchmark.storage import write_text

        target = args.output or args.out / DEFAULT_NAME[fmt]
        if fmt == "latex":
            write_text(target, latex(records, str(args.out / "runs"), margin=margin))
        else:
            write_parquet(records, target)
        console.print(f"{len(records)} records → {target}")
    return 0


COMMAND = Command(
    "leaderboard", "re-render results.csv and LEADERBOARD.md", add_arguments, cmd_leaderboard
)
