"""`bench leaderboard`: re-render results.csv and LEADERBOARD.md from the records."""

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
        help="where to write the leaderboard (default OUT/LEADERBOARD.md)",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=2.0,
        help="equivalence margin in points: a pair within it is 'equivalent' (default 2)",
    )


def cmd_leaderboard(args: argparse.Namespace, console: Console) -> int:
    from benchmark.results.leaderboard import check_outputs, write_outputs
    from benchmark.results.records import read_records
    from benchmark.storage import check_writable

    if not (args.out / "runs").is_dir():
        raise UserError(
            f"no records under '{args.out / 'runs'}': run 'bench run --out "
            f"{args.out}' first or pass --out"
        )
    check_writable(args.out, "--out")
    check_outputs(args.out, args.output)  # no special file (README, "Reliability")
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
    path = write_outputs(records, args.out, args.output, margin=args.margin / 100)
    console.print(f"{len(records)} records → {args.out / 'results.csv'} and {path}")
    return 0


COMMAND = Command(
    "leaderboard", "re-render results.csv and LEADERBOARD.md", add_arguments, cmd_leaderboard
)
